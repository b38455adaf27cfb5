package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/deploy/devstack"
	"github.com/examflow/examflow/policy"
)

// poll is how often the figures look for the state they wait for.
const poll = 50 * time.Millisecond

// settle is how long the stack is left alone before files are measured, so
// that the server's asynchronous work (visibility, task deletion) is done.
const settle = 3 * time.Second

// ---- Figure 1: the test day ----

// round is one side's share of a figure in one pair of rounds.
type round struct {
	examflow bool
	n        int
	// pair numbers the pairs of rounds.
	pair int
}

// pairedRounds splits n into pairs rounds of each side, examflow and
// baseline side by side, the first of each pair alternating (baseline
// first, then examflow first, ...). A load that comes and goes on a shared
// machine then weighs on both sides of each pair alike, and a stall in one
// round moves one pair's ratio, not the median.
func pairedRounds(n, pairs int) []round {
	pairs = max(1, min(pairs, n))
	var rs []round
	for p := range pairs {
		size := n / pairs
		if p < n%pairs {
			size++
		}
		first, second := round{false, size, p}, round{true, size, p}
		if p%2 == 1 {
			first, second = second, first
		}
		rs = append(rs, first, second)
	}
	return rs
}

// testDayResult is figure 1.
type testDayResult struct {
	N int
	// Activities is how many activities a citizenship lifecycle runs up to
	// its result, counted in a calibration candidate's history.
	Activities int
	// ExamflowRounds are, per pair, the time from a round's first
	// registration until every candidate of the round had its result;
	// BaselineRounds the time until every bare workflow of the round had
	// completed.
	ExamflowRounds, BaselineRounds []time.Duration
	// Submitted is, summed over the rounds, until the last answer sheet of
	// each round was accepted.
	Submitted time.Duration
}

// testDay registers candidates and submits their answer sheets through the
// API, Concurrency at a time, and times until all have a Result; the
// baseline runs bare workflows with as many no-op activities. N is split
// into paired rounds (see pairedRounds).
func (b *bench) testDay(ctx context.Context) (testDayResult, error) {
	r := testDayResult{N: b.opts.N}
	// Calibration (and warm-up): one candidate through to its result.
	form, err := b.session(ctx, b.apiURL, "BENCH-CAL")
	if err != nil {
		return r, err
	}
	c, err := b.register(ctx, b.apiURL, "BENCH-CAL")
	if err != nil {
		return r, err
	}
	if err := b.submit(ctx, b.apiURL, c.RegistrationID, form); err != nil {
		return r, err
	}
	if _, err := b.waitStage(ctx, "BENCH-CAL", cases.StageResult, 1); err != nil {
		return r, err
	}
	if r.Activities, err = b.activitiesIn(ctx, c.WorkflowID); err != nil {
		return r, err
	}
	b.say("  a citizenship lifecycle runs %d activities up to Result", r.Activities)

	rounds := pairedRounds(r.N, b.opts.Pairs)
	r.ExamflowRounds = make([]time.Duration, len(rounds)/2)
	r.BaselineRounds = make([]time.Duration, len(rounds)/2)
	for _, rd := range rounds {
		if !rd.examflow {
			took, err := b.activityWorkflows(ctx, rd.pair, rd.n, r.Activities)
			if err != nil {
				return r, fmt.Errorf("baseline: %w", err)
			}
			r.BaselineRounds[rd.pair] = took
			b.say("  pair %d baseline: %d workflows of %d no-op activities in %s", rd.pair+1, rd.n, r.Activities, took.Round(time.Millisecond))
			continue
		}
		centre := fmt.Sprintf("BENCH-TD%d", rd.pair)
		if form, err = b.session(ctx, b.apiURL, centre); err != nil {
			return r, err
		}
		start := time.Now()
		_, submitted, err := drive(ctx, b.opts.Concurrency, rd.n, func(ctx context.Context, _ int) error {
			c, err := b.register(ctx, b.apiURL, centre)
			if err != nil {
				return err
			}
			return b.submit(ctx, b.apiURL, c.RegistrationID, form)
		})
		if err != nil {
			return r, err
		}
		done, err := b.waitStage(ctx, centre, cases.StageResult, rd.n)
		if err != nil {
			return r, err
		}
		r.ExamflowRounds[rd.pair] = done.Sub(start)
		r.Submitted += submitted
		b.say("  pair %d examflow: %d candidates to their results in %s (answer sheets in after %s)", rd.pair+1, rd.n,
			done.Sub(start).Round(time.Millisecond), submitted.Round(time.Millisecond))
	}
	return r, nil
}

// waitStage waits until n registrations at centre have entered stage (the
// RecordStage activity wrote it: the lifecycle's last step into a stage)
// and returns when they had.
func (b *bench) waitStage(ctx context.Context, centre string, stage cases.Stage, n int) (time.Time, error) {
	return waitUntil(ctx, b.opts.Wait, poll, fmt.Sprintf("%d registrations at %s in stage %s", n, centre, stage), func(ctx context.Context) (bool, error) {
		var got int
		err := b.pool.QueryRow(ctx, `SELECT count(*) FROM registration_stages s JOIN registrations r ON r.id = s.registration_id
			WHERE r.test_centre = $1 AND s.stage = $2`, centre, string(stage)).Scan(&got)
		return got >= n, err
	})
}

// activitiesIn counts the activities scheduled in a workflow's history.
func (b *bench) activitiesIn(ctx context.Context, workflowID string) (int, error) {
	it := b.temporal.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return 0, err
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED {
			n++
		}
	}
	if n == 0 {
		return 0, errors.New("the calibration lifecycle ran no activities")
	}
	return n, nil
}

// activityWorkflows runs n bare workflows of k no-op activities from
// Concurrency clients in a closed loop, as the test day's driver runs
// candidates: each client starts a workflow, waits until it completed and
// starts the next. It returns the wall time of all.
func (b *bench) activityWorkflows(ctx context.Context, round, n, k int) (time.Duration, error) {
	_, wall, err := drive(ctx, b.opts.Concurrency, n, func(ctx context.Context, i int) error {
		run, err := b.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("bench-activities-%d-%d", round, i), TaskQueue: b.cfg.TaskQueue},
			activitiesWorkflow, k)
		if err != nil {
			return err
		}
		waitCtx, cancel := context.WithTimeout(ctx, b.opts.Wait)
		defer cancel()
		return b.waitRun(waitCtx, run.GetID())
	})
	return wall, err
}

// ---- Figure 2: registration API under load ----

// loadStats is what a load driver saw in one round.
type loadStats struct {
	N        int
	Wall     time.Duration
	P50, P99 time.Duration
}

// throughput is requests per second.
func (s loadStats) throughput() float64 { return float64(s.N) / s.Wall.Seconds() }

// registrationResult is figure 2.
type registrationResult struct {
	M, Concurrency int
	// ExamflowRounds and BaselineRounds are per pair.
	ExamflowRounds, BaselineRounds []loadStats
	// Examflow and Baseline are over every round: all requests over the
	// summed wall time, percentiles of all latencies.
	Examflow, Baseline loadStats
}

// registrationLoad sends M registrations to the API from Concurrency
// clients; the baseline starts M bare timer workflows with the Temporal
// client from as many. M is split into paired rounds (see pairedRounds).
// After each round the stack is left to finish what the round started.
func (b *bench) registrationLoad(ctx context.Context) (registrationResult, error) {
	r := registrationResult{M: b.opts.M, Concurrency: b.opts.Concurrency}
	if _, err := b.session(ctx, b.apiURL, "BENCH-REG"); err != nil {
		return r, err
	}
	rounds := pairedRounds(r.M, b.opts.Pairs)
	r.ExamflowRounds = make([]loadStats, len(rounds)/2)
	r.BaselineRounds = make([]loadStats, len(rounds)/2)
	var examLat, baseLat []time.Duration
	registered := 0
	for _, rd := range rounds {
		if !rd.examflow {
			lat, wall, err := drive(ctx, r.Concurrency, rd.n, func(ctx context.Context, i int) error {
				_, err := b.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("bench-start-%d-%d", rd.pair, i), TaskQueue: b.cfg.TaskQueue},
					timerWorkflow, 30*24*time.Hour)
				return err
			})
			if err != nil {
				return r, fmt.Errorf("baseline: %w", err)
			}
			st := loadStats{N: rd.n, Wall: wall, P50: percentile(lat, 0.50), P99: percentile(lat, 0.99)}
			r.BaselineRounds[rd.pair], baseLat = st, append(baseLat, lat...)
			b.say("  pair %d baseline: %d workflow starts, %.1f/s, p50 %s", rd.pair+1, rd.n, st.throughput(), st.P50.Round(time.Microsecond))
			// The workflows' first tasks run on the worker.
			time.Sleep(settle)
			continue
		}
		lat, wall, err := drive(ctx, r.Concurrency, rd.n, func(ctx context.Context, _ int) error {
			_, err := b.register(ctx, b.apiURL, "BENCH-REG")
			return err
		})
		if err != nil {
			return r, err
		}
		st := loadStats{N: rd.n, Wall: wall, P50: percentile(lat, 0.50), P99: percentile(lat, 0.99)}
		r.ExamflowRounds[rd.pair], examLat = st, append(examLat, lat...)
		b.say("  pair %d examflow: %d registrations, %.1f/s, p50 %s", rd.pair+1, rd.n, st.throughput(), st.P50.Round(time.Microsecond))
		// The lifecycles just started load their registrations: let them.
		registered += rd.n
		if _, err := b.waitStage(ctx, "BENCH-REG", cases.StageRegistered, registered); err != nil {
			return r, err
		}
		time.Sleep(settle)
	}
	r.Examflow = pooled(r.ExamflowRounds, examLat)
	r.Baseline = pooled(r.BaselineRounds, baseLat)
	return r, nil
}

// pooled sums rounds' requests and wall times and takes the percentiles of
// all their latencies.
func pooled(rounds []loadStats, lat []time.Duration) loadStats {
	var s loadStats
	for _, r := range rounds {
		s.N += r.N
		s.Wall += r.Wall
	}
	s.P50, s.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return s
}

// ---- Figures 3 and 4: the retention phase and its deletions ----

// storageResult is figure 3: bytes per candidate (examflow) and per bare
// timer workflow (baseline).
type storageResult struct {
	K int
	// History is the Temporal history bytes (HistorySizeBytes of every run:
	// a candidate's closed lifecycle run and its running retention run),
	// before the closed run is deleted.
	ExamflowHistory, BaselineHistory float64
	// ExamflowRetentionRun is the running retention run's share of
	// ExamflowHistory: what stays in Temporal for the years of the
	// retention phase once the closed lifecycle run is deleted.
	ExamflowRetentionRun float64
	// Temporal is the growth of Temporal's store per retained candidate
	// (or timer workflow) once closed runs are deleted: pages in use in
	// the dev server's SQLite file, or the cluster's two PostgreSQL
	// databases compacted (VACUUM FULL). TemporalStore names which.
	ExamflowTemporal, BaselineTemporal float64
	TemporalStore                      string
	// PG is the growth of examflow's PostgreSQL tables with their indexes
	// and TOAST, compacted (VACUUM FULL).
	ExamflowPG, BaselinePG float64
	// TemporalTables and PGTables are examflow's growth per candidate by
	// table, largest first: what costs; BaselineTables are Temporal's
	// tables' growth per timer workflow, what any workflow costs.
	TemporalTables, PGTables, BaselineTables []tableBytes
}

// tableBytes is one table's growth per candidate.
type tableBytes struct {
	Table string
	Bytes float64
}

// footprint is what figure 3 measures at one moment: the bytes in use by
// table in Temporal's store and in examflow's PostgreSQL.
type footprint struct{ temporal, examflow map[string]int64 }

// total sums a footprint's tables.
func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// perCandidate is the growth from before to after per k, and its tables
// that grew, largest first.
func perCandidate(before, after map[string]int64, k int) (float64, []tableBytes) {
	var ts []tableBytes
	for t, v := range after {
		if d := v - before[t]; d > 0 {
			ts = append(ts, tableBytes{t, float64(d) / float64(k)})
		}
	}
	slices.SortFunc(ts, func(a, b tableBytes) int { return cmp.Compare(b.Bytes, a.Bytes) })
	return float64(total(after)-total(before)) / float64(k), ts
}

// measure compacts and measures examflow's PostgreSQL and Temporal's
// store. PostgreSQL tables are rewritten with VACUUM FULL first, so the
// figure is the live rows and their indexes, not the dead rows and free
// space that autovacuum leaves for reuse; the SQLite file counts its pages
// in use (the pages on its freelist are free for reuse).
func (b *bench) measure(ctx context.Context) (footprint, error) {
	f := footprint{temporal: map[string]int64{}}
	var err error
	if f.examflow, err = compactedTables(ctx, b.pool); err != nil {
		return f, fmt.Errorf("examflow database: %w", err)
	}
	if !b.opts.cluster() {
		n, err := sqliteBytesInUse(filepath.Join(b.dir, "temporal.db"))
		f.temporal["temporal.db (pages in use)"] = n
		return f, err
	}
	port := b.stack.Config().PostgresPort
	for _, db := range []string{devstack.TemporalDatabase, devstack.TemporalVisibilityDatabase} {
		pool, err := pgxpool.New(ctx, fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", devstack.DatabaseUser, port, db))
		if err != nil {
			return f, err
		}
		tables, err := compactedTables(ctx, pool)
		pool.Close()
		if err != nil {
			return f, fmt.Errorf("%s database: %w", db, err)
		}
		for t, n := range tables {
			f.temporal[db+"."+t] = n
		}
	}
	return f, nil
}

// compactedTables runs VACUUM FULL on a database (as its superuser) and
// returns the size of each table in its public schema, with indexes and
// TOAST.
func compactedTables(ctx context.Context, pool *pgxpool.Pool) (map[string]int64, error) {
	if _, err := pool.Exec(ctx, `VACUUM FULL`); err != nil {
		return nil, fmt.Errorf("vacuum: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm')`)
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	var name string
	var size int64
	_, err = pgx.ForEachRow(rows, []any{&name, &size}, func() error { m[name] = size; return nil })
	return m, err
}

// sqliteBytesInUse is the bytes of the SQLite database at path in pages
// that are not on its freelist, read from the newest copy of its header:
// in the write-ahead log when page 1 was written there since the last
// checkpoint, else in the file (https://www.sqlite.org/fileformat.html).
func sqliteBytesInUse(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	header := make([]byte, 100)
	_, err = io.ReadFull(f, header)
	_ = f.Close()
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	if string(header[:16]) != "SQLite format 3\x00" {
		return 0, fmt.Errorf("%s is not an SQLite database", path)
	}
	pageSize := int64(binary.BigEndian.Uint16(header[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if wal, err := os.ReadFile(path + "-wal"); err == nil && len(wal) >= 32 {
		frame := 24 + int(binary.BigEndian.Uint32(wal[8:12]))
		salts := wal[16:24]
		// Frames of the current log carry its salts; a frame with other
		// salts is left over from before the log was restarted.
		for off := 32; off+frame <= len(wal) && bytes.Equal(wal[off+8:off+16], salts); off += frame {
			if binary.BigEndian.Uint32(wal[off:off+4]) == 1 {
				header = wal[off+24 : off+124]
			}
		}
	}
	pages := int64(binary.BigEndian.Uint32(header[28:32]))
	free := int64(binary.BigEndian.Uint32(header[36:40]))
	return (pages - free) * pageSize, nil
}

// deletionResult is figure 4.
type deletionResult struct {
	K int
	// Examflow is from the milestone until the last retention run completed
	// (both categories deleted, closed histories deleted).
	Examflow time.Duration
	// Records are the deletion records written for the K registrations.
	Records int
	// Baseline is K single-row DELETEs of RowBytes-byte rows on
	// Concurrency connections (the pool's size, which bounds the worker's
	// deletions too).
	Baseline    time.Duration
	RowBytes    int
	Concurrency int
	// Margin is how long after registration the milestones were set; Late,
	// when not well below zero, is how long after the milestone the
	// candidates were all in the retention phase and measured: the
	// deletions then did not fall due together (or began during figure 3's
	// measurement) and the figure does not stand.
	Margin, Late time.Duration
}

// retention measures figure 3 and then figure 4 on the same K candidates:
// their deletion milestones are set to fall due together, after the
// storage has been measured.
func (b *bench) retention(ctx context.Context, td testDayResult) (storageResult, deletionResult, error) {
	k := b.opts.K
	st := storageResult{K: k}
	del := deletionResult{K: k, Concurrency: int(b.pool.Config().MaxConns)}

	// Baseline of figure 3: K workflows asleep in a timer.
	b.say("  baseline: %d timer workflows", k)
	s0, err := b.measure(ctx)
	if err != nil {
		return st, del, err
	}
	ids := make([]string, k)
	if _, _, err := drive(ctx, b.opts.Concurrency, k, func(ctx context.Context, i int) error {
		ids[i] = fmt.Sprintf("bench-timer-%d", i)
		_, err := b.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: b.cfg.TaskQueue}, timerWorkflow, 30*24*time.Hour)
		return err
	}); err != nil {
		return st, del, fmt.Errorf("baseline: %w", err)
	}
	if err := b.waitSettled(ctx, ids, timerWorkflow); err != nil {
		return st, del, fmt.Errorf("baseline: %w", err)
	}
	time.Sleep(settle)
	s1, err := b.measure(ctx)
	if err != nil {
		return st, del, err
	}
	hist, _, err := b.historyBytes(ctx, ids)
	if err != nil {
		return st, del, err
	}
	st.BaselineHistory = float64(hist) / float64(k)
	st.BaselineTemporal, st.BaselineTables = perCandidate(s0.temporal, s1.temporal, k)
	st.BaselinePG, _ = perCandidate(s0.examflow, s1.examflow, k)
	st.TemporalStore = "SQLite pages in use"
	if b.opts.cluster() {
		st.TemporalStore = "PostgreSQL, compacted"
	}

	// examflow: a worker and API with the appeal window and the retention
	// periods shortened, as e2e's startRetentionStack does. Periods run
	// from the test date (today, midnight UTC): both milestones fall due
	// at the same instant, margin from now.
	const finalAfter = 2 * time.Second
	del.Margin = b.opts.Margin
	if del.Margin == 0 {
		each := sum(td.ExamflowRounds) / time.Duration(max(td.N, 1))
		// A candidate's way to the retention phase runs about twice the
		// test day's activities (publication, planning, continue-as-new);
		// then the closed runs are deleted and the databases compacted.
		del.Margin = (60*time.Second + finalAfter + 3*time.Duration(k)*each).Round(time.Second)
	}
	due := time.Now().Add(del.Margin)
	periods := policy.Periods{policy.Address: due.Sub(b.today), policy.PersonalData: due.Sub(b.today)}
	deps := b.deps
	deps.TaskQueue = b.cfg.TaskQueue + "-retention"
	deps.RetentionPeriods = periods
	deps.TestDay.FinalAfter = finalAfter
	deps.TestDay.HoldRecheck = time.Second
	deps.Appeals = config.DefaultAppeals()
	deps.Appeals.WritingWindow, deps.Appeals.C1Window = finalAfter, finalAfter
	if err := b.startWorker(deps); err != nil {
		return st, del, err
	}
	url := b.startAPI(deps.TaskQueue)
	form, err := b.session(ctx, url, "BENCH-RET")
	if err != nil {
		return st, del, err
	}
	b.say("  examflow: %d candidates to the retention phase; milestones due in %s", k, del.Margin)
	cands := make([]candidate, k)
	if _, _, err := drive(ctx, b.opts.Concurrency, k, func(ctx context.Context, i int) error {
		c, err := b.register(ctx, url, "BENCH-RET")
		if err != nil {
			return err
		}
		cands[i] = c
		return b.submit(ctx, url, c.RegistrationID, form)
	}); err != nil {
		return st, del, err
	}
	ids = make([]string, k)
	regIDs := make([]string, k)
	for i, c := range cands {
		ids[i], regIDs[i] = c.WorkflowID, c.RegistrationID
	}
	if err := b.waitSettled(ctx, ids, cases.RetentionWorkflow); err != nil {
		return st, del, err
	}
	var current int64
	if hist, current, err = b.historyBytes(ctx, ids); err != nil {
		return st, del, err
	}
	st.ExamflowHistory = float64(hist) / float64(k)
	st.ExamflowRetentionRun = float64(current) / float64(k)
	// The steady state of the retention phase: the closed lifecycle runs
	// deleted as examflow's final deletion deletes them (and as the
	// namespace's retention period would after 30 days).
	b.say("  examflow: deleting the %d closed lifecycle runs", k)
	if err := b.deleteClosedRuns(ctx, ids, regIDs); err != nil {
		return st, del, err
	}
	time.Sleep(settle)
	s2, err := b.measure(ctx)
	if err != nil {
		return st, del, err
	}
	st.ExamflowTemporal, st.TemporalTables = perCandidate(s1.temporal, s2.temporal, k)
	st.ExamflowPG, st.PGTables = perCandidate(s1.examflow, s2.examflow, k)
	// Measured before any deletion began?
	del.Late = time.Since(due)
	b.say("  per retained candidate: Temporal %+.0f B (%s), PostgreSQL %+.0f B; per timer workflow: Temporal %+.0f B",
		st.ExamflowTemporal, st.TemporalStore, st.ExamflowPG, st.BaselineTemporal)
	if del.Late > -time.Second {
		b.say("  WARNING: the candidates were in the retention phase and measured only %s after their milestones; raise -margin", del.Late.Round(time.Millisecond))
	}

	// Figure 4: every milestone falls due at once.
	b.say("  examflow: waiting for the milestones (%s)", time.Until(due).Round(time.Second))
	waitCtx, cancel := context.WithTimeout(ctx, time.Until(due)+b.opts.Wait)
	defer cancel()
	var wg sync.WaitGroup
	var last latest
	errs := make(chan error, k)
	for _, id := range ids {
		wg.Go(func() {
			if err := b.waitRun(waitCtx, id); err != nil {
				errs <- err
				return
			}
			last.note(time.Now())
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return st, del, err
	default:
	}
	del.Examflow = last.get().Sub(due)
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM deletion_records WHERE registration_id = ANY($1::uuid[])`, regIDs).Scan(&del.Records); err != nil {
		return st, del, err
	}
	b.say("  examflow: %d registrations deleted (%d deletion records) %s after the milestone", k, del.Records, del.Examflow.Round(time.Millisecond))

	del.RowBytes = int(min(max(st.ExamflowPG, 64), 1<<20))
	b.say("  baseline: %d DELETEs of %d-byte rows on %d connections", k, del.RowBytes, del.Concurrency)
	if del.Baseline, err = b.plainDeletes(ctx, k, del.RowBytes, del.Concurrency); err != nil {
		return st, del, fmt.Errorf("baseline: %w", err)
	}
	b.say("  baseline: %s", del.Baseline.Round(time.Millisecond))
	return st, del, nil
}

// waitRun waits for a workflow to complete, following its runs (continue
// as new). The SDK's long poll gives up now and then while the server is
// busy; it is asked again until ctx ends, and then the workflow's pending
// activities say where it stands.
func (b *bench) waitRun(ctx context.Context, id string) error {
	for {
		err := b.temporal.GetWorkflow(ctx, id, "").Get(ctx, nil)
		var deadline *serviceerror.DeadlineExceeded
		switch {
		case err == nil:
			return nil
		case ctx.Err() == nil && (errors.As(err, &deadline) || errors.Is(err, context.DeadlineExceeded)):
			continue
		}
		var where []string
		if d, derr := b.temporal.DescribeWorkflowExecution(context.WithoutCancel(ctx), id, ""); derr == nil {
			where = append(where, d.GetWorkflowExecutionInfo().GetType().GetName(), d.GetWorkflowExecutionInfo().GetStatus().String())
			for _, a := range d.GetPendingActivities() {
				where = append(where, fmt.Sprintf("pending %s (attempt %d: %s)", a.GetActivityType().GetName(), a.GetAttempt(), a.GetLastFailure().GetMessage()))
			}
		}
		return fmt.Errorf("%s %v: %w", id, where, err)
	}
}

// waitSettled waits until the current run of every workflow is of type
// typ, has run its first workflow task and has none pending: asleep in its
// timer. A run of type typ that has completed already counts too (its
// timer fired before the others got there): the caller sees it is late.
func (b *bench) waitSettled(ctx context.Context, ids []string, typ string) error {
	pending := append([]string(nil), ids...)
	_, err := waitUntil(ctx, b.opts.Wait, 4*poll, fmt.Sprintf("%d workflows asleep as %s", len(ids), typ), func(ctx context.Context) (bool, error) {
		var still []string
		for _, id := range pending {
			d, err := b.temporal.DescribeWorkflowExecution(ctx, id, "")
			if err != nil {
				return false, err
			}
			info := d.GetWorkflowExecutionInfo()
			switch {
			case info.GetType().GetName() != typ:
				still = append(still, id)
			case info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			case info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
				return false, fmt.Errorf("%s is %s", id, info.GetStatus())
			case info.GetHistoryLength() < 5 || d.GetPendingWorkflowTask() != nil:
				still = append(still, id)
			}
		}
		pending = still
		return len(pending) == 0, nil
	})
	return err
}

// historyBytes sums the history size of every run of the workflows: the
// current one and, where it continued as new, the first; current is the
// current runs' share.
func (b *bench) historyBytes(ctx context.Context, ids []string) (all, current int64, err error) {
	for _, id := range ids {
		d, err := b.temporal.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return 0, 0, err
		}
		info := d.GetWorkflowExecutionInfo()
		all += info.GetHistorySizeBytes()
		current += info.GetHistorySizeBytes()
		if first := info.GetFirstRunId(); first != "" && first != info.GetExecution().GetRunId() {
			f, err := b.temporal.DescribeWorkflowExecution(ctx, id, first)
			if err != nil {
				return 0, 0, err
			}
			all += f.GetWorkflowExecutionInfo().GetHistorySizeBytes()
		}
	}
	return all, current, nil
}

// deleteClosedRuns deletes the closed runs of the registrations' workflows
// with examflow's own activity (the final deletion's) and waits until
// Temporal no longer knows them.
func (b *bench) deleteClosedRuns(ctx context.Context, ids, regIDs []string) error {
	r := &activities.Retention{Temporal: b.temporal, Namespace: b.cfg.TemporalNamespace, Logger: b.quiet}
	firsts := make([]string, len(ids))
	for i, id := range ids {
		d, err := b.temporal.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return err
		}
		if info := d.GetWorkflowExecutionInfo(); info.GetFirstRunId() != info.GetExecution().GetRunId() {
			firsts[i] = info.GetFirstRunId()
		}
	}
	// Visibility answers the activity's query a moment after a run
	// closes: a registration whose first run is still there after a few
	// seconds is asked again.
	polls := 0
	_, err := waitUntil(ctx, b.opts.Wait, 4*poll, fmt.Sprintf("%d closed runs deleted", len(ids)), func(ctx context.Context) (bool, error) {
		left := 0
		for i, first := range firsts {
			if first == "" {
				continue
			}
			if polls%25 == 0 {
				if err := r.DeleteClosedHistories(ctx, regIDs[i]); err != nil {
					return false, err
				}
			}
			_, err := b.temporal.DescribeWorkflowExecution(ctx, ids[i], first)
			var gone *serviceerror.NotFound
			if errors.As(err, &gone) {
				firsts[i] = ""
				continue
			}
			if err != nil {
				return false, err
			}
			left++
		}
		polls++
		return left == 0, nil
	})
	return err
}

// plainDeletes fills a scratch table with k rows of size random bytes and
// deletes them, one DELETE statement each, on c connections. It does so
// deleteReps times and returns the median wall time: one pass takes only
// milliseconds, too short to time once.
func (b *bench) plainDeletes(ctx context.Context, k, size, c int) (time.Duration, error) {
	if _, err := b.pool.Exec(ctx, `CREATE TABLE bench_scratch (id bigint PRIMARY KEY, payload bytea NOT NULL)`); err != nil {
		return 0, err
	}
	defer func() { _, _ = b.pool.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS bench_scratch`) }()
	walls := make([]time.Duration, 0, deleteReps)
	for range deleteReps {
		rows := make([][]any, k)
		for i := range rows {
			payload := make([]byte, size)
			_, _ = rand.Read(payload)
			rows[i] = []any{int64(i), payload}
		}
		if _, err := b.pool.CopyFrom(ctx, pgx.Identifier{"bench_scratch"}, []string{"id", "payload"}, pgx.CopyFromRows(rows)); err != nil {
			return 0, err
		}
		_, wall, err := drive(ctx, c, k, func(ctx context.Context, i int) error {
			tag, err := b.pool.Exec(ctx, `DELETE FROM bench_scratch WHERE id = $1`, int64(i))
			if err == nil && tag.RowsAffected() != 1 {
				err = fmt.Errorf("deleted %d rows", tag.RowsAffected())
			}
			return err
		})
		if err != nil {
			return 0, err
		}
		walls = append(walls, wall)
	}
	return percentile(walls, 0.5), nil
}

// deleteReps is how many times the plain deletions are timed.
const deleteReps = 5
