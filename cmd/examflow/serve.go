package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/notify"
	"github.com/examflow/examflow/process"
	"github.com/examflow/examflow/registry"
	"github.com/examflow/examflow/worker"
)

const envCommon = `  EXAMFLOW_DATABASE_URL, EXAMFLOW_TEMPORAL_ADDRESS, EXAMFLOW_TEMPORAL_NAMESPACE,
  EXAMFLOW_TASK_QUEUE, EXAMFLOW_LOG_LEVEL (see README.md)
  Secrets, required (no process starts without them or on a public value):
  EXAMFLOW_LOOKUP_KEY, EXAMFLOW_LINK_KEY, EXAMFLOW_PAYLOAD_KEY, EXAMFLOW_MASTER_KEY
  (each from openssl rand -hex 32), EXAMFLOW_MINIO_SECRET_KEY, EXAMFLOW_REGISTRY_CLIENT_SECRET`

func runAPI(ctx context.Context, args []string) error {
	fs := newFlags("api", "Serve the HTTP API (integrations, case handlers) with /healthz, /readyz, /metrics and /openapi.yaml.",
		envCommon+"\n  EXAMFLOW_API_ADDR        listen address (default 127.0.0.1:8080)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := openProcess(ctx, "api")
	if err != nil {
		return err
	}
	defer p.Close()
	cfg, logger, store, tc, reg := p.Config, p.Logger, p.Store, p.Temporal, p.Metrics
	// Export and course self-service links are signed with the link key,
	// each under its own label; the blind-index key signs nothing.
	linkKey, _ := cfg.LinkKey()
	handler := api.New(api.Deps{
		Store: store, Temporal: tc, TaskQueue: cfg.TaskQueue, Logger: logger, Registry: reg, Catalogue: p.Catalogue,
		Validation:         api.ValidationOptions{Now: time.Now, Identity: identity.Options{AcceptPost2032Check: cfg.AcceptPost2032Check}},
		Ready:              func(ctx context.Context) error { return process.Ready(ctx, store, tc) },
		Codec:              p.Codec.DisplayCodec(),
		CodecCORSOrigins:   cfg.CodecCORSOrigins,
		Objects:            p.Objects,
		AudioMaxBytes:      cfg.MinIO.AudioMaxBytes,
		AudioUploadMinRate: cfg.MinIO.AudioUploadMinRate,
		Tokens:             store,
		OIDC:               oidcFor(ctx, cfg.Auth),
		StatisticsMinCell:  int(cfg.Statistics.MinCell),
		SubjectRequests: api.SubjectRequestOptions{Reminders: cfg.SubjectRequests.Reminders, LiftNotice: cfg.SubjectRequests.LiftNotice,
			ExportLinkTTL: cfg.SubjectRequests.ExportLinkTTL},
		ExportLinkKey: linkKey,
		Courses: api.CourseOptions{PolicyVersion: cfg.Courses.PolicyVersion, SurveyAfter: cfg.Courses.SurveyAfter, NewsEvery: cfg.Courses.NewsEvery,
			Retention: cfg.Courses.Retention, PublicURL: cfg.Courses.PublicURL, LinkKey: linkKey, LinkTTL: cfg.Courses.LinkTTL},
		TemporalUI: api.TemporalUI{BaseURL: cfg.TemporalUIURL, Namespace: cfg.TemporalNamespace},
	})
	if !cfg.Auth.CodecOpenLocal {
		return serve(ctx, logger, cfg.APIAddr, handler)
	}
	// The local stack's Temporal UI has no login: its codec server needs no
	// token, so it gets a listener of its own on the loopback interface
	// (config.Load refuses another address), apart from the API's.
	local := api.NewLocalCodec(api.Deps{Store: store, Logger: logger, Codec: p.Codec.DisplayCodec(), CodecCORSOrigins: cfg.CodecCORSOrigins})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		err := serve(ctx, logger.With("listener", "local-codec"), cfg.Auth.CodecLocalAddr, local)
		cancel()
		errc <- err
	}()
	err = serve(ctx, logger, cfg.APIAddr, handler)
	cancel()
	return errors.Join(err, <-errc)
}

// openProcess loads the configuration, sets the process's JSON logger as
// the default and wires what the api and worker processes share.
func openProcess(ctx context.Context, name string) (*process.Process, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	logger := cfg.NewLogger().With("process", name)
	slog.SetDefault(logger)
	return process.Open(ctx, cfg, logger)
}

// serve runs an HTTP server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, logger *slog.Logger, addr string, h http.Handler) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	// The same timeouts the API's handler is told of (api.Deps.HTTPTimeouts:
	// the defaults), which the audio upload route extends for itself.
	srv := api.NewHTTPServer(h, api.HTTPTimeouts{})
	logger.Info("listening", "addr", l.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

func runWorker(ctx context.Context, args []string) error {
	fs := newFlags("worker", "Run the Temporal worker: the lifecycle workflows and their activities, the reconciler that starts\nworkflows a failed API call left unstarted, and /healthz, /readyz, /metrics.",
		envCommon+"\n  EXAMFLOW_WORKER_ADDR     ops listen address (default 127.0.0.1:8081)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := openProcess(ctx, "worker")
	if err != nil {
		return err
	}
	defer p.Close()
	cfg, logger, store, tc, reg := p.Config, p.Logger, p.Store, p.Temporal, p.Metrics
	mailer, err := notify.NewSMTPMailer(cfg.SMTP)
	if err != nil {
		return err
	}
	reg2, err := registry.NewHTTPClient(registry.Config{BaseURL: cfg.Registry.URL, TokenURL: cfg.Registry.TokenURL,
		ClientID: cfg.Registry.ClientID, ClientSecret: cfg.Registry.ClientSecret, Timeout: cfg.Registry.Timeout, Attempts: cfg.Registry.Attempts})
	if err != nil {
		return err
	}
	deps := p.WorkerDeps(reg2)
	periods, events, _ := cfg.Retention()
	// The state gauges (reviews, appeals, deletions, data requests) are the
	// worker's; the API exports examflow_subject_requests_overdue.
	reg.MustRegister(worker.NewStateCollector(store, worker.StateOptions{Periods: periods, Events: events, Logger: logger.With("component", "metrics")}))
	// A worker that stops polling for good ends the process, so its
	// supervisor (make run, systemd, Kubernetes) starts a new one instead of
	// leaving a process that looks healthy and does nothing.
	ctx, stopProcess := context.WithCancelCause(ctx)
	defer stopProcess(nil)
	deps.OnFatalError = func(err error) {
		logger.Error("the Temporal worker stopped", "error", err)
		stopProcess(fmt.Errorf("temporal worker stopped: %w", err))
	}
	w := worker.New(deps)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	go func() {
		// Temporal may still be starting: try until the schedule exists.
		for ctx.Err() == nil {
			if err := process.EnsureSchedules(ctx, tc, cfg.TaskQueue, cfg.TestDay.ReconcileEvery); err == nil {
				return
			} else {
				logger.Warn("reconciliation schedule not created yet", "error", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
			}
		}
	}()
	defer w.Stop()
	go worker.Reconcile(ctx, deps, 30*time.Second, 30*time.Second)
	if cfg.OutboxDrain {
		drainer := &notify.Drainer{Store: store, Mailer: mailer, Logger: logger.With("component", "outbox"), Registerer: reg}
		go drainer.Run(ctx, notify.DefaultInterval)
	}
	logger.Info("worker started", "task_queue", cfg.TaskQueue)
	err = serve(ctx, logger, cfg.WorkerAddr, process.OpsHandler(reg, func(ctx context.Context) error {
		return process.Ready(ctx, store, tc)
	}))
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

func runMigrate(ctx context.Context, args []string) error {
	fs := newFlags("migrate", "Prepare every store: apply the embedded PostgreSQL migrations, create the MinIO bucket with its\nlifecycle rules, and register the custom search attributes on the Temporal namespace. Idempotent.",
		envCommon+"\n  EXAMFLOW_MINIO_*         object store (see README.md)")
	skipTemporal := fs.Bool("skip-temporal", false, "do not register search attributes")
	skipObjects := fs.Bool("skip-objects", false, "do not prepare the MinIO bucket")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	logger := cfg.NewLogger().With("process", "migrate")
	return process.Prepare(ctx, cfg, logger, process.PrepareOptions{SkipObjects: *skipObjects, SkipTemporal: *skipTemporal})
}

// oidcFor returns the JWT verifier when OIDC is configured.
func oidcFor(ctx context.Context, a config.Auth) *api.OIDC {
	if !a.OIDCEnabled() {
		return nil
	}
	return api.NewOIDC(ctx, a.OIDCIssuer, a.OIDCJWKSURL, a.OIDCAudience, a.OIDCRolesClaim, a.OIDCSubjectClaim, a.OIDCRoleMap)
}
