package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/examflow/examflow/storage"
)

// auditLockKey is storage's advisory lock key that serialises appends
// (storage.auditLockKey).
const auditLockKey int64 = 0x6578616d61756469

// auditEntry is a valid entry by who about a registration; tag, in its
// operation, tells the test's entries apart.
func auditEntry(who string, subject uuid.UUID, tag string) storage.AuditEntry {
	op := "GET /v1/registrations/:id " + tag
	if tag == "" {
		op = ""
	}
	return storage.AuditEntry{Who: who, Role: "case_handler", Purpose: "arrange_tests", Action: storage.AuditRead,
		SubjectKind: storage.SubjectRegistration, SubjectID: subject, Fields: []string{"name", "results"},
		Operation: op}
}

// TestAuditAppendsConcurrentlyIntoOneChain: entries appended one by one and
// from many goroutines at once (as from several API replicas) form one
// intact chain; the dpo's reading filters by subject, person and time; an
// invalid entry or a caller that gives up while waiting for its turn
// leaves no trace and no gap in the ids.
func TestAuditAppendsConcurrentlyIntoOneChain(t *testing.T) {
	ctx := context.Background()
	before := mustAuditIntact(t)
	who := "e2e-audit-" + uuid.NewString()[:8]
	other := who + "-other"
	subject := uuid.New()

	start := time.Now()
	for i := range 3 {
		if err := env.store.Audit(ctx, auditEntry(who, subject, fmt.Sprintf("sequential_%d", i))); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	const goroutines, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				e := auditEntry(other, subject, fmt.Sprintf("concurrent_%d_%d", g, i))
				if err := env.store.Audit(ctx, e); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent append: %v", err)
	}
	if n := rowCount(t, `SELECT count(*) FROM audit_log WHERE subject_id = $1`, subject); n != 3+goroutines*each {
		t.Fatalf("%d rows for the subject, want %d", n, 3+goroutines*each)
	}
	after := mustAuditIntact(t)
	if after.Entries < before.Entries+3+goroutines*each {
		t.Fatalf("verified %d entries, had %d before appending %d", after.Entries, before.Entries, 3+goroutines*each)
	}

	// Reading: by subject page by page, by person, by time.
	var all []storage.AuditRecord
	for afterID := int64(0); ; {
		page, err := env.store.AuditLog(ctx, storage.AuditFilter{SubjectKind: storage.SubjectRegistration, SubjectID: subject, AfterID: afterID, Limit: 25})
		if err != nil {
			t.Fatalf("read audit log: %v", err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		afterID = page[len(page)-1].ID
	}
	if len(all) != 3+goroutines*each {
		t.Fatalf("read %d entries for the subject, want %d", len(all), 3+goroutines*each)
	}
	for i, r := range all {
		if i > 0 && r.ID <= all[i-1].ID {
			t.Fatalf("entries out of order: %d after %d", r.ID, all[i-1].ID)
		}
		if r.SubjectID != subject || r.Role != "case_handler" || len(r.Hash) != 32 || len(r.PrevHash) != 32 || r.At.Location() != time.UTC ||
			r.At.Before(start.Add(-time.Minute)) || strings.Join(r.Fields, ",") != "name,results" {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
	if all[0].Operation != "GET /v1/registrations/:id sequential_0" || all[1].PrevHash == nil || string(all[1].PrevHash) != string(all[0].Hash) {
		t.Fatalf("the first sequential entries do not chain: %+v, %+v", all[0], all[1])
	}
	byWho, err := env.store.AuditLog(ctx, storage.AuditFilter{Who: who})
	if err != nil || len(byWho) != 3 {
		t.Fatalf("by person: %d entries, %v; want 3", len(byWho), err)
	}
	cut := all[3].At
	tests := []struct {
		name   string
		filter storage.AuditFilter
		want   int
	}{
		{"until the first concurrent entry", storage.AuditFilter{SubjectID: subject, To: cut}, countBefore(all, cut)},
		{"from the first concurrent entry", storage.AuditFilter{SubjectID: subject, From: cut, Limit: 1000}, len(all) - countBefore(all, cut)},
		{"limit", storage.AuditFilter{SubjectID: subject, Limit: 7}, 7},
		{"another person on the subject", storage.AuditFilter{SubjectID: subject, Who: other, Limit: 1000}, goroutines * each},
		{"another subject", storage.AuditFilter{SubjectID: uuid.New()}, 0},
		{"the subject as a candidate", storage.AuditFilter{SubjectKind: storage.SubjectCandidate, SubjectID: subject}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := env.store.AuditLog(ctx, tt.filter)
			if err != nil || len(got) != tt.want {
				t.Fatalf("%d entries, %v; want %d", len(got), err, tt.want)
			}
		})
	}

	// An invalid entry is refused before an id is drawn.
	bad := auditEntry("", subject, "")
	bad.Purpose = ""
	if err := env.store.Audit(ctx, bad); !errors.Is(err, storage.ErrInvalidAudit) {
		t.Fatalf("invalid entry: %v, want ErrInvalidAudit", err)
	}
	// A caller that gives up while another append holds the lock.
	holder, err := env.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLockKey); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = env.store.Audit(waitCtx, auditEntry(who, subject, "gives_up"))
	cancel()
	_ = holder.Rollback(ctx)
	if err == nil {
		t.Fatal("an append waiting for the lock past its deadline succeeded")
	}
	if n := rowCount(t, `SELECT count(*) FROM audit_log WHERE subject_id = $1`, subject); n != 3+goroutines*each {
		t.Fatalf("%d rows for the subject after refused appends, want %d", n, 3+goroutines*each)
	}
	end := mustAuditIntact(t) // no gap, no missing tail
	if end.HeadID != after.HeadID {
		t.Fatalf("head moved from %d to %d without an append", after.HeadID, end.HeadID)
	}
}

func countBefore(rs []storage.AuditRecord, cut time.Time) int {
	n := 0
	for _, r := range rs {
		if r.At.Before(cut) {
			n++
		}
	}
	return n
}

// TestAuditLogRefusesUpdateDeleteTruncate: the application's own database
// role (here the superuser that owns the table) can neither change, delete
// nor truncate audit rows, not even with replication triggers switched off.
func TestAuditLogRefusesUpdateDeleteTruncate(t *testing.T) {
	ctx := context.Background()
	subject := uuid.New()
	if err := env.store.Audit(ctx, auditEntry("e2e-audit-refusal", subject, "refusal")); err != nil {
		t.Fatal(err)
	}
	rows := rowCount(t, `SELECT count(*) FROM audit_log`)
	tests := []struct {
		name    string
		replica bool
		sql     string
	}{
		{"update", false, `UPDATE audit_log SET purpose = 'curiosity' WHERE subject_id = $1`},
		{"update matching nothing", false, `UPDATE audit_log SET purpose = 'curiosity' WHERE false AND subject_id = $1`},
		{"delete", false, `DELETE FROM audit_log WHERE subject_id = $1`},
		{"truncate", false, `TRUNCATE audit_log`},
		{"update as a replica", true, `UPDATE audit_log SET purpose = 'curiosity' WHERE subject_id = $1`},
		{"delete as a replica", true, `DELETE FROM audit_log WHERE subject_id = $1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := env.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if tt.replica {
				if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
					t.Fatal(err)
				}
			}
			var args []any
			if strings.Contains(tt.sql, "$1") {
				args = append(args, subject)
			}
			_, err = tx.Exec(ctx, tt.sql, args...)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, "append-only") {
				t.Fatalf("%s: %v, want SQLSTATE 42501 append-only", tt.sql, err)
			}
		})
	}
	if n := rowCount(t, `SELECT count(*) FROM audit_log`); n < rows {
		t.Fatalf("%d audit rows, %d before", n, rows)
	}
	if n := rowCount(t, `SELECT count(*) FROM audit_log WHERE subject_id = $1 AND purpose = 'arrange_tests'`, subject); n != 1 {
		t.Fatalf("%d unchanged rows for the subject, want 1", n)
	}
	mustAuditIntact(t)
}

// asSuperuser runs sql the way an attacker with superuser rights would:
// with the append-only trigger disabled, in one transaction that enables it
// again (as ENABLE ALWAYS) before committing.
func asSuperuser(t *testing.T, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, env.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_append_only`)
		return err
	})
	if err != nil {
		t.Fatalf("as superuser: %s: %v", sql, err)
	}
}

// runAuditVerify runs `examflow audit verify` and returns its exit code and
// standard output.
func runAuditVerify(t *testing.T, bin string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, "audit", "verify")
	cmd.Env = append(os.Environ(), "EXAMFLOW_DATABASE_URL="+env.cfg.DatabaseURL)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String()
	case errors.As(err, &exit):
		t.Logf("examflow audit verify: exit %d, stderr: %s", exit.ExitCode(), stderr.String())
		return exit.ExitCode(), stdout.String()
	default:
		t.Fatalf("run examflow audit verify: %v", err)
		return 0, ""
	}
}

// TestAuditTamperingIsDetected: a row changed, deleted or cut from the end
// by someone who gets past the trigger (a superuser) is found by
// VerifyAudit and by `examflow audit verify`, which names exactly that row
// and exits non-zero. Every change is undone, so the log is intact again
// for the tests that follow.
func TestAuditTamperingIsDetected(t *testing.T) {
	ctx := context.Background()
	bin := examflowBinary(t)
	subject := uuid.New()
	for i := range 5 {
		if err := env.store.Audit(ctx, auditEntry("e2e-audit-tamper", subject, fmt.Sprintf("tamper_%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := env.store.AuditLog(ctx, storage.AuditFilter{SubjectID: subject})
	if err != nil || len(rows) != 5 {
		t.Fatalf("read back: %d rows, %v", len(rows), err)
	}
	intact := mustAuditIntact(t)
	code, out := runAuditVerify(t, bin)
	if want := fmt.Sprintf("audit log intact: %d entries\n", intact.Entries); code != 0 || !strings.HasPrefix(out, want) {
		t.Fatalf("before tampering: exit %d, output %q; want 0 and %q", code, out, want)
	}

	// A changed row: its hash no longer matches.
	changed := rows[2]
	t.Cleanup(func() {
		asSuperuser(t, `UPDATE audit_log SET purpose = $2 WHERE id = $1`, changed.ID, changed.Purpose)
	})
	asSuperuser(t, `UPDATE audit_log SET purpose = 'curiosity' WHERE id = $1`, changed.ID)
	rep, err := env.store.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Broken == nil || rep.Broken.ID != changed.ID || rep.Broken.Problem != storage.AuditHashMismatch || rep.HeadID != changed.ID-1 {
		t.Fatalf("after changing row %d: %+v", changed.ID, rep)
	}
	code, out = runAuditVerify(t, bin)
	if want := fmt.Sprintf("audit log broken at entry %d (hash_mismatch)", changed.ID); code == 0 || !strings.HasPrefix(out, want) {
		t.Fatalf("after tampering: exit %d, output %q; want non-zero and %q", code, out, want)
	}
	asSuperuser(t, `UPDATE audit_log SET purpose = $2 WHERE id = $1`, changed.ID, changed.Purpose)
	mustAuditIntact(t)

	// A deleted row: the next row shows the gap.
	restore := func(r storage.AuditRecord) {
		_, err := env.pool.Exec(ctx, `INSERT INTO audit_log (id, occurred_at, who, role, purpose, action, subject_kind, subject_id, fields, operation, prev_hash, hash)
			OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.At, r.Who, r.Role, r.Purpose, r.Action, r.SubjectKind, r.SubjectID, r.Fields, r.Operation, r.PrevHash, r.Hash)
		if err != nil {
			t.Fatalf("restore row %d: %v", r.ID, err)
		}
	}
	deleted := rows[1]
	t.Cleanup(func() { restore(deleted) })
	asSuperuser(t, `DELETE FROM audit_log WHERE id = $1`, deleted.ID)
	rep, err = env.store.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Broken == nil || rep.Broken.ID != deleted.ID+1 || rep.Broken.Problem != storage.AuditGap {
		t.Fatalf("after deleting row %d: %+v", deleted.ID, rep)
	}
	restore(deleted)
	mustAuditIntact(t)

	// A deleted tail: the hashes of what is left still chain; the identity
	// sequence shows the missing ids.
	last := rows[4]
	if intact := mustAuditIntact(t); intact.HeadID != last.ID {
		t.Fatalf("head is %d, want this test's last row %d", intact.HeadID, last.ID)
	}
	t.Cleanup(func() { restore(last) })
	asSuperuser(t, `DELETE FROM audit_log WHERE id = $1`, last.ID)
	rep, err = env.store.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Broken == nil || rep.Broken.ID != last.ID || rep.Broken.Problem != storage.AuditMissingTail {
		t.Fatalf("after deleting the last row %d: %+v", last.ID, rep)
	}
	restore(last)

	// Intact again, for the binary too.
	rep = mustAuditIntact(t)
	code, out = runAuditVerify(t, bin)
	if want := fmt.Sprintf("audit log intact: %d entries\n", rep.Entries); code != 0 || !strings.HasPrefix(out, want) {
		t.Fatalf("after restoring: exit %d, output %q; want 0 and %q", code, out, want)
	}
}
