// Package workflows holds examflow's deterministic Temporal workflow code,
// one file per workflow. Workflow inputs, IDs, search attributes and memos
// carry opaque IDs and status values only; personal data stays in PostgreSQL
// and MinIO and is reached through activities.
package workflows

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names that integrations and the Temporal UI see.
const (
	// LifecycleWorkflow is the workflow type of a registration's lifecycle.
	LifecycleWorkflow = "CandidateLifecycle"
	// QueryStatus returns a LifecycleStatus.
	QueryStatus = "status"
	// ActivityRecordStage is the activity that writes a stage to PostgreSQL.
	ActivityRecordStage = "RecordStage"
)

// Stage is a lifecycle stage, shown in the Stage search attribute.
type Stage string

// Stages of the candidate lifecycle, in order. Later stages arrive with the
// test-day, retention and appeals work.
const (
	StageRegistered Stage = "Registered"
)

// LifecycleInput is the only input of the lifecycle workflow: the
// registration's UUID. Everything else is read through activities.
type LifecycleInput struct {
	RegistrationID string `json:"registration_id"`
}

// LifecycleStatus answers the status query.
type LifecycleStatus struct {
	Stage  Stage     `json:"stage"`
	Since  time.Time `json:"since"`
	Stages []Stage   `json:"stages"`
}

// RecordStageInput is the input of the RecordStage activity.
type RecordStageInput struct {
	RegistrationID string    `json:"registration_id"`
	Stage          Stage     `json:"stage"`
	At             time.Time `json:"at"`
}

type lifecycle struct {
	in     LifecycleInput
	status LifecycleStatus
}

// CandidateLifecycle drives one registration from registration to deletion.
func CandidateLifecycle(ctx workflow.Context, in LifecycleInput) error {
	if _, err := uuid.Parse(in.RegistrationID); err != nil {
		return temporal.NewNonRetryableApplicationError("registration_id is not a UUID", "InvalidInput", err)
	}
	l := &lifecycle{in: in}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (LifecycleStatus, error) {
		return l.status, nil
	}); err != nil {
		return fmt.Errorf("set query handler: %w", err)
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	})
	if err := l.enter(ctx, StageRegistered); err != nil {
		return err
	}
	// The registration now waits for the test day; its events (answer
	// sheets, discrepancies) are handled by the test-day stage, which is not
	// built yet. The workflow stays open so that stage can be added with
	// workflow.GetVersion without losing running registrations.
	return workflow.Await(ctx, func() bool { return false })
}

// enter moves the lifecycle into a stage: the Stage search attribute, the
// status query and the stage history in PostgreSQL.
func (l *lifecycle) enter(ctx workflow.Context, stage Stage) error {
	now := workflow.Now(ctx)
	if err := workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(string(stage))); err != nil {
		return fmt.Errorf("upsert stage: %w", err)
	}
	l.status.Stage = stage
	l.status.Since = now
	l.status.Stages = append(l.status.Stages, stage)
	err := workflow.ExecuteActivity(ctx, ActivityRecordStage, RecordStageInput{
		RegistrationID: l.in.RegistrationID, Stage: stage, At: now,
	}).Get(ctx, nil)
	if err != nil {
		return fmt.Errorf("record stage %s: %w", stage, err)
	}
	return nil
}

// LifecycleStart is what a starter knows about a registration: the opaque ID
// and the non-personal values shown as search attributes from the start.
type LifecycleStart struct {
	RegistrationID uuid.UUID
	WorkflowID     string
	TestType       string
	TestCentre     string
	SessionDate    time.Time
}

// StartLifecycle starts a registration's lifecycle workflow. It is
// idempotent: starting it again returns the run that already exists, and a
// closed run is never started a second time.
func StartLifecycle(ctx context.Context, c client.Client, taskQueue string, s LifecycleStart) (client.WorkflowRun, error) {
	opts := client.StartWorkflowOptions{
		ID:                       s.WorkflowID,
		TaskQueue:                taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			StageKey.ValueSet(string(StageRegistered)),
			TestTypeKey.ValueSet(s.TestType),
			TestCentreKey.ValueSet(s.TestCentre),
			SessionDateKey.ValueSet(s.SessionDate),
		),
	}
	run, err := c.ExecuteWorkflow(ctx, opts, LifecycleWorkflow, LifecycleInput{RegistrationID: s.RegistrationID.String()})
	if err != nil {
		return nil, fmt.Errorf("start lifecycle workflow: %w", err)
	}
	return run, nil
}
