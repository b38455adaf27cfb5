package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// runRekeyLookup rewrites the identifier blind index under the configured
// EXAMFLOW_LOOKUP_KEY (docs/secrets.md).
func runRekeyLookup(ctx context.Context, args []string) error {
	fs := newFlags("rekey-lookup", `Rewrite the identifier blind index under EXAMFLOW_LOOKUP_KEY: every candidate's sealed identifiers
are opened with their data key and their lookups written anew, in one transaction. For moving off a
lookup key that became known (such as the development key earlier versions defaulted to): stop the api
and worker, set the new key, run this, start them with the new key. Prints counts only; the run is
recorded in the audit log.`,
		"  EXAMFLOW_DATABASE_URL, EXAMFLOW_LOOKUP_KEY (the new key), EXAMFLOW_MASTER_KEY and EXAMFLOW_MASTER_OLD_KEYS\n  (to open the identifiers), and the other secrets every process needs (see README.md)")
	operator := fs.String("operator", "", "who runs it (a user ID, no personal data): recorded in the audit log")
	dryRun := fs.Bool("dry-run", false, "count and change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if strings.TrimSpace(*operator) == "" {
		return errors.New("--operator is required: the audit log records who rewrote the index")
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	slog.SetDefault(cfg.NewLogger().With("process", "rekey-lookup"))
	key, _ := cfg.LookupKey()
	masters, current, _ := cfg.MasterKeys()
	ring, err := storage.NewLocalKeyRing(masters, current)
	if err != nil {
		return fmt.Errorf("master keys: %w", err)
	}
	pool, err := storage.OpenPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := storage.NewStore(pool, key).WithKeyRing(ring)
	rep, err := store.RekeyLookups(ctx, *dryRun)
	if err != nil {
		return err
	}
	verb := "rewrote"
	if *dryRun {
		verb = "would rewrite (dry run, nothing changed)"
	}
	fmt.Fprintf(os.Stdout, "%s the identifier index of %d candidates: %d rows before, %d after, %d dropped\n",
		verb, rep.Candidates, rep.Before, rep.After, rep.Dropped)
	if *dryRun {
		return nil
	}
	return store.Audit(ctx, storage.AuditEntry{Who: *operator, Role: "operator", Purpose: policy.AuditSecurity,
		Action: storage.AuditChange, Fields: []string{"identifiers"}, Operation: "examflow rekey-lookup"})
}
