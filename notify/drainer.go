package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/examflow/examflow/storage"
)

// Drainer defaults, used where a field is zero.
const (
	DefaultBatch    = 50
	DefaultLease    = 5 * time.Minute
	DefaultInterval = 10 * time.Second
	// MaxBackoff caps the wait before a failed notification is retried,
	// whatever Backoff returns.
	MaxBackoff = time.Hour
	// markTimeout bounds recording an outcome, which runs even when the
	// drainer's context has just been cancelled (a sent mail must be
	// recorded, or it is sent again).
	markTimeout = 10 * time.Second
)

// Drainer sends the due notifications of the outbox. Several drainers (in
// several worker processes) may run at once: a claimed row is leased to one
// of them. On the happy path each notification is sent once, and it is
// marked sent right after the server accepts it; only a crash (or a database
// failure) between the two can send it again, after the lease.
//
// Logs carry the notification ID, kind, attempt and classified errors only,
// never an address or a name. Use a Drainer by pointer; it must not be
// copied after first use.
type Drainer struct {
	Store  *storage.Store
	Mailer Mailer
	// Logger receives one record per outcome; nil discards.
	Logger *slog.Logger
	// Batch is the number of rows claimed at a time (DefaultBatch).
	Batch int
	// Lease is how long claimed rows are reserved for this drainer
	// (DefaultLease). Sends start only in its first half, so it must be more
	// than twice the Mailer's timeout (SendTimeout for SMTPMailer).
	Lease time.Duration
	// Backoff is the wait before retrying after the attempt-th failed
	// attempt (1 for the first); DefaultBackoff if nil. The result is capped
	// at MaxBackoff.
	Backoff func(attempt int) time.Duration
	// Registerer, if not nil, receives examflow_notifications_sent_total and
	// examflow_notifications_failed_total (label: kind) on first use. A
	// second Drainer on the same Registerer shares the counters.
	Registerer prometheus.Registerer

	once    sync.Once
	metrics *drainerMetrics
}

// DefaultBackoff doubles from one minute per failed attempt, up to
// MaxBackoff: 1, 2, 4, ... 32 minutes, then one hour.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 7 {
		return MaxBackoff
	}
	return min(time.Minute<<(attempt-1), MaxBackoff)
}

// RunOnce claims one batch of due notifications and sends them. It returns
// how many the server accepted. Failures of single notifications are
// recorded on their rows, not returned; an error means the outbox could not
// be read or updated, or ctx ended.
func (d *Drainer) RunOnce(ctx context.Context) (sent int, err error) {
	sent, _, err = d.drain(ctx)
	return sent, err
}

// Run drains the outbox every interval (DefaultInterval if not positive),
// at once again while full batches are sent, until ctx ends.
func (d *Drainer) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent, claimed, err := d.drain(ctx)
		if err != nil && ctx.Err() == nil {
			d.logger().WarnContext(ctx, "notification outbox drain failed", "error", err.Error())
		}
		next := interval
		if err == nil && sent > 0 && claimed >= d.batch() {
			next = 0
		}
		t.Reset(next)
	}
}

func (d *Drainer) drain(ctx context.Context) (sent, claimed int, err error) {
	d.once.Do(func() { d.metrics = newDrainerMetrics(d.Registerer, d.logger()) })
	if d.Store == nil || d.Mailer == nil {
		return 0, 0, errors.New("notify: drainer needs a Store and a Mailer")
	}
	lease := d.lease()
	start := time.Now()
	batch, err := d.Store.ClaimNotifications(ctx, d.batch(), lease)
	if err != nil {
		return 0, 0, fmt.Errorf("claim notifications: %w", err)
	}
	// Sends start in the first half of the lease and must end before it
	// does, so no other drainer claims a row while it is being sent. Rows
	// not started are handed back at once (release); only a crash leaves
	// them leased until the lease ends.
	startBefore := start.Add(lease / 2)
	sendCtx, cancel := context.WithDeadline(ctx, start.Add(lease*9/10))
	defer cancel()
	for i, n := range batch {
		if err := ctx.Err(); err != nil {
			d.release(ctx, batch[i:])
			return sent, len(batch), err
		}
		if time.Now().After(startBefore) {
			d.logger().WarnContext(ctx, "notification batch outlasted half its lease; the rest is handed back",
				"left", len(batch)-i)
			d.release(ctx, batch[i:])
			break
		}
		ok, err := d.deliver(ctx, sendCtx, n)
		if ok {
			sent++
		}
		if err != nil {
			// Interrupted, this row was not sent: hand it back with the
			// rest. Otherwise its outcome failed to be recorded and it
			// stays leased (a sent one must not go out again at once).
			rest := batch[i+1:]
			if !ok && ctx.Err() != nil {
				rest = batch[i:]
			}
			d.release(ctx, rest)
			return sent, len(batch), err
		}
	}
	return sent, len(batch), nil
}

// release hands claimed rows that were not sent back to the outbox, even
// while ctx ends (the worker shutting down). If that fails too, the rows
// fall due when their lease ends.
func (d *Drainer) release(ctx context.Context, rows []storage.PendingNotification) {
	if len(rows) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if err := d.Store.ReleaseNotifications(rctx, rows); err != nil {
		d.logger().WarnContext(ctx, "unsent notifications not handed back; they are retried when their lease ends",
			"rows", len(rows), "error", err.Error())
	}
}

// deliver renders and sends one notification and records the outcome.
func (d *Drainer) deliver(ctx, sendCtx context.Context, n storage.PendingNotification) (sent bool, err error) {
	attempt := n.Attempts + 1
	log := d.logger().With("notification_id", n.ID.String(), "kind", n.Kind, "attempt", attempt)
	kind := d.metrics.label(n.Kind)

	subject, body, err := Render(n.Kind, TemplateData{GivenName: n.GivenName, FamilyName: n.FamilyName, Payload: n.Payload})
	if err == nil {
		err = d.Mailer.Send(sendCtx, Message{ID: n.ID.String(), To: n.Email, Subject: subject, Body: body})
	}
	// Record the outcome even if ctx was cancelled during the send.
	markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()

	if err == nil {
		d.metrics.sent.WithLabelValues(kind).Inc()
		if merr := d.Store.MarkNotificationSent(markCtx, n.ID); merr != nil {
			if errors.Is(merr, storage.ErrNotFound) {
				log.InfoContext(ctx, "notification sent; its row was deleted meanwhile")
				return true, nil
			}
			log.ErrorContext(ctx, "notification sent but not recorded; it may be sent again when the lease ends", "error", merr.Error())
			return true, fmt.Errorf("mark notification sent: %w", merr)
		}
		log.InfoContext(ctx, "notification sent")
		return true, nil
	}

	if ctx.Err() != nil {
		// Shutting down: not the message's fault. The row stays leased and
		// is tried again, without counting an attempt, when the lease ends.
		log.InfoContext(ctx, "notification send interrupted")
		return false, ctx.Err()
	}
	d.metrics.failed.WithLabelValues(kind).Inc()
	text := safeText(err)
	var merr error
	if IsPermanent(err) {
		merr = d.Store.MarkNotificationAbandoned(markCtx, n.ID, text)
		log.WarnContext(ctx, "notification failed for good", "error", text)
	} else {
		wait := d.backoff(attempt)
		merr = d.Store.MarkNotificationFailed(markCtx, n.ID, text, time.Now().Add(wait))
		log.WarnContext(ctx, "notification send failed; will retry", "error", text, "retry_in_seconds", wait.Seconds())
	}
	if merr != nil && !errors.Is(merr, storage.ErrNotFound) {
		log.ErrorContext(ctx, "notification failure not recorded", "error", merr.Error())
		return false, fmt.Errorf("mark notification failed: %w", merr)
	}
	return false, nil
}

func (d *Drainer) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

func (d *Drainer) batch() int {
	if d.Batch <= 0 {
		return DefaultBatch
	}
	return d.Batch
}

func (d *Drainer) lease() time.Duration {
	if d.Lease <= 0 {
		return DefaultLease
	}
	return d.Lease
}

func (d *Drainer) backoff(attempt int) time.Duration {
	f := d.Backoff
	if f == nil {
		f = DefaultBackoff
	}
	return min(max(f(attempt), 0), MaxBackoff)
}

type drainerMetrics struct {
	sent, failed *prometheus.CounterVec
	kinds        map[string]bool
}

func newDrainerMetrics(reg prometheus.Registerer, logger *slog.Logger) *drainerMetrics {
	m := &drainerMetrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "examflow_notifications_sent_total",
			Help: "Notifications the mail server accepted, by kind.",
		}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "examflow_notifications_failed_total",
			Help: "Failed notification send attempts (retried later or given up), by kind.",
		}, []string{"kind"}),
		kinds: map[string]bool{},
	}
	if reg != nil {
		m.sent = registerCounter(reg, m.sent, logger)
		m.failed = registerCounter(reg, m.failed, logger)
	}
	for _, k := range Kinds() {
		m.kinds[k] = true
		m.sent.WithLabelValues(k)
		m.failed.WithLabelValues(k)
	}
	return m
}

// label bounds the label values to the known kinds.
func (m *drainerMetrics) label(kind string) string {
	if m.kinds[kind] {
		return kind
	}
	return "unknown"
}

func registerCounter(reg prometheus.Registerer, c *prometheus.CounterVec, logger *slog.Logger) *prometheus.CounterVec {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing
		}
	}
	logger.Error("notification metrics not registered", "error", err.Error())
	return c
}
