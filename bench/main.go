// Command bench measures examflow against baselines on a stack of its own
// and writes the figures to docs/benchmarks.md (make bench).
//
// It starts PostgreSQL, MinIO and the Temporal dev server on free ports in a
// temporary folder through deploy/devstack, as the e2e tests do, runs the
// worker in-process and serves the API over real HTTP, and measures:
//
//  1. the test day: N candidates registered and N answer sheets submitted
//     through the API, until every one has an automated result; against N
//     bare workflows each running as many no-op activities;
//  2. registration throughput and latency under a small concurrent load
//     driver; against starting as many workflows with the Temporal client;
//  3. bytes in Temporal and PostgreSQL per candidate in the retention phase;
//     against bare workflows asleep in a timer;
//  4. deletions per second when K retention milestones fall due together;
//     against K plain DELETE statements in a scratch table;
//  5. CPU time and memory per Update payload through examflow's encrypting
//     data converter, with testing.Benchmark; against the SDK's default
//     data converter (JSON only).
//
// Every figure is a ratio against a baseline measured in the same run on the
// same machine: timings on shared machines are noisy, ratios less so. It is
// not a test: `go test ./...` and `make test` never run it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// options are the sizes of a run.
type options struct {
	// N candidates on the test day (figure 1).
	N int
	// M registrations for the load driver (figure 2).
	M int
	// K candidates in the retention phase and deletions (figures 3 and 4).
	K int
	// Concurrency is the load driver's number of concurrent clients.
	Concurrency int
	// Pairs is how many pairs of rounds (examflow and baseline side by
	// side) figures 1 and 2 are split into.
	Pairs int
	// Margin is how long after the retention candidates' registration their
	// deletion milestones fall due; zero estimates it from figure 1.
	Margin time.Duration
	// Wait bounds each wait for the workflows to reach a state.
	Wait time.Duration
	// Stack is the stack measured: "dev" (the Temporal CLI's dev server on
	// SQLite) or "cluster" (Temporal Server on PostgreSQL with a TLS
	// frontend, as make test-cluster runs it).
	Stack string
	// Out is the Markdown file written; its figures are kept per stack in
	// Out with .json for .md, so a run on one stack keeps the other's.
	// ToolsDir holds temporal and minio (and temporal-server for the
	// cluster). Neither is kept with the figures: they name this machine's
	// folders.
	Out      string `json:"-"`
	ToolsDir string `json:"-"`
}

// cluster is whether the run is on the cluster-shaped stack.
func (o options) cluster() bool { return o.Stack == stackCluster }

// The stacks make bench runs on.
const (
	stackDev     = "dev"
	stackCluster = "cluster"
)

func main() {
	var o options
	flag.IntVar(&o.N, "n", 200, "candidates on the test day (figure 1)")
	flag.IntVar(&o.M, "m", 200, "registrations sent by the load driver (figure 2)")
	flag.IntVar(&o.K, "k", 100, "candidates in the retention phase and deletions (figures 3 and 4)")
	flag.IntVar(&o.Concurrency, "c", 8, "concurrent clients of the load driver")
	flag.IntVar(&o.Pairs, "pairs", 5, "pairs of rounds (examflow, baseline) figures 1 and 2 are split into")
	flag.DurationVar(&o.Margin, "margin", 0, "time from the retention candidates' registration to their deletion milestones (0: estimated from figure 1)")
	flag.DurationVar(&o.Wait, "wait", 5*time.Minute, "longest wait for workflows to reach a state")
	flag.StringVar(&o.Stack, "stack", stackDev, "stack to measure: dev (Temporal dev server on SQLite) or cluster (Temporal Server on PostgreSQL, TLS)")
	flag.StringVar(&o.Out, "out", "docs/benchmarks.md", "Markdown file to write")
	flag.StringVar(&o.ToolsDir, "tools", os.Getenv("EXAMFLOW_TOOLS_DIR"), "folder of the temporal and minio binaries (default .tools/bin)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: go run ./bench [flags]\n\n"+
			"Starts a stack of its own, measures five figures against baselines and writes them to -out.\n\n")
		flag.PrintDefaults()
	}
	render := flag.Bool("render", false, "only rewrite -out from the figures kept beside it (after editing the text in bench/report.go)")
	flag.Parse()
	if *render {
		if err := renderOnly(o.Out); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if o.N < 1 || o.M < 1 || o.K < 1 || o.Concurrency < 1 || o.Pairs < 1 {
		fmt.Fprintln(os.Stderr, "bench: -n, -m, -k, -c and -pairs must be at least 1")
		os.Exit(2)
	}
	if o.Stack != stackDev && o.Stack != stackCluster {
		fmt.Fprintf(os.Stderr, "bench: -stack is %q; it must be %s or %s\n", o.Stack, stackDev, stackCluster)
		os.Exit(2)
	}
	if o.ToolsDir == "" {
		o.ToolsDir, _ = filepath.Abs(".tools/bin")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// renderOnly rewrites the Markdown file from the kept figures.
func renderOnly(out string) error {
	rs, err := loadResults(strings.TrimSuffix(out, ".md") + ".json")
	if err != nil {
		return err
	}
	return os.WriteFile(out, []byte(rs.markdown()), 0o644)
}

// run starts the stack, measures the five figures in order and writes the
// report. The order matters: figure 3 measures file growth before figure 4
// deletes anything, and figure 4's milestones are set from figure 1's pace.
func run(ctx context.Context, o options) error {
	started := time.Now()
	b, err := startBench(ctx, o)
	if err != nil {
		return err
	}
	defer b.close()
	rep := report{Stack: o.Stack, Options: o, Date: time.Now().UTC(), Machine: readMachine()}
	rep.Versions = b.versions(ctx)
	rep.Versions["Go"] = strings.TrimPrefix(runtime.Version(), "go")
	// The other stack's latest figures stay in the document.
	resultsFile := strings.TrimSuffix(o.Out, ".md") + ".json"
	rs, err := loadResults(resultsFile)
	if err != nil {
		return err
	}

	b.say("figure 1: test day, N=%d", o.N)
	if rep.TestDay, err = b.testDay(ctx); err != nil {
		return fmt.Errorf("figure 1: %w", err)
	}
	b.say("figure 2: registration API, M=%d, %d clients", o.M, o.Concurrency)
	if rep.Registration, err = b.registrationLoad(ctx); err != nil {
		return fmt.Errorf("figure 2: %w", err)
	}
	b.say("figures 3 and 4: retention phase and deletions, K=%d", o.K)
	if rep.Storage, rep.Deletions, err = b.retention(ctx, rep.TestDay); err != nil {
		return fmt.Errorf("figures 3 and 4: %w", err)
	}
	b.say("figure 5: payload codec, %d pairs of rounds", o.Pairs)
	if rep.Codec, err = b.payloadCodec(); err != nil {
		return fmt.Errorf("figure 5: %w", err)
	}
	rep.Took = time.Since(started)
	rep.Retries = b.retries.Load()
	rs[o.Stack] = rep
	if err := rs.save(resultsFile); err != nil {
		return err
	}
	if err := os.WriteFile(o.Out, []byte(rs.markdown()), 0o644); err != nil {
		return err
	}
	fmt.Print(rep.table())
	b.say("wrote %s and %s", o.Out, resultsFile)
	return nil
}
