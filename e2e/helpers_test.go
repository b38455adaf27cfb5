package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/registry"
	"github.com/examflow/examflow/storage"
)

// answer is an HTTP response with its decoded JSON body.
type answer struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
	// Violation says how the exchange breaks api/openapi.yaml ("" when it
	// keeps to it); see send.
	Violation string
}

func do(t *testing.T, method, path, contentType string, body []byte, headers map[string]string) answer {
	t.Helper()
	return doAt(t, env.api.URL, method, path, contentType, body, headers)
}

// doAt sends a request to the API at base, with the all-roles test token
// unless headers set Authorization ("" sends none).
func doAt(t *testing.T, base, method, path, contentType string, body []byte, headers map[string]string) answer {
	t.Helper()
	a, err := tryAt(base, method, path, contentType, body, headers)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	checkAnswer(t, a)
	return a
}

// tryAt is doAt that returns an error where the request could not be made
// or its answer not read (a replica that is down), for clients that fail
// over to another replica. The caller reports a.Violation (checkAnswer).
func tryAt(base, method, path, contentType string, body []byte, headers map[string]string) (answer, error) {
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+env.token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("Authorization") == "" {
		req.Header.Del("Authorization")
	}
	a, err := send(nil, req)
	if err != nil {
		return answer{}, err
	}
	raw := a.Raw
	if len(raw) > 0 && (a.Header.Get("Content-Type") == "application/json; charset=utf-8" || a.Header.Get("Content-Type") == "application/problem+json") {
		if err := json.Unmarshal(raw, &a.Body); err != nil {
			return a, fmt.Errorf("decode %s: %w", raw, err)
		}
	}
	return a, nil
}

func postRegistration(t *testing.T, body any, idemKey string) answer {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	if idemKey != "" {
		h["Idempotency-Key"] = idemKey
	}
	return do(t, http.MethodPost, "/v1/registrations", "application/json", data, h)
}

// person is a fictional candidate with a fresh, valid national identity number.
type person struct {
	Given, Family, Born, NationalID, Email string
}

func newPerson(t *testing.T) person {
	t.Helper()
	born := time.Date(1960+rand.IntN(40), time.Month(1+rand.IntN(12)), 1+rand.IntN(28), 0, 0, 0, 0, time.UTC)
	for {
		nid, ok := identity.WithCheckDigits(born.Format("020106") + fmt.Sprintf("%03d", rand.IntN(500)))
		if ok {
			n := rand.IntN(1_000_000)
			return person{
				Given: fmt.Sprintf("Given%06d", n), Family: fmt.Sprintf("Family%06d", n),
				Born: born.Format(time.DateOnly), NationalID: nid, Email: fmt.Sprintf("person%06d@example.org", n),
			}
		}
	}
}

func (p person) registration(testType, centre, session string) map[string]any {
	test := map[string]any{"type": testType}
	if testType == "norwegian_a1_b2" {
		test["parts"] = []string{"reading", "listening", "writing", "oral"}
		test["level_band"] = "A2-B1"
	}
	return map[string]any{
		"person": map[string]any{
			"given_name": p.Given, "family_name": p.Family, "date_of_birth": p.Born, "national_id": p.NationalID,
			"email": p.Email, "phone": "+47 400 00 000",
			"address": map[string]any{"street": "Eksempelveien 7", "postal_code": "0001", "city": "Oslo", "country": "NO"},
		},
		"test": test, "test_centre": centre, "session_date": session,
	}
}

// uniqueCentre is a test centre code no other test uses, to count workflows.
func uniqueCentre() string { return fmt.Sprintf("E2E-%08d", rand.IntN(100_000_000)) }

func countRows(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := env.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually retries check until it returns nil or the time is up.
func eventually(t *testing.T, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fieldNames(a answer) []string {
	var out []string
	errs, _ := a.Body["errors"].([]any)
	for _, e := range errs {
		if m, ok := e.(map[string]any); ok {
			out = append(out, fmt.Sprint(m["field"]))
		}
	}
	return out
}

func jsonInto(raw []byte, v any) error { return json.Unmarshal(raw, v) }

func minioList(prefix string) minio.ListObjectsOptions {
	return minio.ListObjectsOptions{Prefix: prefix, Recursive: true}
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// examflowBinary builds the examflow binary once for every test that runs
// it as a process (make run, a worker to kill, the CLI).
func examflowBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildExamflow()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// buildExamflow is examflowBinary for TestMain.
func buildExamflow() (string, error) {
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "examflow-bin-"); binErr != nil {
			return
		}
		if out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "examflow"), "../cmd/examflow").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build: %w\n%s", err, out)
		}
	})
	return filepath.Join(binDir, "examflow"), binErr
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}

func rowCount(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := env.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// answersFor answers the first n items of a test key correctly ("a") and
// the rest wrongly ("b").
func answersFor(items, correct int) []map[string]string {
	out := make([]map[string]string, items)
	for i := range out {
		choice := "b"
		if i < correct {
			choice = "a"
		}
		out[i] = map[string]string{"item": fmt.Sprintf("q%02d", i+1), "choice": choice}
	}
	return out
}

func registrationURL(a answer) string {
	return "/v1/registrations/" + a.Body["registration_id"].(string)
}

func roleKey(t *testing.T, name, role string) map[string]string {
	t.Helper()
	secret, _, err := env.store.CreateToken(context.Background(), name, []string{role}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"Authorization": "Bearer " + secret}
}

func countWorkflows(t *testing.T, query string) int64 {
	t.Helper()
	resp, err := env.temporal.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{
		Namespace: env.cfg.TemporalNamespace, Query: query})
	if err != nil {
		t.Fatalf("count workflows %q: %v", query, err)
	}
	return resp.GetCount()
}

// waitStage polls GET /v1/registrations/{id} until the stage is want.
func waitStage(t *testing.T, url string, want string) answer {
	t.Helper()
	var last answer
	eventually(t, 20*time.Second, func() error {
		last = do(t, http.MethodGet, url, "", nil, nil)
		if last.Status != 200 || last.Body["stage"] != want {
			return fmt.Errorf("stage %v (%d %s), want %s", last.Body["stage"], last.Status, last.Raw, want)
		}
		return nil
	})
	return last
}

func waitStageAt(t *testing.T, base, url, want string, within time.Duration) {
	t.Helper()
	eventually(t, within, func() error {
		g := doAt(t, base, http.MethodGet, url, "", nil, nil)
		if g.Body["stage"] != want {
			return fmt.Errorf("stage %v, want %s", g.Body["stage"], want)
		}
		return nil
	})
}

func waitRequest(t *testing.T, base, id string, ok func(map[string]any) bool, auth map[string]string) map[string]any {
	t.Helper()
	var last answer
	eventually(t, 30*time.Second, func() error {
		last = doAt(t, base, http.MethodGet, "/v1/subject-requests/"+id, "", nil, auth)
		if last.Status != 200 || !ok(last.Body) {
			return fmt.Errorf("request: %d %s", last.Status, last.Raw)
		}
		return nil
	})
	return last.Body
}

func mustRegister(t *testing.T, body map[string]any) (regID, candidateID string) {
	t.Helper()
	a := postRegistration(t, body, "")
	if a.Status != http.StatusCreated {
		t.Fatalf("registration: %d %s", a.Status, a.Raw)
	}
	return a.Body["registration_id"].(string), a.Body["candidate_id"].(string)
}

// newDUF is a fresh twelve-digit DUF number (its checksum may fail, which is
// only a warning).
func newDUF() string { return fmt.Sprintf("%04d%08d", 2000+rand.IntN(24), rand.IntN(100_000_000)) }

// withDUFOnly turns a registration body into one that identifies the person
// by a DUF number alone.
func withDUFOnly(body map[string]any, duf string) map[string]any {
	p := body["person"].(map[string]any)
	delete(p, "national_id")
	p["duf_number"] = duf
	return body
}

// takeCitizenship registers p for today's citizenship test on the stack and
// submits a passing sheet; it returns the registration's URL.
func takeCitizenship(t *testing.T, rs retentionStack, p person, centre string, before func(url string)) string {
	t.Helper()
	today := time.Now().UTC().Format(time.DateOnly)
	a := postAt(t, rs.url, "/v1/registrations", p.reg(t, "citizenship", centre, today), "")
	if a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	url := registrationURL(a)
	if before != nil {
		before(url)
	}
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, today)
	if s := postAt(t, rs.url, url+"/answer-sheets", map[string]any{"part": "test", "form_id": form, "key_version": 1,
		"submitted_at": time.Now().UTC().Format(time.RFC3339), "answers": answersFor(36, 30)}, ""); s.Status != 202 {
		t.Fatalf("submit: %d %s", s.Status, s.Raw)
	}
	return url
}

func publicationOf(sim *registry.Simulator, candidateID string) (registry.Publication, bool) {
	for _, p := range sim.Publications() {
		if p.Key == "candidate-"+candidateID {
			return p, true
		}
	}
	return registry.Publication{}, false
}

func postAt(t *testing.T, base, path string, body any, idemKey string) answer {
	t.Helper()
	h := map[string]string{}
	if idemKey != "" {
		h["Idempotency-Key"] = idemKey
	}
	return doAt(t, base, http.MethodPost, path, "application/json", []byte(mustJSON(body)), h)
}

func submitSheet(t *testing.T, url, form string, answers []map[string]string) answer {
	t.Helper()
	return postJSON(t, url+"/answer-sheets", map[string]any{"part": "test", "form_id": form, "key_version": 1,
		"submitted_at": "2027-03-15T10:00:00Z", "answers": answers}, "")
}

func yesterday() string { return time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly) }

func objectsUnder(t *testing.T, prefix string) int {
	t.Helper()
	n := 0
	for o := range env.objects.Client().ListObjects(context.Background(), env.objects.Bucket(), minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
	}
	return n
}

func problemField(a answer) string {
	if errs, ok := a.Body["errors"].([]any); ok && len(errs) > 0 {
		if m, ok := errs[0].(map[string]any); ok {
			s, _ := m["field"].(string)
			return s
		}
	}
	return ""
}

// mustAuditIntact fails the test unless VerifyAudit finds the log intact,
// and returns the report.
func mustAuditIntact(t *testing.T) storage.AuditReport {
	t.Helper()
	rep, err := env.store.VerifyAudit(context.Background())
	if err != nil {
		t.Fatalf("verify audit log: %v", err)
	}
	if !rep.Intact() {
		t.Fatalf("audit log broken: %+v", *rep.Broken)
	}
	return rep
}

func currentResults(t *testing.T, url string) map[string]map[string]any {
	t.Helper()
	a := do(t, http.MethodGet, url+"/results", "", nil, nil)
	if a.Status != 200 {
		t.Fatalf("results: %d %s", a.Status, a.Raw)
	}
	out := map[string]map[string]any{}
	for _, r := range a.Body["results"].([]any) {
		m := r.(map[string]any)
		if m["current"] == true {
			out[m["part"].(string)] = m
		}
	}
	return out
}

func scrapeMetrics(t *testing.T, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, raw)
	}
	s := scrape{raw: string(raw), help: map[string]string{}}
	for line := range strings.SplitSeq(s.raw, "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			s.help[name] = help
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unparsable metrics line %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		sm := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			sm.labels[p[1]] = p[2]
		}
		s.samples = append(s.samples, sm)
	}
	return s
}

var sessions sync.Map // "type/centre/date" -> session id

// sessionFor creates (once) the session of a test at a centre on a date,
// with an answer key for every machine-marked part, through the API.
func sessionFor(t *testing.T, testType, centre, date string) string {
	t.Helper()
	k := testType + "/" + centre + "/" + date
	if id, ok := sessions.Load(k); ok {
		return id.(string)
	}
	d, _ := time.Parse(time.DateOnly, date)
	tv, err := env.catalogue.Version(testType, d)
	if err != nil {
		t.Fatalf("catalogue: %v", err)
	}
	forms := map[string]string{}
	for _, part := range tv.PartNames() {
		def, _ := tv.Part(part)
		if !def.Automated() {
			continue
		}
		form := fmt.Sprintf("%s-%s-%s-%s", testType, part, centre, date)
		a := postJSON(t, "/v1/answer-keys", map[string]any{"form_id": form, "test_type": testType, "test_version": tv.Version,
			"part": part, "items": marking.FictionalKey(def)}, "")
		if a.Status != http.StatusCreated {
			t.Fatalf("answer key %s: %d %s", form, a.Status, a.Raw)
		}
		forms[part] = form
	}
	a := postJSON(t, "/v1/sessions", map[string]any{"test_type": testType, "test_centre": centre, "session_date": date, "forms": forms}, "")
	if a.Status != http.StatusCreated {
		t.Fatalf("session: %d %s", a.Status, a.Raw)
	}
	id := a.Body["id"].(string)
	sessions.Store(k, id)
	return id
}

func postJSON(t *testing.T, path string, body any, idemKey string) answer {
	t.Helper()
	h := map[string]string{}
	if idemKey != "" {
		h["Idempotency-Key"] = idemKey
	}
	return do(t, http.MethodPost, path, "application/json", []byte(mustJSON(body)), h)
}

// reg is p's registration body for a test whose session exists.
func (p person) reg(t *testing.T, testType, centre, date string) map[string]any {
	t.Helper()
	sessionFor(t, testType, centre, date)
	return p.registration(testType, centre, date)
}

// holdForReview gets a citizenship registration's result held for a case
// handler: a technical problem reported for the candidate, then the answer
// sheet with correct answers of 36; it returns once the registration is
// UnderReview.
func holdForReview(t *testing.T, url, centre string, correct int) {
	t.Helper()
	if a := postJSON(t, url+"/discrepancies", map[string]any{"kind": "technical_problem", "note": "screen froze"}, ""); a.Status != http.StatusAccepted {
		t.Fatalf("discrepancy: %d %s", a.Status, a.Raw)
	}
	if a := submitSheet(t, url, fmt.Sprintf("citizenship-test-%s-%s", centre, session), answersFor(36, correct)); a.Status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", a.Status, a.Raw)
	}
	waitStage(t, url, "UnderReview")
}
