package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/storage"
)

// TestIdempotencyKeyBinding: a key is scoped to its caller and bound to
// the route, the path and the body of its request; the Update ID follows
// the same request and nothing else; a malformed key is a problem naming
// the header, and a caller without a principal (a self-service link) has
// no key.
func TestIdempotencyKeyBinding(t *testing.T) {
	s := &server{Deps: Deps{Store: storage.NewStore(nil, []byte("blind-index-secret"))}}
	examiner := Principal{Subject: "ex-anna", Roles: []string{RoleExaminer}, Via: viaOIDC}
	system := Principal{Subject: "ex-anna", Roles: []string{RoleExaminer}, Via: viaAPIKey}
	type result struct {
		key  *storage.IdempotencyKey
		prob *Problem
	}
	send := func(p *Principal, route, path, key, body string) result {
		t.Helper()
		var got result
		r := gin.New()
		r.POST(route, func(c *gin.Context) {
			if p != nil {
				c.Set(principalKey, *p)
			}
			if _, prob := readBody(c); prob != nil {
				t.Fatalf("read body: %+v", prob)
			}
			got.key, got.prob = s.idempotencyKey(c)
		})
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		r.ServeHTTP(httptest.NewRecorder(), req)
		return got
	}
	const assess, discrepancy = "/v1/registrations/:id/assessments", "/v1/registrations/:id/discrepancies"
	const reg1, reg2 = "/v1/registrations/11111111-1111-1111-1111-111111111111", "/v1/registrations/22222222-2222-2222-2222-222222222222"
	first := send(&examiner, assess, reg1+"/assessments", "k-1", `{"level":"B1"}`)
	if first.prob != nil || first.key == nil || first.key.Scope != "oidc:ex-anna" {
		t.Fatalf("first: %+v", first)
	}
	same := send(&examiner, assess, reg1+"/assessments", "k-1", `{"level":"B1"}`)
	if !bytes.Equal(same.key.RequestHash, first.key.RequestHash) || updateIDFor(same.key) != updateIDFor(first.key) ||
		idempotentID(same.key) != idempotentID(first.key) {
		t.Fatal("the same request is bound differently")
	}
	for name, other := range map[string]result{
		"another body":         send(&examiner, assess, reg1+"/assessments", "k-1", `{"level":"A2"}`),
		"another registration": send(&examiner, assess, reg2+"/assessments", "k-1", `{"level":"B1"}`),
		"another route":        send(&examiner, discrepancy, reg1+"/discrepancies", "k-1", `{"level":"B1"}`),
	} {
		if other.key.Scope != first.key.Scope || bytes.Equal(other.key.RequestHash, first.key.RequestHash) || updateIDFor(other.key) == updateIDFor(first.key) {
			t.Errorf("%s: bound like the first request", name)
		}
	}
	// The same name through an API key is another caller.
	if k := send(&system, assess, reg1+"/assessments", "k-1", `{"level":"B1"}`).key; k.Scope == first.key.Scope || idempotentID(k) == idempotentID(first.key) ||
		updateIDFor(k) == updateIDFor(first.key) {
		t.Error("an API key and an OIDC token share a key's scope")
	}
	for _, bad := range []string{"two words", "nøkkel", strings.Repeat("k", 201), "tab\there"} {
		if r := send(&examiner, assess, reg1+"/assessments", bad, `{}`); r.prob == nil || r.prob.Status != http.StatusUnprocessableEntity ||
			r.prob.Errors[0].Field != "Idempotency-Key" {
			t.Errorf("key %q: %+v, want 422 naming Idempotency-Key", bad, r.prob)
		}
	}
	if r := send(&examiner, assess, reg1+"/assessments", "", `{}`); r.key != nil || r.prob != nil {
		t.Errorf("no header: %+v", r)
	}
	if r := send(nil, "/courses/self-service/:token/withdrawal", "/courses/self-service/abc/withdrawal", "k-1", `{}`); r.key != nil || r.prob != nil {
		t.Errorf("no principal: %+v", r)
	}
}
