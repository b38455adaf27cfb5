package workflows

// Change IDs of workflow.GetVersion, one per change to workflow code that
// alters its commands (docs/workflow-versioning.md). Each names what the
// new branch does; the recorded histories of runs from before a change are
// kept under workflows/testdata/histories/<change ID>/ and replay through
// its workflow.DefaultVersion branch.
const (
	// ChangeStageRecordedBeforeShown: a lifecycle records a new stage in
	// PostgreSQL before it shows it (the Stage search attribute and the
	// status Query), so whoever acts on a stage they see finds it recorded:
	// an appeal lodged as soon as the result shows finds the result's
	// release time. Before, the stage was shown first and recorded after.
	// The first stage, Registered, is still shown first.
	ChangeStageRecordedBeforeShown = "stage-recorded-before-shown"
	// ChangeHoldsWithAnEnd: a lifecycle deletes the categories no open case
	// needs (address, payment status) on their dates while it is still
	// open, and escalates a provisional cheating case left undecided past
	// EXAMFLOW_CHEATING_ESCALATE_AFTER (the CheatingEscalated search
	// attribute). Before, an open case kept every category and nothing
	// made anyone decide it.
	ChangeHoldsWithAnEnd = "holds-with-an-end"
)
