package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// TemporalBoundary is how the api and worker meet Temporal. The connection
// to the frontend: TLS with a CA, a client certificate for mTLS, the server
// name, and an API key (Temporal Cloud accepts mTLS or an API key), all off
// by default for the local stack's dev server; a production cluster needs
// TLS. And whether sealed payloads are bound to their workflow.
type TemporalBoundary struct {
	// TLS connects with TLS.
	TLS bool `env:"EXAMFLOW_TEMPORAL_TLS" envDefault:"false"`
	// TLSCA is a PEM file of the CA certificates that may sign the
	// frontend's certificate; empty uses the system's roots.
	TLSCA string `env:"EXAMFLOW_TEMPORAL_TLS_CA"`
	// TLSCert and TLSKey are PEM files of the client certificate and its
	// key for mTLS: both or neither. They are read again at each new
	// connection, so a renewed certificate is picked up without a restart.
	TLSCert string `env:"EXAMFLOW_TEMPORAL_TLS_CERT"`
	TLSKey  string `env:"EXAMFLOW_TEMPORAL_TLS_KEY"`
	// TLSServerName is the name the frontend's certificate must carry, when
	// it is not the host of EXAMFLOW_TEMPORAL_ADDRESS.
	TLSServerName string `env:"EXAMFLOW_TEMPORAL_TLS_SERVER_NAME"`
	// APIKey is sent as a bearer token with every call (Temporal Cloud API
	// keys). It needs TLS.
	APIKey string `env:"EXAMFLOW_TEMPORAL_API_KEY"`
	// BindPayloads binds each payload sealed for a workflow to the
	// workflow's ID (process.Codec). Processes of this version read bound
	// payloads either way; set it to false while processes of an earlier
	// version, which cannot read them, still run.
	BindPayloads bool `env:"EXAMFLOW_PAYLOAD_BIND_WORKFLOW" envDefault:"true"`
}

// ClientTLS returns the TLS configuration of the Temporal client, or nil
// when TLS is off.
func (t TemporalBoundary) ClientTLS() (*tls.Config, error) {
	if !t.TLS {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.TLSServerName}
	if t.TLSCA != "" {
		data, err := os.ReadFile(t.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("EXAMFLOW_TEMPORAL_TLS_CA: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("EXAMFLOW_TEMPORAL_TLS_CA: %s holds no PEM certificate", t.TLSCA)
		}
	}
	if t.TLSCert != "" {
		if _, err := t.clientCertificate(); err != nil {
			return nil, err
		}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return t.clientCertificate() }
	}
	return c, nil
}

func (t TemporalBoundary) clientCertificate() (*tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(t.TLSCert, t.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("EXAMFLOW_TEMPORAL_TLS_CERT and EXAMFLOW_TEMPORAL_TLS_KEY: %w", err)
	}
	return &pair, nil
}

// check refuses settings that do not make a connection: TLS settings or an
// API key without TLS (an API key must not cross the network in
// plaintext), a certificate without its key, unreadable or unparsable files.
func (t TemporalBoundary) check() error {
	if !t.TLS {
		for _, s := range []struct{ name, value string }{
			{"EXAMFLOW_TEMPORAL_API_KEY", t.APIKey}, {"EXAMFLOW_TEMPORAL_TLS_CA", t.TLSCA}, {"EXAMFLOW_TEMPORAL_TLS_CERT", t.TLSCert},
			{"EXAMFLOW_TEMPORAL_TLS_KEY", t.TLSKey}, {"EXAMFLOW_TEMPORAL_TLS_SERVER_NAME", t.TLSServerName},
		} {
			if s.value != "" {
				return fmt.Errorf("%s is set but EXAMFLOW_TEMPORAL_TLS is not true: set it, so the connection to Temporal is encrypted", s.name)
			}
		}
		return nil
	}
	if (t.TLSCert == "") != (t.TLSKey == "") {
		return errors.New("EXAMFLOW_TEMPORAL_TLS_CERT and EXAMFLOW_TEMPORAL_TLS_KEY: set both (mTLS) or neither")
	}
	_, err := t.ClientTLS()
	return err
}

// checkBoundary checks the settings of examflow's boundary with Temporal:
// the connection to the frontend, and the local stack's token-less codec
// server, which must listen on a loopback address.
func (c Config) checkBoundary() error {
	if err := c.TemporalBoundary.check(); err != nil {
		return err
	}
	if c.Auth.CodecOpenLocal {
		host, _, err := net.SplitHostPort(c.Auth.CodecLocalAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("EXAMFLOW_CODEC_LOCAL_ADDR must be a loopback address and port such as 127.0.0.1:8082, got %q: the codec server there needs no token", c.Auth.CodecLocalAddr)
		}
	}
	return nil
}
