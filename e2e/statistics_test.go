package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/storage"
)

// TestStatisticsSuppressesSmallCells (T01 statistics, C05 anonymously):
// results produced through the API in the previous month at a centre of
// its own (five citizenship candidates written in nynorsk, three social
// studies candidates tested in English) are materialised by the monthly
// Schedule; the cell of five shows n but its passed count only as the band
// 0 to 5 (a cell under twice the minimum never shows an exact count, which
// where everyone passed or failed would tell each result), the cell of three
// is suppressed and stored without numbers; an annulled result drops out on
// recomputation; and the gin handler serves the same cells.
func TestStatisticsSuppressesSmallCells(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	prev := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	month := prev.Format(cases.StatisticsMonthLayout)
	date := prev.AddDate(0, 0, 14).Format(time.DateOnly)
	centre := uniqueCentre()

	take := func(testType string, items, correct int, edit func(body map[string]any)) (url, id string) {
		t.Helper()
		body := newPerson(t).reg(t, testType, centre, date)
		edit(body)
		a := postRegistration(t, body, "")
		if a.Status != http.StatusCreated {
			t.Fatalf("register: %d %s", a.Status, a.Raw)
		}
		url = registrationURL(a)
		form := fmt.Sprintf("%s-test-%s-%s", testType, centre, date)
		if s := postJSON(t, url+"/answer-sheets", map[string]any{"part": "test", "form_id": form, "key_version": 1,
			"submitted_at": date + "T10:00:00Z", "answers": answersFor(items, correct)}, ""); s.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", s.Status, s.Raw)
		}
		return url, a.Body["registration_id"].(string)
	}
	nynorsk := func(body map[string]any) { body["person"].(map[string]any)["written_form"] = "nynorsk" }
	english := func(body map[string]any) { body["test"].(map[string]any)["language"] = "en" }
	var urls, citizenship []string
	for i := range 5 { // 24 of 32 scored items pass: four pass, one fails
		url, id := take("citizenship", 36, []int{30, 28, 26, 24, 10}[i], nynorsk)
		urls, citizenship = append(urls, url), append(citizenship, id)
	}
	for range 3 {
		url, _ := take("social_studies", 38, 30, english)
		urls = append(urls, url)
	}
	for _, url := range urls {
		waitStage(t, url, "Result")
	}

	// The monthly Schedule exists and starts MonthlyStatistics on the
	// worker's queue; triggered, it materialises the previous month.
	h := env.temporal.ScheduleClient().GetHandle(ctx, cases.StatisticsScheduleID)
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatalf("describe the statistics schedule: %v", err)
	}
	action, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok || action.Workflow != cases.StatisticsWorkflow || action.TaskQueue != env.cfg.TaskQueue {
		t.Fatalf("schedule action = %+v", desc.Schedule.Action)
	}
	// Its runs say in the Temporal UI what they are.
	if !strings.HasPrefix(action.StaticSummary, "Monthly statistics") {
		t.Fatalf("schedule action's summary = %q, want it to say monthly statistics", action.StaticSummary)
	}
	if next := desc.Info.NextActionTimes; len(next) == 0 || next[0].UTC().Day() != 28 || next[0].UTC().Hour() != 2 {
		t.Fatalf("next runs = %v, want the 28th at 02:00 UTC", next)
	}
	before := len(desc.Info.RecentActions)
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var run activities.StatisticsResult
	eventually(t, 30*time.Second, func() error {
		d, err := h.Describe(ctx)
		if err != nil {
			return err
		}
		if len(d.Info.RecentActions) <= before {
			return fmt.Errorf("no run yet")
		}
		r := d.Info.RecentActions[len(d.Info.RecentActions)-1].StartWorkflowResult
		return env.temporal.GetWorkflow(ctx, r.WorkflowID, r.FirstExecutionRunID).Get(ctx, &run)
	})
	if run.Month != month || run.Cells < 2 {
		t.Fatalf("schedule run = %+v, want month %s with at least 2 cells", run, month)
	}

	minCell := int(env.cfg.Statistics.MinCell)
	filter := storage.StatFilter{TestCentre: centre, From: prev, To: prev, MinCell: minCell}
	cells, err := env.store.Statistics(ctx, filter)
	if err != nil {
		t.Fatal(err)
	}
	type shown struct {
		testType, language string
		n, passed          int
		suppressed         bool
		coarsened          bool
		lo, hi             int
	}
	view := func(cells []storage.StatCell) []shown {
		var out []shown
		for _, c := range cells {
			if c.Month.Format(cases.StatisticsMonthLayout) != month || c.TestCentre != centre || c.Part != "test" {
				t.Fatalf("cell outside the filter: %+v", c)
			}
			out = append(out, shown{c.TestType, c.Language, c.N, c.Passed, c.Suppressed, c.Coarsened, c.PassedMin, c.PassedMax})
		}
		return out
	}
	want := []shown{{"citizenship", "nynorsk", 5, 0, false, true, 0, 5}, {"social_studies", "en", 0, 0, true, false, 0, 0}}
	if got := view(cells); !slices.Equal(got, want) {
		t.Fatalf("cells = %+v, want %+v", got, want)
	}
	if cells[0].PassRate != 0 {
		t.Fatalf("pass rate = %v, want none", cells[0].PassRate)
	}
	// The cell of three is stored without numbers; nothing in the table
	// names a candidate or a registration.
	if n := rowCount(t, `SELECT count(*) FROM statistics_cells WHERE test_centre = $1 AND n IS NULL AND passed IS NULL`, centre); n != 1 {
		t.Fatalf("%d cells of the centre stored without numbers, want 1", n)
	}
	if n := rowCount(t, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'statistics_cells'
		AND column_name NOT IN ('month', 'test_type', 'test_centre', 'language', 'part', 'n', 'passed', 'computed_at')`); n != 0 {
		t.Fatalf("statistics_cells has %d columns beyond the aggregate's", n)
	}

	// The activity again (a retry) writes the same month: idempotent. The
	// month still running is refused.
	acts := &activities.Statistics{Store: env.store}
	again, err := acts.MaterialiseStatistics(ctx, month)
	if err != nil || again.Cells != run.Cells {
		t.Fatalf("second run = %+v, %v; want %d cells", again, err, run.Cells)
	}
	if again, _ := env.store.Statistics(ctx, filter); !slices.Equal(view(again), want) {
		t.Fatalf("after the second run: %+v", view(again))
	}
	if _, err := acts.MaterialiseStatistics(ctx, now.Format(cases.StatisticsMonthLayout)); err == nil {
		t.Fatal("the current month was materialised before it ended")
	}

	// The handler of GET /v1/statistics, on an engine of its own (the
	// route and its role are wired in api/server.go), serves the cells:
	// the suppressed one without numbers.
	engine := gin.New()
	engine.GET("/v1/statistics", api.StatisticsHandler(env.store, minCell, nil))
	srv := httptest.NewServer(engine)
	defer srv.Close()
	a := doAt(t, srv.URL, http.MethodGet, "/v1/statistics?test_centre="+centre+"&from="+month+"&to="+month, "", nil, nil)
	if a.Status != http.StatusOK || a.Body["min_cell"] != float64(minCell) {
		t.Fatalf("GET /v1/statistics: %d %s", a.Status, a.Raw)
	}
	got, _ := a.Body["cells"].([]any)
	if len(got) != 2 {
		t.Fatalf("cells = %s", a.Raw)
	}
	five, three := got[0].(map[string]any), got[1].(map[string]any)
	if five["test_type"] != "citizenship" || five["language"] != "nynorsk" || five["suppressed"] != false ||
		five["n"] != float64(5) || five["coarsened"] != true || fmt.Sprint(five["passed_range"]) != "[0 5]" || five["month"] != month {
		t.Fatalf("cell of five = %v", five)
	}
	for _, k := range []string{"passed", "pass_rate"} {
		if _, ok := five[k]; ok {
			t.Fatalf("the cell of five shows %s: %v", k, five)
		}
	}
	if three["test_type"] != "social_studies" || three["suppressed"] != true {
		t.Fatalf("cell of three = %v", three)
	}
	for _, k := range []string{"n", "passed", "pass_rate"} {
		if _, ok := three[k]; ok {
			t.Fatalf("the suppressed cell shows %s: %v", k, three)
		}
	}
	if a := doAt(t, srv.URL, http.MethodGet, "/v1/statistics?test_type=citizenship&test_centre="+centre+"&from="+month, "", nil, nil); a.Status != http.StatusOK || len(a.Body["cells"].([]any)) != 1 {
		t.Fatalf("filtered by test type: %d %s", a.Status, a.Raw)
	}
	if a := doAt(t, srv.URL, http.MethodGet, "/v1/statistics?from=2026-13", "", nil, nil); a.Status != http.StatusBadRequest ||
		!slices.Equal(fieldNames(a), []string{"from"}) {
		t.Fatalf("bad month: %d %s", a.Status, a.Raw)
	}

	// An annulled result no longer stands: recomputed, the citizenship cell
	// has four results and is suppressed too.
	if err := env.store.AnnulResults(ctx, uuid.MustParse(citizenship[4]), "", now); err != nil {
		t.Fatal(err)
	}
	if _, err := env.store.MaterialiseStatistics(ctx, prev); err != nil {
		t.Fatal(err)
	}
	cells, err = env.store.Statistics(ctx, filter)
	if err != nil {
		t.Fatal(err)
	}
	if got := view(cells); !slices.Equal(got, []shown{{"citizenship", "nynorsk", 0, 0, true, false, 0, 0}, {"social_studies", "en", 0, 0, true, false, 0, 0}}) {
		t.Fatalf("after the annulment: %+v", got)
	}
}
