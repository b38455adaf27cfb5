package process

import (
	"log/slog"
	"slices"

	tallyprom "github.com/uber-go/tally/v4/prometheus"

	"github.com/examflow/examflow/activities"
)

// sdkTags are the labels the Temporal SDK puts on every metric an activity
// reports through activity.GetMetricsHandler: its root tags with the
// activity's workflow type, activity type and task queue. None names a
// person or a workflow.
var sdkTags = []string{"namespace", "client_name", "worker_type", "workflow_type", "activity_type", "task_queue"}

// registerDomainMetrics registers the activities' domain metrics
// (activities.Metrics) with the tally reporter before first use, so they are
// exported with their help text rather than tally's placeholder. The labels
// must be exactly those the reporter sees (sdkTags and the metric's own
// tags), or the reporter would register a second family and fail.
func registerDomainMetrics(r tallyprom.Reporter, logger *slog.Logger) {
	for _, m := range activities.Metrics() {
		tags := append(slices.Clone(sdkTags), m.Tags...)
		var err error
		switch m.Kind {
		case activities.KindCounter:
			_, err = r.RegisterCounter(m.Name+"_total", tags, m.Help)
		case activities.KindGauge:
			_, err = r.RegisterGauge(m.Name, tags, m.Help)
		}
		if err != nil {
			logger.Warn("domain metric registration failed", "metric", m.Name, "error", err)
		}
	}
}
