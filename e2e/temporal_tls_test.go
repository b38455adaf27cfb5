package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/internal/testca"
	"github.com/examflow/examflow/process"
)

// tlsFrontend is a TLS-terminating gRPC proxy in front of the test stack's
// Temporal dev server (which has no TLS of its own): a Temporal frontend as
// a production cluster or Temporal Cloud presents it, with its certificate,
// optionally requiring a client certificate (mTLS) or an API key.
func tlsFrontend(t *testing.T, cert tls.Certificate, clientCAs *x509.CertPool, apiKey string) string {
	t.Helper()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true) // the dev server speaks h2c
	backend := &url.URL{Scheme: "http", Host: env.stack.TemporalAddress()}
	proxy := &httputil.ReverseProxy{Transport: tr, FlushInterval: -1, Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(backend) }}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if apiKey != "" && r.Header.Get("Authorization") != "Bearer "+apiKey {
			// A trailers-only gRPC answer: UNAUTHENTICATED.
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Grpc-Status", "16")
			w.Header().Set("Grpc-Message", "API key required")
			w.WriteHeader(http.StatusOK)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}
	if clientCAs != nil {
		tc.ClientCAs, tc.ClientAuth = clientCAs, tls.RequireAndVerifyClientCert
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, TLSConfig: tc, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// TestTemporalOverTLS: examflow's Temporal client connects to a frontend
// with TLS, with a client certificate where mTLS is required, and with an
// API key where one is required; a workflow runs through it (client and
// worker both). It refuses a frontend whose certificate its CA did not sign
// or that carries another name, and a connection without the certificate
// or key the frontend requires fails.
func TestTemporalOverTLS(t *testing.T) {
	if clusterMode() {
		// The proxy speaks plain HTTP/2 to the dev server behind it; on the
		// cluster stack every test reaches Temporal Server's own TLS
		// frontend, which is this test's point.
		t.Skip("the cluster stack's frontend serves TLS itself: every test runs through it")
	}
	dir := t.TempDir()
	ca := testca.New(t, "examflow test CA")
	server := ca.Server(t, "temporal.test")
	other := testca.New(t, "another CA")
	write := func(name string, data []byte) string { return testca.WriteFile(t, dir, name, data) }
	caFile, otherCAFile := write("ca.pem", ca.PEM), write("other-ca.pem", other.PEM)
	cl := ca.Client(t, "examflow-worker")
	certFile, keyFile := write("client.pem", cl.CertPEM), write("client.key", cl.KeyPEM)
	stranger := other.Client(t, "examflow-worker")
	strangerCert, strangerKey := write("stranger.pem", stranger.CertPEM), write("stranger.key", stranger.KeyPEM)

	plainTLS := tlsFrontend(t, server.TLS, nil, "")
	mTLS := tlsFrontend(t, server.TLS, ca.Pool(), "")
	withKey := tlsFrontend(t, server.TLS, nil, "test-api-key")
	verified := config.TemporalBoundary{TLS: true, TLSCA: caFile, TLSServerName: "temporal.test"}
	with := func(change func(*config.TemporalBoundary)) config.TemporalBoundary {
		c := verified
		change(&c)
		return c
	}
	tests := []struct {
		name     string
		frontend string
		conn     config.TemporalBoundary
		works    bool
	}{
		{"TLS with the CA", plainTLS, verified, true},
		{"TLS with the CA, the address's IP as the name", plainTLS, with(func(c *config.TemporalBoundary) { c.TLSServerName = "" }), true},
		{"plaintext to a TLS frontend", plainTLS, config.TemporalBoundary{}, false},
		{"without the CA (system roots)", plainTLS, with(func(c *config.TemporalBoundary) { c.TLSCA = "" }), false},
		{"another CA", plainTLS, with(func(c *config.TemporalBoundary) { c.TLSCA = otherCAFile }), false},
		{"another server name", plainTLS, with(func(c *config.TemporalBoundary) { c.TLSServerName = "temporal.example" }), false},
		{"mTLS with the client certificate", mTLS, with(func(c *config.TemporalBoundary) { c.TLSCert, c.TLSKey = certFile, keyFile }), true},
		{"mTLS without a client certificate", mTLS, verified, false},
		{"mTLS with a certificate of another CA", mTLS, with(func(c *config.TemporalBoundary) { c.TLSCert, c.TLSKey = strangerCert, strangerKey }), false},
		{"API key", withKey, with(func(c *config.TemporalBoundary) { c.APIKey = "test-api-key" }), true},
		{"no API key", withKey, verified, false},
		{"a wrong API key", withKey, with(func(c *config.TemporalBoundary) { c.APIKey = "guessed" }), false},
	}
	quiet := slog.New(slog.DiscardHandler)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := env.cfg
			cfg.TemporalAddress, cfg.TemporalBoundary = tt.frontend, tt.conn
			opts, err := process.ClientOptions(cfg, nil, quiet)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := client.DialContext(ctx, opts)
			if !tt.works {
				if err == nil {
					_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
					c.Close()
				}
				if err == nil {
					t.Fatal("connected")
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			// A workflow round trip through the frontend: the client starts
			// it and a worker on the same connection runs it.
			queue := fmt.Sprintf("tls-check-%d-%d", time.Now().UnixNano(), i)
			w := sdkworker.New(c, queue, sdkworker.Options{})
			w.RegisterWorkflowWithOptions(func(ctx workflow.Context, s string) (string, error) { return "echo " + s, nil },
				workflow.RegisterOptions{Name: "TLSEcho"})
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: queue, TaskQueue: queue}, "TLSEcho", "over TLS")
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if err := run.Get(ctx, &got); err != nil || got != "echo over TLS" {
				t.Fatalf("workflow result %q, %v", got, err)
			}
		})
	}
}
