package process

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/cases"
)

// StatisticsScheduleSpec is when the monthly statistics run: on the 28th
// of every month at 02:00 UTC, for the previous month. By then every
// session of the previous month is at least four weeks old, so the results
// that come weeks after the test (the Norwegian tests' examiner-marked
// parts) have been released.
var StatisticsScheduleSpec = client.ScheduleSpec{Calendars: []client.ScheduleCalendarSpec{{
	DayOfMonth: []client.ScheduleRange{{Start: 28}},
	Hour:       []client.ScheduleRange{{Start: 2}},
	Comment:    "anonymous statistics of the previous month (docs/statistics.md)",
}}}

// EnsureStatisticsSchedule creates the monthly statistics Schedule if it
// does not exist. It is safe to call from every worker at start-up.
func EnsureStatisticsSchedule(ctx context.Context, c client.Client, taskQueue string) error {
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   cases.StatisticsScheduleID,
		Spec: StatisticsScheduleSpec,
		Action: &client.ScheduleWorkflowAction{
			ID: statisticsActionID, Workflow: cases.StatisticsWorkflow, TaskQueue: taskQueue,
			StaticSummary: "Monthly statistics: anonymous counts of the previous month",
			Args:          []any{cases.StatisticsRequest{}},
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create statistics schedule: %w", err)
	}
	return nil
}
