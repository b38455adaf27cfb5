package workflows

import (
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
)

// RetentionStatus answers the retention query.
type RetentionStatus struct {
	Stage   cases.Stage            `json:"stage"`
	Done    []activities.Milestone `json:"done"`
	Pending []activities.Milestone `json:"pending"`
	Hold    string                 `json:"hold,omitempty"`
}

// CandidateRetention is the lifecycle's retention phase: one durable timer
// per milestone, a legal hold postpones a deletion and says so, each
// deletion is an idempotent activity, and after the final deletion the
// registration's closed histories are deleted. Its history stays small: it
// holds IDs, categories and dates only.
func CandidateRetention(ctx workflow.Context, plan activities.RetentionPlan) error {
	ms := append([]activities.Milestone(nil), plan.Milestones...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Due.Before(ms[j].Due) })
	st := RetentionStatus{Stage: cases.StageRetained, Pending: ms}
	if err := workflow.SetQueryHandler(ctx, cases.QueryRetention, func() (RetentionStatus, error) { return st, nil }); err != nil {
		return fmt.Errorf("set query handler: %w", err)
	}
	// The lifecycle's status query goes on answering, with the stage history.
	stages := append([]cases.Stage(nil), plan.Stages...)
	var since time.Time
	if err := workflow.SetQueryHandler(ctx, cases.QueryStatus, func() (cases.LifecycleStatus, error) {
		return cases.LifecycleStatus{Stage: st.Stage, Since: since, Stages: stages}, nil
	}); err != nil {
		return fmt.Errorf("set query handler: %w", err)
	}
	ctx = activityOptions(ctx, 0)
	// Appeals still arrive here: late ones a case handler accepted, and
	// appeals against decisions taken late. A changed or annulled result
	// is republished or withdrawn at once.
	var publishing int
	desk := &appealDesk{registrationID: plan.RegistrationID, ready: func() bool { return true }, closed: func(ctx workflow.Context, out cases.AppealOutcome) {
		if !out.ResultsChanged {
			return
		}
		publishing++
		defer func() { publishing-- }()
		// The activity retries until the registry answers; the publication key makes retries harmless.
		_ = workflow.ExecuteActivity(activityOptions(ctx, 0), publication.PublishResults, plan.RegistrationID).Get(ctx, nil)
	}}
	// Once the final deletion has begun, an appeal would be lodged against
	// data that is going: it is refused (the legal hold has let the
	// deletion go, so no appeal was open).
	finalDeletion := false
	desk.refusing = func() string {
		if finalDeletion {
			return "the registration's data is being deleted at the end of its retention period: no appeal can be lodged any more"
		}
		return ""
	}
	if err := desk.register(ctx); err != nil {
		return fmt.Errorf("set update handler %s: %w", cases.UpdateLodgeAppeal, err)
	}
	recheck := plan.HoldRecheck
	if recheck <= 0 {
		recheck = 24 * time.Hour
	}
	setStage := func(stage cases.Stage, due *time.Time) error {
		if st.Stage != stage || len(stages) == 0 || stages[len(stages)-1] != stage {
			stages = append(stages, stage)
			since = workflow.Now(ctx)
		}
		st.Stage = stage
		return upsertStageWithDeletion(ctx, stage, due)
	}
	if len(ms) > 0 {
		if err := setStage(cases.StageRetained, &ms[0].Due); err != nil {
			return err
		}
	}
	for len(st.Pending) > 0 {
		m := st.Pending[0]
		if wait := m.Due.Sub(workflow.Now(ctx)); wait > 0 {
			if err := workflow.Sleep(ctx, wait); err != nil {
				return err
			}
		}
		var hold activities.LegalHoldStatus
		if err := workflow.ExecuteActivity(ctx, retention.LegalHold, activities.LegalHoldInput{RegistrationID: plan.RegistrationID, Category: m.Category}).Get(ctx, &hold); err != nil {
			return fmt.Errorf("legal hold: %w", err)
		}
		if hold.Held {
			st.Hold = hold.Reason
			next := workflow.Now(ctx).Add(recheck)
			if err := setStage(cases.StageDeletionOnHold, &next); err != nil {
				return err
			}
			if err := workflow.Sleep(ctx, recheck); err != nil {
				return err
			}
			continue
		}
		st.Hold = ""
		if m.Category == string(policy.PersonalData) {
			finalDeletion = true
		}
		var res activities.DeletionResult
		if err := workflow.ExecuteActivity(ctx, retention.DeleteCategory, activities.DeleteCategoryInput{RegistrationID: plan.RegistrationID, Category: m.Category, Due: m.Due}).Get(ctx, &res); err != nil {
			return fmt.Errorf("delete %s: %w", m.Category, err)
		}
		st.Done = append(st.Done, m)
		st.Pending = st.Pending[1:]
		var next *time.Time
		if len(st.Pending) > 0 {
			next = &st.Pending[0].Due
		}
		if err := setStage(cases.StageRetained, next); err != nil {
			return err
		}
	}
	if err := workflow.Await(ctx, func() bool {
		return desk.open == 0 && publishing == 0 && workflow.AllHandlersFinished(ctx)
	}); err != nil {
		return err
	}
	if err := workflow.ExecuteActivity(ctx, retention.DeleteClosedHistories, plan.RegistrationID).Get(ctx, nil); err != nil {
		return fmt.Errorf("delete closed histories: %w", err)
	}
	return setStage(cases.StageDeleted, nil)
}

// upsertStageWithDeletion shows a stage of a workflow that ends in a
// deletion: the Stage search attribute and DeletionDue, set to due or unset
// when there is none (the retention phase and course registrations).
func upsertStageWithDeletion(ctx workflow.Context, stage cases.Stage, due *time.Time) error {
	attrs := []temporal.SearchAttributeUpdate{cases.StageKey.ValueSet(string(stage))}
	if due != nil {
		attrs = append(attrs, cases.DeletionDueKey.ValueSet(*due))
	} else {
		attrs = append(attrs, cases.DeletionDueKey.ValueUnset())
	}
	return workflow.UpsertTypedSearchAttributes(ctx, attrs...)
}
