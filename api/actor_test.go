package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/cases"
)

// TestResolveActor: for every request body that names the staff member who
// acts, a signed-in person (OIDC) is the actor whether they leave the field
// out or give their own identity, and is refused (403 naming the field)
// when the field names somebody else; a system (API key) must name a
// person (422 naming the field when it does not, or names them
// malformed), and the name it gives is kept. A merge checks its
// decided_by with its other fields, so its refusal lists all of them.
func TestResolveActor(t *testing.T) {
	bodies := []struct {
		field string
		new   func() any
	}{
		{"decided_by", func() any { return &cases.ReviewDecision{} }},
		{"assessor", func() any { return &cases.Assessment{} }},
		{"decided_by", func() any { return &cases.Settlement{} }},
		{"decided_by", func() any { return &cases.CheatingDecision{} }},
		{"late_acceptance.accepted_by", func() any { return &cases.AppealRequest{LateAcceptance: &cases.LateAcceptance{}} }},
		{"decided_by", func() any { return &cases.AppealDecision{Instance: "first_instance"} }},
		{"assessor", func() any { return &cases.Reassessment{} }},
		{"verified_by", func() any { return &cases.IdentityCheck{} }},
		{"decided_by", func() any { return &cases.RequestDecision{} }},
		{"completed_by", func() any { return &cases.Completion{} }},
		{"decided_by", func() any { return &MergeRequest{} }},
	}
	person := Principal{Subject: "ch-kari", Roles: Roles(), Via: viaOIDC}
	system := Principal{Subject: "case-system", Roles: Roles(), Via: viaAPIKey}
	callers := []struct {
		name   string
		p      Principal
		given  string
		status int // 0: accepted
		want   string
	}{
		{"signed-in person, field left out", person, "", 0, "ch-kari"},
		{"signed-in person, own identity", person, "ch-kari", 0, "ch-kari"},
		{"signed-in person, somebody else", person, "ch-per", http.StatusForbidden, ""},
		{"system, field left out", system, "", http.StatusUnprocessableEntity, ""},
		{"system, person named", system, "ch-per", 0, "ch-per"},
		{"system, control character", system, "ch-per\nch-ola", http.StatusUnprocessableEntity, ""},
		{"system, invisible character", system, "ch-per\u200b", http.StatusUnprocessableEntity, ""},
		{"system, surrounding space", system, "ch-per ", http.StatusUnprocessableEntity, ""},
		{"system, too long", system, strings.Repeat("x", 201), http.StatusUnprocessableEntity, ""},
	}
	for _, b := range bodies {
		for _, caller := range callers {
			body := b.new()
			typ := fmt.Sprintf("%T", body)
			name := typ[strings.LastIndex(typ, ".")+1:] + "/" + caller.name
			t.Run(name, func(t *testing.T) {
				field, value := actorOf(body)
				if value == nil || field != b.field {
					t.Fatalf("actorOf finds %q, want %q", field, b.field)
				}
				*value = caller.given
				prob := resolveActor(contextOf(caller.p), body)
				if _, itself := body.(checksActorItself); itself && caller.status == http.StatusUnprocessableEntity {
					// The handler checks the name with its other fields.
					if prob != nil {
						t.Fatalf("refused before the handler's own check: %+v", prob)
					}
					if checkActorName(caller.given) == "" {
						t.Fatalf("checkActorName accepts %q", caller.given)
					}
					return
				}
				if caller.status != 0 {
					if prob == nil || prob.Status != caller.status || len(prob.Errors) != 1 || prob.Errors[0].Field != b.field {
						t.Fatalf("problem %+v, want %d naming %s", prob, caller.status, b.field)
					}
					return
				}
				if prob != nil {
					t.Fatalf("refused: %+v", prob)
				}
				if got := jsonField(t, body, b.field); got != caller.want {
					t.Errorf("%s = %v, want %q", b.field, got, caller.want)
				}
			})
		}
	}
	// A body without an actor field, or an appeal lodged in time, is left alone.
	for _, body := range []any{&cases.AnswerSheet{}, &cases.AppealRequest{}} {
		if _, v := actorOf(body); v != nil {
			t.Errorf("%T: an actor field found where there is none", body)
		}
		if prob := resolveActor(contextOf(system), body); prob != nil {
			t.Errorf("%T refused: %+v", body, prob)
		}
	}
}

// TestRecordingAnothersDecision: a case handler or the appeals process,
// signed in, records the decision of the County Governor or of a test
// centre under the name of its officer, which is then required (the
// recorder did not decide); nobody records a first-instance decision for
// somebody else, and an examiner records no appeal decision at all for
// another.
func TestRecordingAnothersDecision(t *testing.T) {
	tests := []struct {
		roles    []string
		instance string
		given    string
		status   int
		want     string
	}{
		{[]string{RoleCaseHandler}, "county_governor", "sf-oslo-viken", 0, "sf-oslo-viken"},
		{[]string{RoleAppeals}, "county_governor", "sf-oslo-viken", 0, "sf-oslo-viken"},
		{[]string{RoleCaseHandler}, "test_centre", "tc-oslo-1", 0, "tc-oslo-1"},
		{[]string{RoleCaseHandler}, "county_governor", "", http.StatusUnprocessableEntity, ""},
		{[]string{RoleCaseHandler}, "county_governor", "sf\x00", http.StatusUnprocessableEntity, ""},
		{[]string{RoleCaseHandler}, "first_instance", "ch-per", http.StatusForbidden, ""},
		{[]string{RoleExaminer}, "county_governor", "sf-oslo-viken", http.StatusForbidden, ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.roles, ",")+"/"+tc.instance+"/"+tc.given, func(t *testing.T) {
			body := &cases.AppealDecision{Instance: tc.instance, DecidedBy: tc.given}
			prob := resolveActor(contextOf(Principal{Subject: "ch-kari", Roles: tc.roles, Via: viaOIDC}), body)
			switch {
			case tc.status != 0 && (prob == nil || prob.Status != tc.status || prob.Errors[0].Field != "decided_by"):
				t.Fatalf("problem %+v, want %d naming decided_by", prob, tc.status)
			case tc.status == 0 && prob != nil:
				t.Fatalf("refused: %+v", prob)
			case tc.status == 0 && body.DecidedBy != tc.want:
				t.Fatalf("decided_by %q, want %q", body.DecidedBy, tc.want)
			}
		})
	}
}

func contextOf(p Principal) *gin.Context {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Set(principalKey, p)
	return c
}

// jsonField reads a field (a.b for nested) of body as JSON shows it.
func jsonField(t *testing.T, body any, path string) any {
	t.Helper()
	raw, _ := json.Marshal(body)
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	head, rest, nested := strings.Cut(path, ".")
	if nested {
		got, _ = got[head].(map[string]any)
		return got[rest]
	}
	return got[head]
}
