package process

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/storage"
)

// Ready reports whether PostgreSQL and Temporal answer.
func Ready(ctx context.Context, store *storage.Store, c client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := store.Ping(ctx); err != nil {
		return err
	}
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("%w: temporal: %w", storage.ErrUnavailable, err)
	}
	return nil
}

// OpsHandler serves /healthz, /readyz and /metrics for the worker process.
func OpsHandler(reg *prometheus.Registry, ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := ready(r.Context()); err != nil {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, `{"status":"unavailable"}`)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// EnsureSchedules creates the daily retention reconciliation Schedule if it
// does not exist. It is safe to call from every worker at start-up.
// It also creates the monthly statistics Schedule (EnsureStatisticsSchedule).
func EnsureSchedules(ctx context.Context, c client.Client, taskQueue string, every time.Duration) error {
	if err := EnsureStatisticsSchedule(ctx, c, taskQueue); err != nil {
		return err
	}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   cases.ReconciliationScheduleID,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Action: &client.ScheduleWorkflowAction{
			ID: reconciliationActionID, Workflow: cases.ReconciliationWorkflow, TaskQueue: taskQueue,
			StaticSummary: "Daily retention reconciliation: deletes what is past its date whatever became of its workflow",
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create reconciliation schedule: %w", err)
	}
	return nil
}
