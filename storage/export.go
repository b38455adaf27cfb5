package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/minio/sio"
)

// SubjectData is everything examflow holds about a candidate, by category,
// decrypted: the content of an access export (T18).
type SubjectData struct {
	CandidateID     uuid.UUID
	CandidateNumber string
	Restricted      bool
	// Objections are the purposes the candidate has an upheld objection to.
	Objections []string
	Person     Person
	Address    *Address
	Sensitive  *Sensitive
	// Merged: a case handler merged a duplicate into this candidate, so
	// identity data came from the case handler too.
	Merged bool
	// Tables holds the rows of each category, as JSON objects; sealed and
	// index columns are left out (their content is above).
	Tables map[string][]json.RawMessage
	// AppealGrounds are the candidate's appeal grounds by appeal ID.
	AppealGrounds map[string]string
	Disclosures   []Disclosure
}

// exportQueries select a candidate's rows of each category ($1 the
// candidate). Columns holding ciphertext or blind-index hashes are dropped.
var exportQueries = map[string]string{
	"registrations": `SELECT to_jsonb(r) FROM registrations r WHERE r.candidate_id = $1 ORDER BY r.registered_at`,
	"stages":        `SELECT to_jsonb(s) FROM registration_stages s JOIN registrations r ON r.id = s.registration_id WHERE r.candidate_id = $1 ORDER BY s.entered_at`,
	"answer_sheets": `SELECT to_jsonb(a) FROM answer_sheets a JOIN registrations r ON r.id = a.registration_id WHERE r.candidate_id = $1 ORDER BY a.received_at`,
	"results":       `SELECT to_jsonb(x) FROM results x JOIN registrations r ON r.id = x.registration_id WHERE r.candidate_id = $1 ORDER BY x.decided_at`,
	"assessments":   `SELECT to_jsonb(x) FROM assessments x JOIN registrations r ON r.id = x.registration_id WHERE r.candidate_id = $1 ORDER BY x.assessed_at`,
	"reviews":       `SELECT to_jsonb(x) FROM reviews x JOIN registrations r ON r.id = x.registration_id WHERE r.candidate_id = $1 ORDER BY x.opened_at`,
	"discrepancies": `SELECT to_jsonb(x) FROM discrepancies x JOIN registrations r ON r.id = x.registration_id WHERE r.candidate_id = $1 ORDER BY x.reported_at`,
	"cheating":      `SELECT to_jsonb(x) FROM cheating_decisions x WHERE x.candidate_id = $1 ORDER BY x.decided_at`,
	"quarantines":   `SELECT to_jsonb(x) FROM quarantines x WHERE x.candidate_id = $1 ORDER BY x.until`,
	"appeals":       `SELECT to_jsonb(x) - 'grounds' FROM appeals x JOIN registrations r ON r.id = x.registration_id WHERE r.candidate_id = $1 ORDER BY x.lodged_at`,
	"appeal_decisions": `SELECT to_jsonb(d) FROM appeal_decisions d JOIN appeals x ON x.id = d.appeal_id JOIN registrations r ON r.id = x.registration_id
		WHERE r.candidate_id = $1 ORDER BY d.decided_at`,
	"audio_recordings":       `SELECT to_jsonb(x) FROM recordings x JOIN registrations r ON r.id = x.registration_id WHERE r.candidate_id = $1 ORDER BY x.uploaded_at`,
	"notifications":          `SELECT to_jsonb(x) - 'last_error' FROM notification_outbox x WHERE x.candidate_id = $1 ORDER BY x.created_at`,
	"subject_requests":       `SELECT to_jsonb(x) - 'details' FROM subject_requests x WHERE x.candidate_id = $1 ORDER BY x.received_at`,
	"identifier_corrections": `SELECT to_jsonb(x) FROM identifier_corrections x WHERE x.candidate_id = $1 ORDER BY x.corrected_at`,
}

// SubjectDataOf gathers everything held about a candidate, in one
// read-only snapshot.
func (s *Store) SubjectDataOf(ctx context.Context, candidateID uuid.UUID) (SubjectData, error) {
	pd, err := s.PersonalDataOf(ctx, candidateID)
	if err != nil {
		return SubjectData{}, err
	}
	out := SubjectData{CandidateID: candidateID, Person: pd.Person, Address: pd.Address, Sensitive: pd.Sensitive,
		Tables: map[string][]json.RawMessage{}, AppealGrounds: map[string]string{}}
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT candidate_number, restricted_at IS NOT NULL,
			ARRAY(SELECT DISTINCT purpose FROM processing_objections WHERE candidate_id = $1 ORDER BY purpose) FROM candidates WHERE id = $1`, candidateID).
			Scan(&out.CandidateNumber, &out.Restricted, &out.Objections); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("read candidate: %w", err)
		}
		for name, q := range exportQueries {
			rows, err := tx.Query(ctx, q, candidateID)
			if err != nil {
				return fmt.Errorf("export %s: %w", name, err)
			}
			list, err := pgx.CollectRows(rows, pgx.RowTo[json.RawMessage])
			if err != nil {
				return fmt.Errorf("export %s: %w", name, err)
			}
			out.Tables[name] = list
		}
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM candidate_merges WHERE survivor_id = $1)`, candidateID).Scan(&out.Merged); err != nil {
			return fmt.Errorf("export merges: %w", err)
		}
		dek, err := s.subjectKey(ctx, tx, candidateID, false)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT x.id, x.grounds FROM appeals x JOIN registrations r ON r.id = x.registration_id
			WHERE r.candidate_id = $1 AND x.grounds IS NOT NULL`, candidateID)
		if err != nil {
			return fmt.Errorf("export appeal grounds: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			var sealed []byte
			if err := rows.Scan(&id, &sealed); err != nil {
				return fmt.Errorf("export appeal grounds: %w", err)
			}
			var g string
			if err := openJSON(dek, candidateID, "appeal:"+id.String(), sealed, &g); err != nil {
				return err
			}
			out.AppealGrounds[id.String()] = g
		}
		return rows.Err()
	})
	if errors.Is(err, ErrNotFound) {
		return out, err
	}
	if err != nil {
		return out, classify(err)
	}
	if out.Disclosures, err = s.Disclosures(ctx, candidateID); err != nil {
		return out, err
	}
	return out, nil
}

// SubjectKey returns a candidate's data key (what its exports and audio
// are encrypted with).
func (s *Store) SubjectKey(ctx context.Context, candidateID uuid.UUID) ([]byte, error) {
	var dek []byte
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		dek, err = s.subjectKey(ctx, tx, candidateID, false)
		return err
	})
	return dek, classify(err)
}

// SubjectKeys returns every data key that opens something of a candidate:
// its own key first, then the keys of candidates merged into it, which
// still open what was encrypted with them outside the database (audio
// recordings, access exports). A candidate whose data is deleted has none:
// ErrKeyDestroyed.
func (s *Store) SubjectKeys(ctx context.Context, candidateID uuid.UUID) ([][]byte, error) {
	var keys [][]byte
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		dek, err := s.subjectKey(ctx, tx, candidateID, false)
		if err != nil {
			return err
		}
		keys = append(keys, dek)
		rows, err := tx.Query(ctx, `SELECT wrapped_key, master_key_id FROM merged_subject_keys WHERE candidate_id = $1 ORDER BY merged_at`, candidateID)
		if err != nil {
			return fmt.Errorf("read merged keys: %w", err)
		}
		type wrapped struct {
			key []byte
			id  string
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wrapped, error) {
			var w wrapped
			err := r.Scan(&w.key, &w.id)
			return w, err
		})
		if err != nil {
			return fmt.Errorf("read merged keys: %w", err)
		}
		for _, w := range list {
			k, err := s.keys.Unwrap(ctx, w.key, w.id)
			if err != nil {
				return fmt.Errorf("unwrap a merged key: %w", err)
			}
			keys = append(keys, k)
		}
		return nil
	})
	if errors.Is(err, ErrKeyDestroyed) {
		return nil, err
	}
	return keys, classify(err)
}

// ReadExport fetches and decrypts a request's export.
func (s *Store) ReadExport(ctx context.Context, objects *Objects, req SubjectRequest) ([]byte, error) {
	if req.ExportObject == "" {
		return nil, ErrNotFound
	}
	obj, err := objects.GetObject(ctx, req.ExportObject)
	if err != nil {
		return nil, err
	}
	defer func() { _ = obj.Close() }()
	// An export made before its candidate was merged into another is
	// encrypted with the merged candidate's key, which the survivor keeps.
	keys, err := s.SubjectKeys(ctx, req.CandidateID)
	if err != nil {
		return nil, err
	}
	sealed, err := io.ReadAll(obj)
	if err != nil {
		return nil, fmt.Errorf("read export: %w", err)
	}
	for _, dek := range keys {
		var plain bytes.Buffer
		if _, err = sio.Decrypt(&plain, bytes.NewReader(sealed), sio.Config{Key: dek}); err == nil {
			return plain.Bytes(), nil
		}
	}
	return nil, fmt.Errorf("decrypt export: %w", err)
}
