package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/examflow/examflow/policy"
)

// TestFinalCheatingAnnulsAllNorwegianPartsAndQuarantines: provisional
// cheating holds the result; the final decision deletes the results of all
// four parts and sets a quarantine that refuses a new registration for the
// Norwegian test but not for another test.
func TestFinalCheatingAnnulsAllNorwegianPartsAndQuarantines(t *testing.T) {
	ctx := context.Background()
	centre := uniqueCentre()
	p := newPerson(t)
	reg := postRegistration(t, p.reg(t, "norwegian_a1_b2", centre, session), "")
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	url := registrationURL(reg)
	if a := postJSON(t, url+"/discrepancies", map[string]any{"kind": "provisional_cheating", "part": "writing"}, ""); a.Status != 202 {
		t.Fatalf("provisional: %d %s", a.Status, a.Raw)
	}
	for _, part := range []string{"reading", "listening"} {
		form := fmt.Sprintf("norwegian_a1_b2-%s-%s-%s", part, centre, session)
		if a := postJSON(t, url+"/answer-sheets", map[string]any{"part": part, "form_id": form, "key_version": 1,
			"submitted_at": "2027-03-15T10:00:00Z", "answers": answersFor(30, 25)}, ""); a.Status != 202 {
			t.Fatalf("%s: %d %s", part, a.Status, a.Raw)
		}
	}
	for _, part := range []string{"writing", "oral"} {
		for role, who := range map[string]string{"examiner": "e1", "external_examiner": "e2"} {
			if a := postJSON(t, url+"/assessments", map[string]any{"part": part, "role": role, "assessor": who, "level": "B1"}, ""); a.Status != 202 {
				t.Fatalf("%s %s: %d %s", part, role, a.Status, a.Raw)
			}
		}
	}
	// All four parts are decided, but nothing is released while the case is open.
	eventually(t, 15*time.Second, func() error {
		if n := len(currentResults(t, url)); n != 4 {
			return fmt.Errorf("%d results", n)
		}
		return nil
	})
	if g := do(t, http.MethodGet, url, "", nil, nil); g.Body["stage"] == "Result" {
		t.Fatal("result released during a cheating case")
	}
	// A quarantine longer than a year is refused.
	tooLong := time.Now().AddDate(1, 1, 0).Format(time.RFC3339)
	if a := postJSON(t, url+"/cheating-decisions", map[string]any{"decision": "final", "reasons": "phone in use", "decided_by": "ch-1", "quarantine_until": tooLong}, ""); a.Status != 422 {
		t.Fatalf("long quarantine: %d %s", a.Status, a.Raw)
	}
	if a := postJSON(t, url+"/cheating-decisions", map[string]any{"decision": "final", "reasons": "phone in use during writing", "decided_by": "ch-1"}, ""); a.Status != 200 {
		t.Fatalf("final: %d %s", a.Status, a.Raw)
	}
	waitStage(t, url, "Annulled")
	if n := len(do(t, http.MethodGet, url+"/results", "", nil, nil).Body["results"].([]any)); n != 0 {
		t.Fatalf("%d results left after final cheating", n)
	}
	decisions, err := env.store.CheatingDecisions(ctx, uuid.MustParse(reg.Body["registration_id"].(string)))
	if err != nil || len(decisions) != 1 || decisions[0].QuarantineUntil == nil {
		t.Fatalf("decision kept: %+v %v", decisions, err)
	}
	if d := time.Until(*decisions[0].QuarantineUntil); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Fatalf("quarantine ends in %s, want one year", d)
	}
	// The quarantine refuses the same test, but not another kind of test.
	again := postRegistration(t, p.reg(t, "norwegian_a1_b2", centre, "2027-06-01"), "")
	if again.Status != 422 || !slices.Equal(fieldNames(again), []string{"test.type"}) {
		t.Fatalf("registration under quarantine: %d %s", again.Status, again.Raw)
	}
	if other := postRegistration(t, p.reg(t, "citizenship", centre, "2027-06-01"), ""); other.Status != 201 {
		t.Fatalf("other test: %d %s", other.Status, other.Raw)
	}
}

// TestCorrectedAnswerKeyDryRunThenApply: a key error found after marking is
// corrected in a new key version; the dry run lists exactly the results
// that change and changes nothing; applying changes each through its own
// workflow and records it.
func TestCorrectedAnswerKeyDryRunThenApply(t *testing.T) {
	centre := uniqueCentre()
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, session)
	// Three candidates: 24 right (passes), 23 right (fails), 10 right (fails).
	type cand struct {
		url     string
		correct int
	}
	var cands []cand
	for _, n := range []int{24, 23, 10} {
		reg := postRegistration(t, newPerson(t).reg(t, "citizenship", centre, session), "")
		url := registrationURL(reg)
		if a := submitSheet(t, url, form, answersFor(36, n)); a.Status != 202 {
			t.Fatalf("submit: %d %s", a.Status, a.Raw)
		}
		waitStage(t, url, "Result")
		cands = append(cands, cand{url, n})
	}
	// The key was wrong on q24: the right answer is "b". Version 2 corrects it.
	keys := do(t, http.MethodGet, "/v1/answer-keys/"+form, "", nil, nil)
	v1 := keys.Body["versions"].([]any)[0].(map[string]any)
	if v1["used"] != true {
		t.Fatalf("key v1 not marked used: %v", v1)
	}
	items := v1["items"].([]any)
	items[23].(map[string]any)["correct"] = "b"
	if a := postJSON(t, "/v1/answer-keys", map[string]any{"form_id": form, "test_type": "citizenship", "test_version": v1["test_version"],
		"part": "test", "items": items}, ""); a.Status != 201 || a.Body["version"] != float64(2) {
		t.Fatalf("key v2: %d %s", a.Status, a.Raw)
	}

	dry := postJSON(t, "/v1/answer-keys/"+form+"/reapply", map[string]any{"dry_run": true}, "")
	if dry.Status != 200 || dry.Body["checked"] != float64(3) {
		t.Fatalf("dry run: %d %s", dry.Status, dry.Raw)
	}
	changes := dry.Body["changes"].([]any)
	// Candidate 1 answered q24 "a" (now wrong): 23, fails. Candidate 2
	// answered q24 "b" (now right): 24, passes. Candidate 3 loses nothing
	// on q24 ("b" is now right: 11) but still fails: its score changes.
	want := map[string][2]any{cands[0].url: {"failed", float64(23)}, cands[1].url: {"passed", float64(24)}, cands[2].url: {"failed", float64(11)}}
	if len(changes) != 3 {
		t.Fatalf("changes = %v", changes)
	}
	for _, ch := range changes {
		m := ch.(map[string]any)
		w := want["/v1/registrations/"+m["registration_id"].(string)]
		if m["new_result"] != w[0] || m["new_score"] != w[1] || m["applied"] != false || m["new_key_version"] != float64(2) {
			t.Fatalf("change = %v, want %v", m, w)
		}
	}
	if res := currentResults(t, cands[0].url)["test"]; res["result"] != "passed" || res["key_version"] != float64(1) {
		t.Fatalf("the dry run changed a result: %v", res)
	}

	applied := postJSON(t, "/v1/answer-keys/"+form+"/reapply", map[string]any{"dry_run": false}, "")
	if applied.Status != 200 || applied.Body["failed"] != float64(0) {
		t.Fatalf("apply: %d %s", applied.Status, applied.Raw)
	}
	for _, c := range cands {
		res := currentResults(t, c.url)["test"]
		w := want[c.url]
		if res["result"] != w[0] || res["score"] != w[1] || res["key_version"] != float64(2) || res["reason"] == "" {
			t.Fatalf("%s after apply: %v", c.url, res)
		}
		// The corrected decision is automated too, and stored with its
		// legal basis (T02).
		if res["decided_by"] != "automated" || res["legal_basis"] != policy.AutomatedDecisionLegalBasis {
			t.Fatalf("%s after apply: decided by %v on %v", c.url, res["decided_by"], res["legal_basis"])
		}
	}
	// Each candidate's result was released, so each is told once that it
	// changed: candidates 1 and 2 that the result changed, candidate 3 that
	// only the score did.
	wantOutcome := map[string]string{cands[0].url: "yes", cands[1].url: "yes", cands[2].url: "no"}
	for _, c := range cands {
		regID := uuid.MustParse(strings.TrimPrefix(c.url, "/v1/registrations/"))
		if n := rowCount(t, `SELECT count(*) FROM notification_outbox WHERE registration_id = $1 AND kind = 'result_changed'
			AND payload->>'outcome_changed' = $2 AND payload->>'test_type' = 'citizenship'`, regID, wantOutcome[c.url]); n != 1 {
			t.Errorf("%s: %d result_changed notices with outcome_changed=%s, want 1", c.url, n, wantOutcome[c.url])
		}
	}
	// Applying again finds nothing more to change, and tells nobody again.
	if again := postJSON(t, "/v1/answer-keys/"+form+"/reapply", map[string]any{"dry_run": true}, ""); len(again.Body["changes"].([]any)) != 0 {
		t.Fatalf("second dry run: %s", again.Raw)
	}
	if again := postJSON(t, "/v1/answer-keys/"+form+"/reapply", map[string]any{"dry_run": false}, ""); again.Status != 200 {
		t.Fatalf("second apply: %d %s", again.Status, again.Raw)
	}
	for _, c := range cands {
		regID := uuid.MustParse(strings.TrimPrefix(c.url, "/v1/registrations/"))
		if n := rowCount(t, `SELECT count(*) FROM notification_outbox WHERE registration_id = $1 AND kind = 'result_changed'`, regID); n != 1 {
			t.Errorf("%s: %d result_changed notices after applying twice, want 1", c.url, n)
		}
	}
}
