package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

// MonthlyStatistics is run by the monthly statistics Schedule: it
// materialises the anonymous statistics of the previous month (or of the
// month requested). Only a finished month is materialised: publishing a
// month so far and again later would let a reader subtract the two releases
// and learn about the few results that came in between.
func MonthlyStatistics(ctx workflow.Context, req cases.StatisticsRequest) (activities.StatisticsResult, error) {
	month := req.Month
	if month == "" {
		month = cases.PreviousMonth(workflow.Now(ctx))
	} else if _, err := time.Parse(cases.StatisticsMonthLayout, month); err != nil {
		return activities.StatisticsResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("month %q is not YYYY-MM", month), "InvalidMonth", nil)
	}
	workflow.SetCurrentDetails(ctx, statisticsDetails(month))
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Minute, Summary: "materialise statistics of " + month})
	var res activities.StatisticsResult
	err := workflow.ExecuteActivity(ctx, statistics.MaterialiseStatistics, month).Get(ctx, &res)
	return res, err
}
