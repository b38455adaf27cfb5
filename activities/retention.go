package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// Retention holds the activities of the retention phase (T13–T17).
type Retention struct {
	Store *storage.Store
	// Objects holds the audio recordings (MinIO).
	Objects   *storage.Objects
	Temporal  client.Client
	Namespace string
	Periods   policy.Periods
	Events    map[policy.Category]policy.Event
	// HoldRecheck is how long a deletion on legal hold waits before it is
	// tried again.
	HoldRecheck time.Duration
	// CourseRetention overrides the courses' 24 months (tests and demos);
	// zero is the policy's (policy.CourseDeletionDue).
	CourseRetention time.Duration
	Logger          *slog.Logger
}

// RetentionPlan is the retention phase's input: opaque IDs and dates only.
// The milestones are computed once, from the policy table and the
// configured periods, so a replay sees the same plan.
type RetentionPlan struct {
	RegistrationID string      `json:"registration_id"`
	Milestones     []Milestone `json:"milestones"`
	// HoldRecheck is how long a held deletion waits before it is tried again.
	HoldRecheck time.Duration `json:"hold_recheck"`
	// Stages are the lifecycle's stages so far, for the status query.
	Stages []cases.Stage `json:"stages,omitempty"`
}

// PlanRetention computes a registration's deletion milestones from the
// policy table, the configured periods and the registration's events.
// Categories examflow holds nothing of for the registration get no
// milestone (payment status when known, audio when recorded).
func (a *Retention) PlanRetention(ctx context.Context, registrationID string) (RetentionPlan, error) {
	id, err := parseID(registrationID)
	if err != nil {
		return RetentionPlan{}, err
	}
	// The retention phase begins when the result is final.
	if err := a.Store.MarkFinal(ctx, id, time.Now()); err != nil {
		return RetentionPlan{}, err
	}
	f, err := a.Store.RetentionFactsOf(ctx, id)
	if err != nil {
		return RetentionPlan{}, err
	}
	plan := RetentionPlan{RegistrationID: registrationID, HoldRecheck: a.HoldRecheck}
	add := func(c policy.Category, from time.Time) error {
		due, err := a.Periods.Due(c, from)
		if err != nil {
			return err
		}
		plan.Milestones = append(plan.Milestones, Milestone{Category: string(c), Due: due})
		return nil
	}
	eventTime := func(c policy.Category) time.Time { return a.eventTime(f, c) }
	if err := add(policy.Address, eventTime(policy.Address)); err != nil {
		return plan, err
	}
	// Audio: a year from the first recording, so no recording is kept
	// longer; a later one goes with it (T15).
	if first, ok, err := a.Store.FirstRecording(ctx, id); err != nil {
		return plan, err
	} else if ok {
		if err := add(policy.Audio, first); err != nil {
			return plan, err
		}
	}
	if f.PaymentStatus {
		if err := add(policy.PaymentStatus, eventTime(policy.PaymentStatus)); err != nil {
			return plan, err
		}
	}
	if f.CheatingDecidedAt != nil {
		if err := add(policy.Cheating, *f.CheatingDecidedAt); err != nil {
			return plan, err
		}
	}
	if err := add(policy.PersonalData, eventTime(policy.PersonalData)); err != nil {
		return plan, err
	}
	return plan, nil
}

// eventTime is when the period of category c runs from for a registration
// with these facts: its registration or its test date, as the policy or
// EXAMFLOW_RETENTION_EVENTS says.
func (a *Retention) eventTime(f storage.RetentionFacts, c policy.Category) time.Time {
	r, _ := policy.Lookup(c)
	ev := r.From
	if e, ok := a.Events[c]; ok {
		ev = e
	}
	if ev == policy.Registered {
		return f.RegisteredAt
	}
	return f.TestDate
}

// Milestone is one category's deletion at its due time.
type Milestone struct {
	Category string    `json:"category"`
	Due      time.Time `json:"due"`
}

// PlanUnheldDeletions returns the milestones of the registration's
// categories that no legal hold keeps (policy.Unheld: the address, and the
// payment status when there is one), for the lifecycle to delete them on
// their dates while it is still open. No personal data.
// Purpose (T14, T16): deleting what is no longer needed.
func (a *Retention) PlanUnheldDeletions(ctx context.Context, registrationID string) ([]Milestone, error) {
	id, err := parseID(registrationID)
	if err != nil {
		return nil, err
	}
	f, err := a.Store.RetentionFactsOf(ctx, id)
	if err != nil {
		return nil, err
	}
	var ms []Milestone
	for _, c := range policy.Unheld() {
		if c == policy.PaymentStatus && !f.PaymentStatus {
			continue
		}
		due, err := a.Periods.Due(c, a.eventTime(f, c))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Milestone{Category: string(c), Due: due})
	}
	return ms, nil
}

// EscalateCheatingCaseInput escalates a registration's undecided cheating
// case: opaque IDs and times only.
type EscalateCheatingCaseInput struct {
	RegistrationID string    `json:"registration_id"`
	ReportedAt     time.Time `json:"reported_at"`
	At             time.Time `json:"at"`
}

// EscalateCheatingCase records that a provisional cheating case stayed
// undecided past EXAMFLOW_CHEATING_ESCALATE_AFTER and counts it in
// examflow_cheating_escalations_total; the case handlers find it in the
// Temporal UI (CheatingEscalated=true) and the operators by
// examflow_cheating_cases_escalated and its alert. No personal data.
// Purpose (T17): deciding cheating cases without undue delay.
func (a *Retention) EscalateCheatingCase(ctx context.Context, in EscalateCheatingCaseInput) (bool, error) {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return false, err
	}
	escalated, err := a.Store.EscalateCheatingCase(ctx, id, in.At)
	if err != nil {
		return false, err
	}
	if escalated {
		a.Logger.WarnContext(ctx, "undecided cheating case escalated to case handlers", "registration_id", in.RegistrationID,
			"reported_at", in.ReportedAt, "undecided_for", in.At.Sub(in.ReportedAt).Round(time.Hour).String())
		count(ctx, MetricCheatingEscalations, nil)
	}
	return escalated, nil
}

// LegalHoldInput asks whether a category's deletion must wait.
type LegalHoldInput struct {
	RegistrationID string `json:"registration_id"`
	Category       string `json:"category"`
}

// LegalHoldStatus says whether and why a deletion must wait.
type LegalHoldStatus struct {
	Held   bool   `json:"held"`
	Reason string `json:"reason,omitempty"`
}

// LegalHold says whether a deletion must wait: an open cheating case, or an
// open appeal that needs the category (T22).
func (a *Retention) LegalHold(ctx context.Context, in LegalHoldInput) (LegalHoldStatus, error) {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return LegalHoldStatus{}, err
	}
	reason, err := a.Store.LegalHold(ctx, id, in.Category)
	if err != nil {
		return LegalHoldStatus{}, err
	}
	if reason != "" {
		a.Logger.InfoContext(ctx, "deletion postponed by a legal hold", "registration_id", in.RegistrationID, "category", in.Category, "reason", reason)
	}
	return LegalHoldStatus{Held: reason != "", Reason: reason}, nil
}

// DeleteCategoryInput deletes one category.
type DeleteCategoryInput struct {
	RegistrationID string    `json:"registration_id"`
	Category       string    `json:"category"`
	Due            time.Time `json:"due"`
}

// DeletionResult reports a deletion.
type DeletionResult struct {
	RowsDeleted    int  `json:"rows_deleted"`
	SubjectDeleted bool `json:"subject_deleted"`
}

// DeleteCategory deletes one category of a registration's data and records
// the deletion. Idempotent.
func (a *Retention) DeleteCategory(ctx context.Context, in DeleteCategoryInput) (DeletionResult, error) {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return DeletionResult{}, err
	}
	d, err := a.deleteCategory(ctx, id, in.Category, in.Due)
	if err != nil {
		return DeletionResult{}, err
	}
	a.Logger.InfoContext(ctx, "retention deletion", "registration_id", in.RegistrationID, "category", in.Category,
		"rows", d.RowsDeleted, "subject_deleted", d.SubjectDeleted)
	count(ctx, MetricDeletions, map[string]string{"category": in.Category})
	return DeletionResult{RowsDeleted: d.RowsDeleted, SubjectDeleted: d.SubjectDeleted}, nil
}

// deleteCategory removes the audio objects in MinIO first, where the
// category covers them, then the rows in PostgreSQL with their record.
func (a *Retention) deleteCategory(ctx context.Context, id uuid.UUID, category string, due time.Time) (storage.Deletion, error) {
	if category == string(policy.Audio) || category == string(policy.PersonalData) {
		if a.Objects == nil {
			return storage.Deletion{}, fmt.Errorf("no object store to delete %s from", category)
		}
		if _, err := a.Store.RemoveRecordings(ctx, a.Objects, id); err != nil {
			return storage.Deletion{}, err
		}
	}
	return a.Store.DeleteCategory(ctx, id, category, due)
}

// DeleteClosedHistories deletes the closed runs of the registration's
// workflow (the lifecycle run before the retention phase) and of its
// appeals' workflows: after the final deletion no history of the subject
// remains in Temporal but the running retention run, which holds IDs and
// dates only.
func (a *Retention) DeleteClosedHistories(ctx context.Context, registrationID string) error {
	id, err := parseID(registrationID)
	if err != nil {
		return err
	}
	wfID := storage.WorkflowIDFor(id)
	resp, err := a.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		// The registration's own runs and its appeals' (child workflows).
		Namespace: a.Namespace, Query: fmt.Sprintf(`(WorkflowId=%q OR ParentWorkflowId=%q) AND ExecutionStatus!="Running"`, wfID, wfID),
	})
	if err != nil {
		return fmt.Errorf("list closed runs: %w", err)
	}
	for _, e := range resp.GetExecutions() {
		_, err := a.Temporal.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace: a.Namespace, WorkflowExecution: e.GetExecution(),
		})
		var gone *serviceerror.NotFound
		if errors.As(err, &gone) {
			continue // the namespace's retention deleted it meanwhile
		}
		if err != nil {
			return fmt.Errorf("delete run: %w", err)
		}
	}
	return nil
}

// ReconcileResult counts what a reconciliation found and deleted.
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
