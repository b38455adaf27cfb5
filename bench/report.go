package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// machine is what the run ran on, read from /proc.
type machine struct {
	CPU      string
	Cores    int
	MemoryKB int64
}

func readMachine() machine {
	m := machine{CPU: "unknown", Cores: runtime.NumCPU()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		cores := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			switch strings.TrimSpace(k) {
			case "model name":
				if m.CPU == "unknown" {
					m.CPU = strings.TrimSpace(v)
				}
			case "processor":
				cores++
			}
		}
		_ = f.Close()
		if cores > 0 {
			m.Cores = cores
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				m.MemoryKB, _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return m
}

// report is one run's figures on one stack.
type report struct {
	Stack        string
	Options      options
	Date         time.Time
	Machine      machine
	Versions     map[string]string
	Took         time.Duration
	TestDay      testDayResult
	Registration registrationResult
	Storage      storageResult
	Deletions    deletionResult
	Codec        codecResult
	// Retries counts API requests answered 503 and sent again.
	Retries int64
}

// row is one line of the results table. Ratio is examflow's cost over the
// baseline's: time, latency and bytes examflow/baseline, throughput and
// rates baseline/examflow. Spread is the lowest and highest ratio of the
// pairs of rounds, where a figure has them.
type row struct {
	Figure, What, Examflow, Baseline, Ratio, Spread string
}

func (r report) rows() []row {
	td, reg, st, del := r.TestDay, r.Registration, r.Storage, r.Deletions
	// Per pair of rounds: examflow's cost over the baseline's.
	var days, rates, p50s []float64
	for i := range td.ExamflowRounds {
		days = append(days, td.ExamflowRounds[i].Seconds()/td.BaselineRounds[i].Seconds())
	}
	for i := range reg.ExamflowRounds {
		e, b := reg.ExamflowRounds[i], reg.BaselineRounds[i]
		rates = append(rates, b.throughput()/e.throughput())
		p50s = append(p50s, e.P50.Seconds()/b.P50.Seconds())
	}
	delExam := float64(del.K) / del.Examflow.Seconds()
	delBase := float64(del.K) / del.Baseline.Seconds()
	deletions := fmt.Sprintf("%.1f registrations/s", delExam)
	if del.Late > -time.Second {
		deletions += " (milestones missed: does not stand)"
	}
	var cpus, mems []float64
	for i := range r.Codec.ExamflowRounds {
		e, b := r.Codec.ExamflowRounds[i], r.Codec.BaselineRounds[i]
		cpus = append(cpus, float64(e.NsPerOp())/float64(b.NsPerOp()))
		mems = append(mems, float64(e.AllocedBytesPerOp())/float64(b.AllocedBytesPerOp()))
	}
	codecE, codecB := pooledCodec(r.Codec.ExamflowRounds), pooledCodec(r.Codec.BaselineRounds)
	const none = "—"
	return []row{
		{"1", fmt.Sprintf("test day: time until %d candidates have a result", td.N),
			seconds(sum(td.ExamflowRounds)), seconds(sum(td.BaselineRounds)), medianRatio(days), spread(days)},
		{"2", fmt.Sprintf("registration throughput (%d requests, %d clients)", reg.M, reg.Concurrency),
			fmt.Sprintf("%.1f/s", reg.Examflow.throughput()), fmt.Sprintf("%.1f/s", reg.Baseline.throughput()), medianRatio(rates), spread(rates)},
		{"2", "registration latency p50", millis(reg.Examflow.P50), millis(reg.Baseline.P50), medianRatio(p50s), spread(p50s)},
		{"2", "registration latency p99 (of all rounds' requests)", millis(reg.Examflow.P99), millis(reg.Baseline.P99),
			ratio(reg.Examflow.P99.Seconds(), reg.Baseline.P99.Seconds()), none},
		{"3", "Temporal history bytes per candidate, closed lifecycle run and retention run",
			bytesOf(st.ExamflowHistory), bytesOf(st.BaselineHistory), ratio(st.ExamflowHistory, st.BaselineHistory), none},
		{"3", "Temporal's store per retained candidate, closed run deleted",
			bytesOf(st.ExamflowTemporal), bytesOf(st.BaselineTemporal), ratio(st.ExamflowTemporal, st.BaselineTemporal), none},
		{"3", "examflow's PostgreSQL per retained candidate (compacted)", bytesOf(st.ExamflowPG), bytesOf(st.BaselinePG), ratio(st.ExamflowPG, st.BaselinePG), none},
		{"3", "Temporal + examflow's PostgreSQL per retained candidate", bytesOf(st.ExamflowTemporal + st.ExamflowPG), bytesOf(st.BaselineTemporal + st.BaselinePG),
			ratio(st.ExamflowTemporal+st.ExamflowPG, st.BaselineTemporal+st.BaselinePG), none},
		{"4", fmt.Sprintf("deletions when %d milestones fall due together", del.K),
			deletions, fmt.Sprintf("%.0f rows/s", delBase), ratio(delBase, delExam), none},
		{"5", fmt.Sprintf("CPU per Update payload, encoded and decoded (%d B of JSON)", r.Codec.Bytes),
			micros(codecE.ns), micros(codecB.ns), medianRatio(cpus), spread(cpus)},
		{"5", "memory allocated per Update payload, encoded and decoded",
			fmt.Sprintf("%s in %d allocations", bytesOf(codecE.bytes), codecE.allocs), fmt.Sprintf("%s in %d allocations", bytesOf(codecB.bytes), codecB.allocs),
			medianRatio(mems), spread(mems)},
	}
}

// codecTotals are testing.Benchmark results pooled over rounds: time and
// bytes per operation, and allocations per operation.
type codecTotals struct {
	ns, bytes float64
	allocs    int64
}

func pooledCodec(rs []testing.BenchmarkResult) codecTotals {
	var n, ns, bytes, allocs int64
	for _, r := range rs {
		n += int64(r.N)
		ns += r.T.Nanoseconds()
		bytes += int64(r.MemBytes)
		allocs += int64(r.MemAllocs)
	}
	if n == 0 {
		return codecTotals{}
	}
	return codecTotals{ns: float64(ns) / float64(n), bytes: float64(bytes) / float64(n), allocs: allocs / n}
}

func micros(ns float64) string { return fmt.Sprintf("%.1f µs", ns/1000) }

// perOp formats one round of figure 5: time per operation.
func perOp(r testing.BenchmarkResult) string { return micros(float64(r.NsPerOp())) }

// table renders the results as a Markdown table.
func (r report) table() string {
	var sb strings.Builder
	sb.WriteString("| # | figure | examflow | baseline | ratio | spread |\n|---|---|---:|---:|---:|---:|\n")
	for _, x := range r.rows() {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s |\n", x.Figure, x.What, x.Examflow, x.Baseline, x.Ratio, x.Spread)
	}
	return sb.String()
}

// results are the latest report of each stack, kept in docs/benchmarks.json
// so that a run on one stack leaves the other's figures in the document.
type results map[string]report

// loadResults reads the results file; a missing file is no results.
func loadResults(path string) (results, error) {
	rs := results{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rs, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &rs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// save writes the results file.
func (rs results) save(path string) error {
	data, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// stacks are the stacks with results, dev first.
func (rs results) stacks() []string {
	var out []string
	for _, s := range []string{stackDev, stackCluster} {
		if _, ok := rs[s]; ok {
			out = append(out, s)
		}
	}
	return out
}

// stackNames are the stacks as the document names them.
var stackNames = map[string]string{
	stackDev:     "dev server (SQLite)",
	stackCluster: "cluster (Temporal Server on PostgreSQL, TLS)",
}

// The targets of the capacity model (docs/deployment.md): benchmark
// figures, never timed tests.
const (
	// targetThroughput is the least registration throughput as a share of
	// bare workflow starts.
	targetThroughput = 0.8
	// targetP99 is the most registration latency at the 99th percentile
	// with targetClients clients.
	targetP99     = 100 * time.Millisecond
	targetClients = 8
	// targetTemporal and targetPG are the most bytes per retained candidate
	// in Temporal's store and in examflow's PostgreSQL.
	targetTemporal = 8 << 10
	targetPG       = 4 << 10
)

// target is one target and whether a stack's run met it.
type target struct {
	What, Measured string
	Met            bool
}

func (r report) targets() []target {
	reg, st := r.Registration, r.Storage
	var rates []float64
	for i := range reg.ExamflowRounds {
		rates = append(rates, reg.ExamflowRounds[i].throughput()/reg.BaselineRounds[i].throughput())
	}
	share := median(rates)
	p99 := fmt.Sprintf("%s at %d clients", millis(reg.Examflow.P99), reg.Concurrency)
	return []target{
		{fmt.Sprintf("registration throughput at least %.1f× of bare workflow starts", targetThroughput),
			fmt.Sprintf("%.2f× (median of the pairs)", share), share >= targetThroughput},
		{fmt.Sprintf("registration p99 under %s at %d clients", millis(targetP99), targetClients),
			p99, reg.Concurrency == targetClients && reg.Examflow.P99 < targetP99},
		{fmt.Sprintf("at most %s in Temporal per retained candidate", bytesOf(targetTemporal)),
			bytesOf(st.ExamflowTemporal) + " (" + st.TemporalStore + ")", st.ExamflowTemporal <= targetTemporal},
		{fmt.Sprintf("at most %s in examflow's PostgreSQL per retained candidate", bytesOf(targetPG)),
			bytesOf(st.ExamflowPG), st.ExamflowPG <= targetPG},
	}
}

// markdown is docs/benchmarks.md: what each figure is and how to read it,
// then the targets and each stack's figures side by side, and each run's
// machine, sizes and details.
func (rs results) markdown() string {
	var sb strings.Builder
	sb.WriteString(`# Benchmarks

This file is written by ` + "`make bench`" + ` (` + "`go run ./bench`" + `); edit the text in ` + "`bench/report.go`" + `, not here, and
rewrite it from the kept figures with ` + "`go run ./bench -render`" + `. ` + "`make bench`" + ` starts a stack of its own exactly as the e2e tests do (PostgreSQL, MinIO and Temporal on
free ports in a temporary folder through ` + "`deploy/devstack`" + `, the worker in-process with its default
options, the API over real HTTP with an all-roles API key), measures five figures, and rewrites this
file. ` + "`make test`" + ` and CI never run it. The stack is a choice: ` + "`make bench`" + ` (or ` + "`STACK=dev`" + `) runs on
the Temporal CLI's dev server, which keeps its state in one SQLite file; ` + "`make bench STACK=cluster`" + `
runs on the cluster-shaped stack of ` + "`make test-cluster`" + `: Temporal Server (the pinned release) on
PostgreSQL with SQL visibility and a TLS frontend, the shape of a production deployment
(` + "`docs/deployment.md`" + `). Each stack's figures are kept in ` + "`docs/benchmarks.json`" + `, so a run on one stack
leaves the other's in place; each stack is measured against its own baselines, run on that stack in
the same run. Sizes are make variables:
` + "`make bench STACK=cluster BENCH_N=200 BENCH_M=200 BENCH_K=100 BENCH_CONCURRENCY=8`" + `.

## How to read the ratios

Timings on shared machines are noisy, so no absolute figure here means much alone, and none is
compared with a fixed threshold. Each figure is set against a **baseline measured in the same run on
the same machine**: the bare Temporal (or PostgreSQL) mechanism examflow is built on, doing the same
amount of work without examflow's logic. The **ratio is examflow's cost divided by the baseline's**:
examflow ÷ baseline for times, latencies and bytes, baseline ÷ examflow for throughputs and rates. So
every ratio reads "examflow costs this many times what the bare mechanism costs": 1 would be free,
higher is costlier. Compare ratios between runs and machines, not the absolute numbers: every
process (PostgreSQL, MinIO, Temporal, the worker, the API, the load driver) shares the machine's cores,
and the dev server writes one SQLite file (write-ahead log, synchronous writes off, as
` + "`deploy/devstack`" + ` starts it for tests and benchmarks) with a single writer, so those bound the absolute
times more than examflow's own work does. Bytes are less noisy than times, and they are what the
capacity model in ` + "`docs/deployment.md`" + ` is computed from.

Figures 1 and 2 are measured in pairs of rounds (five by default, ` + "`go run ./bench -pairs`" + `): N (or M)
is split into as many parts, and each part is run once by examflow and once by the baseline side by
side, the first of each pair alternating. A load that comes and goes on the machine then weighs on
both sides of a pair alike. Their **ratio is the median of the pairs' ratios**, and **spread** gives
the lowest and highest pair ratio: a wide spread says the machine was noisy during the run, and how
far to trust the median. Their absolute figures are totals (times) or pooled (throughput and
percentiles) over all rounds. Requests the API answers 503 ("try again") are sent again with the
same ` + "`Idempotency-Key`" + `, as the API asks clients to, and counted below.

## The figures

1. **Test day.** N candidates are registered and their answer sheets submitted through the API by
   the load driver's clients (a closed loop: each client registers, submits, takes the next); a
   round's time runs from its first registration until all its candidates have the stage
   ` + "`Result`" + ` in PostgreSQL (polled every 50 ms). Baseline: N bare workflows each running, one
   after another, as many no-op activities as a citizenship lifecycle runs up to ` + "`Result`" + `
   (counted in a calibration candidate's history), on the same worker and Temporal server, from as
   many clients in a closed loop (each starts a workflow, waits until it has completed, starts the
   next), until the last completes. examflow's clients move on once the answer sheet is accepted,
   before marking and release, so examflow has somewhat more in flight: that favours examflow. The
   ratio is what examflow's validation, storage, encryption, marking, search attributes and Updates
   cost on top of Temporal's own scheduling.
2. **Registration API.** M ` + "`POST /v1/registrations`" + ` from the load driver's clients (each a new
   fictional candidate), each waiting for its 201; throughput is M over the wall time, latencies the
   50th and 99th percentiles. Baseline: M workflow starts (` + "`ExecuteWorkflow`" + ` of a bare timer
   workflow) with the Temporal client from as many clients. The registration does more than the start
   (validation, a PostgreSQL transaction with sealed personal data, the audit log, the start itself)
   and the lifecycles it starts begin their first activities while the load runs.
3. **Bytes per candidate in the retention phase.** K candidates are taken through the test day to
   the retention phase (appeal window shortened to 2 s, as e2e does) and left asleep until their
   deletion milestones. First the Temporal history bytes per candidate (` + "`HistorySizeBytes`" + ` of the
   closed lifecycle run and the running retention run). Then the steady state of the years that
   follow: the closed lifecycle runs are deleted with examflow's own activity
   (` + "`DeleteClosedHistories`" + `, which the final deletion runs; the namespace's retention period deletes
   them after 30 days too), and what each retained candidate still costs is measured as the growth
   of Temporal's store (on the dev server the SQLite pages in use, read from the file's header, pages
   on its freelist excluded; on the cluster the ` + "`temporal`" + ` and ` + "`temporal_visibility`" + ` databases) and of
   examflow's PostgreSQL database, both with indexes and TOAST and compacted by ` + "`VACUUM FULL`" + `
   before each measurement, so the figure is the live rows, not the dead rows and free space
   autovacuum leaves for reuse (a live table carries some of that on top). Baseline: the same measures
   for K bare workflows asleep in one timer, the minimal durable workflow; they write nothing to
   examflow's database, so that row has no ratio. The candidates are measured with their address
   still held (its milestone is figure 4's), so the examflow figure is a little above the years after
   the address is deleted. The tables that grew most per candidate are listed under each run.
4. **Deletions when many deadlines fall on the same day.** The same K candidates' address and final
   (personal data) milestones are set to fall due at one instant, after figure 3 is measured; the
   time runs from that instant until the last retention run has completed: legal-hold checks, both
   categories deleted with their deletion records, MinIO checked for recordings, the closed lifecycle
   history deleted. Rate: K registrations over that time. Baseline: K single-row ` + "`DELETE`" + `
   statements on a scratch table in the same database, rows of random bytes as large as a candidate's
   PostgreSQL growth in figure 3, on as many connections as examflow's pool has (the pool bounds the
   worker's deletions too); the median of five passes, as one pass takes milliseconds.
5. **Payload encryption.** Every Temporal payload (workflow and activity inputs and results, Update
   arguments) goes through examflow's data converter, which encodes JSON and then seals it with
   AES-256-GCM under the current payload key (` + "`process/codec.go`" + `): the worker pays it for every
   payload it sends or reads, and so does the API. Measured in-process with ` + "`testing.Benchmark`" + `:
   a citizenship answer sheet of 36 answers (the largest Update payload of a test day) encoded to a
   payload and decoded back, CPU time and memory allocated per round trip. Baseline: the Temporal
   SDK's default data converter (JSON only) on the same sheet. In pairs of rounds like figures 1 and
   2; the absolute figures are pooled over the rounds.

## Targets

The capacity model in ` + "`docs/deployment.md`" + ` assumes these figures; a missed target is explained there
and by the tables that cost most under each run below.

`)
	for _, stack := range rs.stacks() {
		fmt.Fprintf(&sb, "- %s:\n", stackNames[stack])
		for _, t := range rs[stack].targets() {
			verdict := "met"
			if !t.Met {
				verdict = "**missed**"
			}
			fmt.Fprintf(&sb, "  - %s: %s, %s\n", t.What, t.Measured, verdict)
		}
	}
	sb.WriteString("\n## Latest runs\n\nEach stack's figures against its own baselines, ratio with the pairs' spread in brackets.\n\n")
	sb.WriteString(rs.sideBySide())
	for _, stack := range rs.stacks() {
		fmt.Fprintf(&sb, "\n### %s\n\n", stackNames[stack])
		sb.WriteString(rs[stack].details())
	}
	return sb.String()
}

// sideBySide renders every stack's rows as one table, a column group per
// stack; the figures' descriptions are the first stack's.
func (rs results) sideBySide() string {
	stacks := rs.stacks()
	if len(stacks) == 0 {
		return "No run yet.\n"
	}
	var sb strings.Builder
	sb.WriteString("| # | figure |")
	for _, stack := range stacks {
		fmt.Fprintf(&sb, " %s: examflow | baseline | ratio |", stack)
	}
	sb.WriteString("\n|---|---|" + strings.Repeat("---:|---:|---:|", len(stacks)) + "\n")
	rows := make([][]row, len(stacks))
	for i, stack := range stacks {
		rows[i] = rs[stack].rows()
	}
	for j, x := range rows[0] {
		fmt.Fprintf(&sb, "| %s | %s |", x.Figure, x.What)
		for i := range stacks {
			y := rows[i][j]
			r := y.Ratio
			if y.Spread != "—" {
				r += " (" + y.Spread + ")"
			}
			fmt.Fprintf(&sb, " %s | %s | %s |", y.Examflow, y.Baseline, r)
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// details are one run's machine, software, sizes and the figures' details.
func (r report) details() string {
	td, reg, st, del := r.TestDay, r.Registration, r.Storage, r.Deletions
	var sb strings.Builder
	mem := float64(r.Machine.MemoryKB) / (1 << 20)
	fmt.Fprintf(&sb, "- Date: %s\n", r.Date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&sb, "- Machine: %s, %d cores, %.1f GiB memory (from /proc)\n", r.Machine.CPU, r.Machine.Cores, mem)
	versions := []string{"Go " + r.Versions["Go"]}
	keys := make([]string, 0, len(r.Versions))
	for k := range r.Versions {
		if k != "Go" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		versions = append(versions, k+" "+r.Versions[k])
	}
	fmt.Fprintf(&sb, "- Software: %s\n", strings.Join(versions, ", "))
	fmt.Fprintf(&sb, "- Sizes: N=%d, M=%d, K=%d, %d concurrent clients, %d pairs of rounds; the whole run took %s\n",
		r.Options.N, r.Options.M, r.Options.K, r.Options.Concurrency, r.Options.Pairs, r.Took.Round(time.Second))
	fmt.Fprintf(&sb, "- Figure 1: a citizenship lifecycle ran %d activities up to `Result`, so each baseline workflow ran %d no-op activities. The answer sheets of each round were all accepted %s after its first registration (summed over the rounds). Rounds: examflow %s; baseline %s.\n",
		td.Activities, td.Activities, seconds(td.Submitted), join(td.ExamflowRounds, seconds), join(td.BaselineRounds, seconds))
	perSecond := func(s loadStats) string { return fmt.Sprintf("%.1f/s", s.throughput()) }
	fmt.Fprintf(&sb, "- Figure 2: wall time %s for the registrations, %s for the workflow starts. Rounds: examflow %s; baseline %s.\n",
		seconds(reg.Examflow.Wall), seconds(reg.Baseline.Wall), join(reg.ExamflowRounds, perSecond), join(reg.BaselineRounds, perSecond))
	fmt.Fprintf(&sb, "- Figure 3: %s of Temporal history per candidate, %s of it in the running retention run (the rest in the closed lifecycle run), for %s per timer workflow. Once the closed runs were deleted, each retained candidate held %s in Temporal's store (%s) and %s in examflow's PostgreSQL. Growth per candidate by table: Temporal %s; examflow %s. Growth per timer workflow by table: Temporal %s.\n",
		bytesOf(st.ExamflowHistory), bytesOf(st.ExamflowRetentionRun), bytesOf(st.BaselineHistory), bytesOf(st.ExamflowTemporal), st.TemporalStore,
		bytesOf(st.ExamflowPG), topTables(st.TemporalTables), topTables(st.PGTables), topTables(st.BaselineTables))
	fmt.Fprintf(&sb, "- Figure 4: milestones set %s after the retention candidates' registration began; all were in the retention phase and measured %s before them. %d deletion records written for %d registrations; all deleted %s after the milestone; the baseline's %d DELETEs of %d-byte rows on %d connections took %s (median of 5).\n",
		del.Margin, (-del.Late).Round(time.Millisecond), del.Records, del.K, seconds(del.Examflow), del.K, del.RowBytes, del.Concurrency, seconds(del.Baseline))
	fmt.Fprintf(&sb, "- Figure 5: the sheet is %d bytes of JSON and %d bytes sealed (the inner payload's encoding metadata, the nonce and the tag added; the key ID travels in the outer metadata). Rounds: examflow %s; baseline %s.\n",
		r.Codec.Bytes, r.Codec.SealedBytes, join(r.Codec.ExamflowRounds, perOp), join(r.Codec.BaselineRounds, perOp))
	fmt.Fprintf(&sb, "- Requests answered 503 and sent again: %d.\n", r.Retries)
	return sb.String()
}

// topTables formats the six tables that grew most.
func topTables(ts []tableBytes) string {
	if len(ts) == 0 {
		return "none"
	}
	return join(ts[:min(6, len(ts))], func(t tableBytes) string { return fmt.Sprintf("`%s` %s", t.Table, bytesOf(t.Bytes)) })
}

// join formats each of xs and joins them with commas.
func join[T any](xs []T, format func(T) string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = format(x)
	}
	return strings.Join(out, ", ")
}

// ratio formats a/b, or says why there is none.
func ratio(a, b float64) string {
	if b <= 0 || a < 0 {
		return "n/a"
	}
	return times(a / b)
}

func times(x float64) string {
	if x >= 10 {
		return fmt.Sprintf("%.0f×", x)
	}
	return fmt.Sprintf("%.2f×", x)
}

// medianRatio formats the median of pair ratios.
func medianRatio(xs []float64) string {
	if len(xs) == 0 {
		return "n/a"
	}
	return times(median(xs))
}

// spread formats the lowest and highest of pair ratios.
func spread(xs []float64) string {
	if len(xs) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(xs), slices.Max(xs))
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func millis(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// bytesOf formats a byte count (negative when files shrank).
func bytesOf(n float64) string {
	switch a := max(n, -n); {
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", n)
	}
}
