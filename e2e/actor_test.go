package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/process"
)

// signedInAPI starts an API on the task queue that also accepts OIDC
// tokens from a test identity provider, and returns its URL and a function
// that mints a signed-in person's token with the given subject and roles.
func signedInAPI(t *testing.T, queue string) (string, func(subject string, roles ...string) string) {
	t.Helper()
	ctx := context.Background()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	}))
	t.Cleanup(jwks.Close)
	const issuer = "https://login.example.no"
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tokenFor := func(subject string, roles ...string) string {
		payload, _ := json.Marshal(map[string]any{"iss": issuer, "aud": "examflow", "sub": subject, "roles": roles,
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		s, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(api.Deps{Store: env.store, Tokens: env.store, Temporal: env.temporal, TaskQueue: queue,
		Logger: quiet, Registry: process.NewRegistry(), Catalogue: env.catalogue,
		OIDC: api.NewOIDC(ctx, issuer, jwks.URL, "examflow", "roles", "sub", nil)}))
	t.Cleanup(srv.Close)
	return srv.URL, tokenFor
}

// postAs posts body as JSON to the API at base with the bearer token.
func postAs(t *testing.T, base, token, path string, body any) answer {
	t.Helper()
	return doAt(t, base, http.MethodPost, path, "application/json", []byte(mustJSON(body)), map[string]string{"Authorization": "Bearer " + token})
}

// TestSignedInStaffAreNamedAsTheActor: an examiner signed in through the
// identity provider (an OIDC token) who leaves `assessor` out is recorded
// as the assessor, by their subject; a system calling with an API key must
// name the person it acts for, and is refused (422 naming the field)
// without changing anything when it does not.
func TestSignedInStaffAreNamedAsTheActor(t *testing.T) {
	ctx := context.Background()
	base, tokenFor := signedInAPI(t, env.cfg.TaskQueue)
	p := newPerson(t)
	reg := postRegistration(t, p.reg(t, "norwegian_a1_b2", uniqueCentre(), session), "")
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	url := registrationURL(reg)
	regID := uuid.MustParse(reg.Body["registration_id"].(string))
	assess := func(token, role string) answer {
		return postAs(t, base, token, url+"/assessments", map[string]any{"part": "writing", "role": role, "level": "B1"})
	}
	// A system (the all-roles API key) leaves the assessor out: refused.
	if a := assess(env.token, "external_examiner"); a.Status != http.StatusUnprocessableEntity || !slices.Contains(fieldNames(a), "assessor") {
		t.Fatalf("API key without assessor: %d %s, want 422 naming assessor", a.Status, a.Raw)
	}
	if got, err := env.store.Assessors(ctx, regID, "writing"); err != nil || len(got) != 0 {
		t.Fatalf("assessors after the refusal: %v %v, want none", got, err)
	}
	// A signed-in examiner leaves it out: they are the assessor.
	if a := assess(tokenFor("examiner-ola", api.RoleExaminer), "examiner"); a.Status != http.StatusAccepted {
		t.Fatalf("signed-in examiner: %d %s", a.Status, a.Raw)
	}
	eventually(t, 15*time.Second, func() error {
		got, err := env.store.Assessors(ctx, regID, "writing")
		if err != nil {
			return err
		}
		if !slices.Equal(got, []string{"examiner-ola"}) {
			return fmt.Errorf("assessors %v, want [examiner-ola]", got)
		}
		return nil
	})
}

// partStatus reads a part's status from GET /v1/registrations/{id}.
func partStatus(t *testing.T, base, url, part string) string {
	t.Helper()
	g := doAt(t, base, http.MethodGet, url, "", nil, nil)
	parts, _ := g.Body["parts"].([]any)
	for _, x := range parts {
		if m, _ := x.(map[string]any); m["name"] == part {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

// TestIndependenceRulesRunOnSignedInIdentities (issue 13, item 2): the
// independence rules compare the signed-in identities, not names in the
// body. One examiner's token cannot give both the examiner's and the
// external examiner's assessment, whether the body names somebody else
// (403 naming assessor) or nobody (the rule refuses, 422), nor can a
// system name her for the second, and the part is not decided; two
// examiners' tokens decide it. On appeal, an examiner who
// assessed the part cannot re-assess it under another name or their own;
// a new examiner can.
func TestIndependenceRulesRunOnSignedInIdentities(t *testing.T) {
	ctx := context.Background()
	rs := appealStack(t, 30*time.Second, 30*time.Second)
	base, tokenFor := signedInAPI(t, rs.queue)
	anna, bob, carl := tokenFor("ex-anna", api.RoleExaminer), tokenFor("ex-bob", api.RoleExaminer), tokenFor("ex-carl", api.RoleExaminer)
	today := time.Now().UTC().Format(time.DateOnly)
	centre := uniqueCentre()
	sessionFor(t, "norwegian_c1", centre, today)
	body := newPerson(t).registration("norwegian_c1", centre, today)
	body["test"] = map[string]any{"type": "norwegian_c1", "parts": []string{"listening_writing", "reading_oral"}}
	a := postAt(t, base, "/v1/registrations", body, "")
	if a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	url := registrationURL(a)
	regID := uuid.MustParse(a.Body["registration_id"].(string))
	assess := func(token, part, role string, extra map[string]any) answer {
		t.Helper()
		b := map[string]any{"part": part, "role": role, "level": "not_passed"}
		for k, v := range extra {
			b[k] = v
		}
		return postAs(t, base, token, url+"/assessments", b)
	}
	const part = "listening_writing"
	if s := assess(anna, part, "examiner", nil); s.Status != 202 {
		t.Fatalf("anna as examiner: %d %s", s.Status, s.Raw)
	}
	for _, tc := range []struct {
		name   string
		token  string
		extra  map[string]any
		status int
		field  string
	}{
		{"naming somebody else", anna, map[string]any{"assessor": "ex-bob"}, http.StatusForbidden, "assessor"},
		{"naming nobody", anna, nil, http.StatusUnprocessableEntity, ""},
		{"naming herself", anna, map[string]any{"assessor": "ex-anna"}, http.StatusUnprocessableEntity, ""},
		// Identities are not namespaced by how the caller came in: a system
		// naming her is her.
		{"through a system's API key", env.token, map[string]any{"assessor": "ex-anna"}, http.StatusUnprocessableEntity, ""},
	} {
		s := assess(tc.token, part, "external_examiner", tc.extra)
		if s.Status != tc.status || (tc.field != "" && problemField(s) != tc.field) {
			t.Fatalf("anna as external examiner too, %s: %d %s, want %d naming %q", tc.name, s.Status, s.Raw, tc.status, tc.field)
		}
	}
	if got, err := env.store.Assessors(ctx, regID, part); err != nil || !slices.Equal(got, []string{"ex-anna"}) {
		t.Fatalf("assessors after the refusals: %v %v, want [ex-anna]", got, err)
	}
	if st := partStatus(t, base, url, part); st == "decided" {
		t.Fatalf("one examiner decided the part alone (status %s)", st)
	}
	if s := assess(bob, part, "external_examiner", nil); s.Status != 202 {
		t.Fatalf("bob as external examiner: %d %s", s.Status, s.Raw)
	}
	for role, token := range map[string]string{"examiner": anna, "external_examiner": bob} {
		if s := assess(token, "reading_oral", role, map[string]any{"level": "C1"}); s.Status != 202 {
			t.Fatalf("reading_oral %s: %d %s", role, s.Status, s.Raw)
		}
	}
	waitStageAt(t, base, url, "Result", 30*time.Second)
	if st := partStatus(t, base, url, part); st != "decided" {
		t.Fatalf("two examiners did not decide the part (status %s)", st)
	}

	// The result is released just after the stage is entered: the appeal
	// is lodged once it is.
	var l answer
	eventually(t, 10*time.Second, func() error {
		l = postAt(t, base, url+"/appeals", map[string]any{"kind": "norwegian_c1", "part": part}, "")
		if l.Status != 201 || l.Body["stage"] != "AppealReassessment" {
			return fmt.Errorf("lodge: %d %s", l.Status, l.Raw)
		}
		return nil
	})
	reassess := url + "/appeals/" + l.Body["appeal_id"].(string) + "/reassessments"
	for _, tc := range []struct {
		name   string
		token  string
		body   map[string]any
		status int
	}{
		{"anna under another name", anna, map[string]any{"assessor": "ex-carl", "level": "C1"}, http.StatusForbidden},
		{"anna as herself", anna, map[string]any{"level": "C1"}, http.StatusUnprocessableEntity},
		{"bob as himself", bob, map[string]any{"assessor": "ex-bob", "level": "C1"}, http.StatusUnprocessableEntity},
	} {
		if r := postAs(t, base, tc.token, reassess, tc.body); r.Status != tc.status || problemField(r) != "assessor" {
			t.Fatalf("%s: %d %s, want %d naming assessor", tc.name, r.Status, r.Raw, tc.status)
		}
	}
	r := postAs(t, base, carl, reassess, map[string]any{"level": "C1"})
	if r.Status != 200 || r.Body["results_changed"] != true {
		t.Fatalf("a new examiner's re-assessment: %d %s", r.Status, r.Raw)
	}
	if res := currentResultsAt(t, base, url)[part]; res["result"] != "C1" {
		t.Fatalf("result after the re-assessment: %v", res)
	}
	g := doAt(t, base, http.MethodGet, url+"/appeals/"+l.Body["appeal_id"].(string), "", nil, nil)
	if ds, _ := g.Body["decisions"].([]any); len(ds) != 1 || ds[0].(map[string]any)["decided_by"] != "ex-carl" {
		t.Fatalf("appeal decisions: %s", g.Raw)
	}
}

// TestSignedInCaseHandlerRecordsTheCountyGovernorsDecision (issue 13, item
// 2): a signed-in case handler decides as themselves and cannot put
// somebody else's name on a decision (403 naming decided_by, nothing
// recorded), except the County Governor's decision on an appeal, which the
// case handler records under the County Governor's name.
func TestSignedInCaseHandlerRecordsTheCountyGovernorsDecision(t *testing.T) {
	ctx := context.Background()
	rs := appealStack(t, 20*time.Second, 20*time.Second)
	base, tokenFor := signedInAPI(t, rs.queue)
	kari := tokenFor("ch-kari", api.RoleCaseHandler)
	url := takeCitizenship(t, rs, newPerson(t), uniqueCentre(), func(url string) {
		if d := postAt(t, base, url+"/discrepancies", map[string]any{"kind": "provisional_cheating"}, ""); d.Status != 202 {
			t.Fatalf("provisional: %d %s", d.Status, d.Raw)
		}
	})
	regID := uuid.MustParse(url[len("/v1/registrations/"):])
	eventually(t, 15*time.Second, func() error {
		if n := rowCount(t, `SELECT count(*) FROM results WHERE registration_id = $1`, regID); n != 1 {
			return fmt.Errorf("%d results", n)
		}
		return nil
	})
	cheating := map[string]any{"decision": "final", "reasons": "notes in the sleeve", "decided_by": "ch-per"}
	if d := postAs(t, base, kari, url+"/cheating-decisions", cheating); d.Status != http.StatusForbidden || problemField(d) != "decided_by" {
		t.Fatalf("a cheating decision in another's name: %d %s, want 403 naming decided_by", d.Status, d.Raw)
	}
	if cds, err := env.store.CheatingDecisions(ctx, regID); err != nil || len(cds) != 0 {
		t.Fatalf("cheating decisions after the refusal: %+v %v", cds, err)
	}
	delete(cheating, "decided_by")
	if d := postAs(t, base, kari, url+"/cheating-decisions", cheating); d.Status != 200 {
		t.Fatalf("final: %d %s", d.Status, d.Raw)
	}
	waitStageAt(t, base, url, "Annulled", 20*time.Second)
	if n := rowCount(t, `SELECT count(*) FROM cheating_decisions WHERE registration_id = $1 AND decided_by = 'ch-kari'`, regID); n != 1 {
		t.Fatal("the cheating decision is not recorded as the signed-in case handler's")
	}

	lodged := postAt(t, base, url+"/appeals", map[string]any{"kind": "decision_appeal", "against": "cheating", "grounds": "the notes were a medical card"}, "")
	if lodged.Status != 201 {
		t.Fatalf("lodge: %d %s", lodged.Status, lodged.Raw)
	}
	appealURL := url + "/appeals/" + lodged.Body["appeal_id"].(string)
	first := map[string]any{"instance": "first_instance", "decision": "maintained", "reasons": "the card was not allowed", "decided_by": "ch-per"}
	if d := postAs(t, base, kari, appealURL+"/decisions", first); d.Status != http.StatusForbidden || problemField(d) != "decided_by" {
		t.Fatalf("a first-instance decision in another's name: %d %s, want 403 naming decided_by", d.Status, d.Raw)
	}
	first["decided_by"] = "ch-kari"
	if d := postAs(t, base, kari, appealURL+"/decisions", first); d.Status != 200 || d.Body["stage"] != "CountyGovernor" {
		t.Fatalf("maintained: %d %s", d.Status, d.Raw)
	}
	d := postAs(t, base, kari, appealURL+"/decisions", map[string]any{"instance": "county_governor", "decision": "upheld",
		"reasons": "a medical card is not an aid", "decided_by": "sf-oslo-viken"})
	if d.Status != 200 || d.Body["status"] != "upheld" {
		t.Fatalf("the County Governor's decision recorded by a case handler: %d %s", d.Status, d.Raw)
	}
	g := doAt(t, base, http.MethodGet, appealURL, "", nil, nil)
	ds, _ := g.Body["decisions"].([]any)
	if len(ds) != 2 || ds[0].(map[string]any)["decided_by"] != "ch-kari" || ds[1].(map[string]any)["decided_by"] != "sf-oslo-viken" {
		t.Fatalf("appeal decisions: %s", g.Raw)
	}
}
