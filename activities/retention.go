package activities

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
	"github.com/examflow/examflow/workflows"
)

// Retention holds the activities of the retention phase (T13–T17).
type Retention struct {
	Store     *storage.Store
	Temporal  client.Client
	Namespace string
	Periods   policy.Periods
	Events    map[policy.Category]policy.Event
	// HoldRecheck is how long a deletion on legal hold waits before it is
	// tried again.
	HoldRecheck time.Duration
	Logger      *slog.Logger
}

// PlanRetention computes a registration's deletion milestones from the
// policy table, the configured periods and the registration's events.
// Categories examflow holds nothing of for the registration get no
// milestone (payment status is not stored; audio recordings expire by the
// bucket rule).
func (a *Retention) PlanRetention(ctx context.Context, registrationID string) (workflows.RetentionPlan, error) {
	id, err := parseID(registrationID)
	if err != nil {
		return workflows.RetentionPlan{}, err
	}
	f, err := a.Store.RetentionFactsOf(ctx, id)
	if err != nil {
		return workflows.RetentionPlan{}, err
	}
	plan := workflows.RetentionPlan{RegistrationID: registrationID, HoldRecheck: a.HoldRecheck}
	add := func(c policy.Category, from time.Time) error {
		due, err := a.Periods.Due(c, from)
		if err != nil {
			return err
		}
		plan.Milestones = append(plan.Milestones, workflows.Milestone{Category: string(c), Due: due})
		return nil
	}
	eventTime := func(c policy.Category) time.Time {
		r, _ := policy.Lookup(c)
		ev := r.From
		if e, ok := a.Events[c]; ok {
			ev = e
		}
		if ev == policy.Registered {
			return f.RegisteredAt
		}
		return f.TestDate
	}
	if err := add(policy.Address, eventTime(policy.Address)); err != nil {
		return plan, err
	}
	if f.CheatingDecidedAt != nil {
		if err := add(policy.Cheating, *f.CheatingDecidedAt); err != nil {
			return plan, err
		}
	}
	if err := add(policy.PersonalData, eventTime(policy.PersonalData)); err != nil {
		return plan, err
	}
	return plan, nil
}

// LegalHold says whether a deletion must wait (an open cheating case; open
// appeals come with the appeals work).
func (a *Retention) LegalHold(ctx context.Context, in workflows.LegalHoldInput) (workflows.LegalHoldStatus, error) {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return workflows.LegalHoldStatus{}, err
	}
	reason, err := a.Store.LegalHold(ctx, id)
	if err != nil {
		return workflows.LegalHoldStatus{}, err
	}
	if reason != "" {
		a.Logger.InfoContext(ctx, "deletion postponed by a legal hold", "registration_id", in.RegistrationID, "category", in.Category, "reason", reason)
	}
	return workflows.LegalHoldStatus{Held: reason != "", Reason: reason}, nil
}

// DeleteCategory deletes one category of a registration's data and records
// the deletion. Idempotent.
func (a *Retention) DeleteCategory(ctx context.Context, in workflows.DeleteCategoryInput) (workflows.DeletionResult, error) {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return workflows.DeletionResult{}, err
	}
	d, err := a.Store.DeleteCategory(ctx, id, in.Category, in.Due)
	if err != nil {
		return workflows.DeletionResult{}, err
	}
	a.Logger.InfoContext(ctx, "retention deletion", "registration_id", in.RegistrationID, "category", in.Category,
		"rows", d.RowsDeleted, "subject_deleted", d.SubjectDeleted)
	return workflows.DeletionResult{RowsDeleted: d.RowsDeleted, SubjectDeleted: d.SubjectDeleted}, nil
}

// DeleteClosedHistories deletes the closed runs of the registration's
// workflow (the lifecycle run before the retention phase): after the final
// deletion no history of the subject remains in Temporal but the running
// retention run, which holds IDs and dates only.
func (a *Retention) DeleteClosedHistories(ctx context.Context, registrationID string) error {
	if _, err := parseID(registrationID); err != nil {
		return err
	}
	wfID := storage.WorkflowIDFor(mustUUID(registrationID))
	resp, err := a.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: a.Namespace, Query: fmt.Sprintf(`WorkflowId=%q AND ExecutionStatus!="Running"`, wfID),
	})
	if err != nil {
		return fmt.Errorf("list closed runs: %w", err)
	}
	for _, e := range resp.GetExecutions() {
		_, err := a.Temporal.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace: a.Namespace, WorkflowExecution: e.GetExecution(),
		})
		if err != nil {
			return fmt.Errorf("delete run: %w", err)
		}
	}
	return nil
}
