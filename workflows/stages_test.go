package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/cases"
)

// TestStageTrailMoves: the one way into a stage keeps each workflow's
// behaviour for a stage entered twice (nothing at all, or shown again with
// the trail kept), shows the extra attributes in the same upsert, records
// the stage before or after it is shown as the workflow says, and sets the
// current details on every move.
func TestStageTrailMoves(t *testing.T) {
	a, b := cases.Stage("A"), cases.Stage("B")
	tests := []struct {
		name        string
		trail       stageTrail
		moves       []cases.Stage
		again       bool
		recordFirst *bool
		wantStages  []cases.Stage
		// wantLog is the order of records ("record X") and upserts ("show X").
		wantLog []string
		// wantSince is the minute of the last change of stage.
		wantSince int
	}{
		{name: "a move to the current stage does nothing", moves: []cases.Stage{a, a, b},
			wantStages: []cases.Stage{a, b}, wantLog: []string{"show A", "show B"}, wantSince: 3},
		{name: "shown again, the trail kept", moves: []cases.Stage{a, a, b, b}, again: true,
			wantStages: []cases.Stage{a, b}, wantLog: []string{"show A", "show A", "show B", "show B"}, wantSince: 3},
		{name: "a trail carried over gets the first stage of its own", trail: stageTrail{stage: cases.StageRetained, stages: []cases.Stage{cases.StageRegistered, cases.StageResult}},
			moves: []cases.Stage{cases.StageRetained, cases.StageRetained}, again: true,
			wantStages: []cases.Stage{cases.StageRegistered, cases.StageResult, cases.StageRetained},
			wantLog:    []string{"show Retained", "show Retained"}, wantSince: 1},
		{name: "recorded after it is shown", moves: []cases.Stage{a, b}, recordFirst: ptr(false),
			wantStages: []cases.Stage{a, b}, wantLog: []string{"show A", "record A", "show B", "record B"}, wantSince: 2},
		{name: "recorded before it is shown", moves: []cases.Stage{a, b, b}, recordFirst: ptr(true),
			wantStages: []cases.Stage{a, b}, wantLog: []string{"record A", "show A", "record B", "show B"}, wantSince: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			start := time.Date(2027, 3, 15, 9, 0, 0, 0, time.UTC)
			env.SetStartTime(start)
			var log []string
			env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
				sa := args.Get(0).(temporal.SearchAttributes)
				stage, _ := sa.GetKeyword(cases.StageKey)
				if _, ok := sa.GetTime(cases.DeletionDueKey); !ok {
					t.Errorf("show %s: DeletionDue not in the same upsert", stage)
				}
				log = append(log, "show "+stage)
			}).Return(nil)
			var got stageTrail
			env.ExecuteWorkflow(func(ctx workflow.Context) error {
				trail := tc.trail
				trail.details = func() string { return "at " + string(trail.stage) }
				due := start
				m := stageMove{attrs: deletionDue(&due), again: tc.again}
				if tc.recordFirst != nil {
					m.record = func(_ workflow.Context, stage cases.Stage, _ time.Time) error {
						log = append(log, "record "+string(stage))
						return nil
					}
					m.recordFirst = func() bool { return *tc.recordFirst }
				}
				for _, stage := range tc.moves {
					if err := workflow.Sleep(ctx, time.Minute); err != nil {
						return err
					}
					if err := trail.move(ctx, stage, m); err != nil {
						return err
					}
					if d := workflow.GetCurrentDetails(ctx); d != "at "+string(stage) {
						t.Errorf("after the move to %s the current details are %q", stage, d)
					}
				}
				got = trail
				return nil
			})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.stages, tc.wantStages) || !slices.Equal(log, tc.wantLog) {
				t.Errorf("stages %v, log %s; want %v, %s", got.stages, strings.Join(log, ", "), tc.wantStages, strings.Join(tc.wantLog, ", "))
			}
			if want := start.Add(time.Duration(tc.wantSince) * time.Minute); !got.since.Equal(want) {
				t.Errorf("since %s, want %s", got.since, want)
			}
		})
	}
}
