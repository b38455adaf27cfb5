package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// Names of the daily retention reconciliation.
const (
	ActivityReconcile = "ReconcileRetention"
)

// ReconcileResult counts what a reconciliation found and deleted.
type ReconcileResult struct {
	Overdue int            `json:"overdue"`
	Deleted map[string]int `json:"deleted"`
	Held    int            `json:"held"`
}

// RetentionReconciliation is run by a daily Schedule: it deletes anything in
// PostgreSQL that is past its deletion deadline even if the registration's
// workflow was lost. The lifecycle's own retention phase stays the first
// line; MinIO's lifecycle rule is the third.
func RetentionReconciliation(ctx workflow.Context) (ReconcileResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Minute, HeartbeatTimeout: time.Minute})
	var res ReconcileResult
	err := workflow.ExecuteActivity(ctx, ActivityReconcile).Get(ctx, &res)
	return res, err
}
