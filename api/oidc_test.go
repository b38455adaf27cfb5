package api

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// TestOIDCTokens: a JWT from the configured identity provider is accepted
// when its signature (from the JWKS), issuer, audience and expiry hold, and
// its roles claim (mapped) gives the roles; anything else is 401.
func TestOIDCTokens(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	}))
	defer jwks.Close()
	const issuer = "https://login.example.no"
	sign := func(k *rsa.PrivateKey, claims map[string]any) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(claims)
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
	now := time.Now()
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{"iss": issuer, "aud": "examflow", "sub": "ch-kari", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
			"roles": []string{"hkdir-saksbehandler", "unrelated"}}
		if change != nil {
			change(c)
		}
		return c
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The codec server is for case handlers and the data-protection officer.
	h := New(Deps{Logger: quiet, Registry: prometheus.NewRegistry(), Codec: nopCodec{},
		OIDC: NewOIDC(context.Background(), issuer, jwks.URL, "examflow", "roles", "sub", map[string]string{"hkdir-saksbehandler": RoleCaseHandler})})
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"valid, mapped to case_handler", sign(key, claims(nil)), http.StatusOK},
		{"roles as a space-separated string", sign(key, claims(func(c map[string]any) { c["roles"] = "dpo case_handler" })), http.StatusOK},
		{"no role that may use the route", sign(key, claims(func(c map[string]any) { c["roles"] = []string{"examiner"} })), http.StatusForbidden},
		{"another issuer", sign(key, claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), http.StatusUnauthorized},
		{"another audience", sign(key, claims(func(c map[string]any) { c["aud"] = "someone-else" })), http.StatusUnauthorized},
		{"expired", sign(key, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), http.StatusUnauthorized},
		{"signed by another key", sign(other, claims(nil)), http.StatusUnauthorized},
		{"no subject", sign(key, claims(func(c map[string]any) { delete(c, "sub") })), http.StatusUnauthorized},
		{"not a JWT", "hello", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/codec/decode", strings.NewReader(`{"payloads":[]}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tc.token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.want)
			}
		})
	}
	// Without an audience (config.Load refuses to start so) the verifier
	// accepts no token at all, rather than any token the issuer signed for
	// any application.
	noAudience := New(Deps{Logger: quiet, Registry: prometheus.NewRegistry(), Codec: nopCodec{},
		OIDC: NewOIDC(context.Background(), issuer, jwks.URL, "", "roles", "sub", map[string]string{"hkdir-saksbehandler": RoleCaseHandler})})
	for name, token := range map[string]string{
		"no audience configured, token for examflow":            sign(key, claims(nil)),
		"no audience configured, token for another application": sign(key, claims(func(c map[string]any) { c["aud"] = "someone-else" })),
	} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/codec/decode", strings.NewReader(`{"payloads":[]}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			noAudience.ServeHTTP(w, req)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("%d %s, want 401", w.Code, w.Body)
			}
		})
	}
}
