package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/testsuite"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/storage"
)

// TestMarkPartHoldsOnSuspectedFaults runs the MarkPart activity against the
// real database for each fault that must hold an automated result for a
// case handler (T04), and for a clean sheet that must not.
func TestMarkPartHoldsOnSuspectedFaults(t *testing.T) {
	in2027 := time.Date(2027, 3, 15, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		keyVersion  int
		submittedAt time.Time
		answers     int // how many of the 36 items the sheet answers
		minSample   int
		wantReasons []string
	}{
		{"clean sheet stands", 1, in2027, 36, 1000, nil},
		{"key version mismatch", 2, in2027, 36, 1000, []string{activities.ReasonKeyVersionMismatch}},
		{"incomplete sheet", 1, in2027, 30, 1000, []string{activities.ReasonMalformedSheet}},
		{"outside the session window", 1, in2027.Add(-24 * time.Hour), 36, 1000, []string{activities.ReasonOutsideWindow}},
		{"session pass rate far from the norm", 1, in2027, 36, 1, []string{activities.ReasonPassRateDeviation}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			centre := uniqueCentre()
			reg := postRegistration(t, newPerson(t).reg(t, "citizenship", centre, session), "")
			if reg.Status != 201 {
				t.Fatalf("register: %d %s", reg.Status, reg.Raw)
			}
			id := uuid.MustParse(reg.Body["registration_id"].(string))
			answers := map[string]string{}
			for i := 0; i < tt.answers; i++ {
				answers[fmt.Sprintf("q%02d", i+1)] = "b" // all wrong: a 0 % pass rate
			}
			if err := env.store.StoreAnswerSheet(t.Context(), storage.AnswerSheet{RegistrationID: id, Part: "test",
				FormID: fmt.Sprintf("citizenship-test-%s-%s", centre, session), KeyVersion: tt.keyVersion, Answers: answers, SubmittedAt: tt.submittedAt}); err != nil {
				t.Fatal(err)
			}
			cfg := env.cfg.TestDay
			cfg.PassRateMinSample = tt.minSample
			cfg.PassRateNorms = map[string]float64{"citizenship": 0.9}
			cfg.PassRateMargin = 0.3
			acts := &activities.TestDay{Store: env.store, Catalogue: env.catalogue, Config: cfg, Logger: env.deps.Logger}
			var s testsuite.WorkflowTestSuite
			aenv := s.NewTestActivityEnvironment()
			aenv.RegisterActivity(acts.MarkPart)
			v, err := aenv.ExecuteActivity(acts.MarkPart, activities.MarkPartInput{RegistrationID: id.String(), Part: "test"})
			if err != nil {
				t.Fatalf("MarkPart: %v", err)
			}
			var out activities.MarkOutcome
			if err := v.Get(&out); err != nil {
				t.Fatal(err)
			}
			if out.Hold != (len(tt.wantReasons) > 0) || !slices.Equal(out.Reasons, tt.wantReasons) {
				t.Fatalf("outcome = %+v, want reasons %v", out, tt.wantReasons)
			}
			res, err := env.store.CurrentResult(t.Context(), id, "test")
			if err != nil || res.Result != "failed" || *res.Score != 0 || res.DecidedBy != "automated" {
				t.Fatalf("stored result = %+v, %v", res, err)
			}
		})
	}
}
