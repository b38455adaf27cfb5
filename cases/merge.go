package cases

// After two candidates are merged (storage.MergeCandidates), the Diploma
// Registry still holds the duplicate's publication under its own key, and
// the survivor's, if any, lacks the duplicate's results. CandidateMerge
// withdraws the one and publishes the other, retrying until the registry
// takes both. The API starts it for every merge, with the merge's ID as
// its workflow ID, so a replayed merge request starts it at most once.
const (
	// MergeWorkflow is the workflow type.
	MergeWorkflow = "CandidateMerge"
)

// MergeInput names a merge: IDs only.
type MergeInput struct {
	MergeID    string `json:"merge_id"`
	SurvivorID string `json:"survivor_id"`
	MergedID   string `json:"merged_id"`
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
