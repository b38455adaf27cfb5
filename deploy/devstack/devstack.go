// Package devstack starts the local stack examflow needs (PostgreSQL, MinIO
// and the Temporal dev server, or Temporal Server on PostgreSQL with TLS in
// cluster mode) as child processes with their data in one folder. `examflow dev` (make run) uses it with fixed ports and a lasting
// folder; the integration tests use it with free ports and a temporary one.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// Config says where the stack lives and listens.
type Config struct {
	// Dir holds every process's data and logs (pg/, minio/, temporal.db, logs/).
	Dir string
	// ToolsDir holds the temporal and minio binaries; PATH is searched if empty.
	ToolsDir string
	// PostgresBinDir holds initdb and postgres; found under /usr/lib/postgresql if empty.
	PostgresBinDir string
	// Ports; zero picks a free port.
	PostgresPort, MinIOPort, MinIOConsolePort, TemporalPort, TemporalUIPort int
	// TemporalMetricsPort is where the Temporal dev server serves its
	// Prometheus /metrics; zero leaves the dev server's choice (a random
	// free port).
	TemporalMetricsPort int
	// Headless starts no Temporal UI and no MinIO console (tests).
	Headless bool
	// TemporalUI serves the dev server's Temporal UI on TemporalUIPort
	// (with UICodecEndpoint) even when Headless: the end-to-end tests
	// drive it in a browser. The MinIO console stays off.
	TemporalUI bool
	// Fast trades durability for speed: PostgreSQL without fsync and the
	// Temporal dev server's SQLite without synchronous writes. A process
	// killed or restarted loses nothing; a machine that loses power may.
	// For tests and benchmarks only.
	Fast bool
	// SearchAttributes are registered on the Temporal dev server at start,
	// name to type (Keyword, Datetime, Bool, Int, ...).
	SearchAttributes map[string]string
	// UICodecEndpoint is the codec server the Temporal UI uses to show
	// decrypted payloads (the examflow API's /codec), if any.
	UICodecEndpoint string
	// MinIOUser and MinIOPassword are the MinIO root credentials.
	MinIOUser, MinIOPassword string
	// Logger receives progress messages.
	Logger *slog.Logger
	// PostgresOnly starts PostgreSQL alone (tests of the storage package).
	PostgresOnly bool
	// Cluster runs Temporal Server (the temporal-server binary) on the
	// stack's PostgreSQL with a TLS frontend instead of the CLI's dev
	// server (cluster.go). Headless is implied: the dev server's UI is
	// not there.
	Cluster bool
	// UIServer runs the Temporal UI server (temporal-ui-server) on
	// TemporalUIPort against the cluster's TLS frontend, with
	// UICodecEndpoint as its codec server. Cluster mode only.
	UIServer bool
	// TemporalSchemaDir holds Temporal's SQL schemas (postgresql/v12/...);
	// ToolsDir/temporal-schema if empty. Cluster mode only.
	TemporalSchemaDir string
}

// Stack is a running local stack.
type Stack struct {
	cfg   Config
	procs []*proc
	// clusterPorts are the Temporal Server's ports, kept across restarts.
	clusterPorts *clusterPorts
	// clusterPrepared is set once the databases, schemas and certificates
	// are in place.
	clusterPrepared bool
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
	// stopSig is what asks the process to shut down cleanly.
	stopSig syscall.Signal
}

// DatabaseName and DatabaseUser are what the stack creates in PostgreSQL.
const (
	DatabaseName = "examflow"
	DatabaseUser = "examflow"
)

// Start starts PostgreSQL, MinIO and Temporal and waits until each answers.
// On failure everything already started is stopped again.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.MinIOUser == "" {
		cfg.MinIOUser, cfg.MinIOPassword = "examflow", "examflow-dev-secret"
	}
	for _, p := range []*int{&cfg.PostgresPort, &cfg.MinIOPort, &cfg.MinIOConsolePort, &cfg.TemporalPort, &cfg.TemporalUIPort} {
		if *p == 0 {
			port, err := FreePort()
			if err != nil {
				return nil, err
			}
			*p = port
		}
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("stack dir: %w", err)
	}
	cfg.Dir = abs
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("create stack dir: %w", err)
	}
	if os.Geteuid() == 0 {
		// The postgres user must reach the cluster folder inside it.
		if err := os.Chmod(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("stack dir: %w", err)
		}
	}
	s := &Stack{cfg: cfg}
	steps := []func(context.Context) error{s.startPostgres, s.startMinIO, s.startTemporal}
	waits := []func(context.Context) error{s.waitPostgres, s.waitMinIO, s.waitTemporal}
	if cfg.PostgresOnly {
		steps = []func(context.Context) error{s.startPostgres}
		waits = []func(context.Context) error{s.waitPostgres}
	} else if cfg.Cluster {
		// Temporal Server needs its databases before it starts.
		steps = []func(context.Context) error{s.startPostgres, s.startMinIO, s.waitPostgres, s.startTemporalServer}
		waits = []func(context.Context) error{s.waitMinIO, s.waitTemporalServer}
		if cfg.UIServer {
			steps = append(steps, s.startUIServer)
			waits = append(waits, s.waitUIServer)
		}
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			s.Stop()
			return nil, err
		}
	}
	for _, wait := range waits {
		if err := wait(ctx); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Config returns the effective configuration (with the ports chosen).
func (s *Stack) Config() Config { return s.cfg }

// DatabaseURL is the examflow database's connection string.
func (s *Stack) DatabaseURL() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", DatabaseUser, s.cfg.PostgresPort, DatabaseName)
}

// MinIOEndpoint is MinIO's S3 host:port.
func (s *Stack) MinIOEndpoint() string { return fmt.Sprintf("127.0.0.1:%d", s.cfg.MinIOPort) }

// TemporalAddress is the Temporal frontend host:port.
func (s *Stack) TemporalAddress() string { return fmt.Sprintf("127.0.0.1:%d", s.cfg.TemporalPort) }

// Done is closed when any process of the stack exits; Err then says which.
func (s *Stack) Done() <-chan struct{} {
	out := make(chan struct{})
	for _, p := range s.procs {
		go func(p *proc) {
			<-p.done
			select {
			case <-out:
			default:
				close(out)
			}
		}(p)
	}
	return out
}

// Err names the first process that has exited, if any.
func (s *Stack) Err() error {
	for _, p := range s.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v (log: %s)", p.name, p.err, p.log.Name())
		default:
		}
	}
	return nil
}

// services maps each service to how it starts and how to wait for it.
func (s *Stack) services() map[string][2]func(context.Context) error {
	if s.cfg.Cluster {
		return map[string][2]func(context.Context) error{
			"postgres": {s.startPostgres, s.waitPostgres},
			"minio":    {s.startMinIO, s.waitMinIO},
			"temporal": {s.startTemporalServer, s.waitTemporalServer},
		}
	}
	return map[string][2]func(context.Context) error{
		"postgres": {s.startPostgres, s.waitPostgres},
		"minio":    {s.startMinIO, s.waitMinIO},
		"temporal": {s.startTemporal, s.waitTemporal},
	}
}

// StopService stops one service (postgres, minio or temporal) with its
// clean-shutdown signal and waits until it has exited; the failure drills
// use it. Its data stays.
func (s *Stack) StopService(name string) error {
	p := s.proc(name)
	if p == nil {
		return fmt.Errorf("no service %q", name)
	}
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-p.cmd.Process.Pid, p.stopSig)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	s.cfg.Logger.Info("stopped", "service", name)
	return nil
}

// StartService starts a stopped service again on the same port and data,
// and waits until it answers.
func (s *Stack) StartService(ctx context.Context, name string) error {
	svc, ok := s.services()[name]
	if !ok {
		return fmt.Errorf("no service %q", name)
	}
	if p := s.proc(name); p != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is running", name)
		}
		s.procs = slices.DeleteFunc(s.procs, func(x *proc) bool { return x == p })
	}
	if err := svc[0](ctx); err != nil {
		return err
	}
	return svc[1](ctx)
}

// RestartService stops and starts a service.
func (s *Stack) RestartService(ctx context.Context, name string) error {
	if err := s.StopService(name); err != nil {
		return err
	}
	return s.StartService(ctx, name)
}

// Stop stops every process, newest first, waiting for a clean shutdown.
func (s *Stack) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		select {
		case <-p.done:
			continue
		default:
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, p.stopSig)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		s.cfg.Logger.Info("stopped", "service", p.name)
	}
	s.procs = nil
}

func (s *Stack) spawn(name string, stopSig syscall.Signal, env []string, argv ...string) error {
	logPath := filepath.Join(s.cfg.Dir, "logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// Own process group: a signal reaches runuser and postgres alike, and
	// Ctrl-C in a terminal does not reach the children before we stop them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: f, done: make(chan struct{}), stopSig: stopSig}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	s.cfg.Logger.Info("started", "service", name, "pid", cmd.Process.Pid, "log", logPath)
	return nil
}

func (s *Stack) proc(name string) *proc {
	for _, p := range s.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// wait polls check until it succeeds, the process exits, or ctx ends.
func (s *Stack) wait(ctx context.Context, name string, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p := s.proc(name)
	var last error
	for {
		if last = check(ctx); last == nil {
			s.cfg.Logger.Info("ready", "service", name)
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited while starting: %v; see %s", name, p.err, p.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("%s did not become ready in %s: %v; see %s", name, timeout, last, p.log.Name())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ---- PostgreSQL ----

// PostgresBinDir finds the newest Debian PostgreSQL server binaries.
func PostgresBinDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(matches) == 0 {
		if p, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", errors.New("no PostgreSQL server binaries found: install Debian's postgresql package (deploy/ensure-postgres.sh does)")
	}
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	return filepath.Dir(matches[0]), nil
}

func versionOf(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// asPostgresUser runs argv as the unprivileged postgres user when we are
// root, because initdb and postgres refuse to run as root.
func asPostgresUser(argv ...string) []string {
	if os.Geteuid() != 0 {
		return argv
	}
	return append([]string{"runuser", "-u", "postgres", "--"}, argv...)
}

func (s *Stack) postgresOwner() (int, int, error) {
	if os.Geteuid() != 0 {
		return os.Geteuid(), os.Getegid(), nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, fmt.Errorf("running as root needs the postgres user (Debian's postgresql package creates it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid, nil
}

func (s *Stack) startPostgres(ctx context.Context) error {
	bin := s.cfg.PostgresBinDir
	if bin == "" {
		var err error
		if bin, err = PostgresBinDir(); err != nil {
			return err
		}
	}
	data := filepath.Join(s.cfg.Dir, "pg")
	uid, gid, err := s.postgresOwner()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(data, 0o700); err != nil {
			return fmt.Errorf("create postgres dir: %w", err)
		}
		if err := os.Chown(data, uid, gid); err != nil {
			return fmt.Errorf("chown postgres dir: %w", err)
		}
		argv := asPostgresUser(filepath.Join(bin, "initdb"), "-D", data, "-U", DatabaseUser, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-instructions")
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("initdb: %w: %s (the postgres user must be able to reach %s)", err, strings.TrimSpace(string(out)), data)
		}
		s.cfg.Logger.Info("created PostgreSQL cluster", "dir", data)
	}
	args := []string{filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.cfg.PostgresPort),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"}
	if s.cfg.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	// SIGINT is PostgreSQL's fast shutdown.
	return s.spawn("postgres", syscall.SIGINT, nil, asPostgresUser(args...)...)
}

func (s *Stack) waitPostgres(ctx context.Context) error {
	admin := fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", DatabaseUser, s.cfg.PostgresPort)
	return s.wait(ctx, "postgres", 60*time.Second, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(context.Background()) }()
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, DatabaseName).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+DatabaseName); err != nil {
				return err
			}
		}
		return nil
	})
}

// ---- MinIO ----

func (s *Stack) tool(name string) string {
	if s.cfg.ToolsDir != "" {
		p := filepath.Join(s.cfg.ToolsDir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return filepath.Join(s.cfg.ToolsDir, name)
}

func (s *Stack) startMinIO(context.Context) error {
	bin := s.tool("minio")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("minio binary %s not found: run `make tools`: %w", bin, err)
	}
	env := []string{"MINIO_ROOT_USER=" + s.cfg.MinIOUser, "MINIO_ROOT_PASSWORD=" + s.cfg.MinIOPassword,
		"MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off"}
	if s.cfg.Headless {
		env = append(env, "MINIO_BROWSER=off")
	}
	return s.spawn("minio", syscall.SIGTERM, env, bin, "server", filepath.Join(s.cfg.Dir, "minio"),
		"--address", s.MinIOEndpoint(), "--console-address", fmt.Sprintf("127.0.0.1:%d", s.cfg.MinIOConsolePort), "--quiet")
}

func (s *Stack) waitMinIO(ctx context.Context) error {
	url := "http://" + s.MinIOEndpoint() + "/minio/health/ready"
	return s.wait(ctx, "minio", 60*time.Second, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health: %s", resp.Status)
		}
		return nil
	})
}

// ---- Temporal ----

func (s *Stack) startTemporal(context.Context) error {
	bin := s.tool("temporal")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("temporal binary %s not found: run `make tools`: %w", bin, err)
	}
	args := []string{bin, "server", "start-dev",
		"--ip", "127.0.0.1", "--port", strconv.Itoa(s.cfg.TemporalPort),
		"--db-filename", filepath.Join(s.cfg.Dir, "temporal.db"),
		"--log-level", "warn", "--log-format", "json",
		"--disable-config-file", "--disable-config-env",
		// A write-ahead log lets readers and the writer work at once and
		// needs one sync per commit instead of two; with it, "normal"
		// loses no commit when the process dies (only at a power loss).
		"--sqlite-pragma", "journal_mode=wal",
	}
	if s.cfg.Fast {
		args = append(args, "--sqlite-pragma", "synchronous=off")
	} else {
		args = append(args, "--sqlite-pragma", "synchronous=normal")
	}
	names := make([]string, 0, len(s.cfg.SearchAttributes))
	for k := range s.cfg.SearchAttributes {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "--search-attribute", k+"="+s.cfg.SearchAttributes[k])
	}
	if s.cfg.TemporalMetricsPort != 0 {
		args = append(args, "--metrics-port", strconv.Itoa(s.cfg.TemporalMetricsPort))
	}
	if s.cfg.Headless && !s.cfg.TemporalUI {
		args = append(args, "--headless")
	} else {
		args = append(args, "--ui-port", strconv.Itoa(s.cfg.TemporalUIPort))
		if s.cfg.UICodecEndpoint != "" {
			args = append(args, "--ui-codec-endpoint", s.cfg.UICodecEndpoint)
		}
	}
	return s.spawn("temporal", syscall.SIGTERM, nil, args...)
}

func (s *Stack) waitTemporal(ctx context.Context) error {
	return s.wait(ctx, "temporal", 120*time.Second, func(ctx context.Context) error {
		c, err := client.DialContext(ctx, client.Options{HostPort: s.TemporalAddress(),
			Logger: tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	})
}

// FreePort asks the kernel for a free TCP port on the loopback address.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
