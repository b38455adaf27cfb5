// Package e2e runs examflow end to end on a real stack: PostgreSQL, MinIO and
// the Temporal dev server, started on free ports in a temporary folder (apart
// from `make run`'s data) and stopped afterwards. The worker runs in-process
// against that Temporal server; the API is served over real HTTP.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/deploy/devstack"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/process"
	"github.com/examflow/examflow/registry"
	"github.com/examflow/examflow/storage"
	"github.com/examflow/examflow/worker"
)

// env is the running stack shared by the tests of this package.
var env struct {
	stack *devstack.Stack
	// process is examflow wired as its processes are; the fields below
	// are its parts.
	process   *process.Process
	pool      *pgxpool.Pool
	store     *storage.Store
	objects   *storage.Objects
	temporal  client.Client
	worker    sdkworker.Worker
	deps      worker.Deps
	api       *httptest.Server
	apiLogs   *syncBuffer
	cfg       config.Config
	catalogue marking.Catalogue
	// registrySim is the Diploma Registry simulator the worker publishes to.
	registrySim *registry.Simulator
	registry    registry.Client
	// token is an API key with every role, sent by do and doAt unless a
	// test sets its own Authorization header.
	token string
	// metrics is the Prometheus registry of the worker (its Temporal SDK
	// and domain metrics), which the API serves too.
	metrics *prometheus.Registry
	// codecListener is where the API's token-less local codec server
	// answers the Temporal UI of the stack (it has no login), as `make
	// run` serves it; codec is that server.
	codecListener net.Listener
	codec         *http.Server
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clusterMode is whether the tests run on the cluster-shaped stack (make
// test-cluster): Temporal Server on PostgreSQL with a TLS frontend instead
// of the dev server.
func clusterMode() bool { return os.Getenv("EXAMFLOW_E2E_STACK") == "cluster" }

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	tools := os.Getenv("EXAMFLOW_TOOLS_DIR")
	if tools == "" {
		tools, _ = filepath.Abs("../.tools/bin")
	}
	cluster := clusterMode()
	need := []string{"temporal", "minio"}
	if cluster {
		need = append(need, "temporal-server", "temporal-sql-tool", "temporal-ui-server")
	}
	for _, bin := range need {
		if _, err := os.Stat(filepath.Join(tools, bin)); err != nil {
			// `go test ./...` on a machine without the pinned tools runs the
			// unit tests and skips this package with the reason; the
			// Makefile requires it (EXAMFLOW_E2E_REQUIRE), so `make test`
			// fails instead of skipping.
			msg := fmt.Sprintf("%s not found in %s: run the tests with `make test`, which builds the pinned tools", bin, tools)
			if os.Getenv("EXAMFLOW_E2E_REQUIRE") != "" {
				fmt.Fprintln(os.Stderr, "e2e: "+msg)
				return 1
			}
			fmt.Println("--- SKIP: e2e: " + msg)
			return 0
		}
	}
	dir, err := os.MkdirTemp("", "examflow-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()

	sas := map[string]string{}
	for name, typ := range cases.SearchAttributes() {
		sas[name] = typ.String()
	}
	stackLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The Temporal UI runs (the dev server's, or the UI server on the
	// cluster) with the API's local codec server, for the browser test.
	codecListener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.codecListener = codecListener
	stack, err := devstack.Start(ctx, devstack.Config{Dir: dir, ToolsDir: tools, Headless: true, TemporalUI: !cluster, Fast: true,
		SearchAttributes: sas, Logger: stackLog, Cluster: cluster, UIServer: cluster,
		UICodecEndpoint: "http://" + codecListener.Addr().String() + "/codec"})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: start stack: %v\n", err)
		return 1
	}
	defer stack.Stop()
	env.stack = stack
	if err := setup(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: setup: %v\n", err)
		return 1
	}
	defer teardown()
	return m.Run()
}

func setup(ctx context.Context) error {
	s := env.stack
	os.Setenv("EXAMFLOW_DATABASE_URL", s.DatabaseURL())
	for _, kv := range s.TemporalEnv() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	os.Setenv("EXAMFLOW_MINIO_ENDPOINT", s.MinIOEndpoint())
	os.Setenv("EXAMFLOW_TASK_QUEUE", "examflow-e2e")
	// A stack of its own with fictional data: the public development
	// secrets, which the processes the tests start inherit.
	os.Setenv(config.DevSecretsVar, config.DevSecretsAllow)
	// Review periods short enough to see a reminder; pass-rate monitoring
	// off unless a test turns it on.
	os.Setenv("EXAMFLOW_REVIEW_REMINDER", "2s")
	os.Setenv("EXAMFLOW_PASS_RATE_MIN_SAMPLE", "1000000")
	// The API's short periods, read by the in-process API and by the
	// second API process of the cluster stack alike.
	for k, v := range map[string]string{
		"EXAMFLOW_DSR_REMINDERS": "168h,24h", "EXAMFLOW_DSR_LIFT_NOTICE": "2s", "EXAMFLOW_EXPORT_LINK_TTL": "1m",
		"EXAMFLOW_COURSE_POLICY_VERSION": "2025-02-11", "EXAMFLOW_COURSE_SURVEY_AFTER": "2s", "EXAMFLOW_COURSE_NEWS_EVERY": "0s",
		"EXAMFLOW_PUBLIC_URL": "http://self-service.example", "EXAMFLOW_CODEC_CORS_ORIGINS": "http://127.0.0.1:8233," + s.TemporalUIURL(),
		// Staff answers link to the stack's Temporal UI.
		"EXAMFLOW_TEMPORAL_UI_URL": s.TemporalUIURL(),
	} {
		os.Setenv(k, v)
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	env.cfg = cfg
	quiet := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := process.Prepare(ctx, cfg, quiet, process.PrepareOptions{}); err != nil {
		return err
	}
	p, err := process.Open(ctx, cfg, quiet)
	if err != nil {
		return err
	}
	env.process = p
	env.pool, env.store, env.objects, env.catalogue, env.metrics, env.temporal = p.Pool, p.Store, p.Objects, p.Catalogue, p.Metrics, p.Temporal
	reg := p.Metrics
	if env.token, _, err = env.store.CreateToken(ctx, "e2e-all-roles", api.Roles(), nil); err != nil {
		return err
	}
	var registryURL string
	env.registrySim, env.registry, registryURL = newRegistry()
	env.deps = p.WorkerDeps(env.registry)
	// A worker that stops for good (the failure drills restart Temporal)
	// is replaced, as a supervisor would restart the process.
	env.deps.OnFatalError = func(error) { go restartWorker() }
	env.worker = worker.New(env.deps)
	if err := env.worker.Start(); err != nil {
		return err
	}
	if err := process.EnsureSchedules(ctx, env.temporal, cfg.TaskQueue, cfg.TestDay.ReconcileEvery); err != nil {
		return err
	}

	key, _ := cfg.LinkKey()
	env.apiLogs = &syncBuffer{}
	apiLogger := slog.New(slog.NewJSONHandler(env.apiLogs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	handler := api.New(api.Deps{
		Store: env.store, Temporal: env.temporal, TaskQueue: cfg.TaskQueue, Logger: apiLogger, Registry: reg, Catalogue: env.catalogue,
		Validation:       api.ValidationOptions{Now: time.Now, Identity: identity.Options{AcceptPost2032Check: cfg.AcceptPost2032Check}},
		Ready:            func(ctx context.Context) error { return process.Ready(ctx, env.store, env.temporal) },
		Codec:            p.Codec.DisplayCodec(),
		CodecCORSOrigins: cfg.CodecCORSOrigins,
		Objects:          env.objects,
		AudioMaxBytes:    cfg.MinIO.AudioMaxBytes,
		Tokens:           env.store,
		SubjectRequests: api.SubjectRequestOptions{Reminders: cfg.SubjectRequests.Reminders, LiftNotice: cfg.SubjectRequests.LiftNotice,
			ExportLinkTTL: cfg.SubjectRequests.ExportLinkTTL},
		ExportLinkKey: key,
		Courses: api.CourseOptions{PolicyVersion: cfg.Courses.PolicyVersion, SurveyAfter: cfg.Courses.SurveyAfter, NewsEvery: cfg.Courses.NewsEvery,
			Retention: cfg.Courses.Retention, PublicURL: cfg.Courses.PublicURL, LinkKey: key, LinkTTL: cfg.Courses.LinkTTL},
		TemporalUI: api.TemporalUI{BaseURL: cfg.TemporalUIURL, Namespace: cfg.TemporalNamespace},
	})
	env.codec = &http.Server{Handler: api.NewLocalCodec(api.Deps{Store: env.store, Logger: apiLogger, Codec: p.Codec.DisplayCodec(),
		CodecCORSOrigins: cfg.CodecCORSOrigins}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = env.codec.Serve(env.codecListener) }()
	if !clusterMode() {
		env.api = httptest.NewServer(handler)
		return nil
	}
	// The cluster stack runs examflow as deployed with replicas: a second
	// worker process and a second API process beside the in-process ones.
	return startReplicas(ctx, handler, registryURL)
}

var workerMu sync.Mutex

// restartWorker starts a new in-process worker after the old one stopped.
func restartWorker() {
	time.Sleep(time.Second)
	workerMu.Lock()
	defer workerMu.Unlock()
	w := worker.New(env.deps)
	if err := w.Start(); err != nil {
		go restartWorker()
		return
	}
	env.worker = w
}

func teardown() {
	workerMu.Lock()
	defer workerMu.Unlock()
	stopReplicas()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	if env.api != nil {
		env.api.Close()
	}
	if env.codec != nil {
		_ = env.codec.Close()
	}
	if env.worker != nil {
		env.worker.Stop()
	}
	if env.process != nil {
		env.process.Close()
	}
}

// newRegistry starts a Diploma Registry simulator on loopback and a client
// of it.
func newRegistry() (*registry.Simulator, registry.Client, string) {
	sim := registry.NewSimulator("examflow", "secret")
	srv := httptest.NewServer(sim)
	c, err := registry.NewHTTPClient(registry.Config{BaseURL: srv.URL, TokenURL: srv.URL + "/oauth/token",
		ClientID: "examflow", ClientSecret: "secret", Timeout: 5 * time.Second, Attempts: 3})
	if err != nil {
		panic(err)
	}
	return sim, c, srv.URL
}
