package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/cases"
)

// stageTrail is where a workflow is: its current stage, since when, and the
// stages it passed. Every workflow with a Stage moves through one, so a
// stage is entered the same way everywhere: the Stage search attribute (with
// whatever else the workflow shows beside it, in the same upsert), the
// trail its status Query answers with, and the current details the Temporal
// UI shows (details, built from the workflow's state).
type stageTrail struct {
	stage  cases.Stage
	since  time.Time
	stages []cases.Stage
	// entering is the stage being recorded before it is shown
	// (stageMove.record with recordFirst), so a second move to it waits
	// for none.
	entering cases.Stage
	// details builds the workflow's current details (Markdown) from its
	// state; nil shows none.
	details func() string
}

// stageMove is what a workflow adds to a move between stages.
type stageMove struct {
	// attrs are upserted together with Stage, in one upsert.
	attrs []temporal.SearchAttributeUpdate
	// again: a move to the current stage shows it again (its attrs may
	// have changed) and keeps the trail; without it such a move does
	// nothing at all.
	again bool
	// record, when set, records the stage outside Temporal (at is the
	// move's workflow time), after the stage is shown unless recordFirst
	// says otherwise.
	record func(ctx workflow.Context, stage cases.Stage, at time.Time) error
	// recordFirst is asked only once a move will happen (it may be a
	// version gate): true records the stage before it is shown.
	recordFirst func() bool
}

// move enters stage as m says: recorded first if so, then shown (one upsert
// of Stage and m.attrs), added to the trail unless it is already its last
// stage, the current details updated, and recorded after if so.
func (t *stageTrail) move(ctx workflow.Context, stage cases.Stage, m stageMove) error {
	if !m.again && (t.stage == stage || t.entering == stage) {
		return nil
	}
	now := workflow.Now(ctx)
	first := m.record != nil && m.recordFirst != nil && m.recordFirst()
	if first {
		t.entering = stage
		err := m.record(ctx, stage, now)
		t.entering = ""
		if err != nil {
			return err
		}
	}
	attrs := append([]temporal.SearchAttributeUpdate{cases.StageKey.ValueSet(string(stage))}, m.attrs...)
	if err := workflow.UpsertTypedSearchAttributes(ctx, attrs...); err != nil {
		return fmt.Errorf("upsert stage %s: %w", stage, err)
	}
	if t.stage != stage || len(t.stages) == 0 || t.stages[len(t.stages)-1] != stage {
		t.stages = append(t.stages, stage)
		t.since = now
	}
	t.stage = stage
	t.show(ctx)
	if m.record != nil && !first {
		return m.record(ctx, stage, now)
	}
	return nil
}

// show sets the workflow's current details from its state: on every move,
// and wherever what the workflow waits for changes within a stage.
func (t *stageTrail) show(ctx workflow.Context) {
	if t.details != nil {
		workflow.SetCurrentDetails(ctx, t.details())
	}
}

// deletionDue are the attributes of a stage of a workflow that ends in a
// deletion: DeletionDue set to due, or unset when there is none (the
// retention phase and course registrations).
func deletionDue(due *time.Time) []temporal.SearchAttributeUpdate {
	if due != nil {
		return []temporal.SearchAttributeUpdate{cases.DeletionDueKey.ValueSet(*due)}
	}
	return []temporal.SearchAttributeUpdate{cases.DeletionDueKey.ValueUnset()}
}

// withSummary gives the activities executed with the returned context a
// summary, shown in the Temporal UI beside the activity: IDs, statuses,
// categories and dates only.
func withSummary(ctx workflow.Context, summary string) workflow.Context {
	o := workflow.GetActivityOptions(ctx)
	o.Summary = summary
	return workflow.WithActivityOptions(ctx, o)
}
