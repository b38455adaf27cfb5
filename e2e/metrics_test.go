package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/process"
	"github.com/examflow/examflow/worker"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape is a parsed /metrics page.
type scrape struct {
	raw     string
	help    map[string]string
	samples []sample
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// sum adds the samples of name whose labels include want.
func (s scrape) sum(name string, want map[string]string) (float64, bool) {
	total, found := 0.0, false
	for _, sm := range s.samples {
		if sm.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if sm.labels[k] != v {
				match = false
				break
			}
		}
		if match {
			total += sm.value
			found = true
		}
	}
	return total, found
}

var (
	uuidLike  = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	emailLike = regexp.MustCompile(`[^\s@"]+@[^\s@"]+\.[a-zA-Z]{2,}`)
	elevenDig = regexp.MustCompile(`(^|[^0-9])[0-9]{11}([^0-9]|$)`)
)

// noPersonalLabels fails when a label value looks like an ID, an e-mail
// address or an identity number, or when a value the test sent appears
// anywhere on the page.
func noPersonalLabels(t *testing.T, what string, s scrape, sent ...string) {
	t.Helper()
	for _, sm := range s.samples {
		for k, v := range sm.labels {
			if uuidLike.MatchString(v) || emailLike.MatchString(v) || elevenDig.MatchString(v) {
				t.Errorf("%s: %s{%s=%q} looks like an ID or personal data", what, sm.name, k, v)
			}
		}
	}
	for _, v := range sent {
		if strings.Contains(s.raw, v) {
			t.Errorf("%s: the page contains %q", what, v)
		}
	}
}

var stateCollectorOnce sync.Once

// TestMetricsExportDomainStateWithoutPersonalData drives registrations,
// marking (passed, failed, held for review), an appeal, a data subject
// request due soon, a publication and a course registration withdrawn
// through the API, then scrapes the API's and the worker's /metrics: the
// domain counters and state gauges are there with their help text and
// plausible values, the HTTP metrics use route templates, the Temporal SDK
// metrics are bridged, and no label carries an ID or personal data.
func TestMetricsExportDomainStateWithoutPersonalData(t *testing.T) {
	// The worker process registers its state collector on its registry
	// (cmd/examflow/serve.go); the e2e worker's registry is env.metrics.
	stateCollectorOnce.Do(func() {
		env.metrics.MustRegister(worker.NewStateCollector(env.store, worker.StateOptions{Logger: env.deps.Logger}))
	})
	workerOps := httptest.NewServer(process.OpsHandler(env.metrics, func(ctx context.Context) error { return process.Ready(ctx, env.store, env.temporal) }))
	t.Cleanup(workerOps.Close)
	// Counters add up over the worker and API replicas (the cluster stack
	// runs two of each), as Prometheus sums them; the state gauges are
	// read from the in-process worker alone (each replica reports them).
	before := scrapeAll(t, workerMetricsURLs(workerOps.URL+"/metrics")...)

	// Marking on the shared stack: a pass, a fail and a result held for a
	// review (a technical problem).
	centre := uniqueCentre()
	today := time.Now().UTC().Format(time.DateOnly)
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, today)
	var sent []string
	take := func(correct int, technicalProblem bool) (person, string) {
		t.Helper()
		p := newPerson(t)
		sent = append(sent, p.NationalID, p.Email, p.Family)
		reg := postRegistration(t, p.reg(t, "citizenship", centre, today), "")
		if reg.Status != http.StatusCreated {
			t.Fatalf("register: %d %s", reg.Status, reg.Raw)
		}
		sent = append(sent, reg.Body["registration_id"].(string), reg.Body["candidate_id"].(string))
		url := registrationURL(reg)
		if technicalProblem {
			if a := postJSON(t, url+"/discrepancies", map[string]any{"kind": "technical_problem", "note": "screen froze"}, ""); a.Status != http.StatusAccepted {
				t.Fatalf("discrepancy: %d %s", a.Status, a.Raw)
			}
		}
		if a := postJSON(t, url+"/answer-sheets", map[string]any{"part": "test", "form_id": form, "key_version": 1,
			"submitted_at": time.Now().UTC().Format(time.RFC3339), "answers": answersFor(36, correct)}, ""); a.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", a.Status, a.Raw)
		}
		return p, url
	}
	passed, passedURL := take(30, false)
	_, failedURL := take(10, false)
	_, heldURL := take(30, true)
	waitStage(t, passedURL, "Result")
	waitStage(t, failedURL, "Result")
	waitStage(t, heldURL, "UnderReview")

	// An appeal stays open; a data subject request received 28 days ago is
	// due within three days.
	if a := postJSON(t, passedURL+"/appeals", map[string]any{"kind": "formal_error", "grounds": "the room was too noisy"}, ""); a.Status != http.StatusCreated {
		t.Fatalf("appeal: %d %s", a.Status, a.Raw)
	}
	received := time.Now().UTC().AddDate(0, 0, -28)
	req := postJSON(t, "/v1/subject-requests", map[string]any{"kind": "access", "received_at": received.Format(time.RFC3339),
		"identifier": map[string]any{"kind": "national_id", "value": passed.NationalID}}, "")
	if req.Status != http.StatusCreated {
		t.Fatalf("subject request: %d %s", req.Status, req.Raw)
	}
	sent = append(sent, req.Body["request_id"].(string))

	// A publication to the Diploma Registry, on a stack whose results are
	// final at once (its worker reports into the same registry).
	long := 24 * time.Hour
	rs := startRetentionStack(t, policy.Periods{policy.Address: long, policy.PersonalData: long})
	pub := newPerson(t)
	sent = append(sent, pub.NationalID, pub.Email)
	waitStageAt(t, rs.url, takeCitizenship(t, rs, pub, uniqueCentre(), nil), "Retained", 40*time.Second)

	// A course registration, withdrawn by staff.
	course := createCourse(t, nil, false, false, yesterday())
	cr := do(t, http.MethodPost, "/v1/course-registrations", "application/json", []byte(mustJSON(courseBody(course, nil))), nil)
	if cr.Status != http.StatusCreated {
		t.Fatalf("course registration: %d %s", cr.Status, cr.Raw)
	}
	if w := do(t, http.MethodPost, "/v1/course-registrations/"+cr.Body["registration_id"].(string)+"/withdrawal", "", nil, nil); w.Status != http.StatusOK {
		t.Fatalf("withdrawal: %d %s", w.Status, w.Raw)
	}

	// The SDK's metrics reach Prometheus through tally once a second.
	increase := func(after scrape, name string, labels map[string]string) float64 {
		a, _ := after.sum(name, labels)
		b, _ := before.sum(name, labels)
		return a - b
	}
	var api, wk, wkAll scrape
	eventually(t, 15*time.Second, func() error {
		api = scrapeAll(t, apiMetricsURLs()...)
		wk = scrapeMetrics(t, workerOps.URL+"/metrics")
		wkAll = scrapeAll(t, workerMetricsURLs(workerOps.URL+"/metrics")...)
		for _, c := range []struct {
			name   string
			labels map[string]string
			min    float64
		}{
			{"examflow_marking_outcomes_total", map[string]string{"test_type": "citizenship", "outcome": "passed"}, 2},
			{"examflow_marking_outcomes_total", map[string]string{"test_type": "citizenship", "outcome": "failed"}, 1},
			{"examflow_marking_outcomes_total", map[string]string{"test_type": "citizenship", "outcome": "held"}, 1},
			{"examflow_publications_total", map[string]string{"outcome": "published"}, 1},
			{"examflow_course_deletions_total", map[string]string{"reason": "consent_withdrawn"}, 1},
			{"examflow_subject_request_reminders_total", nil, 1},
		} {
			if d := increase(wkAll, c.name, c.labels); d < c.min {
				return fmt.Errorf("%s%v rose by %v, want at least %v", c.name, c.labels, d, c.min)
			}
		}
		return nil
	})

	// The API's own counters, by route template and test type.
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"examflow_registrations_total", map[string]string{"test_type": "citizenship", "outcome": "created"}, 3},
		{"examflow_http_requests_total", map[string]string{"method": "POST", "route": "/v1/registrations", "status": "201"}, 3},
		{"examflow_http_requests_total", map[string]string{"method": "POST", "route": "/v1/registrations/:id/answer-sheets", "status": "202"}, 3},
		{"examflow_http_request_duration_seconds_count", map[string]string{"method": "GET", "route": "/v1/registrations/:id"}, 1},
		{"examflow_course_registrations_total", map[string]string{"course_type": "customs_basics", "outcome": "created"}, 1},
	} {
		if v, _ := api.sum(c.name, c.labels); v < c.min {
			t.Errorf("API: %s%v = %v, want at least %v", c.name, c.labels, v, c.min)
		}
	}
	if v, ok := api.sum("examflow_subject_requests_overdue", nil); !ok || v < 0 {
		t.Errorf("API: examflow_subject_requests_overdue = %v, %v", v, ok)
	}

	// The worker's state gauges, read from PostgreSQL at the scrape.
	gauge := func(name string, labels map[string]string) float64 {
		t.Helper()
		v, ok := wk.sum(name, labels)
		if !ok {
			t.Errorf("worker: no %s%v", name, labels)
		}
		return v
	}
	if v := gauge("examflow_state_up", nil); v != 1 {
		t.Errorf("examflow_state_up = %v", v)
	}
	if v := gauge("examflow_reviews_pending", nil); v < 1 {
		t.Errorf("examflow_reviews_pending = %v, want at least 1", v)
	}
	if v := gauge("examflow_reviews_oldest_age_seconds", nil); v <= 0 || v > 365*24*3600 {
		t.Errorf("examflow_reviews_oldest_age_seconds = %v", v)
	}
	gauge("examflow_reviews_overdue", nil)
	if v := gauge("examflow_appeals_open", map[string]string{"kind": "formal_error"}); v < 1 {
		t.Errorf("examflow_appeals_open{kind=formal_error} = %v, want at least 1", v)
	}
	for _, k := range []string{"writing_reassessment", "norwegian_c1", "decision_appeal"} {
		gauge("examflow_appeals_open", map[string]string{"kind": k, "status": "county_governor"})
	}
	for _, c := range []string{"audio", "address", "payment_status", "cheating", "personal_data"} {
		if v := gauge("examflow_deletions_overdue", map[string]string{"category": c}); v < 0 {
			t.Errorf("examflow_deletions_overdue{category=%s} = %v", c, v)
		}
		gauge("examflow_deletions_held", map[string]string{"category": c})
	}
	if v := gauge("examflow_subject_requests_open", map[string]string{"kind": "access"}); v < 1 {
		t.Errorf("examflow_subject_requests_open{kind=access} = %v, want at least 1", v)
	}
	if v := gauge("examflow_subject_requests_due_soon", map[string]string{"kind": "access"}); v < 1 {
		t.Errorf("examflow_subject_requests_due_soon{kind=access} = %v, want at least 1", v)
	}
	gauge("examflow_subject_requests_extended", map[string]string{"kind": "access"})
	if v := gauge("examflow_subject_requests_next_due_timestamp_seconds", nil); time.Until(time.Unix(int64(v), 0)) > 3*24*time.Hour {
		t.Errorf("examflow_subject_requests_next_due_timestamp_seconds = %v, want within 3 days", time.Unix(int64(v), 0))
	}

	// The Temporal SDK's metrics, bridged through tally.
	for _, name := range []string{"temporal_workflow_task_execution_latency_seconds_bucket", "temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
		"temporal_activity_execution_latency_seconds_bucket", "temporal_workflow_completed_total", "temporal_request_total"} {
		if _, ok := wkAll.sum(name, nil); !ok {
			t.Errorf("worker: no %s", name)
		}
	}

	// Domain metrics carry their own help text, not tally's placeholder.
	for _, name := range []string{"examflow_marking_outcomes_total", "examflow_publications_total", "examflow_course_deletions_total",
		"examflow_subject_request_reminders_total", "examflow_reviews_pending", "examflow_deletions_overdue"} {
		if h := wkAll.help[name]; h == "" || strings.HasSuffix(h, " counter") || strings.HasSuffix(h, " gauge") {
			t.Errorf("%s has help %q", name, h)
		}
	}

	noPersonalLabels(t, "API /metrics", api, sent...)
	noPersonalLabels(t, "worker /metrics", wkAll, sent...)
	if t.Failed() {
		t.Logf("worker /metrics:\n%s", wkAll.raw)
	}
}
