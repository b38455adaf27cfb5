package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Appeal is a candidate's appeal (T22). Grounds are the candidate's own
// words: sealed with the subject's data key, read only through Grounds.
type Appeal struct {
	ID             uuid.UUID
	RegistrationID uuid.UUID
	Kind           string
	Part           string
	Against        string
	ReceivedAt     time.Time
	Deadline       time.Time
	LateAcceptedBy string
	LateReason     string
	Grounds        string
	Status         string
	WorkflowID     string
	LodgedAt       time.Time
	ClosedAt       *time.Time
	Decisions      []AppealDecision
	// Handover, when set, is the release lodging the appeal makes: the
	// appeal handed to an instance outside the controller (T08). It is
	// recorded in the same transaction as the appeal, for the appeal's
	// candidate, with its audit entry (a release); only LodgeAppeal reads
	// it.
	Handover *Disclosure
}

// AppealDecision is one instance's decision on an appeal.
type AppealDecision struct {
	Instance  string
	Decision  string
	Reasons   string
	DecidedBy string
	Level     string
	ResultID  *uuid.UUID
	DecidedAt time.Time
}

// AppealRecord is what an appeal's facts read: the registration's results,
// decisions and earlier appeals.
type AppealRecord struct {
	CandidateID uuid.UUID
	TestType    string
	TestDate    time.Time
	// ResultAt is when the registration first entered stage Result.
	ResultAt *time.Time
	// Results are the standing results by part.
	Results map[string]Result
	// CheatingFinal is the final cheating decision that stands, if any.
	CheatingFinal *CheatingDecision
	// QuarantineActive: its quarantine has not ended.
	QuarantineActive bool
	// ComplaintRejectedAt is when a formal-error complaint was rejected.
	ComplaintRejectedAt *time.Time
	// ComplaintPart is the part the rejected complaint was about.
	ComplaintPart string
	Appeals       []Appeal
}

// AppealRecordOf reads what the appeal rules need about a registration.
func (s *Store) AppealRecordOf(ctx context.Context, regID uuid.UUID, now time.Time) (AppealRecord, error) {
	var rec AppealRecord
	err := s.pool.QueryRow(ctx, `SELECT r.candidate_id, r.test_type, r.session_date,
		(SELECT min(entered_at) FROM registration_stages st WHERE st.registration_id = r.id AND st.stage = 'Result')
		FROM registrations r WHERE r.id = $1`, regID).
		Scan(&rec.CandidateID, &rec.TestType, &rec.TestDate, &rec.ResultAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, ErrNotFound
	}
	if err != nil {
		return rec, classify(fmt.Errorf("read registration: %w", err))
	}
	results, err := s.results(ctx, `WHERE registration_id = $1 AND superseded_by IS NULL AND annulled_at IS NULL ORDER BY decided_at`, regID)
	if err != nil {
		return rec, err
	}
	rec.Results = map[string]Result{}
	for _, r := range results {
		rec.Results[r.Part] = r
	}
	var d CheatingDecision
	err = s.pool.QueryRow(ctx, `SELECT id, decided_at, EXISTS (SELECT 1 FROM quarantines q WHERE q.decision_id = d.id AND q.until > $2)
		FROM cheating_decisions d WHERE registration_id = $1 AND decision = 'final' AND reversed_at IS NULL ORDER BY decided_at DESC LIMIT 1`, regID, now).
		Scan(&d.ID, &d.DecidedAt, &rec.QuarantineActive)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return rec, classify(fmt.Errorf("read cheating decision: %w", err))
	default:
		rec.CheatingFinal = &d
	}
	if rec.Appeals, err = s.Appeals(ctx, regID); err != nil {
		return rec, err
	}
	for _, a := range rec.Appeals {
		for _, x := range a.Decisions {
			if a.Kind == "formal_error" && x.Decision == "rejected" {
				at := x.DecidedAt
				rec.ComplaintRejectedAt, rec.ComplaintPart = &at, a.Part
			}
		}
	}
	return rec, nil
}

// LodgeAppeal stores an admitted appeal, its grounds sealed, and its
// handover with the handover's audit entry. Idempotent by its ID; a second
// appeal of the same thing is ErrDuplicate. A transaction with a handover
// runs to its end once begun (releaseContext).
func (s *Store) LodgeAppeal(ctx context.Context, a Appeal) error {
	if a.Handover != nil {
		var cancel context.CancelFunc
		ctx, cancel = releaseContext(ctx)
		defer cancel()
	}
	return classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var candidateID uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT candidate_id FROM registrations WHERE id = $1`, a.RegistrationID).Scan(&candidateID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("read registration: %w", err)
		}
		var grounds []byte
		if a.Grounds != "" {
			dek, err := s.subjectKey(ctx, tx, candidateID, true)
			if err != nil {
				return err
			}
			if grounds, err = sealJSON(dek, candidateID, "appeal:"+a.ID.String(), a.Grounds); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO appeals (id, registration_id, kind, part, against, received_at, deadline, late_accepted_by, late_reason, grounds, status, workflow_id, lodged_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, ''), NULLIF($9, ''), $10, 'open', $11, $12) ON CONFLICT (id) DO NOTHING`,
			a.ID, a.RegistrationID, a.Kind, a.Part, a.Against, a.ReceivedAt, a.Deadline, a.LateAcceptedBy, a.LateReason, grounds, a.WorkflowID, a.LodgedAt)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return ErrDuplicate
		}
		if err != nil {
			return fmt.Errorf("insert appeal: %w", err)
		}
		if d := a.Handover; d != nil {
			d.CandidateID, d.RegistrationID = candidateID, &a.RegistrationID
			return insertDisclosure(ctx, tx, *d)
		}
		return nil
	}))
}

// Appeals lists a registration's appeals with their decisions, oldest
// first, without their grounds.
func (s *Store) Appeals(ctx context.Context, regID uuid.UUID) ([]Appeal, error) {
	return s.appeals(ctx, `WHERE a.registration_id = $1 ORDER BY a.lodged_at, a.id`, regID)
}

// GetAppeal reads one appeal with its decisions.
func (s *Store) GetAppeal(ctx context.Context, id uuid.UUID) (Appeal, error) {
	out, err := s.appeals(ctx, `WHERE a.id = $1`, id)
	if err != nil {
		return Appeal{}, err
	}
	if len(out) == 0 {
		return Appeal{}, ErrNotFound
	}
	return out[0], nil
}

func (s *Store) appeals(ctx context.Context, where string, args ...any) ([]Appeal, error) {
	rows, err := s.pool.Query(ctx, `SELECT a.id, a.registration_id, a.kind, a.part, a.against, a.received_at, a.deadline,
		COALESCE(a.late_accepted_by, ''), COALESCE(a.late_reason, ''), a.status, a.workflow_id, a.lodged_at, a.closed_at
		FROM appeals a `+where, args...)
	if err != nil {
		return nil, classify(fmt.Errorf("read appeals: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Appeal, error) {
		var a Appeal
		err := row.Scan(&a.ID, &a.RegistrationID, &a.Kind, &a.Part, &a.Against, &a.ReceivedAt, &a.Deadline,
			&a.LateAcceptedBy, &a.LateReason, &a.Status, &a.WorkflowID, &a.LodgedAt, &a.ClosedAt)
		return a, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("read appeals: %w", err))
	}
	for i := range out {
		rows, err := s.pool.Query(ctx, `SELECT instance, decision, reasons, decided_by, COALESCE(level, ''), result_id, decided_at
			FROM appeal_decisions WHERE appeal_id = $1 ORDER BY decided_at`, out[i].ID)
		if err != nil {
			return nil, classify(fmt.Errorf("read appeal decisions: %w", err))
		}
		out[i].Decisions, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (AppealDecision, error) {
			var d AppealDecision
			err := row.Scan(&d.Instance, &d.Decision, &d.Reasons, &d.DecidedBy, &d.Level, &d.ResultID, &d.DecidedAt)
			return d, err
		})
		if err != nil {
			return nil, classify(fmt.Errorf("read appeal decisions: %w", err))
		}
	}
	return out, nil
}

// AppealEffects are what a decision changes, applied with it in one
// transaction.
type AppealEffects struct {
	// Status is the appeal's status after the decision; Closed ends it.
	Status string
	Closed bool
	// NewResult supersedes the part's standing result (a re-assessment).
	NewResult *Result
	// Assessor is the re-assessing examiner, stored as an appeal_examiner assessment.
	Assessor string
	// AnnulParts annuls these parts' standing results; AnnulAll every part's.
	AnnulParts []string
	AnnulAll   bool
	// ReverseCheating marks the final cheating decision reversed and lifts its quarantine.
	ReverseCheating *uuid.UUID
	// LiftQuarantine ends the quarantine of this cheating decision.
	LiftQuarantine *uuid.UUID
	// Handover is the release the decision makes, if any: the appeal
	// forwarded to the next instance outside the controller (T08),
	// recorded for the appeal's candidate and registration.
	Handover *Disclosure
}

// DecideAppeal records an instance's decision and applies its effects, a
// handover with its audit entry. Idempotent: a decision already recorded
// for the instance changes nothing and reports applied false. A
// transaction with a handover runs to its end once begun (releaseContext).
func (s *Store) DecideAppeal(ctx context.Context, appealID uuid.UUID, d AppealDecision, fx AppealEffects) (applied bool, err error) {
	if fx.Handover != nil {
		var cancel context.CancelFunc
		ctx, cancel = releaseContext(ctx)
		defer cancel()
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var regID, candidateID uuid.UUID
		var part string
		if err := tx.QueryRow(ctx, `SELECT a.registration_id, a.part, r.candidate_id FROM appeals a JOIN registrations r ON r.id = a.registration_id
			WHERE a.id = $1 FOR UPDATE OF a`, appealID).Scan(&regID, &part, &candidateID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("read appeal: %w", err)
		}
		if fx.NewResult != nil {
			d.ResultID = &fx.NewResult.ID
		}
		tag, err := tx.Exec(ctx, `INSERT INTO appeal_decisions (appeal_id, instance, decision, reasons, decided_by, level, result_id, decided_at)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8) ON CONFLICT DO NOTHING`,
			appealID, d.Instance, d.Decision, d.Reasons, d.DecidedBy, d.Level, d.ResultID, d.DecidedAt)
		if err != nil {
			return fmt.Errorf("insert appeal decision: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		applied = true
		var closedAt *time.Time
		if fx.Closed {
			closedAt = &d.DecidedAt
		}
		if _, err := tx.Exec(ctx, `UPDATE appeals SET status = $2, closed_at = $3 WHERE id = $1`, appealID, fx.Status, closedAt); err != nil {
			return fmt.Errorf("update appeal: %w", err)
		}
		if fx.Assessor != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO assessments (registration_id, part, role, assessor, level, assessed_at)
				VALUES ($1, $2, 'appeal_examiner', $3, $4, $5) ON CONFLICT DO NOTHING`, regID, part, fx.Assessor, d.Level, d.DecidedAt); err != nil {
				return fmt.Errorf("store re-assessment: %w", err)
			}
		}
		if r := fx.NewResult; r != nil {
			if err := insertSuperseding(ctx, tx, *r); err != nil {
				return err
			}
		}
		if fx.AnnulAll || len(fx.AnnulParts) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE results SET annulled_at = $3 WHERE registration_id = $1 AND ($2 OR part = ANY($4))
				AND superseded_by IS NULL AND annulled_at IS NULL`, regID, fx.AnnulAll, d.DecidedAt, fx.AnnulParts); err != nil {
				return fmt.Errorf("annul results: %w", err)
			}
		}
		if id := fx.ReverseCheating; id != nil {
			if _, err := tx.Exec(ctx, `UPDATE cheating_decisions SET reversed_at = $2, reversed_by_appeal = $3 WHERE id = $1 AND reversed_at IS NULL`, *id, d.DecidedAt, appealID); err != nil {
				return fmt.Errorf("reverse cheating decision: %w", err)
			}
			fx.LiftQuarantine = id
		}
		if id := fx.LiftQuarantine; id != nil {
			if _, err := tx.Exec(ctx, `UPDATE quarantines SET until = LEAST(until, $2::date) WHERE decision_id = $1`, *id, d.DecidedAt); err != nil {
				return fmt.Errorf("lift quarantine: %w", err)
			}
		}
		if h := fx.Handover; h != nil {
			h.CandidateID, h.RegistrationID = candidateID, &regID
			return insertDisclosure(ctx, tx, *h)
		}
		return nil
	})
	return applied, classify(err)
}

// insertSuperseding stores a result that replaces the part's standing one.
func insertSuperseding(ctx context.Context, tx pgx.Tx, r Result) error {
	var old uuid.UUID
	err := tx.QueryRow(ctx, `SELECT id FROM results WHERE registration_id = $1 AND part = $2 AND superseded_by IS NULL AND annulled_at IS NULL
		ORDER BY decided_at DESC LIMIT 1`, r.RegistrationID, r.Part).Scan(&old)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read standing result: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO results (id, registration_id, part, result, decided_by, basis, reason, decided_at)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8)`, r.ID, r.RegistrationID, r.Part, r.Result, r.DecidedBy, r.Basis, r.Reason, r.DecidedAt); err != nil {
		return fmt.Errorf("insert result: %w", err)
	}
	if old != uuid.Nil {
		if _, err := tx.Exec(ctx, `UPDATE results SET superseded_by = $2 WHERE id = $1`, old, r.ID); err != nil {
			return fmt.Errorf("supersede result: %w", err)
		}
	}
	return nil
}

// Assessors lists who has assessed a registration's part, in any role.
func (s *Store) Assessors(ctx context.Context, regID uuid.UUID, part string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT assessor FROM assessments WHERE registration_id = $1 AND part = $2`, regID, part)
	if err != nil {
		return nil, classify(fmt.Errorf("read assessors: %w", err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(fmt.Errorf("read assessors: %w", err))
	}
	return out, nil
}
