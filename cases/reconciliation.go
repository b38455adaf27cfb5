package cases

// Names of the daily retention reconciliation.
const (
	ReconciliationWorkflow   = "RetentionReconciliation"
	ReconciliationScheduleID = "examflow-retention-reconciliation"
)
