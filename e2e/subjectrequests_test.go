package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/testsuite"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/worker"
)

// TestAccessRequestAnsweredWithACompleteExport (T18-T21, T05, T08): an
// access request waits for the identity to be confirmed, then an export of
// everything held about the person, by category with purposes, sources,
// recipients and retention, is stored encrypted and fetched through a
// short-lived link, before the due date; the reply names Datatilsynet.
func TestAccessRequestAnsweredWithACompleteExport(t *testing.T) {
	ch := roleKey(t, "ch-dsr-1", "case_handler")
	p := newPerson(t)
	centre := uniqueCentre()
	reg := postRegistration(t, p.reg(t, "citizenship", centre, session), "")
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	cand := reg.Body["candidate_id"].(string)

	body := map[string]any{"kind": "access", "identifier": map[string]any{"kind": "national_id", "value": p.NationalID}}
	if a := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
		"identifier": map[string]any{"kind": "national_id", "value": p.NationalID}, "identity_asserted": map[string]any{"provider": "idporten"}})), ch); a.Status != 422 ||
		!slices.Contains(fieldNames(a), "identity_asserted") {
		t.Fatalf("a case handler asserting an upstream login: %d %s", a.Status, a.Raw)
	}
	if a := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
		"identifier": map[string]any{"kind": "national_id", "value": "01010199999"}})), ch); a.Status != 404 {
		t.Fatalf("unknown person: %d %s", a.Status, a.Raw)
	}
	created := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(body)), ch)
	if created.Status != 201 || created.Body["status"] != "awaiting_identity" || created.Body["candidate_id"] != cand {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	id := created.Body["request_id"].(string)
	due, _ := time.Parse(time.RFC3339, created.Body["due_at"].(string))
	if d := time.Until(due); d < 30*24*time.Hour-time.Minute || d > 30*24*time.Hour {
		t.Fatalf("due in %s, want 30 days", d)
	}
	eventually(t, 10*time.Second, func() error {
		if n := countWorkflows(t, fmt.Sprintf(`WorkflowId = "subject-request-%s" AND Stage = "AwaitingIdentity" AND RequestKind = "access" AND ReviewPending = true`, id)); n != 1 {
			return fmt.Errorf("workflow not visible awaiting identity (%d)", n)
		}
		return nil
	})
	// Nothing is exported before the identity is confirmed.
	if a := do(t, http.MethodPost, "/v1/subject-requests/"+id+"/export-link", "application/json", nil, ch); a.Status != 409 {
		t.Fatalf("export link before identity: %d %s", a.Status, a.Raw)
	}
	if a := do(t, http.MethodPost, "/v1/subject-requests/"+id+"/identity", "application/json",
		[]byte(`{"verified_by": "ch-dsr-1", "evidence": "passport inspected at the service desk"}`), ch); a.Status != 200 {
		t.Fatalf("verify: %d %s", a.Status, a.Raw)
	}
	got := waitRequest(t, env.api.URL, id, func(b map[string]any) bool { return b["status"] == "answered" && b["export_ready"] == true }, ch)
	answered, _ := time.Parse(time.RFC3339, got["answered_at"].(string))
	if !answered.Before(due) || got["identity_method"] != "evidence" {
		t.Fatalf("answered %v (due %v): %v", answered, due, got)
	}
	link := do(t, http.MethodPost, "/v1/subject-requests/"+id+"/export-link", "application/json", nil, ch)
	if link.Status != 200 {
		t.Fatalf("link: %d %s", link.Status, link.Raw)
	}
	url := link.Body["url"].(string)
	// The link is the capability: no bearer token; a forged one is refused.
	download := do(t, http.MethodGet, url, "", nil, map[string]string{"Authorization": ""})
	raw := download.Raw
	if download.Status != 200 || download.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("export: %d %s", download.Status, raw)
	}
	if forged := do(t, http.MethodGet, url[:len(url)-4]+"AAAA", "", nil, map[string]string{"Authorization": ""}); forged.Status != 404 {
		t.Fatalf("forged link: %d", forged.Status)
	}
	var export struct {
		Candidate map[string]any `json:"candidate"`
		Sections  []struct {
			Category   string          `json:"category"`
			Purposes   []string        `json:"purposes"`
			Sources    []string        `json:"sources"`
			Recipients []string        `json:"recipients"`
			Retention  string          `json:"retention"`
			Data       json.RawMessage `json:"data"`
		} `json:"sections"`
		Complaint string `json:"right_to_complain"`
	}
	if err := json.Unmarshal(raw, &export); err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, want := range []string{p.Given, p.Family, p.NationalID, p.Email, "Eksempelveien 7", centre, reg.Body["registration_id"].(string)} {
		if !strings.Contains(text, want) {
			t.Errorf("the export lacks %q", want)
		}
	}
	cats := map[string]bool{}
	for _, s := range export.Sections {
		cats[s.Category] = true
		if len(s.Purposes) == 0 || s.Retention == "" || s.Sources == nil {
			t.Errorf("section %q lacks purposes, retention or sources: %+v", s.Category, s)
		}
		// Each section names its own sources (T05): the registration
		// came from the candidate through the registration portal.
		if s.Category == "identity and contact details" && !slices.Equal(s.Sources, []string{"the candidate", "the registration portal"}) {
			t.Errorf("section %q: sources %q", s.Category, s.Sources)
		}
	}
	for _, c := range []string{"identity and contact details", "address", "registrations and test days", "test answers and results", "appeals", "cheating"} {
		if !cats[c] {
			t.Errorf("no section %q", c)
		}
	}
	if !strings.Contains(export.Complaint, "Datatilsynet") {
		t.Errorf("the export does not name the right to complain: %q", export.Complaint)
	}
	// The object in MinIO is encrypted.
	obj, err := env.objects.GetObject(context.Background(), "exports/"+id+".json.sio")
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(obj)
	_ = obj.Close()
	if len(stored) == 0 || strings.Contains(string(stored), p.NationalID) || strings.Contains(string(stored), p.Family) {
		t.Fatal("the stored export is not encrypted")
	}
	if n := rowCount(t, `SELECT count(*) FROM notification_outbox WHERE candidate_id = $1 AND kind = 'request_answered'`, uuid.MustParse(cand)); n != 1 {
		t.Fatalf("%d replies", n)
	}
	eventually(t, 10*time.Second, func() error {
		if n := countWorkflows(t, fmt.Sprintf(`WorkflowId = "subject-request-%s" AND Stage = "RequestAnswered" AND ExecutionStatus = "Completed"`, id)); n != 1 {
			return fmt.Errorf("workflow not completed")
		}
		return nil
	})
}

var overdueMetric = regexp.MustCompile(`(?m)^examflow_subject_requests_overdue (\d+)`)

func overdue(t *testing.T) int {
	t.Helper()
	m := overdueMetric.FindStringSubmatch(string(do(t, http.MethodGet, "/metrics", "", nil, nil).Raw))
	if m == nil {
		t.Fatal("no examflow_subject_requests_overdue in /metrics")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestSubjectRequestIsDueThirtyDaysAfterReceipt (T19): whatever the month,
// a request is due 30 days after it was received, not a calendar month
// (28 to 31 days) later; the record keeps that first due date.
func TestSubjectRequestIsDueThirtyDaysAfterReceipt(t *testing.T) {
	ch := roleKey(t, "ch-dsr-due", "case_handler")
	p := newPerson(t)
	if reg := postRegistration(t, p.reg(t, "citizenship", uniqueCentre(), session), ""); reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	for _, received := range []string{
		"2026-01-10T09:00:00Z", // a 31-day month: a calendar month would give 31 days
		"2026-02-01T09:00:00Z", // February: a calendar month would give 28 days
		"2026-04-10T09:00:00Z", // a 30-day month
		"2026-10-20T23:30:00Z", // across the end of summer time in Norway
	} {
		t.Run(received, func(t *testing.T) {
			at, _ := time.Parse(time.RFC3339, received)
			want := at.Add(30 * 24 * time.Hour)
			created := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
				"identifier": map[string]any{"kind": "national_id", "value": p.NationalID}, "received_at": received})), ch)
			if created.Status != 201 {
				t.Fatalf("create: %d %s", created.Status, created.Raw)
			}
			if due, _ := time.Parse(time.RFC3339, created.Body["due_at"].(string)); !due.Equal(want) {
				t.Fatalf("received %s, due %s; want %s (30 days)", received, due.UTC().Format(time.RFC3339), want.Format(time.RFC3339))
			}
			got := do(t, http.MethodGet, "/v1/subject-requests/"+created.Body["request_id"].(string), "", nil, ch)
			for _, f := range []string{"due_at", "original_due_at"} {
				if d, _ := time.Parse(time.RFC3339, fmt.Sprint(got.Body[f])); !d.Equal(want) {
					t.Errorf("%s %v, want %s", f, got.Body[f], want.Format(time.RFC3339))
				}
			}
		})
	}
}

// stateGauge reads a gauge of the worker's state collector, as the
// worker's /metrics would show it.
func stateGauge(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(worker.NewStateCollector(env.store, worker.StateOptions{Logger: env.deps.Logger}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	v, ok := scrapeMetrics(t, srv.URL).sum(name, labels)
	if !ok {
		t.Fatalf("no %s%v", name, labels)
	}
	return v
}

// TestOverdueRequestRaisesTheMetric (T19): a request received more than 30
// days ago and not answered counts as overdue in /metrics, and can no longer
// be extended (the person must be told within the 30 days). A request still
// within them can be extended by at most two further months, with a reason
// the person is told: the due date moves, the record shows the extension
// and the worker's examflow_subject_requests_extended gauge counts it.
func TestOverdueRequestRaisesTheMetric(t *testing.T) {
	ch := roleKey(t, "ch-dsr-2", "case_handler")
	p := newPerson(t)
	if reg := postRegistration(t, p.reg(t, "citizenship", uniqueCentre(), session), ""); reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	before := overdue(t)
	late := time.Now().Add(-30*24*time.Hour - time.Hour)
	created := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
		"identifier": map[string]any{"kind": "national_id", "value": p.NationalID}, "received_at": late.Format(time.RFC3339)})), ch)
	if created.Status != 201 {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	lateID := created.Body["request_id"].(string)
	if after := overdue(t); after != before+1 {
		t.Fatalf("overdue %d -> %d, want one more", before, after)
	}
	if a := do(t, http.MethodPost, "/v1/subject-requests/"+lateID+"/extension", "application/json", []byte(mustJSON(map[string]any{
		"until": time.Now().Add(14 * 24 * time.Hour).Format(time.RFC3339), "reason": "complex"})), ch); a.Status != 422 || !slices.Contains(fieldNames(a), "until") {
		t.Fatalf("an extension after the 30 days: %d %s", a.Status, a.Raw)
	}
	if got := do(t, http.MethodGet, "/v1/subject-requests/"+lateID, "", nil, ch).Body; got["extended"] != false || got["extension_reason"] != nil {
		t.Fatalf("a refused extension is recorded: %v", got)
	}
	if after := overdue(t); after != before+1 {
		t.Fatalf("overdue %d after a refused extension, want %d", after, before+1)
	}

	extendedBefore := stateGauge(t, "examflow_subject_requests_extended", map[string]string{"kind": "objection"})
	received := time.Now().Add(-20 * 24 * time.Hour).Truncate(time.Second)
	created = do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "objection",
		"identifier": map[string]any{"kind": "national_id", "value": p.NationalID}, "received_at": received.Format(time.RFC3339),
		"grounds": "I object to the use of my data for research", "purposes": []string{"research"}})), ch)
	if created.Status != 201 {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	id := created.Body["request_id"].(string)
	firstDue := received.Add(30 * 24 * time.Hour)
	ext := "/v1/subject-requests/" + id + "/extension"
	tooLate := firstDue.AddDate(0, 2, 1).Format(time.RFC3339)
	if a := do(t, http.MethodPost, ext, "application/json", []byte(mustJSON(map[string]any{"until": tooLate, "reason": "complex"})), ch); a.Status != 422 ||
		!slices.Contains(fieldNames(a), "until") {
		t.Fatalf("extension beyond two months: %d %s", a.Status, a.Raw)
	}
	if a := do(t, http.MethodPost, ext, "application/json", []byte(mustJSON(map[string]any{"until": firstDue.AddDate(0, 1, 0).Format(time.RFC3339)})), ch); a.Status != 422 ||
		!slices.Contains(fieldNames(a), "reason") {
		t.Fatalf("extension without a reason: %d %s", a.Status, a.Raw)
	}
	until := firstDue.AddDate(0, 2, 0)
	if a := do(t, http.MethodPost, ext, "application/json", []byte(mustJSON(map[string]any{"until": until.Format(time.RFC3339),
		"reason": "the objection needs a legal assessment"})), ch); a.Status != 200 {
		t.Fatalf("extension: %d %s", a.Status, a.Raw)
	}
	got := waitRequest(t, env.api.URL, id, func(b map[string]any) bool { return b["extension_reason"] != nil }, ch)
	if got["grounds"] != "I object to the use of my data for research" || got["extended"] != true {
		t.Fatalf("the record: %v", got)
	}
	for f, want := range map[string]time.Time{"due_at": until, "original_due_at": firstDue} {
		if d, _ := time.Parse(time.RFC3339, fmt.Sprint(got[f])); !d.Equal(want) {
			t.Errorf("%s %v, want %s", f, got[f], want.Format(time.RFC3339))
		}
	}
	if after := overdue(t); after != before+1 {
		t.Fatalf("overdue %d after the extension, want %d", after, before+1)
	}
	if v := stateGauge(t, "examflow_subject_requests_extended", map[string]string{"kind": "objection"}); v != extendedBefore+1 {
		t.Errorf("examflow_subject_requests_extended{kind=objection} %v -> %v, want one more", extendedBefore, v)
	}
	var told time.Time
	if err := env.pool.QueryRow(context.Background(), `SELECT created_at FROM notification_outbox WHERE kind = 'request_extended'
		AND payload->>'reason' = 'the objection needs a legal assessment' AND payload->>'until' = $1`, until.UTC().Format(time.DateOnly)).Scan(&told); err != nil {
		t.Fatalf("no extension notice with the reason and the new date: %v", err)
	}
	if !told.Before(firstDue) {
		t.Errorf("the person was told at %s, after the 30 days (%s)", told, firstDue)
	}
	// The objection goes to a case handler's decision.
	if a := do(t, http.MethodPost, "/v1/subject-requests/"+id+"/decision", "application/json",
		[]byte(`{"decision": "rejected", "reason": "research use is anonymous", "decided_by": "ch-dsr-2"}`), ch); a.Status != 422 {
		t.Fatalf("decision before identity: %d %s", a.Status, a.Raw)
	}
	do(t, http.MethodPost, "/v1/subject-requests/"+id+"/identity", "application/json", []byte(`{"verified_by": "ch-dsr-2", "evidence": "BankID"}`), ch)
	eventually(t, 10*time.Second, func() error {
		a := do(t, http.MethodPost, "/v1/subject-requests/"+id+"/decision", "application/json",
			[]byte(`{"decision": "rejected", "reason": "research use is anonymous", "decided_by": "ch-dsr-2"}`), ch)
		if a.Status != 200 {
			return fmt.Errorf("decision: %d %s", a.Status, a.Raw)
		}
		return nil
	})
	got = waitRequest(t, env.api.URL, id, func(b map[string]any) bool { return b["status"] == "refused" }, ch)
	if got["outcome"] != "rejected" || got["outcome_reason"] != "research use is anonymous" {
		t.Fatalf("objection: %v", got)
	}
}

// TestRectificationIsRepublished (T18, T09): a rectification asserted by an
// upstream login and approved by a case handler changes the name, and the
// Diploma Registry receives it under the same key.
func TestRectificationIsRepublished(t *testing.T) {
	rs := startRetentionStack(t, policy.Periods{policy.Address: 24 * time.Hour, policy.PersonalData: 24 * time.Hour})
	portal := roleKey(t, "min-side", "integration")
	ch := roleKey(t, "ch-dsr-3", "case_handler")
	p := newPerson(t)
	url := takeCitizenship(t, rs, p, uniqueCentre(), nil)
	waitStageAt(t, rs.url, url, "Retained", 30*time.Second)
	cand := doAt(t, rs.url, http.MethodGet, url, "", nil, nil).Body["candidate_id"].(string)
	if pub, ok := publicationOf(rs.sim, cand); !ok || pub.FamilyName != p.Family {
		t.Fatalf("first publication: %+v", pub)
	}
	created := doAt(t, rs.url, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "rectification",
		"identifier": map[string]any{"kind": "national_id", "value": p.NationalID}, "identity_asserted": map[string]any{"provider": "idporten"},
		"rectification": map[string]any{"family_name": p.Family + "-Hansen"}})), portal)
	if created.Status != 201 || created.Body["status"] != "in_progress" {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	id := created.Body["request_id"].(string)
	eventually(t, 10*time.Second, func() error {
		a := doAt(t, rs.url, http.MethodPost, "/v1/subject-requests/"+id+"/decision", "application/json",
			[]byte(`{"decision": "approved", "reason": "matches the population register", "decided_by": "ch-dsr-3"}`), ch)
		if a.Status != 200 {
			return fmt.Errorf("decision: %d %s", a.Status, a.Raw)
		}
		return nil
	})
	eventually(t, 30*time.Second, func() error {
		if pub, _ := publicationOf(rs.sim, cand); pub.FamilyName != p.Family+"-Hansen" {
			return fmt.Errorf("registry has %q", pub.FamilyName)
		}
		return nil
	})
	pd, err := env.store.PersonalDataOf(context.Background(), uuid.MustParse(cand))
	if err != nil || pd.Person.FamilyName != p.Family+"-Hansen" {
		t.Fatalf("stored name %q %v", pd.Person.FamilyName, err)
	}
	if ds, _ := env.store.Disclosures(context.Background(), uuid.MustParse(cand)); len(ds) != 2 {
		t.Fatalf("%d disclosures, want publication and republication", len(ds))
	}
}

// TestRestrictionBlocksPublication (T18): while processing is restricted a
// final result is not published; before the restriction is lifted the
// person is told, and after it the result is published.
func TestRestrictionBlocksPublication(t *testing.T) {
	rs := startRetentionStack(t, policy.Periods{policy.Address: 24 * time.Hour, policy.PersonalData: 24 * time.Hour})
	portal := roleKey(t, "min-side-2", "integration")
	ch := roleKey(t, "ch-dsr-4", "case_handler")
	p := newPerson(t)
	var id string
	url := takeCitizenship(t, rs, p, uniqueCentre(), func(string) {
		created := doAt(t, rs.url, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "restriction",
			"identifier": map[string]any{"kind": "national_id", "value": p.NationalID}, "identity_asserted": map[string]any{"provider": "idporten"}})), portal)
		if created.Status != 201 {
			t.Fatalf("create: %d %s", created.Status, created.Raw)
		}
		id = created.Body["request_id"].(string)
		waitRequest(t, rs.url, id, func(b map[string]any) bool { return b["outcome"] == "restricted" }, ch)
	})
	waitStageAt(t, rs.url, url, "Retained", 30*time.Second)
	view := doAt(t, rs.url, http.MethodGet, url, "", nil, nil)
	cand := view.Body["candidate_id"].(string)
	if _, ok := publicationOf(rs.sim, cand); ok {
		t.Fatal("published while processing is restricted")
	}
	if a := doAt(t, rs.url, http.MethodPost, "/v1/subject-requests/"+id+"/lift", "application/json",
		[]byte(`{"decision": "lift", "reason": "the complaint is settled", "decided_by": "ch-dsr-4"}`), ch); a.Status != 200 {
		t.Fatalf("lift: %d %s", a.Status, a.Raw)
	}
	eventually(t, 30*time.Second, func() error {
		if _, ok := publicationOf(rs.sim, cand); !ok {
			return fmt.Errorf("not published after the restriction was lifted")
		}
		return nil
	})
	// The person was told before the restriction ended.
	var told, lifted time.Time
	if err := env.pool.QueryRow(context.Background(), `SELECT created_at FROM notification_outbox WHERE candidate_id = $1 AND kind = 'restriction_lifting'`,
		uuid.MustParse(cand)).Scan(&told); err != nil {
		t.Fatalf("no notice before lifting: %v", err)
	}
	if err := env.pool.QueryRow(context.Background(), `SELECT min(disclosed_at) FROM disclosures WHERE candidate_id = $1`, uuid.MustParse(cand)).Scan(&lifted); err != nil {
		t.Fatal(err)
	}
	if !told.Before(lifted) {
		t.Fatalf("told at %v, published at %v", told, lifted)
	}
}

// TestReleaseOnlyToCatalogueRecipients (T08, T10): a release to a recipient
// outside the policy's catalogue, or of a category the catalogue does not
// allow it, is refused and recorded nowhere; a release to UDI is recorded
// with its legal basis and shows in the person's access export.
func TestReleaseOnlyToCatalogueRecipients(t *testing.T) {
	ch := roleKey(t, "ch-release-1", "case_handler")
	portal := roleKey(t, "min-side-3", "integration")
	p := newPerson(t)
	reg := postRegistration(t, p.reg(t, "citizenship", uniqueCentre(), session), "")
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	cand := reg.Body["candidate_id"].(string)
	path := "/v1/candidates/" + cand + "/disclosures"
	release := func(body map[string]any) answer {
		return do(t, http.MethodPost, path, "application/json", []byte(mustJSON(body)), ch)
	}
	if a := release(map[string]any{"recipient": "employer", "categories": []string{"test results"}, "reference": "x-1"}); a.Status != 422 || !slices.Contains(fieldNames(a), "recipient") {
		t.Fatalf("unknown recipient: %d %s", a.Status, a.Raw)
	}
	if a := release(map[string]any{"recipient": "ssb", "categories": []string{"name", "test results"}, "reference": "x-2"}); a.Status != 422 || !slices.Contains(fieldNames(a), "categories") {
		t.Fatalf("a category not allowed: %d %s", a.Status, a.Raw)
	}
	if n := rowCount(t, `SELECT count(*) FROM disclosures WHERE candidate_id = $1`, uuid.MustParse(cand)); n != 0 {
		t.Fatalf("%d releases recorded after refusals", n)
	}
	ok := release(map[string]any{"recipient": "udi", "categories": []string{"name", "national identity number", "test results"},
		"registration_id": reg.Body["registration_id"], "reference": "UDI-2027-0042"})
	if ok.Status != 201 || ok.Body["legal_basis"] == "" || ok.Body["recipient"] != "udi" {
		t.Fatalf("release to UDI: %d %s", ok.Status, ok.Raw)
	}
	list := do(t, http.MethodGet, path, "", nil, ch)
	if ds := list.Body["disclosures"].([]any); len(ds) != 1 || ds[0].(map[string]any)["reference"] != "UDI-2027-0042" {
		t.Fatalf("disclosures: %s", list.Raw)
	}
	// The release shows in the person's access export.
	created := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
		"identifier": map[string]any{"kind": "national_id", "value": p.NationalID}, "identity_asserted": map[string]any{"provider": "idporten"}})), portal)
	if created.Status != 201 {
		t.Fatalf("access request: %d %s", created.Status, created.Raw)
	}
	id := created.Body["request_id"].(string)
	waitRequest(t, env.api.URL, id, func(b map[string]any) bool { return b["export_ready"] == true }, ch)
	link := do(t, http.MethodPost, "/v1/subject-requests/"+id+"/export-link", "application/json", nil, ch)
	export := do(t, http.MethodGet, link.Body["url"].(string), "", nil, map[string]string{"Authorization": ""})
	var doc struct {
		Disclosures []map[string]any `json:"disclosures"`
	}
	if err := json.Unmarshal(export.Raw, &doc); err != nil || len(doc.Disclosures) != 1 || doc.Disclosures[0]["recipient"] != "udi" ||
		doc.Disclosures[0]["legal_basis"] == "" {
		t.Fatalf("export disclosures: %v %s", err, export.Raw)
	}
}

// TestSubjectRequestEndsWhenItsPersonIsDeleted: a restriction being lifted
// when the person's final deletion comes (the end of retention deletes the
// candidate, and the request with it) has nothing left to record or tell:
// its remaining steps succeed without recording anything, and the workflow
// finishes instead of retrying them for ever.
func TestSubjectRequestEndsWhenItsPersonIsDeleted(t *testing.T) {
	ctx := context.Background()
	portal := roleKey(t, "min-side-3", "integration")
	ch := roleKey(t, "ch-dsr-5", "case_handler")
	p := newPerson(t)
	regID, cand := mustRegister(t, p.reg(t, "citizenship", uniqueCentre(), time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)))
	created := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "restriction",
		"identifier": map[string]any{"kind": "national_id", "value": p.NationalID}, "identity_asserted": map[string]any{"provider": "idporten"}})), portal)
	if created.Status != 201 {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	id := created.Body["request_id"].(string)
	waitRequest(t, env.api.URL, id, func(b map[string]any) bool { return b["outcome"] == "restricted" }, ch)
	// The lift is accepted once the workflow shows the restriction in
	// force; the person is told, and the restriction ends after the notice
	// period (EXAMFLOW_DSR_LIFT_NOTICE, 2s here). The final deletion comes
	// within it.
	eventually(t, 10*time.Second, func() error {
		a := do(t, http.MethodPost, "/v1/subject-requests/"+id+"/lift", "application/json",
			[]byte(`{"decision": "lift", "reason": "the complaint is settled", "decided_by": "ch-dsr-5"}`), ch)
		if a.Status != 200 {
			return fmt.Errorf("lift: %d %s", a.Status, a.Raw)
		}
		return nil
	})
	// The registration's own lifecycle has no part in this: ended first,
	// so nothing else works on the deleted registration.
	reg := uuid.MustParse(regID)
	if err := env.temporal.TerminateWorkflow(ctx, cases.RegistrationWorkflowID(reg), "", "the test deletes the registration"); err != nil {
		t.Fatalf("terminate the lifecycle: %v", err)
	}
	d, err := env.store.DeleteCategory(ctx, reg, string(policy.PersonalData), time.Now())
	if err != nil || !d.SubjectDeleted {
		t.Fatalf("final deletion: %+v %v", d, err)
	}
	if n := rowCount(t, `SELECT count(*) FROM subject_requests WHERE id = $1`, uuid.MustParse(id)); n != 0 {
		t.Fatalf("the request outlived its person: %d rows", n)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := env.temporal.GetWorkflow(wctx, cases.SubjectRequestWorkflowID(uuid.MustParse(id)), "").Get(wctx, nil); err != nil {
		t.Fatalf("the request's workflow did not finish after its person was deleted: %v", err)
	}
	for _, table := range []string{"candidates", "notification_outbox", "disclosures"} {
		col := "candidate_id"
		if table == "candidates" {
			col = "id"
		}
		if n := rowCount(t, `SELECT count(*) FROM `+table+` WHERE `+col+` = $1`, uuid.MustParse(cand)); n != 0 {
			t.Errorf("%d rows of the deleted person in %s", n, table)
		}
	}
}

// TestWaitingSubjectRequestsCloseWhenTheirPersonIsDeleted: requests that
// wait for someone (an objection for the person's identity to be confirmed,
// past its due date; a rectification for a case handler's decision) when
// the final deletion deletes their person are closed by that deletion,
// whether the retention phase runs it or the reconciliation does (the
// registration's workflow lost): their workflows end in
// RequestClosedDataDeleted, say why, leave the case handlers' list of
// requests near their due date and examflow_subject_requests_overdue, and
// show nothing about the person. A
// request whose workflow was lost is skipped; a retried deletion finds the
// requests closed and succeeds.
func TestWaitingSubjectRequestsCloseWhenTheirPersonIsDeleted(t *testing.T) {
	tests := []struct {
		name string
		// session is the test date; the reconciliation deletes a 2014
		// registration (its periods shortened to end in 2015).
		session string
		// loseOne: a third request's workflow is lost (terminated).
		loseOne bool
		// deleteFinal runs the final deletion of the registration.
		deleteFinal func(t *testing.T, regID string) bool
	}{
		{name: "the retention phase deletes", session: time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly),
			deleteFinal: func(t *testing.T, regID string) bool {
				t.Helper()
				acts := &activities.Retention{Store: env.store, Objects: env.objects, Temporal: env.temporal, Namespace: env.cfg.TemporalNamespace,
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
				var s testsuite.WorkflowTestSuite
				aenv := s.NewTestActivityEnvironment()
				aenv.RegisterActivity(acts.DeleteCategory)
				v, err := aenv.ExecuteActivity(acts.DeleteCategory, activities.DeleteCategoryInput{RegistrationID: regID, Category: string(policy.PersonalData), Due: time.Now()})
				if err != nil {
					t.Fatalf("final deletion: %v", err)
				}
				var res activities.DeletionResult
				if err := v.Get(&res); err != nil {
					t.Fatal(err)
				}
				return res.SubjectDeleted
			}},
		{name: "the reconciliation deletes, a request's workflow lost", session: "2014-01-10", loseOne: true,
			deleteFinal: func(t *testing.T, regID string) bool {
				t.Helper()
				cutoff := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
				acts := &activitiesRetention{periods: policy.Periods{
					policy.PersonalData: time.Since(cutoff), policy.Address: time.Since(cutoff), policy.Cheating: time.Since(cutoff)}}
				acts.reconcile(t)
				return rowCount(t, `SELECT count(*) FROM deletion_records WHERE registration_id = $1 AND category = 'personal_data' AND subject_deleted`,
					uuid.MustParse(regID)) == 1
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ch := roleKey(t, "ch-dsr-closed", "case_handler")
			p := newPerson(t)
			regID, _ := mustRegister(t, p.reg(t, "social_studies", uniqueCentre(), tc.session))
			create := func(body map[string]any) (id, wfID string) {
				t.Helper()
				body["identifier"] = map[string]any{"kind": "national_id", "value": p.NationalID}
				a := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(body)), ch)
				if a.Status != http.StatusCreated {
					t.Fatalf("create: %d %s", a.Status, a.Raw)
				}
				return a.Body["request_id"].(string), a.Body["workflow_id"].(string)
			}
			lateID, lateWF := create(map[string]any{"kind": "objection", "purposes": []string{"research"}, "grounds": "I object to research on my answers",
				"received_at": time.Now().Add(-31 * 24 * time.Hour).Format(time.RFC3339)})
			rectID, rectWF := create(map[string]any{"kind": "rectification", "rectification": map[string]any{"email": "ny@example.org"}})
			if a := do(t, http.MethodPost, "/v1/subject-requests/"+rectID+"/identity", "application/json",
				[]byte(`{"verified_by": "ch-dsr-closed", "evidence": "BankID"}`), ch); a.Status != http.StatusOK {
				t.Fatalf("identity: %d %s", a.Status, a.Raw)
			}
			if tc.loseOne {
				_, lostWF := create(map[string]any{"kind": "access"})
				if err := env.temporal.TerminateWorkflow(ctx, lostWF, "", "lost, for the test"); err != nil {
					t.Fatal(err)
				}
			}
			for wfID, want := range map[string]cases.Stage{lateWF: cases.StageAwaitingIdentity, rectWF: cases.StageAwaitingDecision} {
				eventually(t, 30*time.Second, func() error {
					var st cases.SubjectRequestStatus
					v, err := env.temporal.QueryWorkflow(ctx, wfID, "", cases.QuerySubjectRequest)
					if err == nil {
						err = v.Get(&st)
					}
					if err != nil || st.Stage != want {
						return fmt.Errorf("%s: %+v %v, want %s", wfID, st, err, want)
					}
					return nil
				})
			}
			var dueSoon string
			for _, q := range api.DailyQueries() {
				if q.Name == "subject-requests-due-soon" {
					dueSoon = api.FillQuery(q.Query, time.Now())
				}
			}
			eventually(t, 30*time.Second, func() error {
				if found, err := listWorkflowIDs(ctx, dueSoon); err != nil || !found[lateWF] {
					return fmt.Errorf("the overdue request is not on the list: %v", err)
				}
				return nil
			})

			// The registration's own lifecycle is ended first (or lost).
			if err := env.temporal.TerminateWorkflow(ctx, cases.RegistrationWorkflowID(uuid.MustParse(regID)), "", "the test deletes the registration"); err != nil {
				t.Fatalf("terminate the lifecycle: %v", err)
			}
			overdueBefore := overdue(t)
			if !tc.deleteFinal(t, regID) {
				t.Fatal("the final deletion did not delete the person")
			}
			// The overdue alarm counts open requests in PostgreSQL: the
			// overdue one went with its person.
			if after := overdue(t); after != overdueBefore-1 {
				t.Errorf("examflow_subject_requests_overdue %d -> %d after the deletion, want one fewer", overdueBefore, after)
			}
			for _, wfID := range []string{lateWF, rectWF} {
				wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				err := env.temporal.GetWorkflow(wctx, wfID, "").Get(wctx, nil)
				cancel()
				if err != nil {
					t.Fatalf("%s did not end after its person was deleted: %v", wfID, err)
				}
				desc, err := env.temporal.DescribeWorkflowExecution(ctx, wfID, "")
				if err != nil {
					t.Fatal(err)
				}
				fields := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
				if got := string(fields[cases.StageKey.GetName()].GetData()); got != `"`+string(cases.StageRequestClosedDataDeleted)+`"` {
					t.Errorf("%s: Stage %s, want %s", wfID, got, cases.StageRequestClosedDataDeleted)
				}
				if got := fields[cases.ReviewPendingKey.GetName()]; got != nil && string(got.GetData()) != "false" {
					t.Errorf("%s: ReviewPending %s after its person was deleted", wfID, got.GetData())
				}
				if got := fields[cases.ReviewDueKey.GetName()]; got != nil {
					t.Errorf("%s: ReviewDue %s after its person was deleted", wfID, got.GetData())
				}
				v, err := env.temporal.QueryWorkflow(ctx, wfID, "", metadataQuery)
				if err != nil {
					t.Fatalf("metadata query: %v", err)
				}
				var md sdkpb.WorkflowMetadata
				if err := v.Get(&md); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(md.GetCurrentDetails(), "the final deletion deleted the person's data") {
					t.Errorf("%s: the details do not say why the request closed: %q", wfID, md.GetCurrentDetails())
				}
				assertNoPersonalDataInUserMetadata(t, wfID, []string{p.Given, p.Family, p.NationalID, p.Email, p.Born, "ny@example.org", "research on my answers"})
			}
			eventually(t, 30*time.Second, func() error {
				found, err := listWorkflowIDs(ctx, dueSoon)
				if err != nil {
					return err
				}
				if found[lateWF] || found[rectWF] {
					return fmt.Errorf("a closed request is still on the list of requests near their due date")
				}
				return nil
			})
			for _, id := range []string{lateID, rectID} {
				if a := do(t, http.MethodGet, "/v1/subject-requests/"+id, "", nil, ch); a.Status != http.StatusNotFound {
					t.Errorf("request %s after its person was deleted: %d", id, a.Status)
				}
			}
			// A retried deletion (its first attempt closed the requests,
			// then was lost) finds the workflows ended and succeeds.
			if !tc.deleteFinal(t, regID) {
				t.Fatal("the retried deletion")
			}
		})
	}
}

// TestRequestDeletedBeforeItsWorkflowStartedIsClosed: the reconciler read
// an unstarted request, the final deletion then deleted it with its person
// (closing the request workflows it found running: none yet for this one),
// and only then did the reconciler start its workflow. Recording the start
// finds the request gone, and the workflow is closed at once instead of
// waiting for ever; a retried reconciliation changes nothing.
func TestRequestDeletedBeforeItsWorkflowStartedIsClosed(t *testing.T) {
	ctx := context.Background()
	id := uuid.New() // no such request in PostgreSQL any more
	wfID := cases.SubjectRequestWorkflowID(id)
	in := cases.NewSubjectRequestInput(id, "access", nil, time.Now().Add(30*24*time.Hour), false, []time.Duration{168 * time.Hour}, 2*time.Second)
	for attempt := 1; attempt <= 2; attempt++ {
		if err := cases.EnsureSubjectRequest(ctx, env.temporal, env.store, env.cfg.TaskQueue, id, wfID, in); err != nil {
			t.Fatalf("ensure, attempt %d: %v", attempt, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := env.temporal.GetWorkflow(wctx, wfID, "").Get(wctx, nil); err != nil {
		t.Fatalf("the workflow of a request deleted before its start did not end: %v", err)
	}
	desc, err := env.temporal.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	fields := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	if got := string(fields[cases.StageKey.GetName()].GetData()); got != `"`+string(cases.StageRequestClosedDataDeleted)+`"` {
		t.Errorf("Stage %s, want %s", got, cases.StageRequestClosedDataDeleted)
	}
	if got := fields[cases.ReviewPendingKey.GetName()]; got != nil && string(got.GetData()) != "false" {
		t.Errorf("ReviewPending %s on a closed request", got.GetData())
	}
}
