package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// drive runs jobs 0..n-1 on c goroutines, each taking the next job when it
// is done with one (a closed-loop load driver). It returns each job's
// latency and the wall time of all of them; the first error stops it.
func drive(ctx context.Context, c, n int, job func(ctx context.Context, i int) error) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(c, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := job(ctx, i); err != nil {
					cancel(fmt.Errorf("job %d: %w", i, err))
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return nil, wall, err
	}
	return lat, wall, nil
}

// percentile is the nearest-rank percentile p (0 < p <= 1) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// median is the median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// sum adds durations up.
func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

// waitUntil calls check every interval until it reports done, and returns
// the time it first did. It gives up after within.
func waitUntil(ctx context.Context, within, interval time.Duration, what string, check func(context.Context) (bool, error)) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		done, err := check(ctx)
		if err != nil && ctx.Err() == nil {
			return time.Time{}, fmt.Errorf("%s: %w", what, err)
		}
		if done {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s: not within %s (last error: %v)", what, within, err)
		case <-time.After(interval):
		}
	}
}

// latest keeps the latest of the times it is given, from many goroutines.
type latest struct {
	mu sync.Mutex
	t  time.Time
}

func (l *latest) note(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.t) {
		l.t = t
	}
}

func (l *latest) get() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t
}
