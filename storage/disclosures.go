package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// RecordDisclosure stores a disclosure; the caller's ID makes it idempotent.
// DisclosedAt is the database's clock when zero.
func (s *Store) RecordDisclosure(ctx context.Context, d Disclosure) error {
	if err := insertDisclosure(ctx, s.pool, d); err != nil {
		return classify(err)
	}
	return nil
}

// execer is a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insertDisclosure stores a disclosure through db, idempotently by its ID.
func insertDisclosure(ctx context.Context, db execer, d Disclosure) error {
	var at *time.Time
	if !d.DisclosedAt.IsZero() {
		at = &d.DisclosedAt
	}
	_, err := db.Exec(ctx, `INSERT INTO disclosures (id, candidate_id, registration_id, recipient, legal_basis, categories, action, reference, disclosed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9, now())) ON CONFLICT (id) DO NOTHING`,
		d.ID, d.CandidateID, d.RegistrationID, d.Recipient, d.LegalBasis, d.Categories, d.Action, d.Reference, at)
	if err != nil {
		return fmt.Errorf("record disclosure: %w", err)
	}
	return nil
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
