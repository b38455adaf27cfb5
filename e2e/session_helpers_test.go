package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/examflow/examflow/marking"
)

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
