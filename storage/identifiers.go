package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/examflow/examflow/identity"
)

// IdentifierCorrection is a case handler's correction of one of a
// candidate's identifiers (T18): the identifiers are the lookup index, so
// they are not rectified through a subject request. Value (and Country, for
// a passport) are validated by the caller as at registration.
type IdentifierCorrection struct {
	ID          uuid.UUID
	CandidateID uuid.UUID
	// Kind is national_id, duf_number or passport_number.
	Kind    string
	Value   string
	Country string
	// Reason is the evidence, recorded and never logged (it may name the
	// person).
	Reason      string
	CorrectedBy string
}

// IdentifierHeldError: the corrected value identifies another candidate,
// so the two are one person and a merge, not a correction, joins them.
type IdentifierHeldError struct{ CandidateID uuid.UUID }

func (e *IdentifierHeldError) Error() string {
	return "the identifier belongs to candidate " + e.CandidateID.String()
}

// Unwrap makes the error ErrIdentifierConflict.
func (e *IdentifierHeldError) Unwrap() error { return ErrIdentifierConflict }

// CorrectIdentifier replaces one identifier of the candidate in one
// transaction: the sealed person, the blind index (the old value's entry
// removed, the new one added) and the record of the correction. A
// national identity number whose birth date contradicts the date of birth
// on record is refused (ErrBirthDateContradicts), as is a value another
// candidate holds (*IdentifierHeldError). Idempotent by ID: a correction
// recorded before reports changed and changes nothing. A value the
// candidate already has changes nothing and is not recorded (changed is
// false).
func (s *Store) CorrectIdentifier(ctx context.Context, c IdentifierCorrection) (changed bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM identifier_corrections WHERE id = $1)`, c.ID).Scan(&done); err != nil {
			return fmt.Errorf("read identifier correction: %w", err)
		}
		if done {
			changed = true
			return nil
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM candidates WHERE id = $1 FOR UPDATE`, c.CandidateID); err != nil {
			return fmt.Errorf("lock candidate: %w", err)
		}
		dek, err := s.subjectKey(ctx, tx, c.CandidateID, false)
		if err != nil {
			return err
		}
		sp, err := s.readPerson(ctx, tx, c.CandidateID, dek)
		if err != nil {
			return err
		}
		if (c.Kind == "national_id" && sp.NationalID == c.Value) || (c.Kind == "duf_number" && sp.DUFNumber == c.Value) ||
			(c.Kind == "passport_number" && sp.PassportNumber == c.Value && sp.PassportCountry == c.Country) {
			return nil
		}
		// The index entries of the old value and of the new one.
		var oldKeys, newKeys map[string]string
		switch c.Kind {
		case "national_id":
			oldKeys, newKeys = map[string]string{"national_id": sp.NationalID}, map[string]string{"national_id": c.Value}
			sp.NationalID = c.Value
		case "duf_number":
			oldKeys, newKeys = map[string]string{"duf_number": sp.DUFNumber}, map[string]string{"duf_number": c.Value}
			sp.DUFNumber = c.Value
		case "passport_number":
			oldKeys = map[string]string{"passport_number": sp.PassportNumber}
			if sp.PassportCountry != "" {
				oldKeys["passport"] = passportKey(sp.PassportCountry, sp.PassportNumber)
			}
			newKeys = map[string]string{"passport_number": c.Value, "passport": passportKey(c.Country, c.Value)}
			sp.PassportNumber, sp.PassportCountry = c.Value, c.Country
		default:
			return fmt.Errorf("correct identifier: unknown kind %q", c.Kind)
		}
		for kind, value := range newKeys {
			var holder uuid.UUID
			err := tx.QueryRow(ctx, `SELECT candidate_id FROM candidate_identifiers WHERE kind = $1 AND lookup = $2`, kind, s.lookup(kind, value)).Scan(&holder)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return fmt.Errorf("look up identifier: %w", err)
			case holder != c.CandidateID && kind != "passport_number":
				// A passport number alone is weak: another holder is only a
				// possible duplicate, flagged below.
				return &IdentifierHeldError{CandidateID: holder}
			}
		}
		if born, ok := identity.BirthDate(sp.NationalID); c.Kind == "national_id" && ok && sp.DateOfBirth != "" && born.Format(time.DateOnly) != sp.DateOfBirth {
			return ErrBirthDateContradicts
		}
		for kind, value := range oldKeys {
			if value == "" || value == newKeys[kind] {
				continue
			}
			if _, err := tx.Exec(ctx, `DELETE FROM candidate_identifiers WHERE kind = $1 AND lookup = $2 AND candidate_id = $3`,
				kind, s.lookup(kind, value), c.CandidateID); err != nil {
				return fmt.Errorf("remove old identifier: %w", err)
			}
		}
		for kind, value := range newKeys {
			if kind == "passport_number" {
				if err := s.recordWeakPassport(ctx, tx, c.CandidateID, value); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO candidate_identifiers (kind, lookup, candidate_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				kind, s.lookup(kind, value), c.CandidateID); err != nil {
				return fmt.Errorf("insert identifier: %w", err)
			}
		}
		if err := s.writePerson(ctx, tx, c.CandidateID, dek, sp); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO identifier_corrections (id, candidate_id, kind, reason, corrected_by) VALUES ($1, $2, $3, $4, $5)`,
			c.ID, c.CandidateID, c.Kind, c.Reason, c.CorrectedBy); err != nil {
			return fmt.Errorf("record identifier correction: %w", err)
		}
		changed = true
		return nil
	})
	return changed, classify(err)
}
