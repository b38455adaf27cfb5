package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/workflowservice/v1"
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

// bench is the running stack and what the figures share. examflow is wired
// as its processes and the end-to-end tests wire it (process.Open).
type bench struct {
	opts      options
	dir       string
	stack     *devstack.Stack
	process   *process.Process
	pool      *pgxpool.Pool
	store     *storage.Store
	objects   *storage.Objects
	temporal  client.Client
	cfg       config.Config
	catalogue marking.Catalogue
	quiet     *slog.Logger
	// deps are the main worker's; apiURL is the API on its task queue.
	deps   worker.Deps
	apiURL string
	// token is an API key with every role.
	token string
	http  *http.Client
	// today is the session date of every candidate (midnight UTC), so
	// shortened retention periods can be set from it.
	today time.Time
	// people numbers the fictional candidates; each gets its own birth date.
	people atomic.Int64
	// retries counts requests answered 503 and sent again.
	retries atomic.Int64
	closers []func()
	start   time.Time
}

// startBench starts the stack, the main worker (examflow's workflows and
// the baselines, on one task queue with the default worker options) and the
// API.
func startBench(ctx context.Context, o options) (*bench, error) {
	need := []string{"temporal", "minio"}
	if o.cluster() {
		need = append(need, "temporal-server", "temporal-sql-tool")
	}
	for _, bin := range need {
		if _, err := os.Stat(filepath.Join(o.ToolsDir, bin)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make bench`, which builds the pinned tools", bin, o.ToolsDir)
		}
	}
	b := &bench{opts: o, start: time.Now(), quiet: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	var err error
	if b.dir, err = os.MkdirTemp("", "examflow-bench-"); err != nil {
		return nil, err
	}
	b.closers = append(b.closers, func() { _ = os.RemoveAll(b.dir) })
	sas := map[string]string{}
	for name, typ := range cases.SearchAttributes() {
		sas[name] = typ.String()
	}
	b.say("starting PostgreSQL, MinIO and Temporal (%s stack) in %s", o.Stack, b.dir)
	stack, err := devstack.Start(ctx, devstack.Config{Dir: b.dir, ToolsDir: o.ToolsDir, Headless: true, Fast: true,
		SearchAttributes: sas, Logger: b.quiet, Cluster: o.cluster()})
	if err != nil {
		b.close()
		return nil, fmt.Errorf("start stack: %w", err)
	}
	b.stack = stack
	b.closers = append(b.closers, stack.Stop)
	if err := b.setup(ctx); err != nil {
		b.close()
		return nil, fmt.Errorf("setup: %w", err)
	}
	return b, nil
}

func (b *bench) setup(ctx context.Context) error {
	s := b.stack
	env := map[string]string{
		"EXAMFLOW_DATABASE_URL":   s.DatabaseURL(),
		"EXAMFLOW_MINIO_ENDPOINT": s.MinIOEndpoint(),
		"EXAMFLOW_TASK_QUEUE":     "examflow-bench",
		// A stack of its own with fictional data: the public
		// development secrets.
		config.DevSecretsVar: config.DevSecretsAllow,
	}
	// The Temporal address, and on the cluster stack its TLS settings.
	for _, kv := range s.TemporalEnv() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, v := range env {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	b.cfg = cfg
	if err := process.Prepare(ctx, cfg, b.quiet, process.PrepareOptions{}); err != nil {
		return err
	}
	p, err := process.Open(ctx, cfg, b.quiet)
	if err != nil {
		return err
	}
	b.closers = append(b.closers, p.Close)
	b.process = p
	b.pool, b.store, b.objects, b.catalogue, b.temporal = p.Pool, p.Store, p.Objects, p.Catalogue, p.Temporal
	if b.token, _, err = b.store.CreateToken(ctx, "bench-all-roles", api.Roles(), nil); err != nil {
		return err
	}
	regClient, err := newRegistry(b)
	if err != nil {
		return err
	}
	b.deps = worker.Deps{Client: b.temporal, Store: b.store, TaskQueue: cfg.TaskQueue, Logger: b.quiet,
		Catalogue: b.catalogue, TestDay: cfg.TestDay, Namespace: cfg.TemporalNamespace, Objects: b.objects, Registry: regClient}
	if err := b.startWorker(b.deps); err != nil {
		return err
	}
	if err := process.EnsureSchedules(ctx, b.temporal, cfg.TaskQueue, cfg.TestDay.ReconcileEvery); err != nil {
		return err
	}
	b.apiURL = b.startAPI(cfg.TaskQueue)
	b.http = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConns: 4 * b.opts.Concurrency, MaxIdleConnsPerHost: 4 * b.opts.Concurrency, IdleConnTimeout: time.Minute}}
	now := time.Now().UTC()
	b.today = now.Truncate(24 * time.Hour)
	return nil
}

// startWorker starts a worker for d on d.TaskQueue with the options
// worker.New uses, registering examflow's workflows and the baselines'.
func (b *bench) startWorker(d worker.Deps) error {
	w := sdkworker.New(d.Client, d.TaskQueue, sdkworker.Options{})
	worker.Register(w, d)
	registerBaselines(w)
	if err := w.Start(); err != nil {
		return err
	}
	b.closers = append(b.closers, w.Stop)
	return nil
}

// startAPI serves the API for a task queue over real HTTP and returns its
// URL. It logs at info level, as in production, to nowhere.
func (b *bench) startAPI(queue string) string {
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	key, _ := b.cfg.LinkKey()
	srv := httptest.NewServer(api.New(api.Deps{
		Store: b.store, Tokens: b.store, Temporal: b.temporal, TaskQueue: queue, Logger: logger,
		Registry: process.NewRegistry(), Catalogue: b.catalogue, Codec: b.process.Codec.DisplayCodec(), Objects: b.objects, AudioMaxBytes: b.cfg.MinIO.AudioMaxBytes,
		Validation:    api.ValidationOptions{Now: time.Now, Identity: identity.Options{}},
		Ready:         func(ctx context.Context) error { return process.Ready(ctx, b.store, b.temporal) },
		ExportLinkKey: key,
	}))
	b.closers = append(b.closers, srv.Close)
	return srv.URL
}

// newRegistry starts a Diploma Registry simulator on loopback and returns a
// client of it.
func newRegistry(b *bench) (registry.Client, error) {
	sim := registry.NewSimulator("examflow", "secret")
	srv := httptest.NewServer(sim)
	b.closers = append(b.closers, srv.Close)
	return registry.NewHTTPClient(registry.Config{BaseURL: srv.URL, TokenURL: srv.URL + "/oauth/token",
		ClientID: "examflow", ClientSecret: "secret", Timeout: 5 * time.Second, Attempts: 3})
}

// close stops everything started, newest first.
func (b *bench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	b.closers = nil
}

// say prints progress to stderr.
func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %6.1fs  %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// versions names what ran: Go, PostgreSQL and the Temporal server.
func (b *bench) versions(ctx context.Context) map[string]string {
	v := map[string]string{}
	var pg string
	if err := b.pool.QueryRow(ctx, `SHOW server_version`).Scan(&pg); err == nil {
		v["PostgreSQL"] = strings.Fields(pg)[0]
	}
	if info, err := b.temporal.WorkflowService().GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{}); err == nil {
		v["Temporal server"] = info.GetServerVersion()
	}
	return v
}

// post sends a JSON body with the all-roles token and decodes the answer
// into out; any status but want is an error. With an idempotency key, a 503
// (the API's "try again") is retried with the same key, as the API asks
// clients to, a few times; b.retries counts those.
func (b *bench) post(ctx context.Context, url, idemKey string, body any, want int, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		status, raw, err := b.send(ctx, url, idemKey, data)
		if err != nil {
			return err
		}
		if status == http.StatusServiceUnavailable && idemKey != "" && attempt < 5 {
			b.retries.Add(1)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * time.Second):
			}
			continue
		}
		if status != want {
			return fmt.Errorf("POST %s: HTTP %d, want %d: %s", url, status, want, raw)
		}
		if out != nil {
			return json.Unmarshal(raw, out)
		}
		return nil
	}
}

func (b *bench) send(ctx context.Context, url, idemKey string, data []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.token)
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// session sets up a citizenship session at a centre today with its answer
// key (q01..q36, the correct answer always "a", 32 scored), through the API,
// and returns the form of its test part.
func (b *bench) session(ctx context.Context, apiURL, centre string) (string, error) {
	const testType = "citizenship"
	tv, err := b.catalogue.Version(testType, b.today)
	if err != nil {
		return "", err
	}
	forms := map[string]string{}
	for _, part := range tv.PartNames() {
		def, _ := tv.Part(part)
		if !def.Automated() {
			continue
		}
		items := marking.FictionalKey(def)
		form := fmt.Sprintf("bench-%s-%s-%s", part, centre, b.today.Format(time.DateOnly))
		if err := b.post(ctx, apiURL+"/v1/answer-keys", "", map[string]any{"form_id": form, "test_type": testType, "test_version": tv.Version,
			"part": part, "items": items}, http.StatusCreated, nil); err != nil {
			return "", err
		}
		forms[part] = form
	}
	err = b.post(ctx, apiURL+"/v1/sessions", "", map[string]any{"test_type": testType, "test_centre": centre,
		"session_date": b.today.Format(time.DateOnly), "forms": forms}, http.StatusCreated, nil)
	return forms["test"], err
}

// candidate is a registration the API created.
type candidate struct {
	RegistrationID string `json:"registration_id"`
	WorkflowID     string `json:"workflow_id"`
}

// register registers a new fictional candidate for today's citizenship
// test at centre, with an Idempotency-Key as an integration sends it. Each
// candidate has a birth date of its own, so no two are ever the same person.
func (b *bench) register(ctx context.Context, apiURL, centre string) (candidate, error) {
	n := b.people.Add(1)
	born := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n))
	century := 0 // individual numbers 000-499: born 1900-1999; 500-999 from 2000
	if born.Year() >= 2000 {
		century = 500
	}
	var nid string
	for ind := int(n % 400); nid == ""; ind++ {
		nid, _ = identity.WithCheckDigits(born.Format("020106") + fmt.Sprintf("%03d", century+ind%500))
	}
	body := map[string]any{
		"person": map[string]any{
			"given_name": fmt.Sprintf("Given%06d", n), "family_name": fmt.Sprintf("Family%06d", n),
			"date_of_birth": born.Format(time.DateOnly), "national_id": nid,
			"email": fmt.Sprintf("bench%06d@example.org", n), "phone": "+47 400 00 000",
			"address": map[string]any{"street": "Eksempelveien 7", "postal_code": "0001", "city": "Oslo", "country": "NO"},
		},
		"test": map[string]any{"type": "citizenship"}, "test_centre": centre, "session_date": b.today.Format(time.DateOnly),
	}
	var c candidate
	err := b.post(ctx, apiURL+"/v1/registrations", fmt.Sprintf("bench-registration-%d", n), body, http.StatusCreated, &c)
	return c, err
}

// submit submits a passing answer sheet (30 of 32 scored items right).
func (b *bench) submit(ctx context.Context, apiURL, registrationID, form string) error {
	answers := make([]map[string]string, 36)
	for i := range answers {
		choice := "a"
		if i >= 30 {
			choice = "b"
		}
		answers[i] = map[string]string{"item": fmt.Sprintf("q%02d", i+1), "choice": choice}
	}
	return b.post(ctx, apiURL+"/v1/registrations/"+registrationID+"/answer-sheets", "bench-sheet-"+registrationID, map[string]any{
		"part": "test", "form_id": form, "key_version": 1, "submitted_at": b.today.Add(time.Hour).Format(time.RFC3339),
		"answers": answers}, http.StatusAccepted, nil)
}
