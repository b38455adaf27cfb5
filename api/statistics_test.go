package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/storage"
)

// fakeStatistics is a StatisticsReader over fixed cells that applies the
// real suppression rule and records the filter it was asked for.
type fakeStatistics struct {
	cells []storage.StatCell
	err   error
	got   *storage.StatFilter
}

func (f *fakeStatistics) Statistics(_ context.Context, filter storage.StatFilter) ([]storage.StatCell, error) {
	*f.got = filter
	if f.err != nil {
		return nil, f.err
	}
	return storage.Suppress(f.cells, filter.MinCell), nil
}

// TestStatisticsHandler: the handler passes the filter on, shows a cell
// with its numbers, a cell where everyone passed with its count and only a
// band of the passed count, and a cell under five as suppressed with no
// numbers, and answers a bad query parameter with a 400 problem naming it.
func TestStatisticsHandler(t *testing.T) {
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cells := []storage.StatCell{
		{Month: march, TestType: "citizenship", TestCentre: "OSLO-1", Language: "bokmal", Part: "test", N: 14, Passed: 8},
		{Month: march, TestType: "citizenship", TestCentre: "OSLO-1", Language: "nynorsk", Part: "test", N: 3, Passed: 3},
		// Everyone passed: the exact count would tell each person's result.
		{Month: march, TestType: "citizenship", TestCentre: "OSLO-1", Language: "en", Part: "test", N: 12, Passed: 12},
		// A total would reveal the nynorsk cell (29 - 14 - 12); it is never shown.
		{Month: march, TestType: "citizenship", TestCentre: "OSLO-1", Language: "", Part: "test", N: 29, Passed: 23},
	}
	tests := []struct {
		name       string
		query      string
		err        error
		wantStatus int
		wantFields []string // problem fields, for a 400
		wantFilter storage.StatFilter
	}{
		{name: "everything", query: "", wantStatus: 200, wantFilter: storage.StatFilter{MinCell: 5}},
		{name: "filtered", query: "?test_type=citizenship&test_centre=OSLO-1&from=2026-01&to=2026-03", wantStatus: 200,
			wantFilter: storage.StatFilter{TestType: "citizenship", TestCentre: "OSLO-1", MinCell: 5,
				From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: march}},
		{name: "unknown test type", query: "?test_type=driving", wantStatus: 400, wantFields: []string{"test_type"}},
		{name: "bad centre", query: "?test_centre=O%27Brien%3B", wantStatus: 400, wantFields: []string{"test_centre"}},
		{name: "bad months", query: "?from=2026-13&to=March", wantStatus: 400, wantFields: []string{"from", "to"}},
		{name: "a day is not a month", query: "?from=2026-03-01", wantStatus: 400, wantFields: []string{"from"}},
		{name: "to before from", query: "?from=2026-03&to=2026-01", wantStatus: 400, wantFields: []string{"to"}},
		{name: "unknown parameter", query: "?centre=OSLO-1", wantStatus: 400, wantFields: []string{"centre"}},
		{name: "repeated parameter", query: "?test_type=citizenship&test_type=social_studies", wantStatus: 400, wantFields: []string{"test_type"}},
		{name: "database down", query: "", err: fmt.Errorf("%w: postgres", storage.ErrUnavailable), wantStatus: 503,
			wantFilter: storage.StatFilter{MinCell: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got storage.StatFilter
			reader := &fakeStatistics{cells: cells, err: tt.err, got: &got}
			engine := gin.New()
			engine.GET("/v1/statistics", StatisticsHandler(reader, 5, slog.New(slog.NewTextHandler(io.Discard, nil))))
			rec := httptest.NewRecorder()
			engine.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/statistics"+tt.query, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			switch rec.Code {
			case http.StatusOK:
				if got != tt.wantFilter {
					t.Fatalf("filter = %+v, want %+v", got, tt.wantFilter)
				}
				checkStatisticsBody(t, rec.Body.Bytes())
			case http.StatusBadRequest:
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("content type %q", ct)
				}
				var p Problem
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
					t.Fatal(err)
				}
				var fields []string
				for _, e := range p.Errors {
					fields = append(fields, e.Field)
				}
				if p.Type != ProblemValidation || !slices.Equal(fields, tt.wantFields) {
					t.Fatalf("problem = %+v, want fields %v", p, tt.wantFields)
				}
				if got != (storage.StatFilter{}) {
					t.Fatalf("the store was read for a bad query: %+v", got)
				}
			case http.StatusServiceUnavailable:
				if rec.Header().Get("Retry-After") == "" {
					t.Fatal("503 without Retry-After")
				}
			}
		})
	}
}

// checkStatisticsBody: the cell of fourteen shows its numbers, the cell of
// three is suppressed without any, the cell of twelve who all passed shows
// twelve and the band 8 to 12 only, and the total is not there.
func checkStatisticsBody(t *testing.T, body []byte) {
	t.Helper()
	var raw struct {
		MinCell int              `json:"min_cell"`
		Cells   []map[string]any `json:"cells"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.MinCell != 5 || len(raw.Cells) != 3 {
		t.Fatalf("body = %s", body)
	}
	shown, hidden, banded := raw.Cells[0], raw.Cells[1], raw.Cells[2]
	if shown["language"] != "bokmal" || shown["suppressed"] != false || shown["coarsened"] != false || shown["n"] != float64(14) ||
		shown["passed"] != float64(8) || shown["pass_rate"] != 0.5714 || shown["month"] != "2026-03" {
		t.Fatalf("shown cell = %v", shown)
	}
	if banded["language"] != "en" || banded["suppressed"] != false || banded["coarsened"] != true || banded["n"] != float64(12) ||
		fmt.Sprint(banded["passed_range"]) != "[8 12]" || fmt.Sprint(banded["pass_rate_range"]) != "[0.6667 1]" {
		t.Fatalf("coarsened cell = %v", banded)
	}
	for _, k := range []string{"passed", "pass_rate"} {
		if _, ok := banded[k]; ok {
			t.Fatalf("the coarsened cell shows %s: %v", k, banded)
		}
	}
	if hidden["language"] != "nynorsk" || hidden["suppressed"] != true {
		t.Fatalf("suppressed cell = %v", hidden)
	}
	for _, k := range []string{"n", "passed", "pass_rate"} {
		if _, ok := hidden[k]; ok {
			t.Fatalf("the suppressed cell shows %s: %v", k, hidden)
		}
	}
}
