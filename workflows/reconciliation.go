package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
)

// RetentionReconciliation is run by a daily Schedule: it deletes anything in
// PostgreSQL that is past its deletion deadline even if the registration's
// workflow was lost. The lifecycle's own retention phase stays the first
// line; MinIO's lifecycle rule is the third.
func RetentionReconciliation(ctx workflow.Context) (activities.ReconcileResult, error) {
	workflow.SetCurrentDetails(ctx, reconciliationDetails())
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Minute, HeartbeatTimeout: time.Minute,
		Summary: "delete what is past its deletion deadline"})
	var res activities.ReconcileResult
	err := workflow.ExecuteActivity(ctx, retention.ReconcileRetention).Get(ctx, &res)
	return res, err
}
