package process

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/examflow/examflow/worker"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/registry"
	"github.com/examflow/examflow/storage"
)

// Process is what every examflow process shares, wired from the
// configuration: the database pool and the store with its keys, the object
// store, the test catalogue, the payload codec, the Prometheus registry
// with the Temporal SDK's metrics and a Temporal client reporting to it. The
// api and worker commands, the end-to-end tests and the benchmarks all open
// one, so they run examflow wired the same way.
type Process struct {
	Config    config.Config
	Logger    *slog.Logger
	Pool      *pgxpool.Pool
	Store     *storage.Store
	Objects   *storage.Objects
	Catalogue marking.Catalogue
	Codec     *Codec
	// Metrics is the registry the process serves on /metrics.
	Metrics  *prometheus.Registry
	Temporal client.Client
	closers  []func()
}

// Open wires a Process from cfg. The Temporal client connects lazily, so a
// process starts while Temporal is still starting. Close releases it.
func Open(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Process, error) {
	p := &Process{Config: cfg, Logger: logger}
	var err error
	if p.Catalogue, err = marking.LoadCatalogue(); err != nil {
		return nil, fmt.Errorf("test catalogue: %w", err)
	}
	if p.Codec, err = CodecFor(cfg); err != nil {
		return nil, fmt.Errorf("payload codec: %w", err)
	}
	if p.Objects, err = storage.NewObjects(cfg.MinIO); err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	masters, current, _ := cfg.MasterKeys()
	ring, err := storage.NewLocalKeyRing(masters, current)
	if err != nil {
		return nil, fmt.Errorf("master keys: %w", err)
	}
	if p.Pool, err = storage.OpenPool(ctx, cfg.DatabaseURL); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	p.closers = append(p.closers, p.Pool.Close)
	key, _ := cfg.LookupKey()
	p.Store = storage.NewStore(p.Pool, key).WithKeyRing(ring)
	p.Metrics = NewRegistry()
	metrics, closeMetrics := MetricsHandler(p.Metrics, logger)
	p.closers = append(p.closers, closeMetrics)
	if p.Temporal, err = Dial(cfg, metrics, logger); err != nil {
		p.Close()
		return nil, fmt.Errorf("temporal: %w", err)
	}
	p.closers = append(p.closers, p.Temporal.Close)
	return p, nil
}

// Close releases everything Open opened, newest first.
func (p *Process) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// PrepareOptions chooses which stores Prepare touches.
type PrepareOptions struct {
	// SkipObjects leaves the MinIO bucket alone.
	SkipObjects bool
	// SkipTemporal leaves the namespace's search attributes alone.
	SkipTemporal bool
}

// Prepare makes every store ready, idempotently: it applies the embedded
// PostgreSQL migrations, seeds the test catalogue, creates the MinIO bucket
// with its lifecycle rules and registers the custom search attributes on
// the Temporal namespace. `examflow migrate` runs it, as do `make run`, the
// end-to-end tests and the benchmarks before they start.
func Prepare(ctx context.Context, cfg config.Config, logger *slog.Logger, o PrepareOptions) error {
	pool, err := storage.OpenPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := storage.Migrate(ctx, pool, logger); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	cat, err := marking.LoadCatalogue()
	if err != nil {
		return fmt.Errorf("test catalogue: %w", err)
	}
	if err := storage.NewStore(pool, nil).SeedCatalogue(ctx, cat); err != nil {
		return fmt.Errorf("seed the test catalogue: %w", err)
	}
	logger.Info("test catalogue seeded", "versions", len(cat.Tests))
	if !o.SkipObjects {
		obj, err := storage.NewObjects(cfg.MinIO)
		if err != nil {
			return fmt.Errorf("object store: %w", err)
		}
		if err := obj.EnsureBucket(ctx); err != nil {
			return fmt.Errorf("bucket: %w", err)
		}
		logger.Info("bucket ready", "bucket", cfg.MinIO.Bucket, "audio_expiry_days", cfg.MinIO.AudioExpiryDays)
	}
	if !o.SkipTemporal {
		tc, err := Dial(cfg, nil, logger)
		if err != nil {
			return fmt.Errorf("temporal: %w", err)
		}
		defer tc.Close()
		if err := EnsureSearchAttributes(ctx, tc, cfg.TemporalNamespace); err != nil {
			return fmt.Errorf("search attributes: %w", err)
		}
		logger.Info("search attributes ready", "namespace", cfg.TemporalNamespace)
	}
	return nil
}

// WorkerDeps are the worker's dependencies wired from the process's
// configuration, with reg as the Diploma Registry client. `examflow worker`
// and the end-to-end tests both use them, so the tests run the worker as it
// is deployed.
func (p *Process) WorkerDeps(reg registry.Client) worker.Deps {
	cfg := p.Config
	periods, events, _ := cfg.Retention()
	return worker.Deps{Client: p.Temporal, Store: p.Store, TaskQueue: cfg.TaskQueue, Logger: p.Logger, Catalogue: p.Catalogue,
		TestDay: cfg.TestDay, Appeals: cfg.Appeals, CourseSurveyURL: cfg.Courses.SurveyURL,
		Namespace: cfg.TemporalNamespace, RetentionPeriods: periods, RetentionEvents: events, Objects: p.Objects,
		Registry: reg, Identity: identity.Options{AcceptPost2032Check: cfg.AcceptPost2032Check},
		StatisticsMinCell: int(cfg.Statistics.MinCell),
		CourseRetention:   cfg.Courses.Retention, CourseSurveyAfter: cfg.Courses.SurveyAfter, CourseNewsEvery: cfg.Courses.NewsEvery,
		SubjectRequestReminders: cfg.SubjectRequests.Reminders, SubjectRequestLiftNotice: cfg.SubjectRequests.LiftNotice}
}
