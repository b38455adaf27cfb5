package workflows

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

// TestMonthlyStatisticsMaterialisesTheMonth: the Schedule's empty request
// materialises the month before the run (across a year end too), a named
// month is materialised as asked, and a malformed month fails the run
// without calling the activity.
func TestMonthlyStatisticsMaterialisesTheMonth(t *testing.T) {
	tests := []struct {
		name    string
		start   time.Time
		req     cases.StatisticsRequest
		want    string // the month the activity gets; "" for none
		wantErr bool
	}{
		{"schedule run on the 28th", time.Date(2027, 3, 28, 2, 0, 0, 0, time.UTC), cases.StatisticsRequest{}, "2027-02", false},
		{"schedule run in January", time.Date(2027, 1, 28, 2, 0, 0, 0, time.UTC), cases.StatisticsRequest{}, "2026-12", false},
		{"named month", time.Date(2027, 3, 28, 2, 0, 0, 0, time.UTC), cases.StatisticsRequest{Month: "2026-11"}, "2026-11", false},
		{"malformed month", time.Date(2027, 3, 28, 2, 0, 0, 0, time.UTC), cases.StatisticsRequest{Month: "2026-13"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetStartTime(tt.start)
			var got string
			env.RegisterActivityWithOptions(func(_ context.Context, month string) (activities.StatisticsResult, error) {
				got = month
				return activities.StatisticsResult{Month: month, Cells: 3}, nil
			}, activity.RegisterOptions{Name: "MaterialiseStatistics"})
			env.ExecuteWorkflow(MonthlyStatistics, tt.req)
			err := env.GetWorkflowError()
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("activity got month %q, want %q", got, tt.want)
			}
			if tt.wantErr {
				return
			}
			var res activities.StatisticsResult
			if err := env.GetWorkflowResult(&res); err != nil || res.Month != tt.want || res.Cells != 3 {
				t.Fatalf("result = %+v, %v", res, err)
			}
		})
	}
}
