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
)
