package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/examflow/examflow/policy"
)

// TestCitizenshipPassAndFail: 24 of 32 scored items passes, 23 fails; the
// four pilot items never count; each result records its key version,
// threshold and per-item correctness.
func TestCitizenshipPassAndFail(t *testing.T) {
	centre := uniqueCentre()
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, session)
	tests := []struct {
		name    string
		correct int // of the first items (1-32 scored, 33-36 pilots)
		want    string
		score   float64
	}{
		{"pass at 24", 24, "passed", 24},
		{"fail at 23 even with all pilots right", 23, "failed", 23},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPerson(t)
			reg := postRegistration(t, p.reg(t, "citizenship", centre, session), "")
			if reg.Status != 201 {
				t.Fatalf("register: %d %s", reg.Status, reg.Raw)
			}
			url := registrationURL(reg)
			answers := answersFor(36, tt.correct)
			if tt.correct == 23 {
				for i := 32; i < 36; i++ {
					answers[i]["choice"] = "a" // pilots right: must not count
				}
			}
			if a := submitSheet(t, url, form, answers); a.Status != http.StatusAccepted {
				t.Fatalf("submit: %d %s", a.Status, a.Raw)
			}
			waitStage(t, url, "Result")
			res := currentResults(t, url)["test"]
			if res["result"] != tt.want || res["score"] != tt.score || res["max_score"] != float64(32) || res["decided_by"] != "automated" {
				t.Fatalf("result = %v", res)
			}
			if basis := res["basis"].(map[string]any); basis["purpose"] == "" || basis["purpose"] == nil {
				t.Fatalf("the automated decision names no purpose: %v", basis)
			}
			// It is stored with the legal basis the policy gives for
			// automated decisions (T02).
			if res["legal_basis"] != policy.AutomatedDecisionLegalBasis {
				t.Fatalf("the automated decision's legal basis = %v, want %q", res["legal_basis"], policy.AutomatedDecisionLegalBasis)
			}
			if res["key_version"] != float64(1) || res["rule"].(map[string]any)["pass_mark"] != float64(24) || len(res["items"].([]any)) != 36 {
				t.Fatalf("result basis incomplete: %v", res)
			}
			// The candidate is told through the outbox, by e-mail, once.
			sink := newSMTPSink(t)
			drainer := notifyDrainer(t, sink, &syncBuffer{}, nil, nil)
			eventually(t, 15*time.Second, func() error {
				if _, err := drainer.RunOnce(context.Background()); err != nil {
					return err
				}
				if n := len(sink.to(p.Email)); n != 1 {
					return fmt.Errorf("%d mails to the candidate", n)
				}
				return nil
			})
			_, subject, body := parseMail(t, sink.to(p.Email)[0])
			if subject == "" || !strings.Contains(body, "Datatilsynet") {
				t.Fatalf("mail: %q\n%s", subject, body)
			}
			// A second submission is refused by the workflow's validator.
			if a := submitSheet(t, url, form, answers); a.Status != http.StatusUnprocessableEntity {
				t.Fatalf("second submission: %d %s", a.Status, a.Raw)
			}
		})
	}
}

// TestTechnicalProblemLeadsToReviewAndCorrectedScore: a technical problem
// reported for the candidate holds the automated result; the case handler
// corrects the score with a reason; the old result stays as history.
func TestTechnicalProblemLeadsToReviewAndCorrectedScore(t *testing.T) {
	centre := uniqueCentre()
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, session)
	reg := postRegistration(t, newPerson(t).reg(t, "citizenship", centre, session), "")
	url := registrationURL(reg)
	if a := postJSON(t, url+"/discrepancies", map[string]any{"kind": "technical_problem", "note": "screen froze"}, ""); a.Status != http.StatusAccepted {
		t.Fatalf("discrepancy: %d %s", a.Status, a.Raw)
	}
	if a := submitSheet(t, url, form, answersFor(36, 20)); a.Status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", a.Status, a.Raw)
	}
	g := waitStage(t, url, "UnderReview")
	part := g.Body["parts"].([]any)[0].(map[string]any)
	if part["status"] != "held" || !slices.Contains(part["reasons"].([]any), any("technical_problem")) || part["review_due"] == nil {
		t.Fatalf("held part = %v", part)
	}
	wfID := reg.Body["workflow_id"].(string)
	eventually(t, 15*time.Second, func() error {
		if n := countWorkflows(t, fmt.Sprintf(`WorkflowId=%q AND ReviewPending=true AND Stage="UnderReview"`, wfID)); n != 1 {
			return fmt.Errorf("ReviewPending search found %d", n)
		}
		return nil
	})
	// A correction without a reason is refused; with one it stands.
	if a := postJSON(t, url+"/review-decisions", map[string]any{"part": "test", "decision": "correct", "corrected_score": 25, "decided_by": "ch-1"}, ""); a.Status != 422 {
		t.Fatalf("no reason: %d %s", a.Status, a.Raw)
	}
	if a := postJSON(t, url+"/review-decisions", map[string]any{"part": "test", "decision": "correct", "corrected_score": 25,
		"reason": "the technical problem cost five items", "decided_by": "ch-1"}, ""); a.Status != 200 {
		t.Fatalf("decision: %d %s", a.Status, a.Raw)
	}
	waitStage(t, url, "Result")
	res := currentResults(t, url)["test"]
	if res["result"] != "passed" || res["score"] != float64(25) || res["decided_by"] != "case_handler" || res["reason"] == "" {
		t.Fatalf("corrected result = %v", res)
	}
	all := do(t, http.MethodGet, url+"/results", "", nil, nil).Body["results"].([]any)
	if len(all) != 2 || all[0].(map[string]any)["superseded_by"] != res["id"] || all[0].(map[string]any)["score"] != float64(20) {
		t.Fatalf("history = %v", all)
	}
}

// TestExaminerDisagreementSettled: writing and oral are assessed by an
// examiner and an external examiner; disagreement waits for a third
// examiner; writing is capped at the registered band; reading and listening
// are marked automatically.
func TestExaminerDisagreementSettled(t *testing.T) {
	centre := uniqueCentre()
	reg := postRegistration(t, newPerson(t).reg(t, "norwegian_a1_b2", centre, session), "")
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	url := registrationURL(reg)
	for _, part := range []string{"reading", "listening"} {
		form := fmt.Sprintf("norwegian_a1_b2-%s-%s-%s", part, centre, session)
		a := postJSON(t, url+"/answer-sheets", map[string]any{"part": part, "form_id": form, "key_version": 1,
			"submitted_at": "2027-03-15T10:00:00Z", "answers": answersFor(30, 22)}, "")
		if a.Status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", part, a.Status, a.Raw)
		}
	}
	assess := func(part, role, who, level string, want int) {
		t.Helper()
		a := postJSON(t, url+"/assessments", map[string]any{"part": part, "role": role, "assessor": who, "level": level}, "")
		if a.Status != want {
			t.Fatalf("%s %s %s: %d %s", part, role, level, a.Status, a.Raw)
		}
	}
	assess("reading", "examiner", "e1", "B1", 422) // machine-marked part
	assess("oral", "examiner", "e1", "B1", 202)
	assess("oral", "external_examiner", "e2", "B1", 202)
	assess("writing", "examiner", "e1", "B2", 202)
	assess("writing", "external_examiner", "e2", "A2", 202)
	g := waitStage(t, url, "Tested")
	eventually(t, 10*time.Second, func() error {
		g = do(t, http.MethodGet, url, "", nil, nil)
		for _, p := range g.Body["parts"].([]any) {
			m := p.(map[string]any)
			if m["name"] == "writing" && m["status"] != "disputed" {
				return fmt.Errorf("writing is %v", m["status"])
			}
		}
		return nil
	})
	assess("writing", "third_examiner", "e2", "B2", 422) // must be someone new
	assess("writing", "third_examiner", "e3", "B2", 202)
	waitStage(t, url, "Result")
	res := currentResults(t, url)
	// Registered band A2-B1: a B2 writing result is capped at B1.
	if res["writing"]["result"] != "B1" || res["writing"]["decided_by"] != "examiners" {
		t.Fatalf("writing = %v", res["writing"])
	}
	if res["oral"]["result"] != "B1" || res["reading"]["decided_by"] != "automated" || res["listening"]["decided_by"] != "automated" {
		t.Fatalf("results = %v", res)
	}
}

func TestRegistrationNeedsASessionAndCitizenshipANationalID(t *testing.T) {
	p := newPerson(t)
	a := postRegistration(t, p.registration("citizenship", uniqueCentre(), session), "")
	if a.Status != 422 || !slices.Equal(fieldNames(a), []string{"test_centre", "session_date"}) {
		t.Fatalf("no session: %d %s", a.Status, a.Raw)
	}
	body := p.reg(t, "citizenship", uniqueCentre(), session)
	person := body["person"].(map[string]any)
	delete(person, "national_id")
	person["duf_number"] = "200205705502"
	if a := postRegistration(t, body, ""); a.Status != 422 || !slices.Equal(fieldNames(a), []string{"person.national_id"}) {
		t.Fatalf("citizenship without national id: %d %s", a.Status, a.Raw)
	}
}

// TestSessionWideTechnicalProblem: a test centre reports a technical problem
// for the whole session; every candidate's result is held for review.
func TestSessionWideTechnicalProblem(t *testing.T) {
	centre := uniqueCentre()
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, session)
	var urls []string
	for range 2 {
		reg := postRegistration(t, newPerson(t).reg(t, "citizenship", centre, session), "")
		urls = append(urls, registrationURL(reg))
	}
	sid := sessionFor(t, "citizenship", centre, session)
	if a := postJSON(t, "/v1/sessions/"+sid+"/discrepancies", map[string]any{"kind": "valid_absence"}, ""); a.Status != 422 {
		t.Fatalf("valid absence for a session: %d %s", a.Status, a.Raw)
	}
	if a := postJSON(t, "/v1/sessions/"+sid+"/discrepancies", map[string]any{"kind": "technical_problem", "note": "network down"}, "net-1"); a.Status != 202 || a.Body["registrations"] != float64(2) {
		t.Fatalf("session discrepancy: %d %s", a.Status, a.Raw)
	}
	for _, url := range urls {
		if a := submitSheet(t, url, form, answersFor(36, 30)); a.Status != 202 {
			t.Fatalf("submit: %d %s", a.Status, a.Raw)
		}
		g := waitStage(t, url, "UnderReview")
		part := g.Body["parts"].([]any)[0].(map[string]any)
		if !slices.Contains(part["reasons"].([]any), any("technical_problem")) {
			t.Fatalf("part = %v", part)
		}
	}
}

// TestCertificateShowsLatestAndBest: a candidate passes, then fails a later
// sitting; the certificate keeps the pass. Unreleased results do not count.
func TestCertificateShowsLatestAndBest(t *testing.T) {
	centre := uniqueCentre()
	p := newPerson(t)
	var candidate string
	for i, s := range []struct {
		date    string
		correct int
	}{{session, 30}, {"2027-06-01", 5}} {
		reg := postRegistration(t, p.reg(t, "citizenship", centre, s.date), "")
		if reg.Status != 201 {
			t.Fatalf("register %d: %d %s", i, reg.Status, reg.Raw)
		}
		candidate = reg.Body["candidate_id"].(string)
		url := registrationURL(reg)
		form := fmt.Sprintf("citizenship-test-%s-%s", centre, s.date)
		if a := postJSON(t, url+"/answer-sheets", map[string]any{"part": "test", "form_id": form, "key_version": 1,
			"submitted_at": s.date + "T10:00:00Z", "answers": answersFor(36, s.correct)}, ""); a.Status != 202 {
			t.Fatalf("submit %d: %d %s", i, a.Status, a.Raw)
		}
		waitStage(t, url, "Result")
	}
	c := do(t, http.MethodGet, "/v1/candidates/"+candidate+"/certificate", "", nil, nil)
	results, _ := c.Body["results"].([]any)
	if c.Status != 200 || len(results) != 1 {
		t.Fatalf("certificate: %d %s", c.Status, c.Raw)
	}
	if r := results[0].(map[string]any); r["test_type"] != "citizenship" || r["result"] != "passed" {
		t.Fatalf("certificate shows %v, want the earlier pass", r)
	}
}

// TestUpdateRetryWithTheSameKeyIsAnsweredOnce: a retried answer sheet with
// the same Idempotency-Key gets the first answer (the Update ID is the key)
// and stores nothing twice; without the key the second one is refused.
func TestUpdateRetryWithTheSameKeyIsAnsweredOnce(t *testing.T) {
	centre := uniqueCentre()
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, session)
	reg := postRegistration(t, newPerson(t).reg(t, "citizenship", centre, session), "")
	url := registrationURL(reg)
	body := map[string]any{"part": "test", "form_id": form, "key_version": 1, "submitted_at": "2027-03-15T10:00:00Z", "answers": answersFor(36, 30)}
	for i := range 2 {
		if a := postJSON(t, url+"/answer-sheets", body, "sheet-"+centre); a.Status != http.StatusAccepted {
			t.Fatalf("attempt %d: %d %s", i, a.Status, a.Raw)
		}
	}
	if a := postJSON(t, url+"/answer-sheets", body, ""); a.Status != http.StatusUnprocessableEntity {
		t.Fatalf("a new submission: %d %s", a.Status, a.Raw)
	}
	waitStage(t, url, "Result")
	if all := do(t, http.MethodGet, url+"/results", "", nil, nil).Body["results"].([]any); len(all) != 1 {
		t.Fatalf("%d results, want 1", len(all))
	}
}
