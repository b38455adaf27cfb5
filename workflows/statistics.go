package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names of the monthly anonymous statistics (docs/statistics.md).
const (
	StatisticsWorkflow            = "MonthlyStatistics"
	StatisticsScheduleID          = "examflow-monthly-statistics"
	ActivityMaterialiseStatistics = "MaterialiseStatistics"
)

// StatisticsMonthLayout is how a statistics month is written: 2026-01.
const StatisticsMonthLayout = "2006-01"

// StatisticsRequest is the input of MonthlyStatistics. The Schedule sends
// it empty: the previous month. An operator may name a month to
// materialise (a backfill).
type StatisticsRequest struct {
	// Month is YYYY-MM; empty means the month before the workflow's start.
	Month string `json:"month,omitempty"`
}

// StatisticsResult says which month was materialised and how many cells
// it has. It holds no personal data.
type StatisticsResult struct {
	Month string `json:"month"`
	Cells int    `json:"cells"`
}

// PreviousMonth is the month before the one t falls in (UTC), as YYYY-MM.
func PreviousMonth(t time.Time) string {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0).Format(StatisticsMonthLayout)
}

// MonthlyStatistics is run by the monthly statistics Schedule: it
// materialises the anonymous statistics of the previous month (or of the
// month requested). Only a finished month is materialised: publishing a
// month so far and again later would let a reader subtract the two releases
// and learn about the few results that came in between.
func MonthlyStatistics(ctx workflow.Context, req StatisticsRequest) (StatisticsResult, error) {
	month := req.Month
	if month == "" {
		month = PreviousMonth(workflow.Now(ctx))
	} else if _, err := time.Parse(StatisticsMonthLayout, month); err != nil {
		return StatisticsResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("month %q is not YYYY-MM", month), "InvalidMonth", nil)
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Minute})
	var res StatisticsResult
	err := workflow.ExecuteActivity(ctx, ActivityMaterialiseStatistics, month).Get(ctx, &res)
	return res, err
}
