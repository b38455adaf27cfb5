package api

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/workflows"
)

// TestFillActor: for every request body that names the staff member who
// acts, a signed-in person (OIDC) who leaves the field out is filled in by
// their subject; a system (API key) is not (the field stays empty and the
// body is refused further on); a field given is kept.
func TestFillActor(t *testing.T) {
	bodies := []struct {
		field string
		new   func() any
	}{
		{"decided_by", func() any { return &workflows.ReviewDecision{} }},
		{"assessor", func() any { return &workflows.Assessment{} }},
		{"decided_by", func() any { return &workflows.Settlement{} }},
		{"decided_by", func() any { return &workflows.CheatingDecision{} }},
		{"accepted_by", func() any { return &workflows.AppealRequest{LateAcceptance: &workflows.LateAcceptance{}} }},
		{"decided_by", func() any { return &workflows.AppealDecision{} }},
		{"assessor", func() any { return &workflows.Reassessment{} }},
		{"verified_by", func() any { return &workflows.IdentityCheck{} }},
		{"decided_by", func() any { return &workflows.RequestDecision{} }},
		{"completed_by", func() any { return &workflows.Completion{} }},
		{"decided_by", func() any { return &MergeRequest{} }},
	}
	callers := []struct {
		name  string
		p     Principal
		given string
		want  string
	}{
		{"signed-in person, field left out", Principal{Subject: "ch-kari", Via: viaOIDC}, "", "ch-kari"},
		{"signed-in person, field given", Principal{Subject: "ch-kari", Via: viaOIDC}, "county-governor-officer", "county-governor-officer"},
		{"system, field left out", Principal{Subject: "case-system", Via: viaAPIKey}, "", ""},
		{"system, field given", Principal{Subject: "case-system", Via: viaAPIKey}, "ch-per", "ch-per"},
	}
	for _, b := range bodies {
		for _, caller := range callers {
			body := b.new()
			typ := fmt.Sprintf("%T", body)
			name := typ[strings.LastIndex(typ, ".")+1:] + "/" + caller.name
			t.Run(name, func(t *testing.T) {
				field := actorOf(body)
				if field == nil {
					t.Fatal("actorOf finds no actor field")
				}
				*field = caller.given
				c, _ := gin.CreateTestContext(httptest.NewRecorder())
				c.Set(principalKey, caller.p)
				fillActor(c, body)
				raw, _ := json.Marshal(body)
				var got map[string]any
				_ = json.Unmarshal(raw, &got)
				if la, ok := got["late_acceptance"].(map[string]any); ok {
					got = la
				}
				if got[b.field] != caller.want {
					t.Errorf("%s = %v, want %q", b.field, got[b.field], caller.want)
				}
			})
		}
	}
	// A body without an actor field, or an appeal lodged in time, is left alone.
	for _, body := range []any{&workflows.AnswerSheet{}, &workflows.AppealRequest{}} {
		if actorOf(body) != nil {
			t.Errorf("%T: an actor field found where there is none", body)
		}
	}
}
