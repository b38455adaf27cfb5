package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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

// RecordDisclosure stores a disclosure; the caller's ID makes it idempotent.
func (s *Store) RecordDisclosure(ctx context.Context, d Disclosure) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO disclosures (id, candidate_id, registration_id, recipient, legal_basis, categories, action, reference)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
		d.ID, d.CandidateID, d.RegistrationID, d.Recipient, d.LegalBasis, d.Categories, d.Action, d.Reference)
	if err != nil {
		return classify(fmt.Errorf("record disclosure: %w", err))
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
