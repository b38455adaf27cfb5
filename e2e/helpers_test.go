package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/examflow/examflow/identity"
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
