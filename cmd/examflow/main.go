// Command examflow is the one binary of examflow: the HTTP API, the Temporal
// worker, the migrations, and the local development stack.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = []command{
	{"api", "serve the HTTP API", runAPI},
	{"worker", "run the Temporal worker (workflows and activities)", runWorker},
	{"migrate", "apply database migrations, create the bucket and its lifecycle rules, register search attributes", runMigrate},
	{"dev", "start the whole local stack (PostgreSQL, MinIO, Temporal, worker, API) until Ctrl-C", runDev},
	{"demo", "register a handful of fictional candidates through the API", runDemo},
	{"registry-sim", "run a Diploma Registry simulator (local stack and tests)", runRegistrySim},
	{"record-of-processing", "print the record of processing (--write FILE to write it), generated from the policy tables", runRecord},
	{"token", "create, list or revoke API keys (bearer tokens with roles)", runToken},
	{"audit", "verify the audit log's hash chain (audit verify)", runAudit},
	{"rekey-lookup", "rewrite the identifier blind index under a new EXAMFLOW_LOOKUP_KEY", runRekeyLookup},
}

func usage() {
	fmt.Fprintf(os.Stderr, "Usage: examflow <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'examflow <command> --help' for a command's flags. Configuration comes from\nEXAMFLOW_* environment variables; README.md lists them with their defaults.\n")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands {
		if c.name == os.Args[1] {
			err := c.run(ctx, os.Args[2:])
			if errors.Is(err, flag.ErrHelp) {
				return
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "examflow %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "examflow: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

// newFlags returns a flag set whose --help prints the command's summary and
// its environment variables.
func newFlags(name, summary, env string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: examflow %s [flags]\n\n%s\n", name, summary)
		if env != "" {
			fmt.Fprintf(fs.Output(), "\nEnvironment:\n%s\n", env)
		}
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintf(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}
