package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestDefaultBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{-1, time.Minute},
		{0, time.Minute},
		{1, time.Minute},
		{2, 2 * time.Minute},
		{3, 4 * time.Minute},
		{6, 32 * time.Minute},
		{7, time.Hour},
		{8, time.Hour},
		{64, time.Hour},
		{1 << 30, time.Hour},
	}
	for _, tt := range tests {
		if got := DefaultBackoff(tt.attempt); got != tt.want {
			t.Errorf("DefaultBackoff(%d) = %s, want %s", tt.attempt, got, tt.want)
		}
	}
	for a := 1; a < 100; a++ {
		if DefaultBackoff(a+1) < DefaultBackoff(a) {
			t.Fatalf("backoff shrinks after attempt %d", a)
		}
	}
}

func TestDrainerBackoffIsCapped(t *testing.T) {
	tests := []struct {
		name    string
		backoff func(int) time.Duration
		attempt int
		want    time.Duration
	}{
		{"default", nil, 3, 4 * time.Minute},
		{"zero", func(int) time.Duration { return 0 }, 5, 0},
		{"negative", func(int) time.Duration { return -time.Second }, 1, 0},
		{"above the cap", func(int) time.Duration { return 3 * time.Hour }, 2, time.Hour},
		{"custom", func(a int) time.Duration { return time.Duration(a) * time.Second }, 9, 9 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Drainer{Backoff: tt.backoff}
			if got := d.backoff(tt.attempt); got != tt.want {
				t.Errorf("backoff(%d) = %s, want %s", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestSafeText(t *testing.T) {
	addr := "kari.nordmann@example.org"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"classified", &Error{Reason: "smtp 451 at RCPT TO", Code: 451}, "smtp 451 at RCPT TO"},
		{"permanent", &Error{Reason: "smtp 550 5.1.1 at RCPT TO", Code: 550, Permanent: true}, "smtp 550 5.1.1 at RCPT TO (permanent)"},
		{"wrapped", fmt.Errorf("outer: %w", &Error{Reason: "smtp timeout"}), "smtp timeout"},
		{"deadline", fmt.Errorf("dial %s: %w", addr, context.DeadlineExceeded), "send timed out"},
		{"unclassified", errors.New("550 <" + addr + ">: no such user"), "send failed (unclassified *errors.errorString)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := safeText(tt.err)
			if got != tt.want {
				t.Errorf("safeText = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, addr) {
				t.Errorf("address leaked: %q", got)
			}
		})
	}
}

func TestDrainerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	quiet := slog.New(slog.DiscardHandler)
	m := newDrainerMetrics(reg, quiet)
	// A second drainer on the same registry shares the counters.
	m2 := newDrainerMetrics(reg, quiet)
	m.sent.WithLabelValues(m.label(KindResultReady)).Inc()
	m2.sent.WithLabelValues(m2.label(KindResultReady)).Inc()
	m.failed.WithLabelValues(m.label("no_such_kind")).Inc()

	// Known kinds are exported from the start, with the kind label only.
	want := map[string]float64{`examflow_notifications_failed_total{kind="unknown"}`: 1}
	for _, k := range Kinds() {
		want[`examflow_notifications_sent_total{kind="`+k+`"}`] = 0
		want[`examflow_notifications_failed_total{kind="`+k+`"}`] = 0
	}
	want[`examflow_notifications_sent_total{kind="result_ready"}`] = 2
	got := gather(t, reg)
	if len(got) != len(want) {
		t.Errorf("series = %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	// Without a registerer the counters still work.
	if newDrainerMetrics(nil, quiet).label(KindResultReady) != KindResultReady {
		t.Error("label")
	}
}

// gather returns every counter of reg as `name{label="value",...}` -> value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}

func TestDrainerNeedsStoreAndMailer(t *testing.T) {
	if _, err := (&Drainer{}).RunOnce(context.Background()); err == nil {
		t.Fatal("RunOnce without store and mailer succeeded")
	}
}

func TestDrainerRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Without a store every pass fails; Run logs and keeps going.
		(&Drainer{}).Run(ctx, 10*time.Millisecond)
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
