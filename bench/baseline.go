package main

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Names of the baselines' workflows and activity, registered on the same
// worker as examflow's.
const (
	// activitiesWorkflow runs a number of no-op activities one after another.
	activitiesWorkflow = "BenchActivities"
	// timerWorkflow sleeps in one durable timer: the minimal durable workflow.
	timerWorkflow = "BenchTimer"
	noopActivity  = "BenchNoop"
)

func registerBaselines(w sdkworker.Worker) {
	w.RegisterWorkflowWithOptions(benchActivities, workflow.RegisterOptions{Name: activitiesWorkflow})
	w.RegisterWorkflowWithOptions(benchTimer, workflow.RegisterOptions{Name: timerWorkflow})
	w.RegisterActivityWithOptions(func(context.Context) error { return nil }, activity.RegisterOptions{Name: noopActivity})
}

// benchActivities runs n no-op activities in sequence with the activity
// options of examflow's lifecycle (workflows.activityOptions).
func benchActivities(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	for range n {
		if err := workflow.ExecuteActivity(ctx, noopActivity).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// benchTimer sleeps for d.
func benchTimer(ctx workflow.Context, d time.Duration) error {
	return workflow.Sleep(ctx, d)
}
