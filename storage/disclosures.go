package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/examflow/examflow/policy"
)

// Disclosure is one release of personal data to a third party (T08).
type Disclosure struct {
	ID             uuid.UUID
	CandidateID    uuid.UUID
	RegistrationID *uuid.UUID
	Recipient      string
	LegalBasis     string
	Categories     []string
	Action         string
	Reference      string
	DisclosedAt    time.Time
	// By and Role are who released the data and in which role, for the
	// audit log: the staff member of a release through the API, or empty
	// for a release examflow makes itself (a Diploma Registry publication,
	// an appeal handed over), which is recorded as ReleasedBySystem.
	By, Role string
	// Operation is the route or step that released the data, for the audit
	// log; empty gives "<action> to <recipient>".
	Operation string
}

// Who and role of the audit entry of a release examflow makes itself.
const (
	ReleasedBySystem     = "examflow"
	ReleasedBySystemRole = "system"
)

// releaseTxTimeout bounds a transaction that records a release with its
// audit entry. It runs detached from the caller's cancellation, so that an
// audit id once drawn is committed (a rolled-back id would show as a gap,
// that is as tampering, in the audit log's verification).
const releaseTxTimeout = 30 * time.Second

// releaseContext is the context of a transaction that records a release.
func releaseContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), releaseTxTimeout)
}

// Disclosure actions.
const (
	// DisclosurePublish: results published to the Diploma Registry.
	DisclosurePublish = "publish"
	// DisclosureRelease: data released to a recipient on its request.
	DisclosureRelease = "release"
	// DisclosureForward: a case (an appeal) handed to the instance that
	// decides it.
	DisclosureForward = "forward"
)

// RecordDisclosure stores a disclosure and, in the same transaction, its
// audit entry (a release, T08); the caller's ID makes it idempotent.
// DisclosedAt is the database's clock when zero.
func (s *Store) RecordDisclosure(ctx context.Context, d Disclosure) error {
	ctx, cancel := releaseContext(ctx)
	defer cancel()
	return classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return insertDisclosure(ctx, tx, d)
	}))
}

// releaseAudit is the audit entry of a disclosure: a release, by the
// person who released it or by examflow, for the purpose the recipient's
// releases serve (policy.Recipient.Purpose), naming the categories
// released.
func releaseAudit(d Disclosure) (AuditEntry, error) {
	r, ok := policy.LookupRecipient(d.Recipient)
	if !ok {
		return AuditEntry{}, fmt.Errorf("%w: release to %q, not a recipient of the catalogue", ErrInvalidAudit, d.Recipient)
	}
	e := AuditEntry{Who: d.By, Role: d.Role, Purpose: r.Purpose, Action: AuditRelease, SubjectKind: SubjectCandidate,
		SubjectID: d.CandidateID, Fields: d.Categories, Operation: d.Operation}
	if e.Who == "" {
		e.Who, e.Role = ReleasedBySystem, ReleasedBySystemRole
	}
	if e.Operation == "" {
		e.Operation = d.Action + " to " + d.Recipient
	}
	return e, e.validate()
}

// insertDisclosure stores a disclosure in tx, idempotently by its ID, and
// appends its audit entry when it is new. It must be the transaction's last
// step: the audit entry holds the audit log's lock until tx ends, and its
// id must not be rolled back (releaseContext).
func insertDisclosure(ctx context.Context, tx pgx.Tx, d Disclosure) error {
	e, err := releaseAudit(d)
	if err != nil {
		return err
	}
	var at *time.Time
	if !d.DisclosedAt.IsZero() {
		at = &d.DisclosedAt
	}
	tag, err := tx.Exec(ctx, `INSERT INTO disclosures (id, candidate_id, registration_id, recipient, legal_basis, categories, action, reference, disclosed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9, now())) ON CONFLICT (id) DO NOTHING`,
		d.ID, d.CandidateID, d.RegistrationID, d.Recipient, d.LegalBasis, d.Categories, d.Action, d.Reference, at)
	if err != nil {
		return fmt.Errorf("record disclosure: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	return appendAudit(ctx, ctx, tx, e)
}

// Disclosures lists a candidate's disclosures, oldest first.
func (s *Store) Disclosures(ctx context.Context, candidateID uuid.UUID) ([]Disclosure, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, candidate_id, registration_id, recipient, legal_basis, categories, action, reference, disclosed_at
		FROM disclosures WHERE candidate_id = $1 ORDER BY disclosed_at, id`, candidateID)
	if err != nil {
		return nil, classify(fmt.Errorf("read disclosures: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Disclosure, error) {
		var d Disclosure
		err := r.Scan(&d.ID, &d.CandidateID, &d.RegistrationID, &d.Recipient, &d.LegalBasis, &d.Categories, &d.Action, &d.Reference, &d.DisclosedAt)
		return d, err
	})
	return out, classify(err)
}
