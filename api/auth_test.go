package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commonpb "go.temporal.io/api/common/v1"

	"github.com/examflow/examflow/storage"
)

// fakeTokens knows one API key per role: "efk_<role>".
type fakeTokens struct{}

func (fakeTokens) AuthenticateToken(_ context.Context, secret string, _ time.Time) (storage.Token, error) {
	role := strings.TrimPrefix(secret, storage.TokenPrefix)
	if !slices.Contains(Roles(), role) {
		return storage.Token{}, storage.ErrInvalidToken
	}
	return storage.Token{Name: "test-" + role, Roles: []string{role}}, nil
}

func concretePath(p string) string {
	for _, param := range []string{":id", ":appeal_id", ":form_id"} {
		p = strings.ReplaceAll(p, param, "00000000-0000-0000-0000-000000000001")
	}
	return p
}

// TestRouteRoleMatrix walks every protected route: 401 without a token or
// with an unknown one, 403 with each role that may not use it, and past
// authorisation with each role that may.
func TestRouteRoleMatrix(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := New(Deps{Logger: quiet, Registry: prometheus.NewRegistry(), Tokens: fakeTokens{}})
	routes := Routes()
	if len(routes) < 25 {
		t.Fatalf("only %d routes", len(routes))
	}
	call := func(method, path, token string) int {
		req := httptest.NewRequest(method, path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	for _, rt := range routes {
		path := concretePath(rt.Path)
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			if len(rt.Roles) == 0 {
				t.Fatal("the route states no role")
			}
			if got := call(rt.Method, path, ""); got != http.StatusUnauthorized {
				t.Errorf("without a token: %d, want 401", got)
			}
			if got := call(rt.Method, path, storage.TokenPrefix+"nobody"); got != http.StatusUnauthorized {
				t.Errorf("with an unknown token: %d, want 401", got)
			}
			for _, role := range Roles() {
				got := call(rt.Method, path, storage.TokenPrefix+role)
				allowed := slices.Contains(rt.Roles, role)
				if !allowed && got != http.StatusForbidden {
					t.Errorf("role %s: %d, want 403", role, got)
				}
				if allowed && (got == http.StatusUnauthorized || got == http.StatusForbidden) {
					t.Errorf("role %s may use the route but got %d", role, got)
				}
			}
		})
	}
}

// TestCodecNeedsAStaffToken: the codec server on the API's listener
// answers case handlers and the data-protection officer, from any host;
// without a token it refuses even a caller on this host (the local stack's
// token-less codec is NewLocalCodec, on a listener of its own).
func TestCodecNeedsAStaffToken(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name   string
		remote string
		token  string
		want   int
	}{
		{"no token", "10.0.0.8:5000", "", http.StatusUnauthorized},
		{"no token, loopback", "127.0.0.1:5000", "", http.StatusUnauthorized},
		{"examiner", "127.0.0.1:5000", "examiner", http.StatusForbidden},
		{"case handler", "10.0.0.8:5000", "case_handler", http.StatusOK},
		{"dpo", "10.0.0.8:5000", "dpo", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Deps{Logger: quiet, Registry: prometheus.NewRegistry(), Tokens: fakeTokens{}, Codec: nopCodec{}})
			req := httptest.NewRequest(http.MethodPost, "/codec/decode", strings.NewReader(`{"payloads":[]}`))
			req.RemoteAddr = tc.remote
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+storage.TokenPrefix+tc.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.want)
			}
		})
	}
}

// nopCodec leaves payloads as they are.
type nopCodec struct{}

func (nopCodec) Encode(p []*commonpb.Payload) ([]*commonpb.Payload, error) { return p, nil }
func (nopCodec) Decode(p []*commonpb.Payload) ([]*commonpb.Payload, error) { return p, nil }
