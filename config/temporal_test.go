package config

import (
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"

	"github.com/examflow/examflow/internal/testca"
)

// TestTemporalBoundary: the TLS, mTLS and API-key settings are checked
// at start, each refusal naming the variable to fix.
func TestTemporalConnection(t *testing.T) {
	dir := t.TempDir()
	ca := testca.New(t, "Temporal test CA")
	client := ca.Client(t, "examflow-worker")
	other := testca.New(t, "another CA").Client(t, "someone-else")
	caFile := testca.WriteFile(t, dir, "ca.pem", ca.PEM)
	certFile := testca.WriteFile(t, dir, "client.pem", client.CertPEM)
	keyFile := testca.WriteFile(t, dir, "client.key", client.KeyPEM)
	otherKey := testca.WriteFile(t, dir, "other.key", other.KeyPEM)
	notPEM := testca.WriteFile(t, dir, "not.pem", []byte("hello"))
	tests := []struct {
		name    string
		vars    map[string]string
		wantErr string
		mTLS    bool
	}{
		{"default: plaintext to the dev server", nil, "", false},
		{"TLS with the system's roots", map[string]string{"EXAMFLOW_TEMPORAL_TLS": "true"}, "", false},
		{"TLS with a CA and a server name", map[string]string{"EXAMFLOW_TEMPORAL_TLS": "true", "EXAMFLOW_TEMPORAL_TLS_CA": caFile, "EXAMFLOW_TEMPORAL_TLS_SERVER_NAME": "temporal.internal"}, "", false},
		{"mTLS", map[string]string{"EXAMFLOW_TEMPORAL_TLS": "true", "EXAMFLOW_TEMPORAL_TLS_CA": caFile, "EXAMFLOW_TEMPORAL_TLS_CERT": certFile, "EXAMFLOW_TEMPORAL_TLS_KEY": keyFile}, "", true},
		{"API key over TLS", map[string]string{"EXAMFLOW_TEMPORAL_TLS": "true", "EXAMFLOW_TEMPORAL_API_KEY": "secret"}, "", false},
		{"API key in plaintext", map[string]string{"EXAMFLOW_TEMPORAL_API_KEY": "secret"}, "EXAMFLOW_TEMPORAL_API_KEY is set but EXAMFLOW_TEMPORAL_TLS is not true", false},
		{"CA without TLS", map[string]string{"EXAMFLOW_TEMPORAL_TLS_CA": caFile}, "EXAMFLOW_TEMPORAL_TLS_CA is set but", false},
		{"certificate without its key", map[string]string{"EXAMFLOW_TEMPORAL_TLS": "true", "EXAMFLOW_TEMPORAL_TLS_CERT": certFile}, "set both (mTLS) or neither", false},
		{"key without its certificate", map[string]string{"EXAMFLOW_TEMPORAL_TLS": "true", "EXAMFLOW_TEMPORAL_TLS_KEY": keyFile}, "set both (mTLS) or neither", false},
		{"CA file missing", map[string]string{"EXAMFLOW_TEMPORAL_TLS": "true", "EXAMFLOW_TEMPORAL_TLS_CA": dir + "/missing.pem"}, "EXAMFLOW_TEMPORAL_TLS_CA: open", false},
		{"CA file not PEM", map[string]string{"EXAMFLOW_TEMPORAL_TLS": "true", "EXAMFLOW_TEMPORAL_TLS_CA": notPEM}, "EXAMFLOW_TEMPORAL_TLS_CA: " + notPEM + " holds no PEM certificate", false},
		{"key of another certificate", map[string]string{"EXAMFLOW_TEMPORAL_TLS": "true", "EXAMFLOW_TEMPORAL_TLS_CERT": certFile, "EXAMFLOW_TEMPORAL_TLS_KEY": otherKey}, "EXAMFLOW_TEMPORAL_TLS_CERT and EXAMFLOW_TEMPORAL_TLS_KEY", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := env.ParseAsWithOptions[TemporalBoundary](env.Options{Environment: tt.vars})
			if err != nil {
				t.Fatal(err)
			}
			err = Config{TemporalBoundary: c}.checkBoundary()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc, err := c.ClientTLS()
			if err != nil || (tc != nil) != c.TLS {
				t.Fatalf("ClientTLS = %v, %v", tc, err)
			}
			if tc != nil && (tc.GetClientCertificate != nil) != tt.mTLS {
				t.Fatalf("client certificate set: %v, want %v", tc.GetClientCertificate != nil, tt.mTLS)
			}
			if tt.mTLS {
				cert, err := tc.GetClientCertificate(nil)
				if err != nil || len(cert.Certificate) == 0 {
					t.Fatalf("client certificate: %v", err)
				}
			}
		})
	}
}

// TestCodecLocalAddr: the token-less codec server of the local stack may
// listen on a loopback address only.
func TestCodecLocalAddr(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		open    bool
		refused bool
	}{
		{"127.0.0.1:8082", true, false},
		{"[::1]:8082", true, false},
		{"0.0.0.0:8082", true, true},
		{":8082", true, true},
		{"10.0.0.8:8082", true, true},
		{"localhost:8082", true, true},
		{"0.0.0.0:8082", false, false}, // not served: not checked
	} {
		err := Config{Auth: Auth{CodecOpenLocal: tc.open, CodecLocalAddr: tc.addr}}.checkBoundary()
		if (err != nil) != tc.refused {
			t.Errorf("%s (open %v): error %v, want refused %v", tc.addr, tc.open, err, tc.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "EXAMFLOW_CODEC_LOCAL_ADDR") {
			t.Errorf("error does not name the variable: %v", err)
		}
	}
}
