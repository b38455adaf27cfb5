package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/examflow/examflow/policy"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrQuarantined: the candidate is under quarantine for this kind of test
// (policy.Quarantined decides).
var ErrQuarantined = errors.New("candidate under quarantine for this test")

// CheatingDecision is a case handler's decision on a cheating case.
type CheatingDecision struct {
	ID              uuid.UUID
	RegistrationID  uuid.UUID
	Decision        string // final or dismissed
	Reasons         string
	QuarantineUntil *time.Time
	DecidedBy       string
	DecidedAt       time.Time
}

// RecordCheatingDecision stores the decision. A final decision deletes every
// result of the registration's test permanently (for the Norwegian test all
// its parts), with their assessments and answer sheets, and sets the
// quarantine; the decision itself is kept. Idempotent by the decision ID.
func (s *Store) RecordCheatingDecision(ctx context.Context, d CheatingDecision) error {
	return classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO cheating_decisions (id, registration_id, candidate_id, test_type, decision, reasons, quarantine_until, decided_by, decided_at)
			SELECT $1, r.id, r.candidate_id, r.test_type, $3, $4, $5, $6, $7 FROM registrations r WHERE r.id = $2
			ON CONFLICT (id) DO NOTHING`, d.ID, d.RegistrationID, d.Decision, d.Reasons, d.QuarantineUntil, d.DecidedBy, d.DecidedAt)
		if err != nil {
			return fmt.Errorf("record cheating decision: %w", err)
		}
		if tag.RowsAffected() == 0 || d.Decision != "final" {
			return nil
		}
		for _, q := range []string{
			`UPDATE reviews SET result_id = NULL WHERE registration_id = $1`,
			`UPDATE results SET superseded_by = NULL WHERE registration_id = $1`,
			`DELETE FROM results WHERE registration_id = $1`,
			`DELETE FROM assessments WHERE registration_id = $1`,
			`DELETE FROM answer_sheets WHERE registration_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, d.RegistrationID); err != nil {
				return fmt.Errorf("delete results: %w", err)
			}
		}
		if d.QuarantineUntil != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO quarantines (candidate_id, test_type, until, decision_id)
				SELECT candidate_id, test_type, $2, $3 FROM registrations WHERE id = $1`, d.RegistrationID, *d.QuarantineUntil, d.ID); err != nil {
				return fmt.Errorf("set quarantine: %w", err)
			}
		}
		return nil
	}))
}

// CheatingDecisions lists a registration's cheating decisions.
func (s *Store) CheatingDecisions(ctx context.Context, regID uuid.UUID) ([]CheatingDecision, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, registration_id, decision, reasons, quarantine_until, decided_by, decided_at
		FROM cheating_decisions WHERE registration_id = $1 ORDER BY decided_at`, regID)
	if err != nil {
		return nil, classify(fmt.Errorf("read cheating decisions: %w", err))
	}
	defer rows.Close()
	var out []CheatingDecision
	for rows.Next() {
		var d CheatingDecision
		if err := rows.Scan(&d.ID, &d.RegistrationID, &d.Decision, &d.Reasons, &d.QuarantineUntil, &d.DecidedBy, &d.DecidedAt); err != nil {
			return nil, classify(fmt.Errorf("read cheating decision: %w", err))
		}
		out = append(out, d)
	}
	return out, classify(rows.Err())
}

// quarantinesOf loads a candidate's quarantines for a test type, each
// ending at the instant PostgreSQL casts its date to (the session's time
// zone), for policy.Quarantined to decide on.
func quarantinesOf(ctx context.Context, tx pgx.Tx, candidateID uuid.UUID, testType string) ([]policy.Quarantine, error) {
	rows, err := tx.Query(ctx, `SELECT test_type, until::timestamptz FROM quarantines WHERE candidate_id = $1 AND test_type = $2`, candidateID, testType)
	if err != nil {
		return nil, fmt.Errorf("read quarantines: %w", err)
	}
	qs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (policy.Quarantine, error) {
		var q policy.Quarantine
		err := row.Scan(&q.TestType, &q.Until)
		return q, err
	})
	if err != nil {
		return nil, fmt.Errorf("read quarantines: %w", err)
	}
	return qs, nil
}
