package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

func TestLifecycleEntersRegistered(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	regID := uuid.NewString()

	var recorded []RecordStageInput
	env.RegisterActivityWithOptions(func(_ context.Context, in RecordStageInput) error {
		recorded = append(recorded, in)
		return nil
	}, activity.RegisterOptions{Name: ActivityRecordStage})
	var upserted []string
	env.OnUpsertTypedSearchAttributes(temporal.NewSearchAttributes(StageKey.ValueSet(string(StageRegistered)))).
		Run(func(mock.Arguments) { upserted = append(upserted, string(StageRegistered)) }).Return(nil)

	var status LifecycleStatus
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryStatus)
		if err != nil {
			t.Fatalf("query status: %v", err)
		}
		if err := v.Get(&status); err != nil {
			t.Fatalf("decode status: %v", err)
		}
		env.CancelWorkflow()
	}, time.Hour)
	env.ExecuteWorkflow(CandidateLifecycle, LifecycleInput{RegistrationID: regID})

	if status.Stage != StageRegistered {
		t.Fatalf("stage = %q, want %q", status.Stage, StageRegistered)
	}
	if len(status.Stages) != 1 || status.Stages[0] != StageRegistered {
		t.Fatalf("stages = %v, want [Registered]", status.Stages)
	}
	if len(recorded) != 1 || recorded[0].RegistrationID != regID || recorded[0].Stage != StageRegistered {
		t.Fatalf("RecordStage calls = %+v, want one for %s Registered", recorded, regID)
	}
	if len(upserted) != 1 {
		t.Fatalf("Stage search attribute upserted %d times, want 1", len(upserted))
	}
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not end after cancellation")
	}
}

func TestLifecycleRejectsInputThatIsNotAUUID(t *testing.T) {
	tests := []struct{ name, id string }{
		{"empty", ""},
		{"a name", "Kari Nordmann"},
		{"an identity number", "12048510092"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.ExecuteWorkflow(CandidateLifecycle, LifecycleInput{RegistrationID: tt.id})
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow should end at once")
			}
			err := env.GetWorkflowError()
			var appErr *temporal.ApplicationError
			if err == nil || !errors.As(err, &appErr) || appErr.Type() != "InvalidInput" || !appErr.NonRetryable() {
				t.Fatalf("error = %v, want non-retryable InvalidInput", err)
			}
		})
	}
}

func TestLifecycleRetriesRecordStage(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	calls := 0
	env.RegisterActivityWithOptions(func(_ context.Context, in RecordStageInput) error {
		calls++
		if calls < 3 {
			return temporal.NewApplicationError("database down", "Unavailable")
		}
		return nil
	}, activity.RegisterOptions{Name: ActivityRecordStage})
	env.RegisterDelayedCallback(env.CancelWorkflow, 24*time.Hour)
	env.ExecuteWorkflow(CandidateLifecycle, LifecycleInput{RegistrationID: uuid.NewString()})
	if calls != 3 {
		t.Fatalf("RecordStage ran %d times, want 3 (two failures, then success)", calls)
	}
}

// The workflow input must stay free of personal data: only the UUID.
func TestLifecycleInputCarriesOnlyTheRegistrationID(t *testing.T) {
	p, err := converter.GetDefaultDataConverter().ToPayload(LifecycleInput{RegistrationID: "00000000-0000-0000-0000-000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(p.GetData()), `{"registration_id":"00000000-0000-0000-0000-000000000001"}`; got != want {
		t.Fatalf("payload = %s, want %s", got, want)
	}
}
