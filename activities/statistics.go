package activities

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/storage"
)

// Statistics holds the activity of the anonymous statistics (T01
// "statistics", C05; docs/statistics.md).
type Statistics struct {
	Store  statisticsStore
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MinCell is the configured minimum cell (EXAMFLOW_STATISTICS_MIN_CELL;
	// never under config.StatisticsMinCellFloor).
	MinCell int
}

// statisticsStore is what the Statistics activities need of the store: the
// methods they call, no more. *storage.Store is one (the worker passes it); a
// unit test passes a fake of its own.
type statisticsStore interface {
	MaterialiseCourseStatistics(ctx context.Context, month time.Time, minCell int) (int, error)
	MaterialiseStatistics(ctx context.Context, month time.Time) (int, error)
}

var _ statisticsStore = (*storage.Store)(nil)

// StatisticsResult says which month was materialised and how many cells
// it has. It holds no personal data.
type StatisticsResult struct {
	Month string `json:"month"`
	Cells int    `json:"cells"`
}

// MaterialiseStatistics recomputes the statistics cells of a finished month
// (YYYY-MM) and reports how many there are. It is idempotent: the month's
// cells are replaced in one transaction. A month that has not ended yet is
// refused, so a month is never published while it is still filling up.
func (a *Statistics) MaterialiseStatistics(ctx context.Context, month string) (StatisticsResult, error) {
	m, err := time.Parse(cases.StatisticsMonthLayout, month)
	if err != nil {
		return StatisticsResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("month %q is not YYYY-MM", month), cases.ErrorInvalidInput, err)
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if end := m.AddDate(0, 1, 0); now().Before(end) {
		return StatisticsResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("month %s has not ended: only finished months are materialised", month), "MonthNotFinished", nil)
	}
	n, err := a.Store.MaterialiseStatistics(ctx, m)
	if err != nil {
		return StatisticsResult{}, err
	}
	courses, err := a.Store.MaterialiseCourseStatistics(ctx, m, a.MinCell)
	if err != nil {
		return StatisticsResult{}, err
	}
	n += courses
	if a.Logger != nil {
		a.Logger.InfoContext(ctx, "statistics materialised", "month", month, "cells", n)
	}
	return StatisticsResult{Month: month, Cells: n}, nil
}
