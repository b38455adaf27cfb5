package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/examflow/examflow/policy"
)

// ErrInvalidAudit wraps the reasons an audit entry is refused before it is
// written. It means a programming error in the caller, not bad user input.
var ErrInvalidAudit = errors.New("invalid audit entry")

// Actions recorded in the audit log. Other lowercase words may be used where
// none of these fits.
const (
	// AuditRead: personal data was shown to the person.
	AuditRead = "read"
	// AuditChange: personal data was created or changed.
	AuditChange = "change"
	// AuditDelete: personal data was deleted.
	AuditDelete = "delete"
	// AuditExport: personal data left the system as a file or response
	// meant to be kept for the person (an access-request export).
	AuditExport = "export"
	// AuditRelease: personal data was released to a third party (T08); the
	// fields are the categories released.
	AuditRelease = "release"
)

// Kinds of data subject an audit entry names.
const (
	// SubjectCandidate: the subject ID is a candidate's UUID.
	SubjectCandidate = "candidate"
	// SubjectRegistration: the subject ID is a registration's UUID.
	SubjectRegistration = "registration"
	// SubjectCourseRegistration: the subject ID is a course registration's UUID.
	SubjectCourseRegistration = "course_registration"
)

// auditGenesis is the fixed prev_hash of the first audit entry: 32 zero bytes.
func auditGenesis() []byte { return make([]byte, sha256.Size) }

// Limits of one audit entry, checked before anything is written.
const (
	auditMaxText   = 512
	auditMaxFields = 200
	// auditLockKey is the pg_advisory_xact_lock key that serialises appends
	// ("examaudi" in ASCII); it differs from goose's migration lock.
	auditLockKey int64 = 0x6578616d61756469
	// auditAppendTimeout bounds an append once its id is drawn.
	auditAppendTimeout = 10 * time.Second
)

// AuditEntry is one read or change of personal data by a person. Fields
// names the fields or categories touched, never their values.
type AuditEntry struct {
	// Who is the acting person: the subject (person ID) of their token. Required.
	Who string
	// Role is the role the person acted in, e.g. case_handler or dpo. Required.
	Role string
	// Purpose is why the data was processed: the ID of a purpose of the
	// fixed catalogue policy.AuditPurposes, e.g. arrange_tests. Required.
	Purpose string
	// Action is what was done: AuditRead, AuditChange, AuditDelete,
	// AuditExport or another lowercase word. Required.
	Action string
	// SubjectKind is SubjectCandidate or SubjectRegistration, or empty when
	// the access concerns no single data subject; SubjectID is then uuid.Nil.
	SubjectKind string
	// SubjectID is the data subject's candidate or registration UUID.
	SubjectID uuid.UUID
	// Fields are the fields or categories of personal data touched, e.g.
	// "address" or "results". Optional.
	Fields []string
	// Operation is the HTTP route or operation, e.g.
	// "GET /v1/registrations/:id". Optional.
	Operation string
}

// AuditRecord is a stored audit entry with its place in the hash chain.
type AuditRecord struct {
	AuditEntry
	// ID is the entry's position: 1, 2, 3, ... in the order of appending.
	ID int64
	// At is when the entry was appended, by the database's clock (UTC,
	// microseconds).
	At time.Time
	// PrevHash is the previous entry's Hash, or for the first entry the
	// genesis value, 32 zero bytes.
	PrevHash []byte
	// Hash is auditHash over PrevHash and the entry's fields.
	Hash []byte
}

// AuditFilter selects audit entries. Zero fields select everything.
type AuditFilter struct {
	// SubjectKind and SubjectID select one data subject's entries.
	SubjectKind string
	SubjectID   uuid.UUID
	// Who selects one acting person's entries.
	Who string
	// From (inclusive) and To (exclusive) bound the entries' time.
	From, To time.Time
	// AfterID returns entries after this ID, to read page after page.
	AfterID int64
	// Limit is the most entries returned: 100 if zero, at most 1000.
	Limit int
}

// AuditProblem says how an audit row breaks the chain.
type AuditProblem string

const (
	// AuditHashMismatch: the row's fields and prev_hash do not give its
	// stored hash, so the row was changed after it was written.
	AuditHashMismatch AuditProblem = "hash_mismatch"
	// AuditChainBroken: the row's prev_hash is not the previous row's hash,
	// so the previous row's hash was changed or rows between were replaced.
	AuditChainBroken AuditProblem = "chain_broken"
	// AuditGap: ids were skipped before this row, so rows are missing.
	AuditGap AuditProblem = "gap"
	// AuditMissingTail: the identity sequence issued ids after the last row
	// but no rows hold them, so the newest rows are missing.
	AuditMissingTail AuditProblem = "missing_tail"
)

// AuditBreak is the first place where the audit log is not intact.
type AuditBreak struct {
	// ID is the first broken row, or for AuditMissingTail the first
	// missing id.
	ID int64
	// Problem is what is wrong.
	Problem AuditProblem
	// Detail explains it in a sentence, without any personal data.
	Detail string
}

// AuditReport is the result of verifying the audit log.
type AuditReport struct {
	// Entries is the number of rows checked and found intact: every row
	// when the log is intact, otherwise the rows before Broken.
	Entries int64
	// HeadID and HeadHash are the last intact row's id and hash (0 and
	// the genesis value for an empty log). Recording them outside the database
	// lets a later check detect a deleted or rewritten tail.
	HeadID   int64
	HeadHash []byte
	// Broken is the first break, nil when the log is intact.
	Broken *AuditBreak
}

// Intact reports whether the verification found no break.
func (r AuditReport) Intact() bool { return r.Broken == nil }

// Audit appends an entry to the audit log. Appends are serialised in the
// database (a transaction-scoped advisory lock), so entries from several
// processes form one chain with consecutive ids. The caller's context may
// cancel the append while it waits for its turn; once the entry's id is
// drawn, the append completes (within a timeout) even if the caller's
// context ends, so a cancelled request leaves no gap in the ids.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if err := e.validate(); err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return classify(fmt.Errorf("audit: begin: %w", err))
	}
	// From here the transaction is rolled back with a context of its own,
	// so that a cancelled caller still releases the lock promptly.
	detached, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditAppendTimeout)
	defer cancel()
	defer func() { _ = tx.Rollback(detached) }()
	if err := appendAudit(ctx, detached, tx, e); err != nil {
		return classify(err)
	}
	if err := tx.Commit(detached); err != nil {
		return classify(fmt.Errorf("audit: commit: %w", err))
	}
	return nil
}

// appendAudit appends a validated entry inside tx: it waits for the append
// lock with lockCtx and does the rest with ctx. The lock is held until tx
// ends, so a change recorded in the same transaction (a release) and its
// entry are committed together or not at all.
func appendAudit(lockCtx, ctx context.Context, tx pgx.Tx, e AuditEntry) error {
	if e.Fields == nil {
		e.Fields = []string{}
	}
	if _, err := tx.Exec(lockCtx, `SELECT pg_advisory_xact_lock($1)`, auditLockKey); err != nil {
		return fmt.Errorf("audit: lock: %w", err)
	}
	// A new statement, so a new snapshot: it sees the row of whoever held
	// the lock before.
	r := AuditRecord{AuditEntry: e}
	var prev []byte
	err := tx.QueryRow(ctx, `SELECT nextval('audit_log_id_seq'), clock_timestamp(),
		(SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1)`).Scan(&r.ID, &r.At, &prev)
	if err != nil {
		return fmt.Errorf("audit: read chain head: %w", err)
	}
	if prev == nil {
		prev = auditGenesis()
	}
	r.At = r.At.UTC()
	r.PrevHash = prev
	r.Hash = auditHash(r)
	var subject *uuid.UUID
	if e.SubjectKind != "" {
		subject = &e.SubjectID
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (id, occurred_at, who, role, purpose, action, subject_kind, subject_id, fields, operation, prev_hash, hash)
		OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		r.ID, r.At, e.Who, e.Role, e.Purpose, e.Action, e.SubjectKind, subject, e.Fields, e.Operation, r.PrevHash, r.Hash)
	if err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	return nil
}

func (e AuditEntry) validate() error {
	var problems []string
	for _, f := range []struct{ name, value string }{{"who", e.Who}, {"role", e.Role}, {"purpose", e.Purpose}, {"action", e.Action}} {
		if strings.TrimSpace(f.value) == "" {
			problems = append(problems, f.name+" is required")
		}
	}
	if strings.TrimSpace(e.Purpose) != "" && !policy.IsAuditPurpose(e.Purpose) {
		ids := make([]string, 0, len(policy.AuditPurposes()))
		for _, a := range policy.AuditPurposes() {
			ids = append(ids, a.ID)
		}
		problems = append(problems, "purpose must be one of "+strings.Join(ids, ", "))
	}
	texts := map[string]string{"who": e.Who, "role": e.Role, "purpose": e.Purpose, "action": e.Action, "operation": e.Operation}
	for _, name := range []string{"who", "role", "purpose", "action", "operation"} {
		if p := textProblem(texts[name]); p != "" {
			problems = append(problems, name+" "+p)
		}
	}
	switch e.SubjectKind {
	case "":
		if e.SubjectID != uuid.Nil {
			problems = append(problems, "subject kind is required with a subject id")
		}
	case SubjectCandidate, SubjectRegistration, SubjectCourseRegistration:
		if e.SubjectID == uuid.Nil {
			problems = append(problems, "subject id is required with a subject kind")
		}
	default:
		problems = append(problems, fmt.Sprintf("subject kind must be %q, %q or %q", SubjectCandidate, SubjectRegistration, SubjectCourseRegistration))
	}
	if len(e.Fields) > auditMaxFields {
		problems = append(problems, fmt.Sprintf("at most %d fields", auditMaxFields))
	}
	for i, f := range e.Fields {
		if strings.TrimSpace(f) == "" {
			problems = append(problems, fmt.Sprintf("fields[%d] is empty", i))
		} else if p := textProblem(f); p != "" {
			problems = append(problems, fmt.Sprintf("fields[%d] %s", i, p))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidAudit, strings.Join(problems, "; "))
	}
	return nil
}

// textProblem says why PostgreSQL would refuse the text, or what limit it
// exceeds: checked before an id is drawn, so a refused entry leaves no gap.
func textProblem(s string) string {
	switch {
	case len(s) > auditMaxText:
		return fmt.Sprintf("is longer than %d bytes", auditMaxText)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.ContainsRune(s, 0):
		return "contains a NUL character"
	}
	return ""
}

// auditTimeLayout formats times for hashing: always nine fraction digits.
const auditTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// auditHash is the hash of an audit row: SHA-256 over a canonical encoding
// of these items, in this order:
//
//  1. the format tag "examflow-audit-v1"
//  2. prev_hash (32 bytes)
//  3. id, in decimal ASCII
//  4. occurred_at in UTC, RFC 3339 with exactly nine fraction digits
//     ("2025-03-01T09:30:00.123456000Z")
//  5. who, 6. role, 7. purpose, 8. action, 9. subject_kind (UTF-8)
//  10. subject_id as a lowercase hyphenated UUID, or empty if none
//  11. the number of fields, in decimal ASCII, then each field (UTF-8)
//  12. operation (UTF-8)
//
// Each item is preceded by its length in bytes as an 8-byte big-endian
// unsigned integer, so no two different rows encode alike.
func auditHash(r AuditRecord) []byte {
	h := sha256.New()
	item := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	text := func(s string) { item([]byte(s)) }
	text("examflow-audit-v1")
	item(r.PrevHash)
	text(strconv.FormatInt(r.ID, 10))
	text(r.At.UTC().Format(auditTimeLayout))
	text(r.Who)
	text(r.Role)
	text(r.Purpose)
	text(r.Action)
	text(r.SubjectKind)
	if r.SubjectID == uuid.Nil {
		text("")
	} else {
		text(r.SubjectID.String())
	}
	text(strconv.Itoa(len(r.Fields)))
	for _, f := range r.Fields {
		text(f)
	}
	text(r.Operation)
	return h.Sum(nil)
}

const auditColumns = `id, occurred_at, who, role, purpose, action, subject_kind, subject_id, fields, operation, prev_hash, hash`

func scanAudit(row pgx.CollectableRow) (AuditRecord, error) {
	var r AuditRecord
	var subject *uuid.UUID
	if err := row.Scan(&r.ID, &r.At, &r.Who, &r.Role, &r.Purpose, &r.Action, &r.SubjectKind, &subject, &r.Fields, &r.Operation, &r.PrevHash, &r.Hash); err != nil {
		return AuditRecord{}, err
	}
	if subject != nil {
		r.SubjectID = *subject
	}
	if r.Fields == nil {
		r.Fields = []string{}
	}
	r.At = r.At.UTC()
	return r, nil
}

// AuditLog reads audit entries matching the filter, oldest first. It is for
// the data-protection officer (role dpo); the caller checks the role, and
// reading the audit log is itself a read to audit.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.SubjectKind != "" {
		where = append(where, "subject_kind = "+arg(f.SubjectKind))
	}
	if f.SubjectID != uuid.Nil {
		where = append(where, "subject_id = "+arg(f.SubjectID))
	}
	if f.Who != "" {
		where = append(where, "who = "+arg(f.Who))
	}
	if !f.From.IsZero() {
		where = append(where, "occurred_at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "occurred_at < "+arg(f.To))
	}
	where = append(where, "id > "+arg(f.AfterID))
	q := "SELECT " + auditColumns + " FROM audit_log WHERE " + strings.Join(where, " AND ") + " ORDER BY id LIMIT " + arg(limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, classify(fmt.Errorf("read audit log: %w", err))
	}
	out, err := pgx.CollectRows(rows, scanAudit)
	if err != nil {
		return nil, classify(fmt.Errorf("read audit log: %w", err))
	}
	return out, nil
}

// VerifyAudit walks the audit log in id order and reports the first row
// that breaks it:
//
//   - a changed row: its fields and prev_hash no longer give its hash
//     (AuditHashMismatch);
//   - a gap: its id is not the previous id plus one (the first row's is not
//     1), so rows are missing (AuditGap);
//   - a broken link: its prev_hash is not the previous row's hash (the
//     genesis value for the first row), so the previous row's hash was
//     changed or rows were replaced (AuditChainBroken).
//
// Hashes alone cannot detect a deleted tail: removing the newest rows
// leaves a shorter chain that is still consistent, and whoever can write
// the table can also recompute every hash after a change. VerifyAudit
// therefore also compares the rows with the identity sequence, which is
// not transactional and outlives deleted rows: ids the sequence issued
// after the last row are reported as AuditMissingTail, and a deleted tail
// followed by new appends shows as a gap. An append that failed after
// drawing its id (the database crashed or the connection broke mid-append)
// leaves the same trace, so a gap is a finding to explain, not proof.
// Against someone who can also reset the sequence and rewrite every row,
// only a head hash recorded outside the database (AuditReport.HeadHash)
// helps.
//
// VerifyAudit waits briefly for appends in progress, then checks the log as
// it was at that moment; appends during the walk are not blocked.
func (s *Store) VerifyAudit(ctx context.Context) (AuditReport, error) {
	rep := AuditReport{HeadHash: auditGenesis()}
	// The cut: under the append lock, no append is in flight, so the
	// sequence and the rows agree unless rows are missing.
	var lastRow, lastIssued int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditLockKey); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT (SELECT coalesce(max(id), 0) FROM audit_log),
			CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM audit_log_id_seq`).Scan(&lastRow, &lastIssued)
	})
	if err != nil {
		return rep, classify(fmt.Errorf("verify audit log: read the sequence: %w", err))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE id <= $1 ORDER BY id`, lastRow)
	if err != nil {
		return rep, classify(fmt.Errorf("verify audit log: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return rep, classify(fmt.Errorf("verify audit log: read row: %w", err))
		}
		if b := checkAuditRow(rep.HeadID, rep.HeadHash, r); b != nil {
			rep.Broken = b
			return rep, nil
		}
		rep.Entries++
		rep.HeadID, rep.HeadHash = r.ID, r.Hash
	}
	if err := rows.Err(); err != nil {
		return rep, classify(fmt.Errorf("verify audit log: %w", err))
	}
	if lastIssued > rep.HeadID {
		rep.Broken = &AuditBreak{ID: rep.HeadID + 1, Problem: AuditMissingTail,
			Detail: fmt.Sprintf("the id sequence issued ids up to %d but the last row is %d: rows %d to %d are missing",
				lastIssued, rep.HeadID, rep.HeadID+1, lastIssued)}
	}
	return rep, nil
}

// checkAuditRow checks row r against the row before it (prevID 0 and the
// genesis value for the first row) and returns the break, or nil.
func checkAuditRow(prevID int64, prevHash []byte, r AuditRecord) *AuditBreak {
	if !bytes.Equal(auditHash(r), r.Hash) {
		return &AuditBreak{ID: r.ID, Problem: AuditHashMismatch,
			Detail: fmt.Sprintf("row %d's fields and prev_hash do not give its stored hash: the row was changed", r.ID)}
	}
	if r.ID != prevID+1 {
		return &AuditBreak{ID: r.ID, Problem: AuditGap,
			Detail: fmt.Sprintf("row %d follows row %d: rows %d to %d are missing", r.ID, prevID, prevID+1, r.ID-1)}
	}
	if !bytes.Equal(r.PrevHash, prevHash) {
		prev := fmt.Sprintf("row %d's hash", prevID)
		if prevID == 0 {
			prev = "the genesis value"
		}
		return &AuditBreak{ID: r.ID, Problem: AuditChainBroken,
			Detail: fmt.Sprintf("row %d's prev_hash %s is not %s %s: the row before was changed or replaced",
				r.ID, shortHash(r.PrevHash), prev, shortHash(prevHash))}
	}
	return nil
}

func shortHash(h []byte) string {
	s := hex.EncodeToString(h)
	if len(s) > 16 {
		s = s[:16] + "…"
	}
	return s
}
