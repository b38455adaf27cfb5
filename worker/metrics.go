package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/appeals"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// StateOptions configure a StateCollector.
type StateOptions struct {
	// Periods and Events are the retention overrides the worker runs with
	// (worker.Deps.RetentionPeriods, RetentionEvents): a deletion is overdue
	// under the same deadlines the workflows and the reconciliation use.
	Periods policy.Periods
	Events  map[policy.Category]policy.Event
	// DueSoon is how far ahead a data subject request counts as due soon
	// (DefaultDueSoon if zero).
	DueSoon time.Duration
	// Timeout bounds the queries of one scrape (DefaultStateTimeout if zero).
	Timeout time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Logger receives query failures (slog.Default if nil).
	Logger *slog.Logger
}

// StateCollector defaults.
const (
	DefaultDueSoon      = 72 * time.Hour
	DefaultStateTimeout = 3 * time.Second
)

// StateCollector exports gauges of examflow's current state, counted in
// PostgreSQL when Prometheus scrapes: the review backlog, open appeals,
// overdue and held deletions, and open data subject requests. Counts and
// dates only; the labels are codes (kind, status, category). A failed query
// leaves its gauges out and sets examflow_state_up to 0, so /metrics still
// answers while the database is down.
//
// Register one per registry, in the worker process; the API process
// exports examflow_subject_requests_overdue itself.
type StateCollector struct {
	store *storage.Store
	opts  StateOptions

	up, reviewsPending, reviewsOverdue, reviewsOldest, appealsOpen, deletionsOverdue, deletionsHeld,
	cheatingOpen, cheatingEscalated, cheatingOldest,
	requestsOpen, requestsDueSoon, requestsExtended, requestsNextDue *prometheus.Desc
}

// NewStateCollector returns the collector of the state gauges.
func NewStateCollector(store *storage.Store, o StateOptions) *StateCollector {
	if o.DueSoon <= 0 {
		o.DueSoon = DefaultDueSoon
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultStateTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &StateCollector{store: store, opts: o,
		up: d("examflow_state_up",
			"1 when every state gauge was read from PostgreSQL at this scrape; 0 when a query failed (its gauges are missing)."),
		reviewsPending: d("examflow_reviews_pending",
			"Manual reviews of held results opened and not decided."),
		reviewsOverdue: d("examflow_reviews_overdue",
			"Pending manual reviews past their due date (EXAMFLOW_REVIEW_DUE after opening)."),
		reviewsOldest: d("examflow_reviews_oldest_age_seconds",
			"Age of the oldest pending manual review, in seconds (0 when none is pending)."),
		appealsOpen: d("examflow_appeals_open",
			"Appeals not closed, by kind and status (open; county_governor while the County Governor decides).", "kind", "status"),
		deletionsOverdue: d("examflow_deletions_overdue",
			"Registrations whose data of a category is past its deletion deadline, not deleted and not on legal hold, by category.", "category"),
		deletionsHeld: d("examflow_deletions_held",
			"Registrations whose data of a category is past its deletion deadline and postponed by a legal hold (open cheating case or appeal), by category.", "category"),
		cheatingOpen: d("examflow_cheating_cases_open",
			"Provisional cheating reports not decided (each holds what the case needs: the answers, results, recordings and identity)."),
		cheatingEscalated: d("examflow_cheating_cases_escalated",
			"Undecided cheating cases escalated to case handlers because they stayed undecided past EXAMFLOW_CHEATING_ESCALATE_AFTER."),
		cheatingOldest: d("examflow_cheating_cases_oldest_age_seconds",
			"Age of the oldest undecided cheating case since its report, in seconds (0 when none is open)."),
		requestsOpen: d("examflow_subject_requests_open",
			"Data subject requests not answered, by kind.", "kind"),
		requestsDueSoon: d("examflow_subject_requests_due_soon",
			"Data subject requests not answered and not overdue that are due within the due-soon horizon (3 days by default), by kind.", "kind"),
		requestsExtended: d("examflow_subject_requests_extended",
			"Data subject requests not answered whose due date an extension moved beyond the first 30 days (with a reason the person was told), by kind.", "kind"),
		requestsNextDue: d("examflow_subject_requests_next_due_timestamp_seconds",
			"Earliest due date of the unanswered data subject requests, as a Unix time; absent when none is open."),
	}
}

// Describe implements prometheus.Collector.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.reviewsPending, c.reviewsOverdue, c.reviewsOldest, c.appealsOpen,
		c.deletionsOverdue, c.deletionsHeld, c.cheatingOpen, c.cheatingEscalated, c.cheatingOldest, c.requestsOpen, c.requestsDueSoon, c.requestsExtended, c.requestsNextDue} {
		ch <- d
	}
}

// appealStatuses are the statuses of an appeal that is not closed.
var appealStatuses = []string{"open", "county_governor"}

// requestKinds are the kinds of data subject requests.
var requestKinds = []string{cases.RequestAccess, cases.RequestRectification, cases.RequestRestriction, cases.RequestObjection}

// Collect implements prometheus.Collector: it queries PostgreSQL.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	now := c.opts.Now()
	up := 1.0
	failed := func(what string, err error) {
		up = 0
		c.opts.Logger.Warn("state metrics: query failed", "gauges", what, "error", err.Error())
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	if b, err := c.store.ReviewBacklog(ctx, now); err != nil {
		failed("reviews", err)
	} else {
		gauge(c.reviewsPending, float64(b.Pending))
		gauge(c.reviewsOverdue, float64(b.Overdue))
		age := 0.0
		if b.OldestOpenedAt != nil {
			age = max(now.Sub(*b.OldestOpenedAt).Seconds(), 0)
		}
		gauge(c.reviewsOldest, age)
	}

	if open, err := c.store.OpenAppeals(ctx); err != nil {
		failed("appeals", err)
	} else {
		for _, k := range appeals.Kinds() {
			for _, s := range appealStatuses {
				gauge(c.appealsOpen, float64(open[storage.AppealState{Kind: string(k), Status: s}]), string(k), s)
			}
		}
	}

	cutoffs := activities.RetentionCutoffs(c.opts.Periods, now)
	if counts, err := c.store.OverdueDeletionCounts(ctx, cutoffs, c.opts.Events[policy.Address] == policy.Registered); err != nil {
		failed("deletions", err)
	} else {
		for category, b := range counts {
			gauge(c.deletionsOverdue, float64(b.Overdue), category)
			gauge(c.deletionsHeld, float64(b.Held), category)
		}
	}

	if b, err := c.store.CheatingCases(ctx); err != nil {
		failed("cheating cases", err)
	} else {
		gauge(c.cheatingOpen, float64(b.Open))
		gauge(c.cheatingEscalated, float64(b.Escalated))
		age := 0.0
		if b.OldestReportedAt != nil {
			age = max(now.Sub(*b.OldestReportedAt).Seconds(), 0)
		}
		gauge(c.cheatingOldest, age)
	}

	if backlog, err := c.store.SubjectRequestBacklog(ctx, now, now.Add(c.opts.DueSoon)); err != nil {
		failed("subject requests", err)
	} else {
		var next *time.Time
		for _, k := range requestKinds {
			b := backlog[k]
			gauge(c.requestsOpen, float64(b.Open), k)
			gauge(c.requestsDueSoon, float64(b.DueSoon), k)
			gauge(c.requestsExtended, float64(b.Extended), k)
			if b.NextDue != nil && (next == nil || b.NextDue.Before(*next)) {
				next = b.NextDue
			}
		}
		if next != nil {
			gauge(c.requestsNextDue, float64(next.Unix()))
		}
	}

	gauge(c.up, up)
}
