package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
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

// TestTokenCommand: `examflow token create` prints a key once (only its
// hash is stored), `token list` shows it without the secret, and after
// `token revoke` the API refuses it.
func TestTokenCommand(t *testing.T) {
	bin := examflowBinary(t)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "EXAMFLOW_DATABASE_URL="+env.cfg.DatabaseURL)
		out, err := cmd.Output()
		return string(out), err
	}
	if _, err := run("token", "create", "--name", "dpo-cli", "--role", "dpo,nonsense"); err == nil {
		t.Fatal("an unknown role was accepted")
	}
	out, err := run("token", "create", "--name", "dpo-cli", "--role", "dpo", "--expires", "1h")
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "efk_") || len(secret) < 40 {
		t.Fatalf("secret %q", secret)
	}
	if n := rowCount(t, `SELECT count(*) FROM api_tokens WHERE name = 'dpo-cli' AND position(convert_to($1, 'UTF8') in hash) = 0`, secret); n != 1 {
		t.Fatal("the key is not stored as a hash")
	}
	key := map[string]string{"Authorization": "Bearer " + secret}
	if a := do(t, http.MethodGet, "/v1/record-of-processing", "", nil, key); a.Status != http.StatusOK {
		t.Fatalf("with the new key: %d", a.Status)
	}
	list, err := run("token", "list")
	if err != nil || !strings.Contains(list, "dpo-cli") || strings.Contains(list, secret) {
		t.Fatalf("token list: %v\n%s", err, list)
	}
	var id string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "dpo-cli" {
			id = f[0]
		}
	}
	if _, err := run("token", "revoke", id); err != nil {
		t.Fatalf("revoke %s: %v", id, err)
	}
	if a := do(t, http.MethodGet, "/v1/record-of-processing", "", nil, key); a.Status != http.StatusUnauthorized {
		t.Fatalf("with the revoked key: %d", a.Status)
	}
}
