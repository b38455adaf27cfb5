// Package process wires every examflow process from its configuration: the
// database pool and store, the object store, the Temporal client with the
// payload codec (codec.go) and the SDK's metrics bridged to Prometheus, the
// namespace's search attributes and Schedules (Prepare), and the health and
// metrics endpoints. The api and worker commands, the end-to-end tests and
// the benchmarks all open a Process, so they run examflow wired the same
// way. The Temporal worker itself is package worker.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	operatorservice "go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
	tlog "go.temporal.io/sdk/log"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/config"
)

// NewRegistry returns a Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// MetricsHandler bridges the Temporal SDK's metrics into a Prometheus
// registry through tally, with the domain metrics activities report
// (activities.Metrics) registered up front with their help text. The
// returned closer flushes and stops the scope.
func MetricsHandler(reg *prometheus.Registry, logger *slog.Logger) (client.MetricsHandler, func()) {
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       reg,
		Gatherer:         reg,
		DefaultTimerType: tallyprom.HistogramTimerType,
		OnRegisterError: func(err error) {
			logger.Warn("temporal metric registration failed", "error", err)
		},
	})
	registerDomainMetrics(reporter, logger)
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	scope = sdktally.NewPrometheusNamingScope(scope)
	return sdktally.NewMetricsHandler(scope), func() { _ = closer.Close() }
}

// Dial returns a lazy Temporal client: it connects on first use, so a process
// starts (and answers 503 from /readyz) while Temporal is still coming up.
// Every payload it sends or receives goes through the encrypting codec; it
// connects with TLS, a client certificate and an API key when configured.
func Dial(cfg config.Config, metrics client.MetricsHandler, logger *slog.Logger) (client.Client, error) {
	opts, err := ClientOptions(cfg, metrics, logger)
	if err != nil {
		return nil, err
	}
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return nil, fmt.Errorf("temporal client: %w", err)
	}
	return c, nil
}

// ClientOptions are the Temporal client options of the configuration: the
// frontend's address and namespace, the payload codec, TLS and credentials.
func ClientOptions(cfg config.Config, metrics client.MetricsHandler, logger *slog.Logger) (client.Options, error) {
	codec, err := CodecFor(cfg)
	if err != nil {
		return client.Options{}, err
	}
	tlsConfig, err := cfg.TemporalBoundary.ClientTLS()
	if err != nil {
		return client.Options{}, err
	}
	opts := client.Options{
		HostPort:          cfg.TemporalAddress,
		Namespace:         cfg.TemporalNamespace,
		Logger:            tlog.NewStructuredLogger(logger.With("component", "temporal-sdk")),
		MetricsHandler:    metrics,
		DataConverter:     codec.DataConverter(),
		FailureConverter:  codec.FailureConverter(),
		ConnectionOptions: client.ConnectionOptions{TLS: tlsConfig},
	}
	if key := cfg.TemporalBoundary.APIKey; key != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(key)
	}
	return opts, nil
}

// Workflow IDs of the Schedules' actions: their runs get these IDs with the
// time appended, so payloads sealed for them are left unbound.
const (
	statisticsActionID     = "monthly-statistics"
	reconciliationActionID = "retention-reconciliation"
)

// CodecFor returns the payload codec of the configured keys.
func CodecFor(cfg config.Config) (*Codec, error) {
	keys, current, err := cfg.PayloadKeys()
	if err != nil {
		return nil, err
	}
	c, err := NewCodec(keys, current)
	if err != nil {
		return nil, err
	}
	c.LeaveUnbound(statisticsActionID, reconciliationActionID)
	c.BindToWorkflows(cfg.TemporalBoundary.BindPayloads)
	return c, nil
}

// EnsureSearchAttributes registers examflow's custom search attributes on the
// namespace. Attributes that exist already are left as they are.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	existing, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	var missingNS *serviceerror.NamespaceNotFound
	var notFound *serviceerror.NotFound
	if errors.As(err, &missingNS) || errors.As(err, &notFound) {
		// The dev server makes its namespace; a cluster's is made by its
		// operator, with the retention period of docs/deployment.md.
		return fmt.Errorf("the Temporal namespace %q does not exist: create it with `temporal operator namespace create --namespace %s --retention 720h` "+
			"(docs/deployment.md), or set EXAMFLOW_TEMPORAL_NAMESPACE: %w", namespace, namespace, err)
	}
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range cases.SearchAttributes() {
		if have, ok := existing.GetCustomAttributes()[name]; ok {
			if have != typ {
				return fmt.Errorf("search attribute %s exists with type %s, want %s", name, have, typ)
			}
			continue
		}
		missing[name] = typ
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}
