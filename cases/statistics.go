package cases

import "time"

// Names of the monthly anonymous statistics (docs/statistics.md).
const (
	StatisticsWorkflow   = "MonthlyStatistics"
	StatisticsScheduleID = "examflow-monthly-statistics"
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

// PreviousMonth is the month before the one t falls in (UTC), as YYYY-MM.
func PreviousMonth(t time.Time) string {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0).Format(StatisticsMonthLayout)
}
