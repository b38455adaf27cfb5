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

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/registry"
	"github.com/examflow/examflow/storage"
	"github.com/examflow/examflow/worker"
)

// appealStack is a retention stack whose results become final after final,
// with the given writing appeal window.
func appealStack(t *testing.T, final, writing time.Duration) retentionStack {
	t.Helper()
	long := 24 * time.Hour
	return startRetentionStack(t, policy.Periods{policy.Address: long, policy.PersonalData: long, policy.Cheating: long, policy.PaymentStatus: long},
		func(d *worker.Deps) {
			d.TestDay.FinalAfter = final
			d.Appeals.WritingWindow = writing
		})
}

// handovers returns the disclosures recorded for a candidate to a
// recipient, each checked against the recipients catalogue: a known
// recipient, only its categories, with the policy's legal basis and the
// letter of integreringsloven § 41 (1) that applies (T08); every
// disclosure of the candidate is audited as a release.
func handovers(t *testing.T, candidateID, recipient string) []storage.Disclosure {
	t.Helper()
	mustReleasesAudited(t, candidateID)
	all, err := env.store.Disclosures(context.Background(), uuid.MustParse(candidateID))
	if err != nil {
		t.Fatal(err)
	}
	var out []storage.Disclosure
	for _, d := range all {
		if d.Recipient != recipient {
			continue
		}
		cats := make([]policy.DataCategory, len(d.Categories))
		for i, c := range d.Categories {
			cats[i] = policy.DataCategory(c)
		}
		if _, err := policy.CheckRelease(d.Recipient, cats); err != nil {
			t.Errorf("disclosure %s: %v", d.ID, err)
		}
		out = append(out, d)
	}
	return out
}

// checkHandover checks one hand-over of an appeal: to the recipient, as a
// forwarding, for the registration, under the appeal's ID, with exactly
// the categories given, the legal basis quoting the policy's "b) and/or
// c)" and naming letter b), and a time of its own.
func checkHandover(t *testing.T, ds []storage.Disclosure, regID uuid.UUID, appealID string, before time.Time, categories ...string) {
	t.Helper()
	if len(ds) != 1 {
		t.Fatalf("%d hand-over disclosures, want 1: %+v", len(ds), ds)
	}
	d := ds[0]
	if d.Action != "forward" || d.RegistrationID == nil || *d.RegistrationID != regID || d.Reference != "appeal-"+appealID {
		t.Errorf("hand-over = %+v", d)
	}
	if !slices.Equal(d.Categories, categories) {
		t.Errorf("hand-over categories = %q, want %q", d.Categories, categories)
	}
	if want := "integreringsloven § 41 (1) b) and/or c), here b)"; !strings.Contains(d.LegalBasis, want) ||
		!strings.Contains(d.LegalBasis, "integreringsforskriften § 54") {
		t.Errorf("hand-over legal basis = %q, want it to contain %q and the regulation", d.LegalBasis, want)
	}
	if d.DisclosedAt.Before(before.Add(-time.Minute)) || d.DisclosedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("hand-over time %v", d.DisclosedAt)
	}
}

// TestFormalErrorComplaintAnnulsTheResult (T22): a formal-error complaint
// lodged in time becomes its own workflow with its own stage; it keeps the
// result from becoming final; lodged twice with the same Idempotency-Key it
// is one appeal, and the same complaint again is refused; only the test
// centre decides it; upheld, it annuls the result, the candidate is told a
// new test is offered, and nothing is published to the Diploma Registry.
func TestFormalErrorComplaintAnnulsTheResult(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	rs := appealStack(t, 15*time.Second, 15*time.Second)
	p := newPerson(t)
	url := takeCitizenship(t, rs, p, uniqueCentre(), nil)
	waitStageAt(t, rs.url, url, "Result", 20*time.Second)
	regID := uuid.MustParse(url[len("/v1/registrations/"):])

	body := map[string]any{"kind": "formal_error", "grounds": "the screen froze for ten minutes during the test"}
	lodged := postAt(t, rs.url, url+"/appeals", body, "complaint-"+regID.String())
	if lodged.Status != 201 || lodged.Body["stage"] != "AppealAtTestCentre" || lodged.Body["late"] != false {
		t.Fatalf("lodge: %d %s", lodged.Status, lodged.Raw)
	}
	again := postAt(t, rs.url, url+"/appeals", body, "complaint-"+regID.String())
	if again.Status != 201 || again.Body["appeal_id"] != lodged.Body["appeal_id"] {
		t.Fatalf("same Idempotency-Key: %d %s", again.Status, again.Raw)
	}
	if dup := postAt(t, rs.url, url+"/appeals", body, ""); dup.Status != 422 || problemField(dup) != "kind" {
		t.Fatalf("second complaint: %d %s", dup.Status, dup.Raw)
	}
	if n := rowCount(t, `SELECT count(*) FROM appeals WHERE registration_id = $1`, regID); n != 1 {
		t.Fatalf("%d appeal rows, want 1", n)
	}
	// The grounds are stored sealed, never in plain text.
	if n := rowCount(t, `SELECT count(*) FROM appeals WHERE registration_id = $1 AND position(convert_to('screen froze', 'UTF8') in grounds) > 0`, regID); n != 0 {
		t.Fatal("the grounds are stored in plain text")
	}
	// The complaint went to the test centre that decides it: one
	// disclosure, though lodged twice (T08).
	candidateID := doAt(t, rs.url, http.MethodGet, url, "", nil, nil).Body["candidate_id"].(string)
	checkHandover(t, handovers(t, candidateID, "test_centre"), regID, lodged.Body["appeal_id"].(string), start,
		"name", "candidate number", "type of test", "time the test was taken", "test centre", "appeal")
	appealWF := lodged.Body["workflow_id"].(string)
	eventually(t, 10*time.Second, func() error {
		if n := countWorkflows(t, fmt.Sprintf(`WorkflowId = %q AND Stage = "AppealAtTestCentre" AND AppealKind = "formal_error" AND TestType = "citizenship"`, appealWF)); n != 1 {
			return fmt.Errorf("appeal workflow not visible with its stage (%d)", n)
		}
		return nil
	})
	// Open, it holds the deletions it needs, not the address.
	if r, _ := env.store.LegalHold(ctx, regID, "personal_data"); r != "open appeal" {
		t.Fatalf("legal hold on personal data: %q", r)
	}
	if r, _ := env.store.LegalHold(ctx, regID, "address"); r != "" {
		t.Fatalf("legal hold on the address: %q", r)
	}
	// Past the appeal window the result is still not final.
	time.Sleep(16 * time.Second)
	if g := doAt(t, rs.url, http.MethodGet, url, "", nil, nil); g.Body["stage"] != "Result" {
		t.Fatalf("stage %v while the complaint is open", g.Body["stage"])
	}
	decisions := url + "/appeals/" + lodged.Body["appeal_id"].(string) + "/decisions"
	if d := postAt(t, rs.url, decisions, map[string]any{"instance": "county_governor", "decision": "upheld", "reasons": "x", "decided_by": "sf-1"}, ""); d.Status != 422 || problemField(d) != "instance" {
		t.Fatalf("wrong instance: %d %s", d.Status, d.Raw)
	}
	d := postAt(t, rs.url, decisions, map[string]any{"instance": "test_centre", "decision": "upheld", "reasons": "the fault may have affected the result", "decided_by": "tc-oslo-1"}, "")
	if d.Status != 200 || d.Body["status"] != "upheld" || d.Body["results_changed"] != true {
		t.Fatalf("decide: %d %s", d.Status, d.Raw)
	}
	waitStageAt(t, rs.url, url, "Retained", 30*time.Second)
	stages := doAt(t, rs.url, http.MethodGet, url, "", nil, nil)
	// The result is kept as history, annulled.
	if r := currentResultsAt(t, rs.url, url)["test"]; r["annulled"] != true || r["current"] != false {
		t.Fatalf("result after the complaint was upheld: %v", r)
	}
	if n := rowCount(t, `SELECT count(*) FROM notification_outbox WHERE registration_id = $1 AND kind = 'appeal_decided' AND payload->>'new_test' = 'yes'`, regID); n != 1 {
		t.Fatalf("%d appeal notices offering a new test", n)
	}
	if _, ok := publicationOf(rs.sim, stages.Body["candidate_id"].(string)); ok {
		t.Fatal("an annulled result was published")
	}
	list := doAt(t, rs.url, http.MethodGet, url+"/appeals", "", nil, nil)
	appeals := list.Body["appeals"].([]any)
	if len(appeals) != 1 || appeals[0].(map[string]any)["status"] != "upheld" || len(appeals[0].(map[string]any)["decisions"].([]any)) != 1 {
		t.Fatalf("appeals: %s", list.Raw)
	}
	if n := countWorkflows(t, fmt.Sprintf(`WorkflowId = %q AND Stage = "AppealUpheld" AND ExecutionStatus = "Completed"`, appealWF)); n != 1 {
		t.Fatal("the appeal workflow did not end in AppealUpheld")
	}
}

// TestLateWritingReassessmentLowersThePublishedResult (T22, T09): after the
// writing window a writing re-assessment is refused with its deadline; a
// case handler accepts it late (recorded); an examiner who assessed the
// part may not re-assess it; a new examiner's lower level replaces the
// result, final, and the Diploma Registry receives the new result under
// the same publication key.
func TestLateWritingReassessmentLowersThePublishedResult(t *testing.T) {
	ctx := context.Background()
	rs := appealStack(t, 3*time.Second, 3*time.Second)
	today := time.Now().UTC().Format(time.DateOnly)
	centre := uniqueCentre()
	p := newPerson(t)
	a := postAt(t, rs.url, "/v1/registrations", p.reg(t, "norwegian_a1_b2", centre, today), "")
	if a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	url, cand := registrationURL(a), a.Body["candidate_id"].(string)
	for _, part := range []string{"reading", "listening"} {
		form := fmt.Sprintf("norwegian_a1_b2-%s-%s-%s", part, centre, today)
		if s := postAt(t, rs.url, url+"/answer-sheets", map[string]any{"part": part, "form_id": form, "key_version": 1,
			"submitted_at": time.Now().UTC().Format(time.RFC3339), "answers": answersFor(30, 25)}, ""); s.Status != 202 {
			t.Fatalf("%s: %d %s", part, s.Status, s.Raw)
		}
	}
	for _, part := range []string{"writing", "oral"} {
		for role, who := range map[string]string{"examiner": "e1", "external_examiner": "e2"} {
			if s := postAt(t, rs.url, url+"/assessments", map[string]any{"part": part, "role": role, "assessor": who, "level": "B1"}, ""); s.Status != 202 {
				t.Fatalf("%s %s: %d %s", part, role, s.Status, s.Raw)
			}
		}
	}
	waitStageAt(t, rs.url, url, "Retained", 40*time.Second)
	pub, ok := publicationOf(rs.sim, cand)
	if !ok || !slices.ContainsFunc(pub.Results, func(r registry.Result) bool { return r.Part == "writing" && r.Result == "B1" }) {
		t.Fatalf("first publication: %+v", pub)
	}

	late := postAt(t, rs.url, url+"/appeals", map[string]any{"kind": "writing_reassessment", "grounds": "I disagree"}, "")
	if late.Status != 422 || problemField(late) != "received_at" {
		t.Fatalf("late appeal: %d %s", late.Status, late.Raw)
	}
	accepted := postAt(t, rs.url, url+"/appeals", map[string]any{"kind": "writing_reassessment", "grounds": "I disagree",
		"late_acceptance": map[string]any{"accepted_by": "ch-7", "reason": "the candidate was in hospital"}}, "")
	if accepted.Status != 201 || accepted.Body["late"] != true || accepted.Body["stage"] != "AppealReassessment" {
		t.Fatalf("accepted late: %d %s", accepted.Status, accepted.Raw)
	}
	appealURL := url + "/appeals/" + accepted.Body["appeal_id"].(string)
	if g := doAt(t, rs.url, http.MethodGet, appealURL, "", nil, nil); g.Body["late_acceptance"] == nil || g.Body["part"] != "writing" {
		t.Fatalf("late acceptance not recorded: %s", g.Raw)
	}
	if r := postAt(t, rs.url, appealURL+"/reassessments", map[string]any{"assessor": "e1", "level": "A2"}, ""); r.Status != 422 || problemField(r) != "assessor" {
		t.Fatalf("same examiner: %d %s", r.Status, r.Raw)
	}
	r := postAt(t, rs.url, appealURL+"/reassessments", map[string]any{"assessor": "e7", "level": "A2", "reasons": "several tasks not answered"}, "")
	if r.Status != 200 || r.Body["status"] != "reassessed" || r.Body["results_changed"] != true {
		t.Fatalf("re-assessment: %d %s", r.Status, r.Raw)
	}
	eventually(t, 30*time.Second, func() error {
		pub, _ := publicationOf(rs.sim, cand)
		if !slices.ContainsFunc(pub.Results, func(r registry.Result) bool { return r.Part == "writing" && r.Result == "A2" }) {
			return fmt.Errorf("registry has %+v", pub.Results)
		}
		return nil
	})
	if n := len(rs.sim.Publications()); n != 1 {
		t.Fatalf("%d publications at the registry, want 1 (same key)", n)
	}
	res := currentResultsAt(t, rs.url, url)
	if res["writing"]["result"] != "A2" || res["writing"]["decided_by"] != "appeal" {
		t.Fatalf("writing = %v", res["writing"])
	}
	ds, err := env.store.Disclosures(ctx, uuid.MustParse(cand))
	if err != nil || len(ds) != 2 {
		t.Fatalf("disclosures = %d %v, want 2 (publication and republication)", len(ds), err)
	}
	// The re-assessment is final: no second writing appeal.
	if again := postAt(t, rs.url, url+"/appeals", map[string]any{"kind": "writing_reassessment",
		"late_acceptance": map[string]any{"accepted_by": "ch-7", "reason": "again"}}, ""); again.Status != 422 || problemField(again) != "kind" {
		t.Fatalf("second writing appeal: %d %s", again.Status, again.Raw)
	}
}

func currentResultsAt(t *testing.T, base, url string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	a := doAt(t, base, http.MethodGet, url+"/results", "", nil, nil)
	list, _ := a.Body["results"].([]any)
	for _, r := range list {
		m := r.(map[string]any)
		out[m["part"].(string)] = m
	}
	return out
}

// TestCheatingAppealDecidedByTheCountyGovernor (T22): an appeal against a
// final cheating decision goes to the first instance; maintained there, it
// goes to the County Governor (its own stage, visible in Temporal), who
// upholds it: the decision is reversed and the quarantine lifted, so the
// candidate can register for the test again.
func TestCheatingAppealDecidedByTheCountyGovernor(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	rs := appealStack(t, 20*time.Second, 20*time.Second)
	p := newPerson(t)
	centre := uniqueCentre()
	url := takeCitizenship(t, rs, p, centre, func(url string) {
		if d := postAt(t, rs.url, url+"/discrepancies", map[string]any{"kind": "provisional_cheating"}, ""); d.Status != 202 {
			t.Fatalf("provisional: %d %s", d.Status, d.Raw)
		}
	})
	regID := uuid.MustParse(url[len("/v1/registrations/"):])
	// Nothing to appeal before the decision.
	if a := postAt(t, rs.url, url+"/appeals", map[string]any{"kind": "decision_appeal", "against": "cheating"}, ""); a.Status != 422 || problemField(a) != "against" {
		t.Fatalf("appeal before a decision: %d %s", a.Status, a.Raw)
	}
	eventually(t, 15*time.Second, func() error {
		if n := rowCount(t, `SELECT count(*) FROM results WHERE registration_id = $1`, regID); n != 1 {
			return fmt.Errorf("%d results", n)
		}
		return nil
	})
	if a := postAt(t, rs.url, url+"/cheating-decisions", map[string]any{"decision": "final", "reasons": "notes in the sleeve", "decided_by": "ch-1"}, ""); a.Status != 200 {
		t.Fatalf("final: %d %s", a.Status, a.Raw)
	}
	waitStageAt(t, rs.url, url, "Annulled", 20*time.Second)
	next := time.Now().AddDate(0, 2, 0).Format(time.DateOnly)
	if again := postAt(t, rs.url, "/v1/registrations", p.reg(t, "citizenship", centre, next), ""); again.Status != 422 {
		t.Fatalf("registration under quarantine: %d %s", again.Status, again.Raw)
	}

	lodged := postAt(t, rs.url, url+"/appeals", map[string]any{"kind": "decision_appeal", "against": "cheating", "grounds": "the notes were a medical card"}, "")
	if lodged.Status != 201 || lodged.Body["stage"] != "AppealFirstInstance" {
		t.Fatalf("lodge: %d %s", lodged.Status, lodged.Raw)
	}
	candidateID := doAt(t, rs.url, http.MethodGet, url, "", nil, nil).Body["candidate_id"].(string)
	// With the first instance, nothing has left yet (T08).
	if ds := handovers(t, candidateID, "county_governor"); len(ds) != 0 {
		t.Fatalf("disclosed to the County Governor before it was forwarded: %+v", ds)
	}
	decisions := url + "/appeals/" + lodged.Body["appeal_id"].(string) + "/decisions"
	if d := postAt(t, rs.url, decisions, map[string]any{"instance": "first_instance", "decision": "rejected", "reasons": "x", "decided_by": "ch-2"}, ""); d.Status != 422 || problemField(d) != "decision" {
		t.Fatalf("first instance cannot reject finally: %d %s", d.Status, d.Raw)
	}
	d := postAt(t, rs.url, decisions, map[string]any{"instance": "first_instance", "decision": "maintained", "reasons": "the card was not allowed", "decided_by": "ch-2"}, "")
	if d.Status != 200 || d.Body["stage"] != "CountyGovernor" || d.Body["closed"] != false {
		t.Fatalf("maintained: %d %s", d.Status, d.Raw)
	}
	// Forwarding the maintained decision hands the case to the County
	// Governor: a disclosure with what the appeal is about (T08).
	checkHandover(t, handovers(t, candidateID, "county_governor"), regID, lodged.Body["appeal_id"].(string), start,
		"name", "date of birth", "candidate number", "type of test", "time the test was taken", "test centre", "appeal", "cheating")
	appealWF := lodged.Body["workflow_id"].(string)
	eventually(t, 10*time.Second, func() error {
		if n := countWorkflows(t, fmt.Sprintf(`WorkflowId = %q AND Stage = "CountyGovernor" AND AppealKind = "decision_appeal"`, appealWF)); n != 1 {
			return fmt.Errorf("not with the County Governor in Temporal (%d)", n)
		}
		return nil
	})
	d = postAt(t, rs.url, decisions, map[string]any{"instance": "county_governor", "decision": "upheld", "reasons": "a medical card is not an aid", "decided_by": "sf-oslo-viken"}, "")
	if d.Status != 200 || d.Body["status"] != "upheld" || d.Body["closed"] != true {
		t.Fatalf("County Governor: %d %s", d.Status, d.Raw)
	}
	cds, err := env.store.CheatingDecisions(ctx, regID)
	if err != nil || len(cds) != 1 {
		t.Fatalf("cheating decisions: %+v %v", cds, err)
	}
	if n := rowCount(t, `SELECT count(*) FROM cheating_decisions WHERE registration_id = $1 AND reversed_at IS NOT NULL`, regID); n != 1 {
		t.Fatal("the cheating decision is not marked reversed")
	}
	if again := postAt(t, rs.url, "/v1/registrations", p.reg(t, "citizenship", centre, next), ""); again.Status != 201 {
		t.Fatalf("registration after the quarantine was lifted: %d %s", again.Status, again.Raw)
	}
	g := doAt(t, rs.url, http.MethodGet, url+"/appeals/"+lodged.Body["appeal_id"].(string), "", nil, nil)
	ds, _ := g.Body["decisions"].([]any)
	if g.Body["status"] != "upheld" || len(ds) != 2 || ds[1].(map[string]any)["instance"] != "county_governor" {
		t.Fatalf("appeal: %s", g.Raw)
	}
	if n := rowCount(t, `SELECT count(*) FROM notification_outbox WHERE registration_id = $1 AND kind = 'appeal_decided'`, regID); n != 2 {
		t.Fatalf("%d appeal notices, want 2 (forwarded, decided)", n)
	}
}

// TestC1AppealCanOnlyRaiseTheResult (T22): a Norwegian C1 appeal is
// re-assessed by a new examiner; a lower level leaves the result as it was
// (recorded with the decision), a higher one replaces it.
func TestC1AppealCanOnlyRaiseTheResult(t *testing.T) {
	rs := appealStack(t, 30*time.Second, 30*time.Second)
	today := time.Now().UTC().Format(time.DateOnly)
	centre := uniqueCentre()
	sessionFor(t, "norwegian_c1", centre, today)
	body := newPerson(t).registration("norwegian_c1", centre, today)
	body["test"] = map[string]any{"type": "norwegian_c1", "parts": []string{"listening_writing", "reading_oral"}}
	a := postAt(t, rs.url, "/v1/registrations", body, "")
	if a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	url := registrationURL(a)
	for part, level := range map[string]string{"listening_writing": "not_passed", "reading_oral": "C1"} {
		for role, who := range map[string]string{"examiner": "e1", "external_examiner": "e2"} {
			if s := postAt(t, rs.url, url+"/assessments", map[string]any{"part": part, "role": role, "assessor": who, "level": level}, ""); s.Status != 202 {
				t.Fatalf("%s %s: %d %s", part, role, s.Status, s.Raw)
			}
		}
	}
	waitStageAt(t, rs.url, url, "Result", 20*time.Second)
	reassess := func(part, level string) answer {
		t.Helper()
		l := postAt(t, rs.url, url+"/appeals", map[string]any{"kind": "norwegian_c1", "part": part}, "")
		if l.Status != 201 || l.Body["stage"] != "AppealReassessment" {
			t.Fatalf("lodge %s: %d %s", part, l.Status, l.Raw)
		}
		return postAt(t, rs.url, url+"/appeals/"+l.Body["appeal_id"].(string)+"/reassessments", map[string]any{"assessor": "e5", "level": level}, "")
	}
	if r := reassess("reading_oral", "not_passed"); r.Status != 200 || r.Body["results_changed"] != false {
		t.Fatalf("lower re-assessment: %d %s", r.Status, r.Raw)
	}
	if r := reassess("listening_writing", "C1"); r.Status != 200 || r.Body["results_changed"] != true {
		t.Fatalf("higher re-assessment: %d %s", r.Status, r.Raw)
	}
	res := currentResultsAt(t, rs.url, url)
	if res["reading_oral"]["result"] != "C1" || res["listening_writing"]["result"] != "C1" || res["listening_writing"]["decided_by"] != "appeal" {
		t.Fatalf("results: %v", res)
	}
	list := doAt(t, rs.url, http.MethodGet, url+"/appeals", "", nil, nil)
	for _, x := range list.Body["appeals"].([]any) {
		ap := x.(map[string]any)
		d := ap["decisions"].([]any)[0].(map[string]any)
		if ap["part"] == "reading_oral" && (d["level"] != "not_passed" || d["result_id"] != nil) {
			t.Fatalf("the lower re-assessment is not recorded as such: %v", ap)
		}
	}
}

// TestAppealHistoriesAreDeletedWithTheRegistrations (T13): the final
// deletion's history clean-up reaches the appeals' own workflows (children
// of the registration's), not only the lifecycle runs.
func TestAppealHistoriesAreDeletedWithTheRegistrations(t *testing.T) {
	ctx := context.Background()
	today := time.Now().UTC().Format(time.DateOnly)
	centre := uniqueCentre()
	sessionFor(t, "citizenship", centre, today)
	reg := postRegistration(t, newPerson(t).registration("citizenship", centre, today), "")
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	url := registrationURL(reg)
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, today)
	if s := postJSON(t, url+"/answer-sheets", map[string]any{"part": "test", "form_id": form, "key_version": 1,
		"submitted_at": time.Now().UTC().Format(time.RFC3339), "answers": answersFor(36, 30)}, ""); s.Status != 202 {
		t.Fatalf("submit: %d %s", s.Status, s.Raw)
	}
	waitStage(t, url, "Result")
	lodged := postJSON(t, url+"/appeals", map[string]any{"kind": "formal_error"}, "")
	if lodged.Status != 201 {
		t.Fatalf("lodge: %d %s", lodged.Status, lodged.Raw)
	}
	if d := postJSON(t, url+"/appeals/"+lodged.Body["appeal_id"].(string)+"/decisions", map[string]any{"instance": "test_centre",
		"decision": "rejected", "reasons": "no fault found", "decided_by": "tc-1"}, ""); d.Status != 200 {
		t.Fatalf("decide: %d %s", d.Status, d.Raw)
	}
	appealWF := lodged.Body["workflow_id"].(string)
	eventually(t, 20*time.Second, func() error {
		if n := countWorkflows(t, fmt.Sprintf(`WorkflowId = %q AND ExecutionStatus = "Completed" AND ParentWorkflowId = %q`, appealWF, reg.Body["workflow_id"])); n != 1 {
			return fmt.Errorf("the closed appeal is not visible as the registration's child (%d)", n)
		}
		return nil
	})
	desc, err := env.temporal.DescribeWorkflowExecution(ctx, appealWF, "")
	if err != nil {
		t.Fatal(err)
	}
	appealRun := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	ret := &activities.Retention{Temporal: env.temporal, Namespace: env.cfg.TemporalNamespace}
	if err := ret.DeleteClosedHistories(ctx, reg.Body["registration_id"].(string)); err != nil {
		t.Fatal(err)
	}
	// Temporal deletes asynchronously; under load it takes a while.
	eventually(t, 90*time.Second, func() error {
		if _, err := env.temporal.DescribeWorkflowExecution(ctx, appealWF, appealRun); err == nil {
			return fmt.Errorf("the appeal's history is still there")
		}
		return nil
	})
	if _, err := env.temporal.DescribeWorkflowExecution(ctx, reg.Body["workflow_id"].(string), ""); err != nil {
		t.Fatalf("the running lifecycle was touched: %v", err)
	}
}
