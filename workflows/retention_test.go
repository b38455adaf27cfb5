package workflows

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

// TestRetentionWalksTwentyYears runs the retention phase of a registration
// tested on 15 March 2027 through its milestones with time skipping:
// address after 2 years, cheating decisions 3 years after the decision (the
// first attempt held by an open case, so it waits), everything else after 20
// years, then the closed histories.
func TestRetentionWalksTwentyYears(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	start := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	env.SetWorkflowRunTimeout(30 * 365 * 24 * time.Hour)

	var mu sync.Mutex
	var deleted []string
	var deletedAt []time.Time
	holds := 1
	var historiesDeleted time.Time
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.LegalHoldInput) (activities.LegalHoldStatus, error) {
		mu.Lock()
		defer mu.Unlock()
		if in.Category == "cheating" && holds > 0 {
			holds--
			return activities.LegalHoldStatus{Held: true, Reason: "open cheating case"}, nil
		}
		return activities.LegalHoldStatus{}, nil
	}, activity.RegisterOptions{Name: "LegalHold"})
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.DeleteCategoryInput) (activities.DeletionResult, error) {
		mu.Lock()
		defer mu.Unlock()
		deleted = append(deleted, in.Category)
		deletedAt = append(deletedAt, env.Now())
		return activities.DeletionResult{RowsDeleted: 1, SubjectDeleted: in.Category == "personal_data"}, nil
	}, activity.RegisterOptions{Name: "DeleteCategory"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ string) error {
		historiesDeleted = env.Now()
		return nil
	}, activity.RegisterOptions{Name: "DeleteClosedHistories"})

	address := time.Date(2029, 3, 15, 0, 0, 0, 0, time.UTC)
	cheating := time.Date(2030, 4, 1, 0, 0, 0, 0, time.UTC)
	final := time.Date(2047, 3, 15, 0, 0, 0, 0, time.UTC)
	plan := activities.RetentionPlan{RegistrationID: "00000000-0000-0000-0000-000000000001", HoldRecheck: 7 * 24 * time.Hour,
		Stages:     []cases.Stage{cases.StageRegistered, cases.StageResult},
		Milestones: []activities.Milestone{{Category: "personal_data", Due: final}, {Category: "address", Due: address}, {Category: "cheating", Due: cheating}}}

	// Between the milestones, the query shows what is done and pending.
	checks := []struct {
		at          time.Time
		wantStage   cases.Stage
		wantDone    int
		wantPending int
	}{
		{address.Add(-time.Hour), cases.StageRetained, 0, 3},
		{address.Add(time.Hour), cases.StageRetained, 1, 2},
		{cheating.Add(time.Hour), cases.StageDeletionOnHold, 1, 2},
		{cheating.Add(8 * 24 * time.Hour), cases.StageRetained, 2, 1},
		{final.Add(-time.Hour), cases.StageRetained, 2, 1},
	}
	for _, c := range checks {
		env.RegisterDelayedCallback(func() {
			v, err := env.QueryWorkflow(cases.QueryRetention)
			if err != nil {
				t.Errorf("query at %s: %v", c.at, err)
				return
			}
			var st RetentionStatus
			_ = v.Get(&st)
			if st.Stage != c.wantStage || len(st.Done) != c.wantDone || len(st.Pending) != c.wantPending {
				t.Errorf("at %s: %+v, want %s with %d done and %d pending", c.at.Format(time.DateOnly), st, c.wantStage, c.wantDone, c.wantPending)
			}
			if c.wantStage == cases.StageDeletionOnHold && st.Hold == "" {
				t.Errorf("at %s the hold does not say why", c.at)
			}
		}, c.at.Sub(start))
	}
	env.ExecuteWorkflow(CandidateRetention, plan)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deleted, []string{"address", "cheating", "personal_data"}) {
		t.Fatalf("deleted %v", deleted)
	}
	wantAt := []time.Time{address, cheating.Add(7 * 24 * time.Hour), final}
	for i, at := range deletedAt {
		if at.Before(wantAt[i]) || at.After(wantAt[i].Add(time.Hour)) {
			t.Errorf("%s deleted at %s, want %s", deleted[i], at, wantAt[i])
		}
	}
	if historiesDeleted.Before(final) {
		t.Fatalf("histories deleted at %s, before the final deletion", historiesDeleted)
	}
}

// TestNoAppealOnceTheFinalDeletionHasBegun: while the final deletion runs
// (held by nothing, so no appeal is open), an appeal lodged in the
// retention phase is refused with the reason, and nothing is admitted;
// the deletion and the history deletion go on.
func TestNoAppealOnceTheFinalDeletionHasBegun(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	start := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	final := start.Add(24 * time.Hour)
	env.RegisterActivityWithOptions(func(context.Context, activities.LegalHoldInput) (activities.LegalHoldStatus, error) {
		return activities.LegalHoldStatus{}, nil
	},
		activity.RegisterOptions{Name: "LegalHold"})
	env.RegisterActivityWithOptions(func(context.Context, activities.DeleteCategoryInput) (activities.DeletionResult, error) {
		return activities.DeletionResult{}, nil
	},
		activity.RegisterOptions{Name: "DeleteCategory"})
	env.RegisterActivityWithOptions(func(context.Context, string) error { return nil }, activity.RegisterOptions{Name: "DeleteClosedHistories"})
	env.RegisterActivityWithOptions(func(context.Context, activities.AdmitAppealInput) (activities.AppealAdmission, error) {
		t.Error("an appeal was admitted during the final deletion")
		return activities.AppealAdmission{}, nil
	}, activity.RegisterOptions{Name: "AdmitAppeal"})
	// The final deletion takes an hour of the workflow's clock.
	env.OnActivity("DeleteCategory", mock.Anything, mock.Anything).After(time.Hour).Return(activities.DeletionResult{RowsDeleted: 9, SubjectDeleted: true}, nil)

	var refused, historiesDeleted bool
	env.OnActivity("DeleteClosedHistories", mock.Anything, mock.Anything).Return(func(context.Context, string) error {
		historiesDeleted = true
		return nil
	})
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(cases.UpdateLodgeAppeal, "late-appeal", &testsuite.TestUpdateCallback{
			OnAccept: func() { t.Error("an appeal was accepted during the final deletion") },
			OnReject: func(err error) {
				refused = true
				if !strings.Contains(err.Error(), "being deleted") {
					t.Errorf("refused with %q, want the reason", err)
				}
			},
			OnComplete: func(any, error) {},
		}, cases.AppealRequest{Kind: "decision_appeal", Against: "cheating", Grounds: "late grounds"})
	}, final.Add(30*time.Minute).Sub(start))
	plan := activities.RetentionPlan{RegistrationID: "00000000-0000-0000-0000-000000000002", HoldRecheck: time.Hour,
		Milestones: []activities.Milestone{{Category: "personal_data", Due: final}}}
	env.ExecuteWorkflow(CandidateRetention, plan)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !refused {
		t.Error("the appeal lodged during the final deletion was not refused")
	}
	if !historiesDeleted {
		t.Error("the closed histories were not deleted")
	}
}
