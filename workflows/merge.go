package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

// After two candidates are merged (storage.MergeCandidates), the Diploma
// Registry still holds the duplicate's publication under its own key, and
// the survivor's, if any, lacks the duplicate's results. CandidateMerge
// withdraws the one and publishes the other, retrying until the registry
// takes both. The API starts it for every merge, with the merge's ID as
// its workflow ID, so a replayed merge request starts it at most once.

// CandidateMerge settles a merge's Diploma Registry publication.
func CandidateMerge(ctx workflow.Context, in cases.MergeInput) (activities.PublishOutcome, error) {
	workflow.SetCurrentDetails(ctx, mergeDetails("Merge", in.MergeID))
	return settlePublication(ctx, in)
}

// settlePublication withdraws in.MergedID's publication and publishes
// in.SurvivorID's results, retrying until the registry takes both.
func settlePublication(ctx workflow.Context, in cases.MergeInput) (activities.PublishOutcome, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 10 * time.Minute},
	})
	var out activities.PublishOutcome
	err := workflow.ExecuteActivity(withSummary(ctx, "settle the Diploma Registry publication"), publication.SettleMergedPublication, in).Get(ctx, &out)
	return out, err
}

// IdentifierCorrection republishes a candidate after an identifier
// correction.
func IdentifierCorrection(ctx workflow.Context, in cases.CorrectionInput) (activities.PublishOutcome, error) {
	workflow.SetCurrentDetails(ctx, mergeDetails("Identifier correction", in.CorrectionID))
	return settlePublication(ctx, cases.MergeInput{MergeID: in.CorrectionID, SurvivorID: in.CandidateID, MergedID: in.CandidateID})
}
