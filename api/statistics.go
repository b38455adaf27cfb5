package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/storage"
)

// StatisticsReader reads the anonymous statistics with the suppression rule
// applied; storage.Store is one.
type StatisticsReader interface {
	Statistics(ctx context.Context, f storage.StatFilter) ([]storage.StatCell, error)
}

// StatCellView is one statistics cell as the API shows it. A suppressed
// cell has no numbers: n, passed and pass_rate are left out. A coarsened
// cell (storage.Band) shows n and only passed_range and pass_rate_range.
type StatCellView struct {
	Month         string      `json:"month"`
	TestType      string      `json:"test_type"`
	TestCentre    string      `json:"test_centre"`
	Language      string      `json:"language"`
	Part          string      `json:"part"`
	Suppressed    bool        `json:"suppressed"`
	Coarsened     bool        `json:"coarsened"`
	N             *int        `json:"n,omitempty"`
	Passed        *int        `json:"passed,omitempty"`
	PassRate      *float64    `json:"pass_rate,omitempty"`
	PassedRange   *[2]int     `json:"passed_range,omitempty"`
	PassRateRange *[2]float64 `json:"pass_rate_range,omitempty"`
	ComputedAt    time.Time   `json:"computed_at"`
}

// StatisticsView is the answer of GET /v1/statistics.
type StatisticsView struct {
	// MinCell is the suppression threshold the cells were published with.
	MinCell int            `json:"min_cell"`
	Cells   []StatCellView `json:"cells"`
}

// statisticsParams are the query parameters GET /v1/statistics accepts.
var statisticsParams = []string{"test_type", "test_centre", "from", "to"}

// StatisticsHandler serves GET /v1/statistics (role statistics): the
// anonymous statistics cells, filtered by the query parameters test_type,
// test_centre, from and to (months, YYYY-MM, both included). A cell under
// minCell results (at least config.StatisticsMinCellFloor) is marked
// suppressed and shows no numbers; no totals are published
// (docs/statistics.md). A bad parameter is a 400 problem naming it.
func StatisticsHandler(r StatisticsReader, minCell int, logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, errs := parseStatisticsQuery(c.Request.URL.Query())
		if len(errs) > 0 {
			detail := "1 query parameter is invalid"
			if len(errs) > 1 {
				detail = fmt.Sprintf("%d query parameters are invalid", len(errs))
			}
			writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid query parameters", Status: http.StatusBadRequest,
				Detail: detail, Errors: errs})
			return
		}
		f.MinCell = minCell
		cells, err := r.Statistics(c.Request.Context(), f)
		if err != nil {
			if errors.Is(err, storage.ErrUnavailable) {
				unavailable(c, "PostgreSQL does not answer")
				return
			}
			log := logger
			if log == nil {
				log = slog.Default()
			}
			log.ErrorContext(c.Request.Context(), "read statistics", "error", err)
			internalError(c)
			return
		}
		out := StatisticsView{MinCell: storage.EffectiveMinCell(minCell), Cells: make([]StatCellView, 0, len(cells))}
		for _, cell := range cells {
			v := StatCellView{Month: cell.Month.Format("2006-01"), TestType: cell.TestType, TestCentre: cell.TestCentre,
				Language: cell.Language, Part: cell.Part, Suppressed: cell.Suppressed, ComputedAt: cell.ComputedAt.UTC()}
			switch {
			case cell.Suppressed:
			case cell.Coarsened:
				n := cell.N
				v.N, v.Coarsened = &n, true
				v.PassedRange = &[2]int{cell.PassedMin, cell.PassedMax}
				v.PassRateRange = &[2]float64{rate4(float64(cell.PassedMin) / float64(n)), rate4(float64(cell.PassedMax) / float64(n))}
			default:
				n, passed := cell.N, cell.Passed
				rate := rate4(cell.PassRate)
				v.N, v.Passed, v.PassRate = &n, &passed, &rate
			}
			out.Cells = append(out.Cells, v)
		}
		c.JSON(http.StatusOK, out)
	}
}

// rate4 rounds a rate to four decimals.
func rate4(r float64) float64 { return math.Round(r*10000) / 10000 }

// parseStatisticsQuery checks the query parameters of GET /v1/statistics
// and names each one that is wrong.
func parseStatisticsQuery(q map[string][]string) (storage.StatFilter, []FieldError) {
	var f storage.StatFilter
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case !slices.Contains(statisticsParams, name):
			add(name, "unknown query parameter; only %s are accepted", strings.Join(statisticsParams, ", "))
		case len(q[name]) > 1:
			add(name, "is given more than once")
		}
	}
	get := func(name string) string {
		if v := q[name]; len(v) == 1 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	if v := get("test_type"); v != "" {
		if types := storage.StatisticsTestTypes(); !slices.Contains(types, v) {
			add("test_type", "must be one of %s", strings.Join(types, ", "))
		}
		f.TestType = v
	}
	if v := get("test_centre"); v != "" {
		if !testCentreCode.MatchString(v) {
			add("test_centre", "must be a test centre's code: letters, digits, - and _, at most 64")
		}
		f.TestCentre = v
	}
	month := func(name string) time.Time {
		v := get(name)
		if v == "" {
			return time.Time{}
		}
		m, err := time.Parse("2006-01", v)
		if err != nil || m.Year() < 2000 {
			add(name, "must be a month from 2000 on, written YYYY-MM (e.g. 2026-03)")
			return time.Time{}
		}
		return m
	}
	f.From, f.To = month("from"), month("to")
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		add("to", "must not be before from")
	}
	return f, errs
}
