package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestUpheldObjectionStopsTheProcessing: an objection names the purposes it
// objects to. Upheld for statistics, it leaves the person out of the
// statistics cells computed afterwards and refuses a release to Statistics
// Norway, while releases for other purposes go on; an objection to
// arranging the tests, which the law requires, cannot be upheld, only
// rejected (policy.ObjectionRules).
func TestUpheldObjectionStopsTheProcessing(t *testing.T) {
	ctx := context.Background()
	ch := roleKey(t, "ch-objection", "case_handler")
	now := time.Now().UTC()
	prev := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	date := prev.AddDate(0, 0, 10).Format(time.DateOnly)
	centre := uniqueCentre()
	sessionFor(t, "citizenship", centre, date)
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, date)

	var people []person
	var urls, candidates []string
	for range 6 {
		p := newPerson(t)
		a := postRegistration(t, p.reg(t, "citizenship", centre, date), "")
		if a.Status != http.StatusCreated {
			t.Fatalf("register: %d %s", a.Status, a.Raw)
		}
		url := registrationURL(a)
		if s := postJSON(t, url+"/answer-sheets", map[string]any{"part": "test", "form_id": form, "key_version": 1,
			"submitted_at": date + "T10:00:00Z", "answers": answersFor(36, 30)}, ""); s.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", s.Status, s.Raw)
		}
		people, urls, candidates = append(people, p), append(urls, url), append(candidates, a.Body["candidate_id"].(string))
	}
	for _, url := range urls {
		waitStage(t, url, "Result")
	}
	counted := func() int {
		t.Helper()
		if _, err := env.store.MaterialiseStatistics(ctx, prev); err != nil {
			t.Fatal(err)
		}
		return rowCount(t, `SELECT COALESCE(sum(n), 0) FROM statistics_cells WHERE month = $1 AND test_centre = $2 AND test_type = 'citizenship'`, prev, centre)
	}
	if n := counted(); n != 6 {
		t.Fatalf("%d candidates counted before any objection, want 6", n)
	}

	object := func(p person, purposes ...string) answer {
		return do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "objection",
			"identifier": map[string]any{"kind": "national_id", "value": p.NationalID},
			"grounds":    "I do not want my result used this way", "purposes": purposes})), ch)
	}
	// The purposes are named, from the policy's purposes, once each.
	for _, bad := range []struct {
		purposes []string
		field    string
	}{{nil, "purposes"}, {[]string{"marketing"}, "purposes[0]"}, {[]string{"statistics", "statistics"}, "purposes[1]"}} {
		if a := object(people[0], bad.purposes...); a.Status != http.StatusUnprocessableEntity || !slices.Contains(fieldNames(a), bad.field) {
			t.Fatalf("objection to %v: %d %s, want 422 naming %s", bad.purposes, a.Status, a.Raw, bad.field)
		}
	}
	verify := func(id string) {
		t.Helper()
		if a := do(t, http.MethodPost, "/v1/subject-requests/"+id+"/identity", "application/json",
			[]byte(`{"verified_by": "ch-objection", "evidence": "BankID"}`), ch); a.Status != http.StatusOK {
			t.Fatalf("identity: %d %s", a.Status, a.Raw)
		}
	}
	decide := func(id, decision string) answer {
		return do(t, http.MethodPost, "/v1/subject-requests/"+id+"/decision", "application/json",
			[]byte(mustJSON(map[string]any{"decision": decision, "reason": "weighed against the grounds", "decided_by": "ch-objection"})), ch)
	}

	// Arranging the tests is the law's: not upheld, only rejected.
	a := object(people[1], "arrange_tests")
	if a.Status != http.StatusCreated {
		t.Fatalf("objection: %d %s", a.Status, a.Raw)
	}
	statutory := a.Body["request_id"].(string)
	verify(statutory)
	if d := decide(statutory, "upheld"); d.Status != http.StatusUnprocessableEntity {
		t.Fatalf("upholding an objection to arranging the tests: %d %s, want 422", d.Status, d.Raw)
	}
	if d := decide(statutory, "rejected"); d.Status != http.StatusOK {
		t.Fatalf("rejecting it: %d %s", d.Status, d.Raw)
	}

	// Statistics: upheld.
	a = object(people[0], "statistics")
	if a.Status != http.StatusCreated {
		t.Fatalf("objection: %d %s", a.Status, a.Raw)
	}
	id := a.Body["request_id"].(string)
	if got := do(t, http.MethodGet, "/v1/subject-requests/"+id, "", nil, ch).Body; fmt.Sprint(got["purposes"]) != "[statistics]" {
		t.Fatalf("the request shows purposes %v", got["purposes"])
	}
	verify(id)
	if d := decide(id, "upheld"); d.Status != http.StatusOK {
		t.Fatalf("upholding: %d %s", d.Status, d.Raw)
	}
	got := waitRequest(t, env.api.URL, id, func(b map[string]any) bool { return b["status"] == "answered" }, ch)
	if got["outcome"] != "upheld" {
		t.Fatalf("the request: %v", got)
	}
	if n := counted(); n != 5 {
		t.Fatalf("%d candidates counted after the upheld objection, want 5 (the objector left out)", n)
	}
	release := func(cand, recipient string, cats ...string) answer {
		return do(t, http.MethodPost, "/v1/candidates/"+cand+"/disclosures", "application/json", []byte(mustJSON(map[string]any{
			"recipient": recipient, "categories": cats, "reference": "REF-" + centre})), ch)
	}
	if r := release(candidates[0], "ssb", "test results"); r.Status != http.StatusConflict {
		t.Fatalf("release to Statistics Norway after the upheld objection: %d %s, want 409", r.Status, r.Raw)
	}
	if r := release(candidates[0], "udi", "name", "test results"); r.Status != http.StatusCreated {
		t.Fatalf("release to UDI, a purpose not objected to: %d %s", r.Status, r.Raw)
	}
	if r := release(candidates[2], "ssb", "test results"); r.Status != http.StatusCreated {
		t.Fatalf("release of another candidate to Statistics Norway: %d %s", r.Status, r.Raw)
	}
	if got := rowCount(t, `SELECT count(*) FROM processing_objections WHERE request_id = $1`, uuid.MustParse(statutory)); got != 0 {
		t.Errorf("the rejected objection recorded %d objections", got)
	}
}
