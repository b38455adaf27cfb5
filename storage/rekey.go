package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// RekeyReport is what RekeyLookups did: counts only, no identifier.
type RekeyReport struct {
	// Candidates is how many candidates had identifiers in the index.
	Candidates int
	// Before and After are the index rows before and after.
	Before, After int
	// Dropped are rows whose identifier the candidate's sealed data no
	// longer holds (an identifier replaced by a newer one, a merged
	// duplicate's), or whose data key is destroyed: no new lookup can be
	// computed for them, and the old one, keyed with the old key, goes.
	Dropped int
}

// RekeyLookups rewrites the identifier blind index (candidate_identifiers)
// under the store's lookup key: for each candidate in the index it opens
// the sealed identifiers with the subject's data key and writes their new
// lookups, in one transaction that holds writers of the index off. Run
// again with the same key it writes the same rows. With dryRun it reports
// and changes nothing. It is how a deployment moves off a lookup key that
// became known (the public development key earlier versions defaulted to):
// stop the api and worker, run it with the new EXAMFLOW_LOOKUP_KEY, start
// them with that key.
func (s *Store) RekeyLookups(ctx context.Context, dryRun bool) (RekeyReport, error) {
	var r RekeyReport
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return r, classify(fmt.Errorf("rekey: begin: %w", err))
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// Readers go on; a registration waits until the new index is in.
	if _, err := tx.Exec(ctx, `LOCK TABLE candidate_identifiers IN EXCLUSIVE MODE`); err != nil {
		return r, fmt.Errorf("rekey: lock the index: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM candidate_identifiers`).Scan(&r.Before); err != nil {
		return r, fmt.Errorf("rekey: count: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT candidate_id FROM candidate_identifiers ORDER BY candidate_id`)
	if err != nil {
		return r, fmt.Errorf("rekey: candidates: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return r, fmt.Errorf("rekey: candidates: %w", err)
	}
	r.Candidates = len(ids)
	type entry struct {
		kind      string
		lookup    []byte
		candidate uuid.UUID
	}
	var next []entry
	for _, id := range ids {
		dek, err := s.subjectKey(ctx, tx, id, false)
		if errors.Is(err, ErrKeyDestroyed) {
			continue
		}
		if err != nil {
			return r, fmt.Errorf("rekey: candidate %s: %w", id, err)
		}
		p, err := s.readPerson(ctx, tx, id, dek)
		if err != nil {
			return r, fmt.Errorf("rekey: candidate %s: %w", id, err)
		}
		strong, weakPassport := identifiersOf(Person{NationalID: p.NationalID, DUFNumber: p.DUFNumber,
			PassportNumber: p.PassportNumber, PassportCountry: p.PassportCountry})
		for kind, value := range strong {
			next = append(next, entry{kind, s.lookup(kind, value), id})
		}
		if weakPassport != "" {
			next = append(next, entry{"passport_number", s.lookup("passport_number", weakPassport), id})
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM candidate_identifiers`); err != nil {
		return r, fmt.Errorf("rekey: clear the index: %w", err)
	}
	for _, e := range next {
		tag, err := tx.Exec(ctx, `INSERT INTO candidate_identifiers (kind, lookup, candidate_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			e.kind, e.lookup, e.candidate)
		if err != nil {
			return r, fmt.Errorf("rekey: write the index: %w", err)
		}
		r.After += int(tag.RowsAffected())
	}
	r.Dropped = r.Before - r.After
	if r.Dropped < 0 {
		r.Dropped = 0
	}
	if dryRun {
		return r, nil
	}
	if err := tx.Commit(ctx); err != nil {
		return r, classify(fmt.Errorf("rekey: commit: %w", err))
	}
	return r, nil
}
