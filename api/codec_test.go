package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/examflow/examflow/storage"
)

// TestCodecServerOnTheAPI: on the API's listener the codec server decodes
// for case handlers and the data-protection officer only, never encodes
// (a payload the worker accepts is made by examflow's API, nowhere else),
// and refuses a body over its limit before reading it all.
func TestCodecServerOnTheAPI(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := New(Deps{Logger: quiet, Registry: prometheus.NewRegistry(), Tokens: fakeTokens{}, Codec: nopCodec{}})
	huge := `{"payloads":[{"data":"` + strings.Repeat("A", codecMaxBody) + `"}]}`
	tests := []struct {
		name, path, remote, token, body string
		want                            int
	}{
		{"decode, case handler", "/codec/decode", "10.0.0.8:5000", "case_handler", `{"payloads":[]}`, http.StatusOK},
		{"decode, no token from this host", "/codec/decode", "127.0.0.1:5000", "", `{"payloads":[]}`, http.StatusUnauthorized},
		{"encode, case handler", "/codec/encode", "10.0.0.8:5000", "case_handler", `{"payloads":[]}`, http.StatusForbidden},
		{"encode, no token from this host", "/codec/encode", "127.0.0.1:5000", "", `{"payloads":[]}`, http.StatusForbidden},
		{"decode, body over the limit", "/codec/decode", "10.0.0.8:5000", "dpo", huge, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(tc.body))
			req.RemoteAddr = tc.remote
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+storage.TokenPrefix+tc.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("%d %.300s, want %d", w.Code, w.Body, tc.want)
			}
			if w.Code >= 400 && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") {
				t.Fatalf("refusal is not a problem document: %q %.300s", w.Header().Get("Content-Type"), w.Body)
			}
		})
	}
}

// TestLocalCodec: the token-less codec server of the local stack answers on
// its own listener only for requests addressed to a loopback host (a page
// on another name that resolves to 127.0.0.1, DNS rebinding, is refused)
// and from the Temporal UI's origins; it never encodes and limits bodies.
func TestLocalCodec(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := NewLocalCodec(Deps{Logger: quiet, Codec: nopCodec{}, CodecCORSOrigins: []string{"http://127.0.0.1:8233"}})
	tests := []struct {
		name, method, path, host, origin, body string
		want                                   int
		allowOrigin                            bool
	}{
		{"decode from the UI", http.MethodPost, "/codec/decode", "127.0.0.1:8082", "http://127.0.0.1:8233", `{"payloads":[]}`, http.StatusOK, true},
		{"decode without an origin (the CLI)", http.MethodPost, "/codec/decode", "127.0.0.1:8082", "", `{"payloads":[]}`, http.StatusOK, false},
		{"localhost", http.MethodPost, "/codec/decode", "localhost:8082", "", `{"payloads":[]}`, http.StatusOK, false},
		{"IPv6 loopback", http.MethodPost, "/codec/decode", "[::1]:8082", "", `{"payloads":[]}`, http.StatusOK, false},
		{"preflight from the UI", http.MethodOptions, "/codec/decode", "127.0.0.1:8082", "http://127.0.0.1:8233", "", http.StatusNoContent, true},
		{"another host name (DNS rebinding)", http.MethodPost, "/codec/decode", "rebind.example:8082", "http://rebind.example:8082", `{"payloads":[]}`, http.StatusForbidden, false},
		{"another host name, no origin", http.MethodPost, "/codec/decode", "rebind.example:8082", "", `{"payloads":[]}`, http.StatusForbidden, false},
		{"another origin", http.MethodPost, "/codec/decode", "127.0.0.1:8082", "http://evil.example", `{"payloads":[]}`, http.StatusForbidden, false},
		{"preflight from another origin", http.MethodOptions, "/codec/decode", "127.0.0.1:8082", "http://evil.example", "", http.StatusForbidden, false},
		{"encode, refused where the UI can read why", http.MethodPost, "/codec/encode", "127.0.0.1:8082", "http://127.0.0.1:8233", `{"payloads":[{"data":"e30="}]}`, http.StatusForbidden, true},
		{"body over the limit", http.MethodPost, "/codec/decode", "127.0.0.1:8082", "", `{"payloads":[{"data":"` + strings.Repeat("A", codecMaxBody) + `"}]}`, http.StatusRequestEntityTooLarge, false},
		{"the API is not here", http.MethodGet, "/v1/registrations", "127.0.0.1:8082", "", "", http.StatusNotFound, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			req.Host = tc.host
			req.RemoteAddr = "127.0.0.1:5000"
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
				req.Header.Set("Access-Control-Request-Method", "POST")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("%d %.300s, want %d", w.Code, w.Body, tc.want)
			}
			if got := w.Header().Get("Access-Control-Allow-Origin") != ""; got != tc.allowOrigin {
				t.Fatalf("Access-Control-Allow-Origin %q", w.Header().Get("Access-Control-Allow-Origin"))
			}
			if w.Code >= 400 {
				var p map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/problem+json") {
					t.Fatalf("refusal is not a problem document: %q %.300s", w.Header().Get("Content-Type"), w.Body)
				}
			}
		})
	}
	// The decoded payloads come back as the codec returns them.
	req := httptest.NewRequest(http.MethodPost, "/codec/decode", strings.NewReader(`{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"e30="}]}`))
	req.Host, req.RemoteAddr = "127.0.0.1:8082", "127.0.0.1:5000"
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"data":"e30="`)) {
		t.Fatalf("decode: %d %s", w.Code, w.Body)
	}
}
