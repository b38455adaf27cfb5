package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// PossibleDuplicate is a flag for a case handler: CandidateID was created
// by a registration whose identifiers only weakly match OtherID (the same
// passport number with another or no issuing country). It carries no
// personal data.
type PossibleDuplicate struct {
	ID          uuid.UUID
	CandidateID uuid.UUID
	OtherID     uuid.UUID
	Reason      string
	FlaggedAt   time.Time
}

// PossibleDuplicates lists the open flags, oldest first.
func (s *Store) PossibleDuplicates(ctx context.Context, limit int) ([]PossibleDuplicate, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.pool.Query(ctx, `SELECT id, candidate_id, other_id, reason, flagged_at FROM candidate_possible_duplicates
		WHERE dismissed_at IS NULL ORDER BY flagged_at, id LIMIT $1`, limit)
	if err != nil {
		return nil, classify(fmt.Errorf("list possible duplicates: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PossibleDuplicate, error) {
		var d PossibleDuplicate
		err := r.Scan(&d.ID, &d.CandidateID, &d.OtherID, &d.Reason, &d.FlaggedAt)
		return d, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("list possible duplicates: %w", err))
	}
	return out, nil
}

// DismissPossibleDuplicate records a case handler's decision that the
// flagged candidates are two people. It returns the flag, or ErrNotFound
// when there is no open flag with the ID. reason may name the people, so it
// is never logged.
func (s *Store) DismissPossibleDuplicate(ctx context.Context, id uuid.UUID, by, reason string) (PossibleDuplicate, error) {
	var d PossibleDuplicate
	err := s.pool.QueryRow(ctx, `UPDATE candidate_possible_duplicates SET dismissed_at = now(), dismissed_by = $2, dismissal_reason = $3
		WHERE id = $1 AND dismissed_at IS NULL RETURNING id, candidate_id, other_id, reason, flagged_at`, id, by, reason).
		Scan(&d.ID, &d.CandidateID, &d.OtherID, &d.Reason, &d.FlaggedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, classify(fmt.Errorf("dismiss possible duplicate: %w", err))
	}
	return d, nil
}

// moveDuplicateFlags settles a merge's flags: those between the two
// candidates are removed (the merge decided them), those naming the
// duplicate and a third candidate move to the survivor unless the survivor
// has one with that candidate already (the rest go with the duplicate).
func moveDuplicateFlags(ctx context.Context, tx pgx.Tx, survivor, duplicate uuid.UUID) error {
	for _, q := range []string{
		`DELETE FROM candidate_possible_duplicates WHERE (candidate_id = $1 AND other_id = $2) OR (candidate_id = $2 AND other_id = $1)`,
		`UPDATE candidate_possible_duplicates f SET candidate_id = $1 WHERE candidate_id = $2
			AND NOT EXISTS (SELECT 1 FROM candidate_possible_duplicates g WHERE (g.candidate_id = $1 AND g.other_id = f.other_id) OR (g.candidate_id = f.other_id AND g.other_id = $1))`,
		`UPDATE candidate_possible_duplicates f SET other_id = $1 WHERE other_id = $2
			AND NOT EXISTS (SELECT 1 FROM candidate_possible_duplicates g WHERE (g.candidate_id = f.candidate_id AND g.other_id = $1) OR (g.candidate_id = $1 AND g.other_id = f.candidate_id))`,
	} {
		if _, err := tx.Exec(ctx, q, survivor, duplicate); err != nil {
			return fmt.Errorf("move possible-duplicate flags: %w", err)
		}
	}
	return nil
}

// FindCandidateByPassport finds a candidate by passport number and issuing
// country. A candidate whose passport was recorded without its country
// (before the country was asked for) is found by the number alone, unless
// it has a passport recorded with a country: that is another passport.
func (s *Store) FindCandidateByPassport(ctx context.Context, number, country string) (uuid.UUID, error) {
	id, err := s.FindCandidate(ctx, "passport", passportKey(country, number))
	if !errors.Is(err, ErrNotFound) {
		return id, err
	}
	var cid uuid.UUID
	err = s.pool.QueryRow(ctx, `SELECT i.candidate_id FROM candidate_identifiers i WHERE i.kind = 'passport_number' AND i.lookup = $1
		AND NOT EXISTS (SELECT 1 FROM candidate_identifiers p WHERE p.candidate_id = i.candidate_id AND p.kind = 'passport')`,
		s.lookup("passport_number", number)).Scan(&cid)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, ErrNotFound
	}
	if err != nil {
		return uuid.Nil, classify(fmt.Errorf("find candidate: %w", err))
	}
	return cid, nil
}
