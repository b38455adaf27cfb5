package workflows

import (
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

// Legal holds with an end (docs/retention.md, "Legal holds"). A legal hold
// keeps only what its open case needs (policy.CaseNeeds): the address and
// the payment status are needed by no case, so a lifecycle deletes them on
// their dates even while it is still open (an undecided cheating case, a
// pending review, an open appeal). An undecided provisional cheating case
// is escalated to case handlers after a configured time.
const (
	// DefaultCheatingEscalateAfter is the escalation time of a lifecycle
	// whose RegistrationContext carries none: EXAMFLOW_CHEATING_ESCALATE_AFTER's
	// default.
	DefaultCheatingEscalateAfter = 30 * 24 * time.Hour
)

// deleteUnheldOnTime deletes, in a coroutine of its own, each category no
// case needs at its milestone while the lifecycle is open. No legal hold
// covers these categories (policy.Unheld is what policy.CaseNeeds leaves
// out), so the LegalHold activity is not asked. The retention
// run plans the same milestones after the lifecycle; DeleteCategory is
// idempotent, so a category deleted here is not deleted twice.
func (l *lifecycle) deleteUnheldOnTime(ctx workflow.Context) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		var ms []activities.Milestone
		if err := workflow.ExecuteActivity(withSummary(ctx, "plan deletions no case holds"), retention.PlanUnheldDeletions, l.in.RegistrationID).Get(ctx, &ms); err != nil {
			return // retried by the policy until the run ends; the retention run plans them too
		}
		slices.SortStableFunc(ms, func(a, b activities.Milestone) int { return a.Due.Compare(b.Due) })
		for _, m := range ms {
			if wait := m.Due.Sub(workflow.Now(ctx)); wait > 0 {
				if err := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{Summary: milestoneSummary("delete", m)}).Get(ctx, nil); err != nil {
					return
				}
			}
			if err := workflow.ExecuteActivity(withSummary(ctx, milestoneSummary("delete", m)), retention.DeleteCategory, activities.DeleteCategoryInput{
				RegistrationID: l.in.RegistrationID, Category: m.Category, Due: m.Due,
			}).Get(ctx, nil); err != nil {
				return
			}
		}
	})
}

// watchCheatingCase times the escalation of a provisional cheating case
// reported just now: left undecided for CheatingEscalateAfter, it is
// recorded as escalated and shown by CheatingEscalated=true until it is
// decided.
func (l *lifecycle) watchCheatingCase(ctx workflow.Context) {
	if !l.holdsWithAnEnd || l.watchingCheating || l.cheatingDecided {
		return
	}
	l.watchingCheating = true
	after := l.ctx.CheatingEscalateAfter
	if after <= 0 {
		after = DefaultCheatingEscalateAfter
	}
	reported := workflow.Now(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		decided, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: after,
			TimerOptions: workflow.TimerOptions{Summary: "escalate the cheating case at " + day(reported.Add(after))}}, func() bool { return l.cheatingDecided })
		if err != nil || decided {
			return
		}
		err = workflow.ExecuteActivity(withSummary(activityOptions(ctx, 0), "escalate the cheating case"), retention.EscalateCheatingCase, activities.EscalateCheatingCaseInput{
			RegistrationID: l.in.RegistrationID, ReportedAt: reported, At: workflow.Now(ctx),
		}).Get(ctx, nil)
		if err != nil || l.cheatingDecided {
			return
		}
		if workflow.UpsertTypedSearchAttributes(ctx, cases.CheatingEscalatedKey.ValueSet(true)) != nil {
			return
		}
		l.status.CheatingEscalated = true
		l.trail.show(ctx)
		if workflow.Await(ctx, func() bool { return l.cheatingDecided }) != nil {
			return
		}
		if workflow.UpsertTypedSearchAttributes(ctx, cases.CheatingEscalatedKey.ValueSet(false)) == nil {
			l.status.CheatingEscalated = false
			l.trail.show(ctx)
		}
	})
}
