package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/notify"
	"github.com/examflow/examflow/registry"
	"github.com/examflow/examflow/storage"
	"github.com/examflow/examflow/worker"
)

const envCommon = `  EXAMFLOW_DATABASE_URL, EXAMFLOW_TEMPORAL_ADDRESS, EXAMFLOW_TEMPORAL_NAMESPACE,
  EXAMFLOW_TASK_QUEUE, EXAMFLOW_LOOKUP_KEY, EXAMFLOW_LOG_LEVEL (see README.md)`

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
	defer p.close()
	cfg, logger, store, tc, reg := p.cfg, p.logger, p.store, p.temporal, p.registry
	// Export links are signed with the lookup key (under their own label).
	lookupKey, _ := cfg.LookupKey()
	handler := api.New(api.Deps{
		Store: store, Temporal: tc, TaskQueue: cfg.TaskQueue, Logger: logger, Registry: reg, Catalogue: p.catalogue,
		Validation:        api.ValidationOptions{Now: time.Now, Identity: identity.Options{AcceptPost2032Check: cfg.AcceptPost2032Check}},
		Ready:             func(ctx context.Context) error { return worker.Ready(ctx, store, tc) },
		Codec:             p.codec,
		CodecCORSOrigins:  cfg.CodecCORSOrigins,
		Objects:           p.objects,
		AudioMaxBytes:     cfg.MinIO.AudioMaxBytes,
		Tokens:            store,
		OIDC:              oidcFor(ctx, cfg.Auth),
		CodecOpenLocal:    cfg.Auth.CodecOpenLocal,
		StatisticsMinCell: int(cfg.Statistics.MinCell),
		SubjectRequests: api.SubjectRequestOptions{Reminders: cfg.SubjectRequests.Reminders, LiftNotice: cfg.SubjectRequests.LiftNotice,
			ExportLinkTTL: cfg.SubjectRequests.ExportLinkTTL},
		ExportLinkKey: lookupKey,
		Courses: api.CourseOptions{PolicyVersion: cfg.Courses.PolicyVersion, SurveyAfter: cfg.Courses.SurveyAfter, NewsEvery: cfg.Courses.NewsEvery,
			Retention: cfg.Courses.Retention, PublicURL: cfg.Courses.PublicURL, LinkKey: lookupKey},
	})
	return serve(ctx, logger, cfg.APIAddr, handler)
}

// process is what the api and worker processes share: configuration, a
// JSON logger, the database pool and store, the Prometheus registry with the
// Temporal SDK's metrics, a lazy Temporal client and the test catalogue.
type process struct {
	cfg       config.Config
	logger    *slog.Logger
	pool      *pgxpool.Pool
	store     *storage.Store
	registry  *prometheus.Registry
	temporal  client.Client
	catalogue marking.Catalogue
	codec     *worker.Codec
	objects   *storage.Objects
	closers   []func()
}

func openProcess(ctx context.Context, name string) (*process, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	p := &process{cfg: cfg, logger: cfg.NewLogger().With("process", name)}
	slog.SetDefault(p.logger)
	if p.catalogue, err = marking.LoadCatalogue(); err != nil {
		return nil, err
	}
	if p.codec, err = worker.CodecFor(cfg); err != nil {
		return nil, err
	}
	if p.objects, err = storage.NewObjects(cfg.MinIO); err != nil {
		return nil, err
	}
	key, _ := cfg.LookupKey()
	if p.pool, err = storage.OpenPool(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	p.closers = append(p.closers, p.pool.Close)
	masters, current, _ := cfg.MasterKeys()
	ring, err := storage.NewLocalKeyRing(masters, current)
	if err != nil {
		p.close()
		return nil, err
	}
	p.store = storage.NewStore(p.pool, key).WithKeyRing(ring)
	p.registry = worker.NewRegistry()
	metrics, closeMetrics := worker.MetricsHandler(p.registry, p.logger)
	p.closers = append(p.closers, closeMetrics)
	if p.temporal, err = worker.Dial(cfg, metrics, p.logger); err != nil {
		p.close()
		return nil, err
	}
	p.closers = append(p.closers, p.temporal.Close)
	return p, nil
}

// close releases everything openProcess opened, newest first.
func (p *process) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

// serve runs an HTTP server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, logger *slog.Logger, addr string, h http.Handler) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
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
	defer p.close()
	cfg, logger, store, tc, reg := p.cfg, p.logger, p.store, p.temporal, p.registry
	mailer, err := notify.NewSMTPMailer(cfg.SMTP)
	if err != nil {
		return err
	}
	reg2, err := registry.NewHTTPClient(registry.Config{BaseURL: cfg.Registry.URL, TokenURL: cfg.Registry.TokenURL,
		ClientID: cfg.Registry.ClientID, ClientSecret: cfg.Registry.ClientSecret, Timeout: cfg.Registry.Timeout, Attempts: cfg.Registry.Attempts})
	if err != nil {
		return err
	}
	periods, events, _ := cfg.Retention()
	deps := worker.Deps{Client: tc, Store: store, TaskQueue: cfg.TaskQueue, Logger: logger, Catalogue: p.catalogue, TestDay: cfg.TestDay, Appeals: cfg.Appeals, CourseSurveyURL: cfg.Courses.SurveyURL,
		Namespace: cfg.TemporalNamespace, RetentionPeriods: periods, RetentionEvents: events, Objects: p.objects,
		Registry: reg2, Identity: identity.Options{AcceptPost2032Check: cfg.AcceptPost2032Check}}
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
			if err := worker.EnsureSchedules(ctx, tc, cfg.TaskQueue, cfg.TestDay.ReconcileEvery); err == nil {
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
	drainer := &notify.Drainer{Store: store, Mailer: mailer, Logger: logger.With("component", "outbox"), Registerer: reg}
	go drainer.Run(ctx, notify.DefaultInterval)
	logger.Info("worker started", "task_queue", cfg.TaskQueue)
	err = serve(ctx, logger, cfg.WorkerAddr, worker.OpsHandler(reg, func(ctx context.Context) error {
		return worker.Ready(ctx, store, tc)
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
	return migrateAll(ctx, cfg, logger, !*skipObjects, !*skipTemporal)
}

func migrateAll(ctx context.Context, cfg config.Config, logger *slog.Logger, objects, temporal bool) error {
	pool, err := storage.OpenPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := storage.Migrate(ctx, pool, logger); err != nil {
		return err
	}
	cat, err := marking.LoadCatalogue()
	if err != nil {
		return err
	}
	if err := storage.NewStore(pool, nil).SeedCatalogue(ctx, cat); err != nil {
		return err
	}
	logger.Info("test catalogue seeded", "versions", len(cat.Tests))
	if objects {
		obj, err := storage.NewObjects(cfg.MinIO)
		if err != nil {
			return err
		}
		if err := obj.EnsureBucket(ctx); err != nil {
			return err
		}
		logger.Info("bucket ready", "bucket", cfg.MinIO.Bucket, "audio_expiry_days", cfg.MinIO.AudioExpiryDays)
	}
	if temporal {
		tc, err := worker.Dial(cfg, nil, logger)
		if err != nil {
			return err
		}
		defer tc.Close()
		if err := worker.EnsureSearchAttributes(ctx, tc, cfg.TemporalNamespace); err != nil {
			return err
		}
		logger.Info("search attributes ready", "namespace", cfg.TemporalNamespace)
	}
	return nil
}

// oidcFor returns the JWT verifier when OIDC is configured.
func oidcFor(ctx context.Context, a config.Auth) *api.OIDC {
	if !a.OIDCEnabled() {
		return nil
	}
	return api.NewOIDC(ctx, a.OIDCIssuer, a.OIDCJWKSURL, a.OIDCAudience, a.OIDCRolesClaim, a.OIDCSubjectClaim, a.OIDCRoleMap)
}
