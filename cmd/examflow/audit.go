package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/storage"
)

// errAuditBroken is returned when `examflow audit verify` finds the audit
// log broken, so the process exits non-zero.
var errAuditBroken = errors.New("the audit log is broken")

// runAudit runs `examflow audit <subcommand>`; verify is the only one.
func runAudit(ctx context.Context, args []string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(os.Stderr, "Usage: examflow audit verify [flags]\n\nSubcommands:\n  verify   check the audit log's hash chain and id sequence\n")
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "verify" {
		return errors.New("usage: examflow audit verify (see docs/audit.md)")
	}
	fs := newFlags("audit verify", "Walk the audit log in id order and check every row's hash, its link to the row before, and that no\n"+
		"id is missing. Prints \"audit log intact: N entries\" and the head hash to record elsewhere, or the first\n"+
		"broken row and exits 1. Needs only PostgreSQL.",
		"  EXAMFLOW_DATABASE_URL   the PostgreSQL connection string (see README.md)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audit verify takes no arguments, got %q", fs.Args())
	}
	cfg, err := config.LoadWithoutSecrets()
	if err != nil {
		return err
	}
	pool, err := storage.OpenPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	rep, err := storage.NewStore(pool, nil).VerifyAudit(ctx)
	if err != nil {
		return err
	}
	return printAuditReport(os.Stdout, rep)
}

// printAuditReport writes the verification result and returns
// errAuditBroken when the log is not intact.
func printAuditReport(w io.Writer, rep storage.AuditReport) error {
	if rep.Intact() {
		fmt.Fprintf(w, "audit log intact: %d entries\n", rep.Entries)
		fmt.Fprintf(w, "head: entry %d, hash %s\n", rep.HeadID, hex.EncodeToString(rep.HeadHash))
		return nil
	}
	b := rep.Broken
	fmt.Fprintf(w, "audit log broken at entry %d (%s): %s\n", b.ID, b.Problem, b.Detail)
	fmt.Fprintf(w, "intact before it: %d entries, up to entry %d, hash %s\n", rep.Entries, rep.HeadID, hex.EncodeToString(rep.HeadHash))
	return errAuditBroken
}
