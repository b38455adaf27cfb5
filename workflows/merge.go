package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// After two candidates are merged (storage.MergeCandidates), the Diploma
// Registry still holds the duplicate's publication under its own key, and
// the survivor's, if any, lacks the duplicate's results. CandidateMerge
// withdraws the one and publishes the other, retrying until the registry
// takes both. The API starts it for every merge, with the merge's ID as
// its workflow ID, so a replayed merge request starts it at most once.
const (
	// MergeWorkflow is the workflow type.
	MergeWorkflow = "CandidateMerge"
	// ActivitySettleMergedPublication withdraws the duplicate's publication
	// and publishes the survivor's results.
	ActivitySettleMergedPublication = "SettleMergedPublication"
)

// MergeInput names a merge: IDs only.
type MergeInput struct {
	MergeID    string `json:"merge_id"`
	SurvivorID string `json:"survivor_id"`
	MergedID   string `json:"merged_id"`
}

// CandidateMerge settles a merge's Diploma Registry publication.
func CandidateMerge(ctx workflow.Context, in MergeInput) (PublishOutcome, error) {
	return settlePublication(ctx, in)
}

// settlePublication withdraws in.MergedID's publication and publishes
// in.SurvivorID's results, retrying until the registry takes both.
func settlePublication(ctx workflow.Context, in MergeInput) (PublishOutcome, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 10 * time.Minute},
	})
	var out PublishOutcome
	err := workflow.ExecuteActivity(ctx, ActivitySettleMergedPublication, in).Get(ctx, &out)
	return out, err
}

// After a case handler corrects an identifier
// (storage.CorrectIdentifier), the Diploma Registry holds the candidate
// under the old one. IdentifierCorrection withdraws the publication under
// the candidate's key and publishes the candidate's final results again:
// a corrected fødselsnummer is published, and a candidate whose number
// turns out not to be a fødselsnummer leaves the registry (T09). It runs
// the merge's activity with the candidate on both sides.
const (
	// CorrectionWorkflow is the workflow type.
	CorrectionWorkflow = "IdentifierCorrection"
)

// CorrectionInput names a correction: IDs only.
type CorrectionInput struct {
	CorrectionID string `json:"correction_id"`
	CandidateID  string `json:"candidate_id"`
}

// IdentifierCorrection republishes a candidate after an identifier
// correction.
func IdentifierCorrection(ctx workflow.Context, in CorrectionInput) (PublishOutcome, error) {
	return settlePublication(ctx, MergeInput{MergeID: in.CorrectionID, SurvivorID: in.CandidateID, MergedID: in.CandidateID})
}
