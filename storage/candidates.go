package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SensitiveDataCutoff is the first registration date for which country of
// origin and mother tongue can no longer be recorded (T07). The database
// enforces the same date with a CHECK on candidate_sensitive.
var SensitiveDataCutoff = time.Date(2022, time.February, 15, 0, 0, 0, 0, time.UTC)

// Errors of legacy imports and merges.
var (
	// ErrSensitiveNotAllowed: country of origin or mother tongue was given
	// for a registration on or after SensitiveDataCutoff.
	ErrSensitiveNotAllowed = errors.New("country of origin and mother tongue may only be recorded for registrations before 15 February 2022")
	// ErrMergeConflict: the two candidates cannot be merged as they are.
	ErrMergeConflict = errors.New("candidates cannot be merged")
)

// LegacyData is what a registration imported from the legacy system carries
// beyond a normal registration. CountryOfOrigin and MotherTongue are
// sensitive and may be set only when OriginalDate is before
// SensitiveDataCutoff.
type LegacyData struct {
	OriginalDate    time.Time
	CountryOfOrigin string
	MotherTongue    string
}

// HasSensitive reports whether country of origin or mother tongue is given.
func (d LegacyData) HasSensitive() bool { return d.CountryOfOrigin != "" || d.MotherTongue != "" }

// ImportLegacyRegistration stores a registration from the legacy system in
// one transaction, as CreateRegistration does (session rule, candidate by
// identifier, quarantine, duplicate, idempotency), and records its original
// date and, when given, the candidate's country of origin and mother tongue.
// The legacy person data is older than anything examflow holds, so it only
// fills the gaps of an existing candidate; the identifiers it brings are all
// recorded.
func (s *Store) ImportLegacyRegistration(ctx context.Context, in NewRegistration, legacy LegacyData, idem *IdempotencyKey) (reg Registration, created bool, err error) {
	if legacy.OriginalDate.IsZero() {
		return Registration{}, false, errors.New("import legacy registration: the original registration date is required")
	}
	if legacy.HasSensitive() && !legacy.OriginalDate.Before(SensitiveDataCutoff) {
		return Registration{}, false, ErrSensitiveNotAllowed
	}
	return s.createRegistration(ctx, in, &legacy, idem)
}

// originalDate is the legacy registration's original date, or NULL for a
// normal registration.
func (d *LegacyData) originalDate() *time.Time {
	if d == nil {
		return nil
	}
	return &d.OriginalDate
}

// record stores the sensitive data of a legacy registration, if any,
// sealed with the candidate's data key.
func (d *LegacyData) record(ctx context.Context, s *Store, tx pgx.Tx, candidateID uuid.UUID) error {
	if !d.HasSensitive() {
		return nil
	}
	dek, err := s.subjectKey(ctx, tx, candidateID, true)
	if err != nil {
		return err
	}
	return writeSensitive(ctx, tx, candidateID, dek, Sensitive{CountryOfOrigin: d.CountryOfOrigin, MotherTongue: d.MotherTongue, OriginalDate: d.OriginalDate})
}

// CandidateMerge is a case handler's decision that DuplicateID is the same
// person as SurvivorID.
type CandidateMerge struct {
	SurvivorID  uuid.UUID
	DuplicateID uuid.UUID
	Reason      string
	DecidedBy   string
}

// MergeResult is a merge done, or found done before (Replayed).
type MergeResult struct {
	ID                 uuid.UUID
	SurvivorID         uuid.UUID
	MergedID           uuid.UUID
	RegistrationsMoved int
	IdentifiersMoved   int
	MergedAt           time.Time
	Replayed           bool
}

// CandidateNotFoundError names the candidate that does not exist. When it was
// merged into another candidate, MergedInto is that candidate.
type CandidateNotFoundError struct {
	ID         uuid.UUID
	MergedInto uuid.UUID
}

func (e *CandidateNotFoundError) Error() string { return "candidate " + e.ID.String() + " not found" }

// Unwrap makes the error ErrNotFound.
func (e *CandidateNotFoundError) Unwrap() error { return ErrNotFound }

// ConflictingRegistrations are a survivor's and a duplicate's registrations
// for the same test on the same session date.
type ConflictingRegistrations struct {
	SurvivorRegistrationID  uuid.UUID
	DuplicateRegistrationID uuid.UUID
	TestType                string
	SessionDate             time.Time
}

// MergeConflictError says why two candidates cannot be merged. It carries no
// personal data.
type MergeConflictError struct {
	Reason        string
	Registrations []ConflictingRegistrations
}

func (e *MergeConflictError) Error() string { return "candidates cannot be merged: " + e.Reason }

// Unwrap makes the error ErrMergeConflict.
func (e *MergeConflictError) Unwrap() error { return ErrMergeConflict }

// Tables whose references to candidates MergeCandidates moves itself. Rows of
// every other table referring to the duplicate move to the survivor as they
// are, so nothing is lost when the duplicate's row is deleted (a quarantine
// stays with the person).
var mergeHandled = map[string]bool{
	"candidate_identifiers": true,
	"registrations":         true,
	"candidate_addresses":   true,
	"candidate_sensitive":   true,
	// The duplicate's key goes with it: its data is sealed again with the
	// survivor's key.
	"subject_keys": true,
	// Flags between the two are settled by the merge; others move.
	"candidate_possible_duplicates": true,
}

// MergeCandidates merges the duplicate candidate into the survivor in one
// transaction: the duplicate's registrations (with their IDs, so their
// workflows are untouched), identifiers and every other row referring to it
// move to the survivor; the survivor's empty identity and contact fields,
// address and sensitive data are filled from the duplicate; the merge is
// recorded and the duplicate deleted. Two candidates with different national
// identity numbers, or registered for the same test on the same session
// date, are refused with a *MergeConflictError. Merging again a pair merged
// before returns the recorded result with Replayed set.
func (s *Store) MergeCandidates(ctx context.Context, m CandidateMerge) (MergeResult, error) {
	if m.SurvivorID == m.DuplicateID {
		return MergeResult{}, &MergeConflictError{Reason: "a candidate cannot be merged into itself"}
	}
	var res MergeResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Identifiers first, then candidates: the order registrations lock
		// them in, so a concurrent registration waits instead of deadlocking.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM candidate_identifiers WHERE candidate_id IN ($1, $2) ORDER BY kind, lookup FOR UPDATE`, m.SurvivorID, m.DuplicateID); err != nil {
			return fmt.Errorf("lock identifiers: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT id FROM candidates WHERE id IN ($1, $2) ORDER BY id FOR UPDATE`, m.SurvivorID, m.DuplicateID)
		if err != nil {
			return fmt.Errorf("lock candidates: %w", err)
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("read candidates: %w", err)
		}
		nationalIDs := map[uuid.UUID]bool{}
		for _, id := range found {
			nationalIDs[id] = true
		}
		if _, ok := nationalIDs[m.SurvivorID]; !ok {
			into, err := mergedInto(ctx, tx, m.SurvivorID)
			if err != nil {
				return err
			}
			return &CandidateNotFoundError{ID: m.SurvivorID, MergedInto: into}
		}
		if _, ok := nationalIDs[m.DuplicateID]; !ok {
			err := tx.QueryRow(ctx, `SELECT id, survivor_id, merged_id, registrations_moved, identifiers_moved, merged_at FROM candidate_merges WHERE merged_id = $1`,
				m.DuplicateID).Scan(&res.ID, &res.SurvivorID, &res.MergedID, &res.RegistrationsMoved, &res.IdentifiersMoved, &res.MergedAt)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return &CandidateNotFoundError{ID: m.DuplicateID}
			case err != nil:
				return fmt.Errorf("read merge: %w", err)
			case res.SurvivorID != m.SurvivorID:
				return &CandidateNotFoundError{ID: m.DuplicateID, MergedInto: res.SurvivorID}
			}
			res.Replayed = true
			return nil
		}
		sKey, err := s.subjectKey(ctx, tx, m.SurvivorID, true)
		if err != nil {
			return err
		}
		dKey, err := s.subjectKey(ctx, tx, m.DuplicateID, true)
		if err != nil {
			return err
		}
		survivor, err := s.readPerson(ctx, tx, m.SurvivorID, sKey)
		if err != nil {
			return err
		}
		duplicate, err := s.readPerson(ctx, tx, m.DuplicateID, dKey)
		if err != nil {
			return err
		}
		if survivor.NationalID != "" && duplicate.NationalID != "" && survivor.NationalID != duplicate.NationalID {
			return &MergeConflictError{Reason: "the candidates have different national identity numbers"}
		}
		conflicts, err := conflictingRegistrations(ctx, tx, m.SurvivorID, m.DuplicateID)
		if err != nil {
			return err
		}
		if len(conflicts) > 0 {
			return &MergeConflictError{Reason: "both candidates are registered for the same test on the same session date", Registrations: conflicts}
		}

		// The survivor's empty fields are filled from the duplicate (names
		// and date of birth included only where empty).
		survivor.fill(duplicate)
		if err := s.writePerson(ctx, tx, m.SurvivorID, sKey, survivor); err != nil {
			return err
		}
		// The duplicate's address and sensitive data are sealed again with
		// the survivor's key; the address keeps its recorded_at, so its
		// two-year retention (T14) still counts from when it was recorded.
		if cur, _, err := readAddress(ctx, tx, m.SurvivorID, sKey); err != nil {
			return err
		} else if cur == nil {
			addr, recorded, err := readAddress(ctx, tx, m.DuplicateID, dKey)
			if err != nil {
				return err
			}
			if addr != nil {
				if err := writeAddress(ctx, tx, m.SurvivorID, sKey, *addr, false, recorded); err != nil {
					return err
				}
			}
		}
		if sd, err := readSensitive(ctx, tx, m.DuplicateID, dKey); err != nil {
			return err
		} else if sd != nil {
			if err := writeSensitive(ctx, tx, m.SurvivorID, sKey, *sd); err != nil {
				return err
			}
		}
		// Everything else the database holds sealed for the duplicate is
		// sealed again for the survivor; its key stays, as one of the
		// survivor's, for what it encrypted in the object store.
		if err := resealMerged(ctx, tx, m.SurvivorID, m.DuplicateID, sKey, dKey); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE candidate_identifiers SET candidate_id = $1 WHERE candidate_id = $2`, m.SurvivorID, m.DuplicateID)
		if err != nil {
			return fmt.Errorf("move identifiers: %w", err)
		}
		res.IdentifiersMoved = int(tag.RowsAffected())
		if tag, err = tx.Exec(ctx, `UPDATE registrations SET candidate_id = $1 WHERE candidate_id = $2`, m.SurvivorID, m.DuplicateID); err != nil {
			return mergeStepError("registrations", err)
		}
		res.RegistrationsMoved = int(tag.RowsAffected())
		if err := moveOtherReferences(ctx, tx, m.SurvivorID, m.DuplicateID); err != nil {
			return err
		}
		if err := moveDuplicateFlags(ctx, tx, m.SurvivorID, m.DuplicateID); err != nil {
			return err
		}

		if res.ID, err = uuid.NewV7(); err != nil {
			return fmt.Errorf("new merge id: %w", err)
		}
		res.SurvivorID, res.MergedID = m.SurvivorID, m.DuplicateID
		if err := tx.QueryRow(ctx, `
			INSERT INTO candidate_merges (id, survivor_id, merged_id, reason, decided_by, registrations_moved, identifiers_moved)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING merged_at`,
			res.ID, m.SurvivorID, m.DuplicateID, m.Reason, m.DecidedBy, res.RegistrationsMoved, res.IdentifiersMoved).Scan(&res.MergedAt); err != nil {
			return fmt.Errorf("record merge: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM candidates WHERE id = $1`, m.DuplicateID); err != nil {
			return fmt.Errorf("delete duplicate: %w", err)
		}
		return nil
	})
	var nf *CandidateNotFoundError
	var mc *MergeConflictError
	switch {
	case errors.As(err, &nf), errors.As(err, &mc):
		return MergeResult{}, err
	case err != nil:
		return MergeResult{}, classify(err)
	}
	return res, nil
}

// resealMerged seals the duplicate's appeal grounds and subject request
// details again with the survivor's key (their additional data names the
// candidate, so they cannot simply move), and keeps the duplicate's wrapped
// key as a key of the survivor. It runs before the rows move.
func resealMerged(ctx context.Context, tx pgx.Tx, survivor, duplicate uuid.UUID, sKey, dKey []byte) error {
	type sealedRow struct {
		id     uuid.UUID
		sealed []byte
	}
	for _, t := range []struct{ what, read, write, label string }{
		{"appeal grounds", `SELECT x.id, x.grounds FROM appeals x JOIN registrations r ON r.id = x.registration_id
			WHERE r.candidate_id = $1 AND x.grounds IS NOT NULL`, `UPDATE appeals SET grounds = $2 WHERE id = $1`, "appeal:"},
		{"request details", `SELECT id, details FROM subject_requests WHERE candidate_id = $1 AND details IS NOT NULL`,
			`UPDATE subject_requests SET details = $2 WHERE id = $1`, "request:"},
	} {
		rows, err := tx.Query(ctx, t.read, duplicate)
		if err != nil {
			return fmt.Errorf("read %s: %w", t.what, err)
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealedRow, error) {
			var x sealedRow
			err := r.Scan(&x.id, &x.sealed)
			return x, err
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", t.what, err)
		}
		for _, x := range list {
			var v json.RawMessage
			if err := openJSON(dKey, duplicate, t.label+x.id.String(), x.sealed, &v); err != nil {
				return err
			}
			sealed, err := sealJSON(sKey, survivor, t.label+x.id.String(), v)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, t.write, x.id, sealed); err != nil {
				return fmt.Errorf("seal %s again: %w", t.what, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO merged_subject_keys (merged_id, candidate_id, wrapped_key, master_key_id)
		SELECT candidate_id, $1, wrapped_key, master_key_id FROM subject_keys WHERE candidate_id = $2
		ON CONFLICT (merged_id) DO NOTHING`, survivor, duplicate); err != nil {
		return fmt.Errorf("keep the duplicate's key: %w", err)
	}
	return nil
}

func conflictingRegistrations(ctx context.Context, tx pgx.Tx, survivor, duplicate uuid.UUID) ([]ConflictingRegistrations, error) {
	rows, err := tx.Query(ctx, `
		SELECT s.id, d.id, s.test_type, s.session_date
		FROM registrations s JOIN registrations d ON d.test_type = s.test_type AND d.session_date = s.session_date
		WHERE s.candidate_id = $1 AND d.candidate_id = $2
		ORDER BY s.session_date, s.test_type`, survivor, duplicate)
	if err != nil {
		return nil, fmt.Errorf("find conflicting registrations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ConflictingRegistrations, error) {
		var c ConflictingRegistrations
		err := r.Scan(&c.SurvivorRegistrationID, &c.DuplicateRegistrationID, &c.TestType, &c.SessionDate)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("find conflicting registrations: %w", err)
	}
	return out, nil
}

// moveOtherReferences points every other foreign key to candidates that
// names the duplicate at the survivor: the notification outbox, cheating
// decisions and quarantines, earlier merges, and tables added later.
func moveOtherReferences(ctx context.Context, tx pgx.Tx, survivor, duplicate uuid.UUID) error {
	rows, err := tx.Query(ctx, `
		SELECT n.nspname, cl.relname, a.attname
		FROM pg_constraint c
		JOIN pg_class cl ON cl.oid = c.conrelid
		JOIN pg_namespace n ON n.oid = cl.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		WHERE c.contype = 'f' AND c.confrelid = 'candidates'::regclass AND cardinality(c.conkey) = 1
		ORDER BY 1, 2, 3`)
	if err != nil {
		return fmt.Errorf("list references to candidates: %w", err)
	}
	type ref struct{ schema, table, column string }
	refs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ref, error) {
		var x ref
		err := r.Scan(&x.schema, &x.table, &x.column)
		return x, err
	})
	if err != nil {
		return fmt.Errorf("list references to candidates: %w", err)
	}
	for _, r := range refs {
		if mergeHandled[r.table] {
			continue
		}
		col := pgx.Identifier{r.column}.Sanitize()
		sql := fmt.Sprintf(`UPDATE %s SET %s = $1 WHERE %s = $2`, pgx.Identifier{r.schema, r.table}.Sanitize(), col, col)
		if _, err := tx.Exec(ctx, sql, survivor, duplicate); err != nil {
			return mergeStepError(r.table, err)
		}
	}
	return nil
}

// mergeStepError turns a unique violation while moving rows into a conflict.
func mergeStepError(table string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return &MergeConflictError{Reason: "the duplicate's rows in " + table + " clash with the survivor's"}
	}
	return fmt.Errorf("move %s: %w", table, err)
}

func mergedInto(ctx context.Context, q pgx.Tx, id uuid.UUID) (uuid.UUID, error) {
	var into uuid.UUID
	err := q.QueryRow(ctx, `SELECT survivor_id FROM candidate_merges WHERE merged_id = $1`, id).Scan(&into)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, fmt.Errorf("read merge: %w", err)
	}
	return into, nil
}

// CandidateSummary is a candidate as case handlers see it in a list: no
// personal data beyond the candidate number.
type CandidateSummary struct {
	ID              uuid.UUID
	CandidateNumber string
	Registrations   []CandidateRegistration
}

// CandidateRegistration is one registration of a candidate.
type CandidateRegistration struct {
	ID          uuid.UUID
	TestType    string
	SessionDate time.Time
	Stage       string
}

// GetCandidate reads a candidate's number and registrations, oldest session
// first. A candidate merged away is a *CandidateNotFoundError naming the
// survivor.
func (s *Store) GetCandidate(ctx context.Context, id uuid.UUID) (CandidateSummary, error) {
	var out CandidateSummary
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id, candidate_number FROM candidates WHERE id = $1`, id).Scan(&out.ID, &out.CandidateNumber)
		if errors.Is(err, pgx.ErrNoRows) {
			into, err := mergedInto(ctx, tx, id)
			if err != nil {
				return err
			}
			return &CandidateNotFoundError{ID: id, MergedInto: into}
		}
		if err != nil {
			return fmt.Errorf("read candidate: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT id, test_type, session_date, stage FROM registrations WHERE candidate_id = $1 ORDER BY session_date, registered_at, id`, id)
		if err != nil {
			return fmt.Errorf("read registrations: %w", err)
		}
		out.Registrations, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (CandidateRegistration, error) {
			var c CandidateRegistration
			err := r.Scan(&c.ID, &c.TestType, &c.SessionDate, &c.Stage)
			return c, err
		})
		if err != nil {
			return fmt.Errorf("read registrations: %w", err)
		}
		return nil
	})
	var nf *CandidateNotFoundError
	switch {
	case errors.As(err, &nf):
		return CandidateSummary{}, err
	case err != nil:
		return CandidateSummary{}, classify(err)
	}
	return out, nil
}

// FindCandidate finds a candidate by one identifier (national_id,
// duf_number or passport_number) through the blind index.
func (s *Store) FindCandidate(ctx context.Context, kind, value string) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT candidate_id FROM candidate_identifiers WHERE kind = $1 AND lookup = $2`, kind, s.lookup(kind, value)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, ErrNotFound
	}
	if err != nil {
		return uuid.Nil, classify(fmt.Errorf("find candidate: %w", err))
	}
	return id, nil
}
