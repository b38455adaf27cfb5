package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/examflow/examflow/api"
)

// TestRouteRoleMatrixWithRealKeys walks every route with API keys stored
// in PostgreSQL, one per role: 401 without a key, with a revoked key and
// with an expired one; 403 for each role that may not use the route; and
// through to the handler for each role that may.
func TestRouteRoleMatrixWithRealKeys(t *testing.T) {
	ctx := context.Background()
	keys := map[string]string{}
	for _, role := range api.Roles() {
		secret, _, err := env.store.CreateToken(ctx, "e2e-"+role, []string{role}, nil)
		if err != nil {
			t.Fatal(err)
		}
		keys[role] = secret
	}
	revoked, tok, err := env.store.CreateToken(ctx, "e2e-revoked", api.Roles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.store.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	expired, _, err := env.store.CreateToken(ctx, "e2e-expired", api.Roles(), &past)
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(s string) map[string]string { return map[string]string{"Authorization": "Bearer " + s} }
	for _, rt := range api.Routes() {
		path := rt.Path
		for _, p := range []string{":id", ":appeal_id", ":form_id"} {
			path = strings.ReplaceAll(path, p, "00000000-0000-0000-0000-000000000001")
		}
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			for name, h := range map[string]map[string]string{"no key": {"Authorization": ""}, "revoked key": bearer(revoked),
				"expired key": bearer(expired), "not a bearer token": {"Authorization": "Basic ZTJlOmUyZQ=="}} {
				if a := do(t, rt.Method, path, "application/json", []byte("{}"), h); a.Status != http.StatusUnauthorized || a.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: %d, want 401 with WWW-Authenticate", name, a.Status)
				}
			}
			for _, role := range api.Roles() {
				a := do(t, rt.Method, path, "application/json", []byte("{}"), bearer(keys[role]))
				switch allowed := slices.Contains(rt.Roles, role); {
				case !allowed && (a.Status != http.StatusForbidden || a.Body["type"] != api.ProblemForbidden):
					t.Errorf("role %s: %d %s, want 403 problem", role, a.Status, a.Raw)
				case allowed && (a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden):
					t.Errorf("role %s may use the route, got %d", role, a.Status)
				}
			}
		})
	}
	// Health, readiness, metrics and the OpenAPI document need no key.
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml"} {
		if a := do(t, http.MethodGet, path, "", nil, map[string]string{"Authorization": ""}); a.Status != http.StatusOK {
			t.Errorf("%s: %d", path, a.Status)
		}
	}
}
