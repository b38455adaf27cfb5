package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/deploy/devstack"
	"github.com/examflow/examflow/process"
)

func runDev(ctx context.Context, args []string) error {
	fs := newFlags("dev", `Start the whole local stack and keep it running until Ctrl-C: a private PostgreSQL cluster,
MinIO, the Temporal dev server with its UI, then examflow migrate, examflow worker and examflow api.
Data stays in the --dir folder, so a second run keeps it. Ports come from the EXAMFLOW_* addresses
(PostgreSQL from EXAMFLOW_DATABASE_URL, MinIO console = S3 port + 1, Temporal UI = frontend port + 1000).`,
		"  EXAMFLOW_* as for api and worker; EXAMFLOW_DEV_DIR overrides --dir. It sets EXAMFLOW_DEV_SECRETS=allow:\n  secrets not set take their public development values.")
	dir := fs.String("dir", envOr("EXAMFLOW_DEV_DIR", ".dev"), "folder for the stack's data and logs")
	tools := fs.String("tools", envOr("EXAMFLOW_TOOLS_DIR", ".tools/bin"), "folder with the temporal and minio binaries")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The local stack runs on the public development secrets (unless
	// EXAMFLOW_* sets others); its worker, API and registry simulator
	// inherit the switch, and every one of them logs that it is on.
	if err := os.Setenv(config.DevSecretsVar, config.DevSecretsAllow); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	logger := cfg.NewLogger().With("process", "dev")
	pgCfg, err := pgx.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("EXAMFLOW_DATABASE_URL: %w", err)
	}
	minioPort, err := portOf(cfg.MinIO.Endpoint)
	if err != nil {
		return fmt.Errorf("EXAMFLOW_MINIO_ENDPOINT: %w", err)
	}
	temporalPort, err := portOf(cfg.TemporalAddress)
	if err != nil {
		return fmt.Errorf("EXAMFLOW_TEMPORAL_ADDRESS: %w", err)
	}
	sas := map[string]string{}
	for name, typ := range cases.SearchAttributes() {
		sas[name] = typ.String() // Keyword, Datetime: the dev server flag's spelling
	}
	fmt.Println("Starting PostgreSQL, MinIO and the Temporal dev server (data in " + *dir + ") ...")
	stack, err := devstack.Start(ctx, devstack.Config{
		Dir: *dir, ToolsDir: *tools,
		PostgresPort: int(pgCfg.Port), MinIOPort: minioPort, MinIOConsolePort: minioPort + 1,
		// The dev server's /metrics: 9233 by default, as deploy/prometheus/prometheus.yml expects.
		TemporalPort: temporalPort, TemporalUIPort: temporalPort + 1000, TemporalMetricsPort: portIfFree(temporalPort + 2000),
		MinIOUser: cfg.MinIO.AccessKey, MinIOPassword: cfg.MinIO.SecretKey,
		SearchAttributes: sas, Logger: logger,
		// The API serves a token-less codec server for this UI on a
		// loopback listener of its own (EXAMFLOW_CODEC_OPEN_LOCAL below).
		UICodecEndpoint: "http://" + cfg.Auth.CodecLocalAddr + "/codec",
	})
	if err != nil {
		return err
	}
	defer stack.Stop()
	mailDir := filepath.Join(stack.Config().Dir, "mail")
	sink, err := devstack.StartMailSink(fmt.Sprintf("%s:%d", cfg.SMTP.Host, cfg.SMTP.Port), mailDir)
	if err != nil {
		return err
	}
	defer func() { _ = sink.Close() }()
	if err := process.Prepare(ctx, cfg, logger, process.PrepareOptions{}); err != nil {
		return err
	}
	tokensFile, err := ensureDevTokens(ctx, cfg, stack.Config().Dir)
	if err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	logs := filepath.Join(stack.Config().Dir, "logs")
	var children []*child
	defer func() {
		for i := len(children) - 1; i >= 0; i-- {
			children[i].stop()
		}
	}()
	for _, name := range []string{"registry-sim", "worker", "api"} {
		var env []string
		if name == "api" {
			// The local Temporal UI has no login: the API serves it a
			// codec server without a token on EXAMFLOW_CODEC_LOCAL_ADDR,
			// a loopback address.
			env = []string{"EXAMFLOW_CODEC_OPEN_LOCAL=true"}
			// Staff answers link to the local Temporal UI, unless
			// EXAMFLOW_TEMPORAL_UI_URL names another.
			if cfg.TemporalUIURL == "" {
				env = append(env, "EXAMFLOW_TEMPORAL_UI_URL="+stack.TemporalUIURL())
			}
		}
		c, err := startChild(self, name, filepath.Join(logs, name+".log"), env...)
		if err != nil {
			return err
		}
		children = append(children, c)
	}
	for name, addr := range map[string]string{"api": cfg.APIAddr, "worker": cfg.WorkerAddr} {
		if err := waitReady(ctx, "http://"+addr+"/readyz", 60*time.Second); err != nil {
			return fmt.Errorf("%s did not become ready (see %s): %w", name, filepath.Join(logs, name+".log"), err)
		}
	}
	api := "http://" + cfg.APIAddr
	fmt.Printf(`
examflow is running. Ctrl-C stops everything; data stays in %[1]s.

  API             %[2]s
  OpenAPI         %[2]s/openapi.yaml
  API metrics     %[2]s/metrics
  Worker metrics  http://%[3]s/metrics
  Temporal UI     http://127.0.0.1:%[4]d   (filter: Stage="Registered")
  Codec server    http://%[15]s/codec  (decode only, for the Temporal UI; loopback, no token)
  Temporal        %[5]s (temporal workflow list --address %[5]s --query 'Stage="Registered"')
  MinIO console   http://127.0.0.1:%[6]d   (user %[7]s, password %[8]s)
  PostgreSQL      %[9]s
  Logs            %[10]s
  Mail (SMTP %[11]s)  %[12]s  (every notification as an .eml file)
  Registry sim    http://%[13]s/v1/publications  (Diploma Registry simulator)
  API keys        %[14]s  (one per role; every /v1 route needs one)

Call the API with the address and keys in %[14]s:

  set -a; . %[14]s; set +a
  curl -sS --fail-with-body -H "Authorization: Bearer $EXAMFLOW_TOKEN_STATISTICS" "$EXAMFLOW_URL/v1/statistics?test_type=citizenship"

README.md ("What make run gives you") registers a candidate by hand, answer key and session first.
Or run 'make demo' for a handful of fictional candidates.
`, *dir, api, cfg.WorkerAddr, temporalPort+1000, cfg.TemporalAddress, minioPort+1, cfg.MinIO.AccessKey, cfg.MinIO.SecretKey,
		stack.DatabaseURL(), logs, fmt.Sprintf("%s:%d", cfg.SMTP.Host, cfg.SMTP.Port), mailDir, cfg.Registry.SimulatorAddr, tokensFile, cfg.Auth.CodecLocalAddr)

	done := make(chan string, len(children))
	for _, c := range children {
		go func(c *child) { <-c.done; done <- c.name }(c)
	}
	select {
	case <-ctx.Done():
		fmt.Println("\nStopping ...")
		return nil
	case <-stack.Done():
		return fmt.Errorf("the stack stopped: %w", stack.Err())
	case name := <-done:
		return fmt.Errorf("examflow %s exited; see %s", name, filepath.Join(logs, name+".log"))
	}
}

type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func startChild(self, name, logPath string, env ...string) (*child, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	cmd := exec.Command(self, name)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start examflow %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = f.Close(); close(c.done) }()
	return c, nil
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func portOf(hostport string) (int, error) {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// portIfFree returns p if nothing listens on it on the loopback interface,
// else 0.
func portIfFree(p int) int {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return 0
	}
	_ = l.Close()
	return p
}
