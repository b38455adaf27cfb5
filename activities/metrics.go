package activities

import (
	"context"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/policy"
)

// MetricKind is how a domain metric is reported: a counter or a gauge.
type MetricKind string

// Metric kinds.
const (
	KindCounter MetricKind = "counter"
	KindGauge   MetricKind = "gauge"
)

// Metric is a domain metric an activity reports where its event happens,
// through the activity's Temporal metrics handler
// (activity.GetMetricsHandler), which the worker bridges into its
// Prometheus registry (process.MetricsHandler). Name is what the activity
// passes to the handler; the bridge appends "_total" to a counter's name.
// Tags are the metric's own labels; the SDK adds its own (namespace,
// task_queue, workflow_type, activity_type, worker_type, client_name).
// Every label value is a low-cardinality code: never an ID or personal data.
type Metric struct {
	Name string
	Kind MetricKind
	Help string
	Tags []string
}

// Domain metric names, as the activities report them.
const (
	MetricMarkingOutcomes       = "examflow_marking_outcomes"
	MetricReviewDecisions       = "examflow_review_decisions"
	MetricPublications          = "examflow_publications"
	MetricDeletions             = "examflow_deletions"
	MetricReconciliationDeleted = "examflow_reconciliation_deleted"
	MetricReconciliationOverdue = "examflow_reconciliation_overdue"
	MetricCourseDeletions       = "examflow_course_deletions"
	MetricRequestReminders      = "examflow_subject_request_reminders"
	MetricCheatingEscalations   = "examflow_cheating_escalations"
)

// Marking outcomes (label outcome of examflow_marking_outcomes).
const (
	OutcomeHeld  = "held"
	OutcomeLevel = "level"
)

// Publication outcomes (label outcome of examflow_publications).
const (
	PublicationPublished       = "published"
	PublicationWithdrawn       = "withdrawn"
	PublicationSkippedDeleted  = "skipped_deleted"
	PublicationSkippedNoFnr    = "skipped_no_fodselsnummer"
	PublicationSkippedRestrict = "skipped_restricted"
	PublicationRefused         = "refused"
)

// Metrics lists every domain metric the activities report, with its help
// text and labels: the worker registers them up front so they carry the
// help text, and the tests check the dashboards against them.
func Metrics() []Metric {
	return []Metric{
		{MetricMarkingOutcomes, KindCounter, "Automated marking results by test type and outcome (passed, failed, level, not_enough_basis; held when the result is held for manual review).", []string{"test_type", "outcome"}},
		{MetricReviewDecisions, KindCounter, "Manual review decisions by decision (confirm, correct, annul).", []string{"decision"}},
		{MetricPublications, KindCounter, "Publications to the Diploma Registry by outcome (published, withdrawn, skipped_deleted, skipped_no_fodselsnummer, skipped_restricted, refused).", []string{"outcome"}},
		{MetricDeletions, KindCounter, "Categories of a registration's personal data deleted by its retention workflow, by category.", []string{"category"}},
		{MetricReconciliationDeleted, KindCounter, "Categories the retention reconciliation deleted because their workflow had not, by category.", []string{"category"}},
		{MetricReconciliationOverdue, KindGauge, "Categories past their deletion deadline that the last retention reconciliation run found (before deleting them or finding them on legal hold).", nil},
		{MetricCourseDeletions, KindCounter, "Course participants deleted, by reason (consent_withdrawn, retention_expired).", []string{"reason"}},
		{MetricRequestReminders, KindCounter, "Reminders of data subject requests close to their due date.", nil},
		{MetricCheatingEscalations, KindCounter, "Provisional cheating cases escalated to case handlers because they stayed undecided past EXAMFLOW_CHEATING_ESCALATE_AFTER.", nil},
	}
}

// count adds one to a domain counter of the running activity; tags must be
// the metric's Tags. Outside an activity (unit tests) it does nothing.
func count(ctx context.Context, name string, tags map[string]string) {
	if !activity.IsActivity(ctx) {
		return
	}
	h := activity.GetMetricsHandler(ctx)
	if len(tags) > 0 {
		h = h.WithTags(tags)
	}
	h.Counter(name).Inc(1)
}

// markingOutcome is the outcome label of a marked result: held wins; the
// C1 test's not_passed counts as failed; a level is "level", whatever the
// level.
func markingOutcome(result string, held bool) string {
	switch {
	case held:
		return OutcomeHeld
	case result == marking.ResultPassed, result == marking.ResultFailed, result == marking.ResultNotEnoughBasis:
		return result
	case result == marking.ResultNotPassed:
		return marking.ResultFailed
	case marking.LevelRank(result) > 0:
		return OutcomeLevel
	}
	return "other"
}

// oneOf bounds a label value to the known ones.
func oneOf(v string, known ...string) string {
	if slices.Contains(known, v) {
		return v
	}
	return "other"
}

// RetentionCutoffs are, per category, the instants before which an event's
// retention period has run out by now: the configured period where there is
// one, else the policy table's years. The reconciliation and the overdue
// deletion gauge both use them.
func RetentionCutoffs(periods policy.Periods, now time.Time) map[string]time.Time {
	cutoffs := map[string]time.Time{}
	for _, c := range []policy.Category{policy.Audio, policy.Address, policy.PaymentStatus, policy.Cheating, policy.PersonalData} {
		r, _ := policy.Lookup(c)
		if d, ok := periods[c]; ok {
			cutoffs[string(c)] = now.Add(-d)
		} else {
			cutoffs[string(c)] = now.AddDate(-r.Years, 0, 0)
		}
	}
	return cutoffs
}
