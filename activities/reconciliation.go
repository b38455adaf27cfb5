package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

type ReconcileResult struct {
	Overdue int            `json:"overdue"`
	Deleted map[string]int `json:"deleted"`
	Held    int            `json:"held"`
}

// ReconcileRetention deletes every category that is past its deadline and
// not deleted, whatever became of the registration's workflow; a legal hold
// still postpones it. It reports counts through the activity's metrics:
// examflow_reconciliation_deleted{category} and examflow_reconciliation_overdue
// (the worker's examflow_deletions_overdue gauge counts at scrape time).
func (a *Retention) ReconcileRetention(ctx context.Context) (ReconcileResult, error) {
	cutoffs := RetentionCutoffs(a.Periods, time.Now())
	overdue, err := a.Store.OverdueDeletions(ctx, cutoffs, a.Events[policy.Address] == policy.Registered, 10000)
	if err != nil {
		return ReconcileResult{}, err
	}
	res := ReconcileResult{Overdue: len(overdue), Deleted: map[string]int{}}
	metrics := activity.GetMetricsHandler(ctx)
	metrics.Gauge(MetricReconciliationOverdue).Update(float64(len(overdue)))
	for i, o := range overdue {
		activity.RecordHeartbeat(ctx, i)
		reason, err := a.Store.LegalHold(ctx, o.RegistrationID, o.Category)
		if err != nil {
			return res, err
		}
		if reason != "" {
			res.Held++
			continue
		}
		due, err := a.Periods.Due(policy.Category(o.Category), o.EventAt)
		if err != nil {
			return res, err
		}
		if _, err := a.deleteCategory(ctx, o.RegistrationID, o.Category, due); err != nil {
			return res, err
		}
		res.Deleted[o.Category]++
		metrics.WithTags(map[string]string{"category": o.Category}).Counter(MetricReconciliationDeleted).Inc(1)
		a.Logger.WarnContext(ctx, "reconciliation deleted overdue data", "registration_id", o.RegistrationID.String(), "category", o.Category)
	}
	courses, err := a.reconcileCourses(ctx)
	res.Overdue += courses
	if courses > 0 {
		res.Deleted[string(policy.CourseRegistration)] = courses
		metrics.WithTags(map[string]string{"category": string(policy.CourseRegistration)}).Counter(MetricReconciliationDeleted).Inc(int64(courses))
	}
	return res, err
}

// reconcileCourses deletes every course registration whose deletion date
// (policy.CourseDeletionDue: the consent plus 24 calendar months) has
// passed, whatever became of its workflow (never started, terminated,
// lost, or started with a later date by older code): rows, objects and key,
// with a deletion record, as the workflow would (C06). A workflow still
// running finds the registration gone and ends as deleted. It returns how
// many it deleted.
func (a *Retention) reconcileCourses(ctx context.Context) (int, error) {
	now := time.Now()
	list, err := a.Store.CourseRegistrationsConsentedBefore(ctx, policy.CourseConsentCutoff(now, a.CourseRetention), 10000)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, r := range list {
		activity.RecordHeartbeat(ctx, i)
		if policy.CourseDeletionDue(r.ConsentAt, a.CourseRetention).After(now) {
			continue
		}
		d, err := a.Store.DeleteCourseRegistration(ctx, a.Objects, r.ID, cases.CourseReasonRetentionEnded, now)
		if errors.Is(err, storage.ErrNotFound) || (err == nil && !d.Now) {
			continue // withdrawn or deleted meanwhile
		}
		if err != nil {
			return n, err
		}
		n++
		a.Logger.WarnContext(ctx, "reconciliation deleted a course registration past its time", "course_registration_id", r.ID.String(),
			"reason", d.Reason, "rows", d.RowsDeleted, "objects", d.ObjectsRemoved)
	}
	return n, nil
}
