package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/examflow/examflow/cases"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SubjectRequest is a data subject's request (T18-T21).
type SubjectRequest struct {
	ID                 uuid.UUID
	CandidateID        uuid.UUID
	Kind               string // access, rectification, restriction, objection
	ReceivedAt         time.Time
	OriginalDueAt      time.Time
	DueAt              time.Time
	ExtensionReason    string
	IdentityMethod     string // evidence or upstream_login
	IdentityVerifiedBy string
	IdentityVerifiedAt *time.Time
	Status             string
	Outcome            string
	OutcomeReason      string
	DecidedBy          string
	AnsweredAt         *time.Time
	ExportObject       string
	Reminders          int
	WorkflowID         string
	// Details are the person's own words and changes, decrypted.
	Details RequestDetails
}

// RequestDetails are what the person asked for: the corrected fields of a
// rectification, the grounds of an objection.
type RequestDetails struct {
	Rectification map[string]string `json:"rectification,omitempty"`
	Grounds       string            `json:"grounds,omitempty"`
	// Purposes are the purposes an objection objects to
	// (policy.ObjectionPurposes).
	Purposes []string `json:"purposes,omitempty"`
}

// CreateSubjectRequest stores a request with its details sealed.
// Idempotent by ID.
func (s *Store) CreateSubjectRequest(ctx context.Context, r SubjectRequest) error {
	return classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		dek, err := s.subjectKey(ctx, tx, r.CandidateID, false)
		if err != nil {
			return err
		}
		sealed, err := sealJSON(dek, r.CandidateID, "request:"+r.ID.String(), r.Details)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO subject_requests (id, candidate_id, kind, received_at, original_due_at, due_at, identity_method,
			identity_verified_by, identity_verified_at, details, status, workflow_id)
			VALUES ($1, $2, $3, $4, $5, $5, NULLIF($6, ''), NULLIF($7, ''), $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.CandidateID, r.Kind, r.ReceivedAt, r.DueAt, r.IdentityMethod, r.IdentityVerifiedBy, r.IdentityVerifiedAt, sealed, r.Status, r.WorkflowID)
		if err != nil {
			return fmt.Errorf("insert subject request: %w", err)
		}
		return nil
	}))
}

const subjectRequestColumns = `id, candidate_id, kind, received_at, original_due_at, due_at, COALESCE(extension_reason, ''),
	COALESCE(identity_method, ''), COALESCE(identity_verified_by, ''), identity_verified_at, status, COALESCE(outcome, ''),
	COALESCE(outcome_reason, ''), COALESCE(decided_by, ''), answered_at, COALESCE(export_object, ''), reminders, workflow_id, details`

// GetSubjectRequest reads a request with its details decrypted.
func (s *Store) GetSubjectRequest(ctx context.Context, id uuid.UUID) (SubjectRequest, error) {
	var r SubjectRequest
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var sealed []byte
		err := tx.QueryRow(ctx, `SELECT `+subjectRequestColumns+` FROM subject_requests WHERE id = $1`, id).Scan(
			&r.ID, &r.CandidateID, &r.Kind, &r.ReceivedAt, &r.OriginalDueAt, &r.DueAt, &r.ExtensionReason, &r.IdentityMethod,
			&r.IdentityVerifiedBy, &r.IdentityVerifiedAt, &r.Status, &r.Outcome, &r.OutcomeReason, &r.DecidedBy, &r.AnsweredAt,
			&r.ExportObject, &r.Reminders, &r.WorkflowID, &sealed)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read subject request: %w", err)
		}
		if sealed == nil {
			return nil
		}
		dek, err := s.subjectKey(ctx, tx, r.CandidateID, false)
		if err != nil {
			return err
		}
		return openJSON(dek, r.CandidateID, "request:"+r.ID.String(), sealed, &r.Details)
	})
	if errors.Is(err, ErrNotFound) {
		return r, err
	}
	return r, classify(err)
}

// VerifySubjectIdentity records how the person's identity was confirmed.
func (s *Store) VerifySubjectIdentity(ctx context.Context, id uuid.UUID, method, by string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE subject_requests SET identity_method = $2, identity_verified_by = $3, identity_verified_at = $4,
		status = CASE WHEN status = 'awaiting_identity' THEN 'in_progress' ELSE status END WHERE id = $1`, id, method, by, at)
	return classify(err)
}

// ExtendSubjectRequest moves the due date (at most the caller's limit) with
// the reason the person is told.
func (s *Store) ExtendSubjectRequest(ctx context.Context, id uuid.UUID, due time.Time, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE subject_requests SET due_at = $2, extension_reason = $3 WHERE id = $1`, id, due, reason)
	return classify(err)
}

// RemindSubjectRequest counts a reminder.
func (s *Store) RemindSubjectRequest(ctx context.Context, id uuid.UUID) error {
	_, err := s.pool.Exec(ctx, `UPDATE subject_requests SET reminders = reminders + 1 WHERE id = $1`, id)
	return classify(err)
}

// AnswerSubjectRequest closes a request with its outcome. Idempotent: an
// answered request keeps its first answer.
func (s *Store) AnswerSubjectRequest(ctx context.Context, id uuid.UUID, status, outcome, reason, by string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE subject_requests SET status = $2, outcome = NULLIF($3, ''), outcome_reason = NULLIF($4, ''),
		decided_by = NULLIF($5, ''), answered_at = $6 WHERE id = $1 AND answered_at IS NULL`,
		id, status, outcome, reason, by, at)
	return classify(err)
}

// SetRestriction restricts (or, with restricted false, lifts the
// restriction of) the processing of a candidate's data.
func (s *Store) SetRestriction(ctx context.Context, candidateID uuid.UUID, restricted bool, requestID uuid.UUID, at time.Time) error {
	var err error
	if restricted {
		_, err = s.pool.Exec(ctx, `UPDATE candidates SET restricted_at = COALESCE(restricted_at, $2), restricted_by_request = COALESCE(restricted_by_request, $3) WHERE id = $1`,
			candidateID, at, requestID)
	} else {
		_, err = s.pool.Exec(ctx, `UPDATE candidates SET restricted_at = NULL, restricted_by_request = NULL WHERE id = $1`, candidateID)
	}
	return classify(err)
}

// RecordObjection records an upheld objection of the candidate to each of
// the purposes (policy.ObjectionRules says what that stops). Idempotent.
func (s *Store) RecordObjection(ctx context.Context, candidateID, requestID uuid.UUID, purposes []string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO processing_objections (request_id, purpose, candidate_id, upheld_at)
		SELECT $1, p, $2, $4 FROM unnest($3::text[]) AS p
		ON CONFLICT (request_id, purpose) DO NOTHING`, requestID, candidateID, purposes, at)
	if err != nil {
		return classify(fmt.Errorf("record objection: %w", err))
	}
	return nil
}

// Objections returns the purposes the candidate has an upheld objection
// to, sorted.
func (s *Store) Objections(ctx context.Context, candidateID uuid.UUID) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT purpose FROM processing_objections WHERE candidate_id = $1 ORDER BY purpose`, candidateID)
	if err != nil {
		return nil, classify(fmt.Errorf("read objections: %w", err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(fmt.Errorf("read objections: %w", err))
	}
	return out, nil
}

// Restricted reports whether processing of the candidate's data is restricted.
func (s *Store) Restricted(ctx context.Context, candidateID uuid.UUID) (bool, error) {
	var restricted bool
	err := s.pool.QueryRow(ctx, `SELECT restricted_at IS NOT NULL FROM candidates WHERE id = $1`, candidateID).Scan(&restricted)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, ErrNotFound
	}
	return restricted, classify(err)
}

// OverdueSubjectRequests counts open requests past their due date.
func (s *Store) OverdueSubjectRequests(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM subject_requests WHERE answered_at IS NULL AND due_at < $1`, now).Scan(&n)
	return n, classify(err)
}

// SetExportObject records where a request's encrypted export is.
func (s *Store) SetExportObject(ctx context.Context, id uuid.UUID, key string) error {
	_, err := s.pool.Exec(ctx, `UPDATE subject_requests SET export_object = $2 WHERE id = $1`, id, key)
	return classify(err)
}

// UnstartedSubjectRequests lists open requests older than minAge whose
// workflow start was never confirmed, oldest first. Their details stay
// sealed: starting a workflow needs IDs, the kind and the dates only.
func (s *Store) UnstartedSubjectRequests(ctx context.Context, minAge time.Duration, limit int) ([]SubjectRequest, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, candidate_id, kind, received_at, original_due_at, due_at, identity_verified_at, status, workflow_id
		FROM subject_requests WHERE workflow_started_at IS NULL AND answered_at IS NULL AND created_at < now() - make_interval(secs => $1)
		ORDER BY created_at LIMIT $2`, minAge.Seconds(), limit)
	if err != nil {
		return nil, classify(fmt.Errorf("list unstarted subject requests: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SubjectRequest, error) {
		var x SubjectRequest
		err := r.Scan(&x.ID, &x.CandidateID, &x.Kind, &x.ReceivedAt, &x.OriginalDueAt, &x.DueAt, &x.IdentityVerifiedAt, &x.Status, &x.WorkflowID)
		return x, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("list unstarted subject requests: %w", err))
	}
	return out, nil
}

// MarkSubjectRequestStarted records that a request's workflow exists. For
// a request that no longer exists (deleted with its person) it answers an
// error wrapping cases.ErrRequestGone.
func (s *Store) MarkSubjectRequestStarted(ctx context.Context, id uuid.UUID) error {
	// The EXISTS sees the row as the statement began: a request deleted
	// (with its person) by then is gone, whether or not it was marked.
	var exists bool
	err := s.pool.QueryRow(ctx, `WITH marked AS (
		UPDATE subject_requests SET workflow_started_at = now() WHERE id = $1 AND workflow_started_at IS NULL RETURNING 1
	) SELECT EXISTS (SELECT 1 FROM subject_requests WHERE id = $1)`, id).Scan(&exists)
	if err != nil {
		return classify(fmt.Errorf("mark subject request started: %w", err))
	}
	if !exists {
		return fmt.Errorf("mark subject request %s started: %w", id, cases.ErrRequestGone)
	}
	return nil
}
