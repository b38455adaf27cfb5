package devstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/examflow/examflow/internal/testca"
)

// The cluster mode (Config.Cluster) runs Temporal Server, built from
// go.temporal.io/server, instead of the CLI's dev server: its persistence
// and SQL visibility in databases of their own on the stack's PostgreSQL,
// its schemas applied with temporal-sql-tool, its frontend serving TLS with
// a certificate of a CA made for the stack, and the namespace registered
// with a retention period, as a production cluster is set up.

// Names of the cluster's databases and their owner role.
const (
	TemporalDatabase           = "temporal"
	TemporalVisibilityDatabase = "temporal_visibility"
	TemporalRole               = "temporal"
)

// TemporalServerName is the DNS name in the cluster frontend's certificate.
const TemporalServerName = "temporal.examflow.test"

// DefaultNamespaceRetention is the retention period the cluster's namespace
// is registered with: how long Temporal keeps a closed run's history.
// examflow deletes a lifecycle's closed history itself once its deletion
// records are written, so the namespace's retention only bounds what is
// left by runs examflow does not delete (docs/deployment.md).
const DefaultNamespaceRetention = 24 * time.Hour

// TemporalCAFile is the PEM file of the CA that signed the cluster
// frontend's certificate, for EXAMFLOW_TEMPORAL_TLS_CA; empty for the dev
// server, which serves no TLS.
func (s *Stack) TemporalCAFile() string {
	if !s.cfg.Cluster {
		return ""
	}
	return filepath.Join(s.cfg.Dir, "temporal", "tls", "ca.pem")
}

// TemporalClientOptions are client options that reach the stack's
// Temporal (TLS with the stack's CA in cluster mode).
func (s *Stack) TemporalClientOptions() (client.Options, error) {
	opts := client.Options{HostPort: s.TemporalAddress(),
		Logger: tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	if s.cfg.Cluster {
		pem, err := os.ReadFile(s.TemporalCAFile())
		if err != nil {
			return opts, fmt.Errorf("temporal CA: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		opts.ConnectionOptions.TLS = &tls.Config{RootCAs: pool, ServerName: TemporalServerName, MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

// TemporalEnv is the environment examflow processes need to reach the
// stack's Temporal and, when the stack runs a Temporal UI (the dev
// server's, or the cluster's UI server), to link to it.
func (s *Stack) TemporalEnv() []string {
	env := []string{"EXAMFLOW_TEMPORAL_ADDRESS=" + s.TemporalAddress()}
	if s.cfg.Cluster {
		env = append(env, "EXAMFLOW_TEMPORAL_TLS=true", "EXAMFLOW_TEMPORAL_TLS_CA="+s.TemporalCAFile(),
			"EXAMFLOW_TEMPORAL_TLS_SERVER_NAME="+TemporalServerName)
	}
	if s.HasUI() {
		env = append(env, "EXAMFLOW_TEMPORAL_UI_URL="+s.TemporalUIURL())
	}
	return env
}

// HasUI reports whether the stack runs a Temporal UI at TemporalUIURL: the
// dev server's unless headless, the UI server in cluster mode.
func (s *Stack) HasUI() bool {
	if s.cfg.Cluster {
		return s.cfg.UIServer
	}
	return !s.cfg.Headless
}

// clusterPorts are the Temporal Server's ports besides the frontend's.
type clusterPorts struct {
	FrontendHTTP, FrontendMembership int
	History, HistoryMembership       int
	Matching, MatchingMembership     int
	Worker, WorkerMembership         int
	Metrics, Pprof                   int
}

// prepareCluster creates the databases, applies the schemas and writes the
// certificates and the server's configuration (once per stack folder).
func (s *Stack) prepareCluster(ctx context.Context) error {
	dir := filepath.Join(s.cfg.Dir, "temporal")
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o755); err != nil {
		return fmt.Errorf("temporal dir: %w", err)
	}
	if err := s.createTemporalDatabases(ctx); err != nil {
		return err
	}
	sqlTool := s.tool("temporal-sql-tool")
	if _, err := os.Stat(sqlTool); err != nil {
		return fmt.Errorf("temporal-sql-tool %s not found: run `make tools-cluster`: %w", sqlTool, err)
	}
	schemaDir := s.cfg.TemporalSchemaDir
	if schemaDir == "" {
		schemaDir = filepath.Join(s.cfg.ToolsDir, "temporal-schema")
	}
	for db, sub := range map[string]string{TemporalDatabase: "temporal", TemporalVisibilityDatabase: "visibility"} {
		versioned := filepath.Join(schemaDir, "postgresql", "v12", sub, "versioned")
		if _, err := os.Stat(versioned); err != nil {
			return fmt.Errorf("temporal schema %s not found: run `make tools-cluster`: %w", versioned, err)
		}
		base := []string{sqlTool, "--plugin", "postgres12", "--ep", "127.0.0.1", "-p", strconv.Itoa(s.cfg.PostgresPort),
			"-u", TemporalRole, "--db", db}
		// setup-schema -v 0.0 creates the version table (and does nothing on
		// a database that has one); update-schema applies what is missing.
		for _, args := range [][]string{append(base, "setup-schema", "-v", "0.0"), append(base, "update-schema", "-d", versioned)} {
			out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("temporal-sql-tool %s on %s: %w: %s", args[len(args)-3], db, err, lastLines(out, 5))
			}
		}
	}
	if _, err := os.Stat(s.TemporalCAFile()); err != nil {
		if err := s.writeClusterCertificates(dir); err != nil {
			return err
		}
	}
	return nil
}

// createTemporalDatabases creates the temporal role and its two databases
// if they do not exist.
func (s *Stack) createTemporalDatabases(ctx context.Context) error {
	admin := fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", DatabaseUser, s.cfg.PostgresPort)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, TemporalRole).Scan(&exists); err != nil {
		return fmt.Errorf("look up role: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE ROLE "+TemporalRole+" LOGIN"); err != nil {
			return fmt.Errorf("create role %s: %w", TemporalRole, err)
		}
	}
	for _, db := range []string{TemporalDatabase, TemporalVisibilityDatabase} {
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&exists); err != nil {
			return fmt.Errorf("look up database: %w", err)
		}
		if !exists {
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+db+" OWNER "+TemporalRole); err != nil {
				return fmt.Errorf("create database %s: %w", db, err)
			}
		}
	}
	return nil
}

func (s *Stack) writeClusterCertificates(dir string) error {
	ca, err := testca.NewCA("examflow local stack CA")
	if err != nil {
		return err
	}
	srv, err := ca.IssueServer(TemporalServerName, "localhost")
	if err != nil {
		return err
	}
	files := map[string][]byte{"ca.pem": ca.PEM, "frontend.pem": srv.CertPEM, "frontend.key": srv.KeyPEM}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, "tls", name), data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

func (s *Stack) startTemporalServer(ctx context.Context) error {
	bin := s.tool("temporal-server")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("temporal-server binary %s not found: run `make tools-cluster`: %w", bin, err)
	}
	if !s.clusterPrepared {
		if err := s.prepareCluster(ctx); err != nil {
			return err
		}
		s.clusterPrepared = true
	}
	dir := filepath.Join(s.cfg.Dir, "temporal")
	if s.clusterPorts == nil {
		p := &clusterPorts{}
		for _, port := range []*int{&p.FrontendHTTP, &p.History, &p.Matching, &p.Worker, &p.Pprof} {
			n, err := FreePort()
			if err != nil {
				return err
			}
			*port = n
		}
		// Temporal stores membership ports in a smallint column: they
		// must be below 32768, where the kernel's ephemeral range is not.
		for _, port := range []*int{&p.FrontendMembership, &p.HistoryMembership, &p.MatchingMembership, &p.WorkerMembership} {
			n, err := freePortIn(20000, 32000)
			if err != nil {
				return err
			}
			*port = n
		}
		p.Metrics = s.cfg.TemporalMetricsPort
		if p.Metrics == 0 {
			n, err := FreePort()
			if err != nil {
				return err
			}
			p.Metrics = n
		}
		s.clusterPorts = p
	}
	if err := os.WriteFile(filepath.Join(dir, "dynamicconfig.yaml"), []byte(clusterDynamicConfig), 0o644); err != nil {
		return fmt.Errorf("write dynamic config: %w", err)
	}
	var buf strings.Builder
	err := clusterConfig.Execute(&buf, map[string]any{
		"Dir": dir, "PostgresPort": s.cfg.PostgresPort, "Role": TemporalRole,
		"DB": TemporalDatabase, "VisibilityDB": TemporalVisibilityDatabase,
		"Frontend": s.cfg.TemporalPort, "P": s.clusterPorts, "ServerName": TemporalServerName,
	})
	if err != nil {
		return fmt.Errorf("temporal config: %w", err)
	}
	configFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configFile, []byte(buf.String()), 0o644); err != nil {
		return fmt.Errorf("write temporal config: %w", err)
	}
	return s.spawn("temporal", syscall.SIGTERM, nil, bin, "--config-file", configFile, "--allow-no-auth", "start")
}

// waitTemporalServer waits for the frontend over TLS and registers the
// namespace.
func (s *Stack) waitTemporalServer(ctx context.Context) error {
	opts, err := s.TemporalClientOptions()
	if err != nil {
		return err
	}
	return s.wait(ctx, "temporal", 180*time.Second, func(ctx context.Context) error {
		nc, err := client.NewNamespaceClient(opts)
		if err != nil {
			return err
		}
		defer nc.Close()
		err = nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        "default",
			Description:                      "examflow",
			WorkflowExecutionRetentionPeriod: durationpb.New(DefaultNamespaceRetention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return err
		}
		// The namespace is usable once the frontend's namespace cache has
		// it (a few seconds after registration).
		c, err := client.DialContext(ctx, opts)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
		if err != nil {
			return err
		}
		_, err = c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", PageSize: 1})
		return err
	})
}

// freePortIn finds a free loopback port in [lo, hi).
func freePortIn(lo, hi int) (int, error) {
	for range 200 {
		port := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			_ = l.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port in %d-%d", lo, hi)
}

// TemporalUIURL is the Temporal UI's address.
func (s *Stack) TemporalUIURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d", s.cfg.TemporalUIPort)
}

// startUIServer starts the Temporal UI server (built from
// github.com/temporalio/ui-server with the UI's assets embedded) against
// the cluster's TLS frontend.
func (s *Stack) startUIServer(context.Context) error {
	bin := s.tool("temporal-ui-server")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("temporal-ui-server binary %s not found: run `make tools-cluster`: %w", bin, err)
	}
	root := filepath.Join(s.cfg.Dir, "temporal", "ui")
	if err := os.MkdirAll(filepath.Join(root, "config"), 0o755); err != nil {
		return fmt.Errorf("ui dir: %w", err)
	}
	var buf strings.Builder
	err := uiConfig.Execute(&buf, map[string]any{"Frontend": s.TemporalAddress(), "Port": s.cfg.TemporalUIPort,
		"CA": s.TemporalCAFile(), "ServerName": TemporalServerName, "Codec": s.cfg.UICodecEndpoint})
	if err != nil {
		return fmt.Errorf("ui config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "config", "stack.yaml"), []byte(buf.String()), 0o644); err != nil {
		return fmt.Errorf("write ui config: %w", err)
	}
	return s.spawn("temporal-ui", syscall.SIGTERM, nil, bin, "--root", root, "--config", "config", "--env", "stack", "start")
}

// waitUIServer waits until the UI server answers with the namespace it
// reads from the frontend.
func (s *Stack) waitUIServer(ctx context.Context) error {
	return s.wait(ctx, "temporal-ui", 60*time.Second, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.TemporalUIURL()+"/api/v1/namespaces/default", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("namespace through the UI: %s", resp.Status)
		}
		return nil
	})
}

// uiConfig is the Temporal UI server's configuration: the frontend over
// TLS with the stack's CA, the codec server, and no write actions (a case
// is changed through examflow's API, never from the UI).
var uiConfig = template.Must(template.New("ui").Parse(`# Written by the local stack (deploy/devstack/cluster.go).
temporalGrpcAddress: "{{.Frontend}}"
host: 127.0.0.1
port: {{.Port}}
enableUi: true
defaultNamespace: default
showTemporalSystemNamespace: false
notifyOnNewVersion: false
refreshInterval: 1m
disableWriteActions: true
cors:
  allowOrigins:
    - "http://127.0.0.1:{{.Port}}"
tls:
  caFile: {{.CA}}
  serverName: {{.ServerName}}
  enableHostVerification: true
codec:
  endpoint: "{{.Codec}}"
`))

func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// clusterDynamicConfig is the server's dynamic configuration.
const clusterDynamicConfig = `# Written by the local stack (deploy/devstack/cluster.go).
# Search attributes registered through the operator API are usable at once.
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
`

// clusterConfig is the Temporal Server's static configuration: all four
// services in one process, persistence and SQL visibility on PostgreSQL,
// the frontend serving TLS.
var clusterConfig = template.Must(template.New("config").Parse(`# Written by the local stack (deploy/devstack/cluster.go).
log:
  stdout: true
  level: warn
  format: json

persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
    default:
      sql:
        pluginName: postgres12
        databaseName: {{.DB}}
        connectAddr: "127.0.0.1:{{.PostgresPort}}"
        connectProtocol: tcp
        user: {{.Role}}
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    visibility:
      sql:
        pluginName: postgres12
        databaseName: {{.VisibilityDB}}
        connectAddr: "127.0.0.1:{{.PostgresPort}}"
        connectProtocol: tcp
        user: {{.Role}}
        maxConns: 10
        maxIdleConns: 10
        maxConnLifetime: 1h

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
  pprof:
    port: {{.P.Pprof}}
  metrics:
    prometheus:
      framework: tally
      timerType: histogram
      listenAddress: "127.0.0.1:{{.P.Metrics}}"
  tls:
    frontend:
      server:
        certFile: {{.Dir}}/tls/frontend.pem
        keyFile: {{.Dir}}/tls/frontend.key
        requireClientAuth: false
      client:
        serverName: {{.ServerName}}
        rootCaFiles:
          - {{.Dir}}/tls/ca.pem

services:
  frontend:
    rpc:
      grpcPort: {{.Frontend}}
      membershipPort: {{.P.FrontendMembership}}
      httpPort: {{.P.FrontendHTTP}}
      bindOnIP: 127.0.0.1
  matching:
    rpc:
      grpcPort: {{.P.Matching}}
      membershipPort: {{.P.MatchingMembership}}
      bindOnIP: 127.0.0.1
  history:
    rpc:
      grpcPort: {{.P.History}}
      membershipPort: {{.P.HistoryMembership}}
      bindOnIP: 127.0.0.1
  worker:
    rpc:
      grpcPort: {{.P.Worker}}
      membershipPort: {{.P.WorkerMembership}}
      bindOnIP: 127.0.0.1

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:{{.Frontend}}"

dcRedirectionPolicy:
  policy: noop

dynamicConfigClient:
  filepath: {{.Dir}}/dynamicconfig.yaml
  pollInterval: 10s
`))
