package process

import (
	"log/slog"
	"testing"

	"github.com/examflow/examflow/config"
)

// TestClientOptions: the Temporal client of the api and worker carries the
// configured TLS settings and API key, and none by default.
func TestClientOptions(t *testing.T) {
	base := config.Config{TemporalAddress: "temporal.internal:7233", TemporalNamespace: "examflow",
		PayloadKeyHex: "6465762d6f6e6c792d7061796c6f61642d6b65792d6368616e67652d6d652121", PayloadKeyID: "k1"}
	quiet := slog.New(slog.DiscardHandler)

	plain, err := ClientOptions(base, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if plain.ConnectionOptions.TLS != nil || plain.Credentials != nil {
		t.Fatalf("default: TLS %v, credentials %v", plain.ConnectionOptions.TLS, plain.Credentials)
	}

	secure := base
	secure.TemporalBoundary = config.TemporalBoundary{TLS: true, TLSServerName: "frontend.temporal.internal", APIKey: "key"}
	opts, err := ClientOptions(secure, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "temporal.internal:7233" || opts.Namespace != "examflow" {
		t.Fatalf("address %s, namespace %s", opts.HostPort, opts.Namespace)
	}
	if opts.ConnectionOptions.TLS == nil || opts.ConnectionOptions.TLS.ServerName != "frontend.temporal.internal" {
		t.Fatalf("TLS %+v", opts.ConnectionOptions.TLS)
	}
	if opts.Credentials == nil {
		t.Fatal("no credentials for the API key")
	}

	broken := base
	broken.TemporalBoundary = config.TemporalBoundary{TLS: true, TLSCA: t.TempDir() + "/missing.pem"}
	if _, err := ClientOptions(broken, nil, quiet); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}
