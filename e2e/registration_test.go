package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/examflow/examflow/storage"
	"github.com/examflow/examflow/worker"
)

const session = "2027-03-15"

func TestRegistrationFlowsThroughTemporal(t *testing.T) {
	p := newPerson(t)
	centre := uniqueCentre()
	a := postRegistration(t, p.reg(t, "citizenship", centre, session), "")
	if a.Status != http.StatusCreated {
		t.Fatalf("status %d: %s", a.Status, a.Raw)
	}
	regID, _ := a.Body["registration_id"].(string)
	wfID, _ := a.Body["workflow_id"].(string)
	if _, err := uuid.Parse(regID); err != nil {
		t.Fatalf("registration_id %q is not a UUID", regID)
	}
	if wfID != "registration-"+regID {
		t.Fatalf("workflow_id = %q, want registration-<registration_id>", wfID)
	}
	if a.Body["stage"] != "Registered" || a.Body["candidate_number"] == "" || a.Body["candidate_id"] == "" {
		t.Fatalf("answer = %s", a.Raw)
	}
	if a.Header.Get("Location") != "/v1/registrations/"+regID {
		t.Fatalf("Location = %q", a.Header.Get("Location"))
	}

	// The stage is read from the workflow by a Query.
	g := do(t, http.MethodGet, "/v1/registrations/"+regID, "", nil, nil)
	if g.Status != http.StatusOK || g.Body["stage"] != "Registered" || g.Body["workflow_id"] != wfID {
		t.Fatalf("GET: %d %s", g.Status, g.Raw)
	}
	if test, _ := g.Body["test"].(map[string]any); test["type"] != "citizenship" {
		t.Fatalf("GET test = %v", g.Body["test"])
	}

	// Case handlers find it in the Temporal UI by stage, test type and centre.
	query := fmt.Sprintf(`Stage="Registered" AND TestType="citizenship" AND TestCentre=%q`, centre)
	eventually(t, 15*time.Second, func() error {
		if n := countWorkflows(t, query); n != 1 {
			return fmt.Errorf("%s matched %d workflows, want 1", query, n)
		}
		return nil
	})

	// The workflow's activity recorded the stage in PostgreSQL.
	id := uuid.MustParse(regID)
	eventually(t, 15*time.Second, func() error {
		stages, err := env.store.StageHistory(context.Background(), id)
		if err != nil {
			return err
		}
		if !slices.Equal(stages, []string{"Registered"}) {
			return fmt.Errorf("stage history = %v", stages)
		}
		return nil
	})

	// No personal data in the workflow ID, search attributes, memo or
	// history payloads.
	assertNoPersonalDataInTemporal(t, wfID, p)
}

func assertNoPersonalDataInTemporal(t *testing.T, wfID string, p person) {
	t.Helper()
	ctx := context.Background()
	secrets := []string{p.Given, p.Family, p.NationalID, p.Email, p.Born, "Eksempelveien"}
	desc, err := env.temporal.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo()
	var visible []string
	visible = append(visible, info.GetExecution().GetWorkflowId())
	for k, v := range info.GetSearchAttributes().GetIndexedFields() {
		visible = append(visible, k+"="+string(v.GetData()))
	}
	for k, v := range info.GetMemo().GetFields() {
		visible = append(visible, k+"="+string(v.GetData()))
	}
	iter := env.temporal.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		visible = append(visible, ev.String())
	}
	all := strings.Join(visible, "\n")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Fatalf("personal data %q found in Temporal for %s", s, wfID)
		}
	}
	if !strings.Contains(all, "Registered") {
		t.Fatal("the check saw no search attributes; it would not notice a leak")
	}
	// Nor in what the Temporal UI shows beside them: summaries, current
	// details, descriptions (each encrypted, and opened to be scanned).
	assertNoPersonalDataInUserMetadata(t, wfID, secrets)
}

func TestInvalidNationalIDLeavesNothingBehind(t *testing.T) {
	p := newPerson(t)
	p.NationalID = p.NationalID[:10] + string('0'+(p.NationalID[10]-'0'+1)%10)
	centre := uniqueCentre()
	before := map[string]int{}
	tables := []string{"candidates", "candidate_identifiers", "candidate_addresses", "registrations", "idempotency_keys"}
	for _, table := range tables {
		before[table] = countRows(t, table)
	}
	a := postRegistration(t, p.reg(t, "citizenship", centre, session), "bad-nid-"+centre)
	if a.Status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d: %s", a.Status, a.Raw)
	}
	if ct := a.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if !slices.Equal(fieldNames(a), []string{"person.national_id"}) {
		t.Fatalf("fields = %v: %s", fieldNames(a), a.Raw)
	}
	if a.Body["type"] != "/problems/validation-error" || a.Body["status"] != float64(422) {
		t.Fatalf("problem = %s", a.Raw)
	}
	for _, table := range tables {
		if n := countRows(t, table); n != before[table] {
			t.Errorf("%s has %d rows, had %d", table, n, before[table])
		}
	}
	// Give a started workflow time to show up, then check none did.
	time.Sleep(2 * time.Second)
	if n := countWorkflows(t, fmt.Sprintf("TestCentre=%q", centre)); n != 0 {
		t.Fatalf("%d workflows started for a refused registration", n)
	}
}

func TestBadInputIsRefusedWithProblemDetails(t *testing.T) {
	valid := newPerson(t).reg(t, "norwegian_a1_b2", "OSLO-VO", session)
	missing := map[string]any{"person": map[string]any{"given_name": "A"}, "test": map[string]any{}}
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantFields  []string
	}{
		{"not JSON", "application/json", `{"person":`, 400, nil},
		{"unknown field", "application/json", `{"person": {"mother_tongue": "x"}}`, 400, []string{"person.mother_tongue"}},
		{"unknown field by its path", "application/json", `{"person": {"given_name": "A", "favourite_colour": "blue"}}`, 400, []string{"person.favourite_colour"}},
		{"the same key twice", "application/json", `{"person": {"given_name": "A", "given_name": "B"}}`, 400, []string{"person.given_name"}},
		{"wrong type", "application/json", `{"session_date": 1}`, 400, []string{"session_date"}},
		{"not JSON media type", "text/plain", `{}`, 415, []string{"Content-Type"}},
		{"many missing fields", "application/json", mustJSON(missing), 422,
			[]string{"person.family_name", "person.date_of_birth", "person", "test.type", "test_centre", "session_date"}},
		{"writing without level band", "application/json", mustJSON(withoutLevelBand(valid)), 422, []string{"test.level_band"}},
		{"date of birth a day off the national ID", "application/json", mustJSON(bornADayLater(newPerson(t).reg(t, "social_studies", "OSLO-VO", session))), 422,
			[]string{"person.national_id", "person.date_of_birth"}},
	}
	before := countRows(t, "registrations")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, http.MethodPost, "/v1/registrations", tt.contentType, []byte(tt.body), nil)
			if a.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", a.Status, tt.wantStatus, a.Raw)
			}
			if a.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("Content-Type = %q", a.Header.Get("Content-Type"))
			}
			if !slices.Equal(fieldNames(a), tt.wantFields) {
				t.Fatalf("fields = %v, want %v: %s", fieldNames(a), tt.wantFields, a.Raw)
			}
		})
	}
	if n := countRows(t, "registrations"); n != before {
		t.Fatalf("registrations went from %d to %d", before, n)
	}
}

// bornADayLater gives the person a date of birth a day after the one the
// national ID encodes.
func bornADayLater(body map[string]any) map[string]any {
	p := body["person"].(map[string]any)
	born, _ := time.Parse(time.DateOnly, p["date_of_birth"].(string))
	p["date_of_birth"] = born.AddDate(0, 0, 1).Format(time.DateOnly)
	return body
}

func withoutLevelBand(body map[string]any) map[string]any {
	test := body["test"].(map[string]any)
	delete(test, "level_band")
	return body
}

func TestIdempotencyKeyReturnsTheSameAnswer(t *testing.T) {
	p := newPerson(t)
	body := p.reg(t, "social_studies", uniqueCentre(), session)
	key := "idem-" + uuid.NewString()
	before := countRows(t, "registrations")

	// Concurrent retries of one request create one registration.
	answers := make([]answer, 4)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func(i int) { defer wg.Done(); answers[i] = postRegistration(t, body, key) }(i)
	}
	wg.Wait()
	for i, a := range answers {
		if a.Status != http.StatusCreated {
			t.Fatalf("answer %d: %d %s", i, a.Status, a.Raw)
		}
		if string(a.Raw) != string(answers[0].Raw) {
			t.Fatalf("answer %d differs:\n%s\n%s", i, a.Raw, answers[0].Raw)
		}
	}
	if n := countRows(t, "registrations"); n != before+1 {
		t.Fatalf("registrations grew by %d, want 1", n-before)
	}

	// The same key with another body is refused and changes nothing.
	other := p.reg(t, "citizenship", uniqueCentre(), session)
	a := postRegistration(t, other, key)
	if a.Status != http.StatusUnprocessableEntity || !slices.Equal(fieldNames(a), []string{"Idempotency-Key"}) {
		t.Fatalf("reused key: %d %s", a.Status, a.Raw)
	}
	if n := countRows(t, "registrations"); n != before+1 {
		t.Fatalf("registrations grew by %d, want 1", n-before)
	}
}

func TestSamePersonSameTestAndDateConflicts(t *testing.T) {
	p := newPerson(t)
	first := postRegistration(t, p.reg(t, "norwegian_a1_b2", "OSLO-VO", session), "")
	if first.Status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Status, first.Raw)
	}
	again := postRegistration(t, p.reg(t, "norwegian_a1_b2", "BERGEN-VO", session), "")
	if again.Status != http.StatusConflict {
		t.Fatalf("second: %d %s", again.Status, again.Raw)
	}
	existing, _ := again.Body["registration"].(map[string]any)
	if existing["registration_id"] != first.Body["registration_id"] {
		t.Fatalf("409 names %v, want the first registration %v", existing["registration_id"], first.Body["registration_id"])
	}
	if again.Header.Get("Location") != "/v1/registrations/"+first.Body["registration_id"].(string) {
		t.Fatalf("Location = %q", again.Header.Get("Location"))
	}

	// The same identifier on another date is the same candidate.
	later := postRegistration(t, p.reg(t, "norwegian_a1_b2", "OSLO-VO", "2027-06-01"), "")
	if later.Status != http.StatusCreated {
		t.Fatalf("later: %d %s", later.Status, later.Raw)
	}
	if later.Body["candidate_id"] != first.Body["candidate_id"] || later.Body["candidate_number"] != first.Body["candidate_number"] {
		t.Fatalf("same national id gave another candidate: %s vs %s", later.Raw, first.Raw)
	}
}

func TestDUFChecksumMismatchIsAWarning(t *testing.T) {
	p := newPerson(t)
	body := p.reg(t, "social_studies", uniqueCentre(), session)
	person := body["person"].(map[string]any)
	delete(person, "national_id")
	person["duf_number"] = "201258697561" // UDI's illustrative number; its checksum fails
	a := postRegistration(t, body, "")
	if a.Status != http.StatusCreated {
		t.Fatalf("status %d: %s", a.Status, a.Raw)
	}
	warnings, _ := a.Body["warnings"].([]any)
	if len(warnings) != 1 || warnings[0].(map[string]any)["field"] != "person.duf_number" {
		t.Fatalf("warnings = %v", a.Body["warnings"])
	}
}

func TestGetRegistrationErrors(t *testing.T) {
	if a := do(t, http.MethodGet, "/v1/registrations/not-a-uuid", "", nil, nil); a.Status != 400 || !slices.Equal(fieldNames(a), []string{"id"}) {
		t.Fatalf("bad id: %d %s", a.Status, a.Raw)
	}
	if a := do(t, http.MethodGet, "/v1/registrations/"+uuid.NewString(), "", nil, nil); a.Status != 404 {
		t.Fatalf("unknown id: %d %s", a.Status, a.Raw)
	}
}

// A registration stored while Temporal could not be reached (or the API died
// between commit and start) gets its workflow from the reconciler.
func TestReconcilerStartsUnstartedWorkflows(t *testing.T) {
	ctx := context.Background()
	p := newPerson(t)
	dob, _ := time.Parse(time.DateOnly, p.Born)
	sess, _ := time.Parse(time.DateOnly, session)
	centre := uniqueCentre()
	sessionFor(t, "citizenship", centre, session)
	reg, created, err := env.store.CreateRegistration(ctx, storage.NewRegistration{
		Person:   storage.Person{GivenName: p.Given, FamilyName: p.Family, DateOfBirth: dob, NationalID: p.NationalID},
		TestType: "citizenship", TestParts: []string{"test"}, TestCentre: centre, SessionDate: sess,
	}, nil)
	if err != nil || !created {
		t.Fatalf("store registration: %v %v", created, err)
	}
	if _, err := env.temporal.DescribeWorkflowExecution(ctx, reg.WorkflowID, ""); err == nil {
		t.Fatal("workflow exists before reconciliation; the test proves nothing")
	}
	n, err := worker.ReconcileOnce(ctx, env.deps, 0)
	if err != nil || n < 1 {
		t.Fatalf("reconcile: started %d, %v", n, err)
	}
	if _, err := env.temporal.DescribeWorkflowExecution(ctx, reg.WorkflowID, ""); err != nil {
		t.Fatalf("workflow not started: %v", err)
	}
	again, err := env.store.GetRegistration(ctx, reg.ID)
	if err != nil || !again.WorkflowStarted {
		t.Fatalf("registration not marked started: %v %v", again.WorkflowStarted, err)
	}
	// A second pass finds nothing and starts nothing twice.
	unstarted, err := env.store.UnstartedRegistrations(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range unstarted {
		if u.ID == reg.ID {
			t.Fatal("still listed as unstarted")
		}
	}
}

func TestHealthReadinessMetricsAndOpenAPI(t *testing.T) {
	if a := do(t, http.MethodGet, "/healthz", "", nil, nil); a.Status != 200 {
		t.Fatalf("healthz %d", a.Status)
	}
	if a := do(t, http.MethodGet, "/readyz", "", nil, nil); a.Status != 200 || a.Body["status"] != "ready" {
		t.Fatalf("readyz %d %s", a.Status, a.Raw)
	}
	if a := do(t, http.MethodGet, "/openapi.yaml", "", nil, nil); a.Status != 200 || !strings.Contains(string(a.Raw), "/v1/registrations/{id}") {
		t.Fatalf("openapi %d", a.Status)
	}
	// Make sure at least one request and one workflow start were counted.
	p := newPerson(t)
	if a := postRegistration(t, p.reg(t, "citizenship", uniqueCentre(), session), ""); a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	m := do(t, http.MethodGet, "/metrics", "", nil, nil)
	metrics := string(m.Raw)
	for _, want := range []string{
		`examflow_http_requests_total{method="POST",route="/v1/registrations",status="201"}`,
		`examflow_http_request_duration_seconds_bucket{method="POST",route="/v1/registrations"`,
		`examflow_registrations_total{outcome="created",test_type="citizenship"}`,
		`temporal_request_total{`,
		`operation="StartWorkflowExecution"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, secret := range []string{p.Given, p.NationalID, p.Email} {
		if strings.Contains(metrics, secret) {
			t.Fatalf("metrics contain personal data %q", secret)
		}
	}
}

func TestLogsCarryNoPersonalData(t *testing.T) {
	p := newPerson(t)
	centre := uniqueCentre()
	if a := postRegistration(t, p.reg(t, "citizenship", centre, session), ""); a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	bad := p.reg(t, "citizenship", centre, session)
	bad["person"].(map[string]any)["email"] = "not an address " + p.Email
	if a := postRegistration(t, bad, ""); a.Status != 422 {
		t.Fatalf("bad: %d %s", a.Status, a.Raw)
	}
	logs := env.apiLogs.String()
	if !strings.Contains(logs, `"route":"/v1/registrations"`) {
		t.Fatal("no request was logged; the check would see nothing")
	}
	for _, secret := range []string{p.Given, p.Family, p.NationalID, p.Email, p.Born} {
		if strings.Contains(logs, secret) {
			t.Fatalf("API logs contain personal data %q", secret)
		}
	}
}

// TestSourceOfDataIsRecorded (T05): a registration records where its
// personal data came from; an unknown source is refused.
func TestSourceOfDataIsRecorded(t *testing.T) {
	body := newPerson(t).reg(t, "social_studies", uniqueCentre(), session)
	body["source"] = "nav"
	if a := postRegistration(t, body, ""); a.Status != 422 || !slices.Equal(fieldNames(a), []string{"source"}) {
		t.Fatalf("unknown source: %d %s", a.Status, a.Raw)
	}
	body["source"] = "imdi"
	a := postRegistration(t, body, "")
	if a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	if g := do(t, http.MethodGet, registrationURL(a), "", nil, nil); g.Body["source"] != "imdi" {
		t.Fatalf("source = %v", g.Body["source"])
	}
	plain := postRegistration(t, newPerson(t).reg(t, "social_studies", uniqueCentre(), session), "")
	if g := do(t, http.MethodGet, registrationURL(plain), "", nil, nil); g.Body["source"] != "candidate" {
		t.Fatalf("default source = %v", g.Body["source"])
	}
}
