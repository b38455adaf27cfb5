package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/examflow/examflow/marking"
)

// ErrNoSession: there is no session for a registration's test, test centre
// and date; sessions are set up, with their answer keys, before registration.
var ErrNoSession = errors.New("no such test session")

// NewSession is a validated session to create.
type NewSession struct {
	TestType    string
	TestCentre  string
	SessionDate time.Time
	TestVersion string
	// Forms maps each machine-marked part to its answer-key form.
	Forms       map[string]string
	WindowStart time.Time
	WindowEnd   time.Time
}

// Session is a stored test session.
type Session struct {
	ID          uuid.UUID
	TestType    string
	TestCentre  string
	SessionDate time.Time
	TestVersion string
	Forms       map[string]string
	WindowStart time.Time
	WindowEnd   time.Time
	CreatedAt   time.Time
}

const sessionColumns = `id, test_type, test_centre, session_date, test_version, forms, window_start, window_end, created_at`

func scanSession(row pgx.Row) (Session, error) {
	var s Session
	var forms []byte
	err := row.Scan(&s.ID, &s.TestType, &s.TestCentre, &s.SessionDate, &s.TestVersion, &forms, &s.WindowStart, &s.WindowEnd, &s.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, classify(fmt.Errorf("read session: %w", err))
	}
	if err := json.Unmarshal(forms, &s.Forms); err != nil {
		return Session{}, fmt.Errorf("decode session forms: %w", err)
	}
	return s, nil
}

// CreateSession stores a session. The same test, centre and date again
// returns the existing session with ErrDuplicate.
func (s *Store) CreateSession(ctx context.Context, in NewSession) (Session, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Session{}, fmt.Errorf("new session id: %w", err)
	}
	forms, err := json.Marshal(in.Forms)
	if err != nil {
		return Session{}, fmt.Errorf("encode forms: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO test_sessions (id, test_type, test_centre, session_date, test_version, forms, window_start, window_end)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (test_type, test_centre, session_date) DO NOTHING`,
		id, in.TestType, in.TestCentre, in.SessionDate, in.TestVersion, forms, in.WindowStart, in.WindowEnd)
	if err != nil {
		return Session{}, classify(fmt.Errorf("insert session: %w", err))
	}
	existing, err := s.SessionFor(ctx, in.TestType, in.TestCentre, in.SessionDate)
	if err != nil {
		return Session{}, err
	}
	if tag.RowsAffected() == 0 {
		return existing, ErrDuplicate
	}
	return existing, nil
}

// SessionFor finds the session of a test at a centre on a date.
func (s *Store) SessionFor(ctx context.Context, testType, centre string, date time.Time) (Session, error) {
	return scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM test_sessions WHERE test_type = $1 AND test_centre = $2 AND session_date = $3`,
		testType, centre, date))
}

// GetSession reads a session by ID.
func (s *Store) GetSession(ctx context.Context, id uuid.UUID) (Session, error) {
	return scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM test_sessions WHERE id = $1`, id))
}

// SessionRegistrations lists the registrations of a session.
func (s *Store) SessionRegistrations(ctx context.Context, sessionID uuid.UUID) ([]Registration, error) {
	return s.listRegistrations(ctx, `WHERE r.session_id = $1 ORDER BY r.registered_at`, sessionID)
}

// RegistrationSession returns a registration with its session.
func (s *Store) RegistrationSession(ctx context.Context, regID uuid.UUID) (Registration, Session, error) {
	reg, err := s.GetRegistration(ctx, regID)
	if err != nil {
		return Registration{}, Session{}, err
	}
	var sid *uuid.UUID
	if err := s.pool.QueryRow(ctx, `SELECT session_id FROM registrations WHERE id = $1`, regID).Scan(&sid); err != nil {
		return Registration{}, Session{}, classify(fmt.Errorf("read session id: %w", err))
	}
	if sid == nil {
		return reg, Session{}, ErrNoSession
	}
	sess, err := s.GetSession(ctx, *sid)
	return reg, sess, err
}

// AnswerSheet is a stored answer sheet.
type AnswerSheet struct {
	RegistrationID uuid.UUID
	Part           string
	FormID         string
	KeyVersion     int
	Answers        map[string]string
	SubmittedAt    time.Time
}

// StoreAnswerSheet stores a part's answer sheet once; storing the same sheet
// again (a retried activity) changes nothing.
func (s *Store) StoreAnswerSheet(ctx context.Context, a AnswerSheet) error {
	answers, err := json.Marshal(a.Answers)
	if err != nil {
		return fmt.Errorf("encode answers: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO answer_sheets (registration_id, part, form_id, key_version, answers, submitted_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (registration_id, part) DO NOTHING`,
		a.RegistrationID, a.Part, a.FormID, a.KeyVersion, answers, a.SubmittedAt)
	if err != nil {
		return classify(fmt.Errorf("store answer sheet: %w", err))
	}
	return nil
}

// GetAnswerSheet reads a part's answer sheet.
func (s *Store) GetAnswerSheet(ctx context.Context, regID uuid.UUID, part string) (AnswerSheet, error) {
	a := AnswerSheet{RegistrationID: regID, Part: part}
	var answers []byte
	err := s.pool.QueryRow(ctx, `SELECT form_id, key_version, answers, submitted_at FROM answer_sheets WHERE registration_id = $1 AND part = $2`,
		regID, part).Scan(&a.FormID, &a.KeyVersion, &answers, &a.SubmittedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	if err != nil {
		return a, classify(fmt.Errorf("read answer sheet: %w", err))
	}
	if err := json.Unmarshal(answers, &a.Answers); err != nil {
		return a, fmt.Errorf("decode answers: %w", err)
	}
	return a, nil
}

// Discrepancy is a test centre's report.
type Discrepancy struct {
	ID             uuid.UUID
	RegistrationID *uuid.UUID
	SessionID      *uuid.UUID
	Part           string
	Kind           string
	Note           string
}

// RecordDiscrepancy stores a discrepancy; the caller's ID makes it idempotent.
func (s *Store) RecordDiscrepancy(ctx context.Context, d Discrepancy) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO discrepancies (id, registration_id, session_id, part, kind, note)
		VALUES ($1, $2, $3, NULLIF($4, ''), $5, NULLIF($6, '')) ON CONFLICT (id) DO NOTHING`,
		d.ID, d.RegistrationID, d.SessionID, d.Part, d.Kind, d.Note)
	if err != nil {
		return classify(fmt.Errorf("record discrepancy: %w", err))
	}
	return nil
}

// HasTechnicalProblem reports whether a technical problem was reported for
// the registration (the part or the whole test) or for its whole session.
func (s *Store) HasTechnicalProblem(ctx context.Context, regID uuid.UUID, sessionID uuid.UUID, part string) (bool, error) {
	var found bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM discrepancies WHERE kind = 'technical_problem'
		AND ((registration_id = $1 AND (part IS NULL OR part = $3)) OR (session_id = $2 AND registration_id IS NULL AND (part IS NULL OR part = $3))))`,
		regID, sessionID, part).Scan(&found)
	if err != nil {
		return false, classify(fmt.Errorf("read discrepancies: %w", err))
	}
	return found, nil
}

// Result is one decision on a part.
type Result struct {
	ID             uuid.UUID
	RegistrationID uuid.UUID
	Part           string
	Result         string
	Score          *int
	MaxScore       *int
	AnswerKeyID    *uuid.UUID
	KeyVersion     *int
	Rule           any
	Items          any
	DecidedBy      string
	// LegalBasis is the legal basis of an automated decision
	// (policy.AutomatedDecisionLegalBasis, T02); empty for a decision by
	// people. The database refuses an automated result without one.
	LegalBasis   string
	Basis        map[string]any
	Reason       string
	DecidedAt    time.Time
	SupersededBy *uuid.UUID
	Annulled     bool
}

// InsertResult stores a result. The caller's ID makes it idempotent: a
// retried activity derives the same ID and stores nothing twice.
func (s *Store) InsertResult(ctx context.Context, r Result) (Result, error) {
	rule, _ := json.Marshal(r.Rule)
	items, _ := json.Marshal(r.Items)
	basis, err := json.Marshal(r.Basis)
	if err != nil {
		return Result{}, fmt.Errorf("encode basis: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO results (id, registration_id, part, result, score, max_score, answer_key_id, key_version, rule, items, decided_by, basis, reason, decided_at, legal_basis)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULLIF($13, ''), $14, NULLIF($15, '')) ON CONFLICT DO NOTHING`,
		r.ID, r.RegistrationID, r.Part, r.Result, r.Score, r.MaxScore, r.AnswerKeyID, r.KeyVersion, rule, items, r.DecidedBy, basis, r.Reason, r.DecidedAt, r.LegalBasis)
	if err != nil {
		return Result{}, classify(fmt.Errorf("insert result: %w", err))
	}
	return r, nil
}

// CurrentResult is a part's result that stands (not superseded).
func (s *Store) CurrentResult(ctx context.Context, regID uuid.UUID, part string) (Result, error) {
	rows, err := s.results(ctx, `WHERE registration_id = $1 AND part = $2 AND superseded_by IS NULL ORDER BY decided_at DESC LIMIT 1`, regID, part)
	if err != nil {
		return Result{}, err
	}
	if len(rows) == 0 {
		return Result{}, ErrNotFound
	}
	return rows[0], nil
}

// ResultHistory lists every result of a registration, oldest first.
func (s *Store) ResultHistory(ctx context.Context, regID uuid.UUID) ([]Result, error) {
	return s.results(ctx, `WHERE registration_id = $1 ORDER BY decided_at, id`, regID)
}

func (s *Store) results(ctx context.Context, where string, args ...any) ([]Result, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, registration_id, part, result, score, max_score, answer_key_id, key_version, rule, items,
		decided_by, basis, COALESCE(reason, ''), decided_at, superseded_by, annulled_at IS NOT NULL, COALESCE(legal_basis, '') FROM results `+where, args...)
	if err != nil {
		return nil, classify(fmt.Errorf("read results: %w", err))
	}
	defer rows.Close()
	var out []Result
	for rows.Next() {
		var r Result
		var rule, items, basis []byte
		if err := rows.Scan(&r.ID, &r.RegistrationID, &r.Part, &r.Result, &r.Score, &r.MaxScore, &r.AnswerKeyID, &r.KeyVersion,
			&rule, &items, &r.DecidedBy, &basis, &r.Reason, &r.DecidedAt, &r.SupersededBy, &r.Annulled, &r.LegalBasis); err != nil {
			return nil, classify(fmt.Errorf("read result: %w", err))
		}
		for _, f := range []struct {
			name string
			raw  []byte
			dst  any
		}{{"rule", rule, &r.Rule}, {"items", items, &r.Items}, {"basis", basis, &r.Basis}} {
			if len(f.raw) == 0 {
				continue
			}
			if err := json.Unmarshal(f.raw, f.dst); err != nil {
				return nil, fmt.Errorf("read result %s: %s: %w", r.ID, f.name, err)
			}
		}
		out = append(out, r)
	}
	return out, classify(rows.Err())
}

// SupersedeResult replaces a part's current result with a new one (a
// correction), keeping the old one as history. Idempotent by the new ID.
func (s *Store) SupersedeResult(ctx context.Context, old uuid.UUID, r Result) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		basis, _ := json.Marshal(r.Basis)
		rule, _ := json.Marshal(r.Rule)
		items, _ := json.Marshal(r.Items)
		tag, err := tx.Exec(ctx, `INSERT INTO results (id, registration_id, part, result, score, max_score, answer_key_id, key_version, rule, items, decided_by, basis, reason, decided_at, legal_basis)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULLIF($13, ''), $14, NULLIF($15, '')) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.RegistrationID, r.Part, r.Result, r.Score, r.MaxScore, r.AnswerKeyID, r.KeyVersion, rule, items, r.DecidedBy, basis, r.Reason, r.DecidedAt, r.LegalBasis)
		if err != nil {
			return fmt.Errorf("insert correction: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE results SET superseded_by = $2 WHERE id = $1 AND superseded_by IS NULL`, old, r.ID); err != nil {
			return fmt.Errorf("supersede result: %w", err)
		}
		return nil
	})
}

// AnnulResults annuls a part's current result (or every part's, part "").
func (s *Store) AnnulResults(ctx context.Context, regID uuid.UUID, part string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE results SET annulled_at = $3 WHERE registration_id = $1 AND ($2 = '' OR part = $2)
		AND superseded_by IS NULL AND annulled_at IS NULL`, regID, part, at)
	if err != nil {
		return classify(fmt.Errorf("annul results: %w", err))
	}
	return nil
}

// SessionPassRate is the share of passed automated results among a
// session's current results for a part, and how many there are.
func (s *Store) SessionPassRate(ctx context.Context, sessionID uuid.UUID, part string) (rate float64, n int, err error) {
	var passed int
	err = s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE res.result = 'passed')
		FROM results res JOIN registrations r ON r.id = res.registration_id
		WHERE r.session_id = $1 AND res.part = $2 AND res.decided_by = 'automated' AND res.superseded_by IS NULL`,
		sessionID, part).Scan(&n, &passed)
	if err != nil {
		return 0, 0, classify(fmt.Errorf("session pass rate: %w", err))
	}
	if n == 0 {
		return 0, 0, nil
	}
	return float64(passed) / float64(n), n, nil
}

// Review is a manual review of a held part.
type Review struct {
	ID             uuid.UUID
	RegistrationID uuid.UUID
	Part           string
	ResultID       *uuid.UUID
	Reasons        []string
	OpenedAt       time.Time
	DueAt          time.Time
	RemindedAt     *time.Time
	Decision       string
	Reason         string
	DecidedBy      string
}

// OpenReview stores a review; the same registration, part and opening time
// return the review already stored (a retried activity).
func (s *Store) OpenReview(ctx context.Context, r Review) (uuid.UUID, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, fmt.Errorf("new review id: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO reviews (id, registration_id, part, result_id, reasons, opened_at, due_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (registration_id, part, opened_at) DO NOTHING`,
		id, r.RegistrationID, r.Part, r.ResultID, r.Reasons, r.OpenedAt, r.DueAt)
	if err != nil {
		return uuid.Nil, classify(fmt.Errorf("open review: %w", err))
	}
	var got uuid.UUID
	if err := s.pool.QueryRow(ctx, `SELECT id FROM reviews WHERE registration_id = $1 AND part = $2 AND opened_at = $3`,
		r.RegistrationID, r.Part, r.OpenedAt).Scan(&got); err != nil {
		return uuid.Nil, classify(fmt.Errorf("read review: %w", err))
	}
	return got, nil
}

// RemindReview records that an open review was reminded; false if it was
// decided meanwhile or already reminded.
func (s *Store) RemindReview(ctx context.Context, id uuid.UUID) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE reviews SET reminded_at = now() WHERE id = $1 AND decided_at IS NULL AND reminded_at IS NULL`, id)
	if err != nil {
		return false, classify(fmt.Errorf("remind review: %w", err))
	}
	return tag.RowsAffected() == 1, nil
}

// DecideReview records a case handler's decision; idempotent.
func (s *Store) DecideReview(ctx context.Context, id uuid.UUID, decision, reason, by string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE reviews SET decision = $2, reason = NULLIF($3, ''), decided_by = $4, decided_at = $5
		WHERE id = $1 AND decided_at IS NULL`, id, decision, reason, by, at)
	if err != nil {
		return classify(fmt.Errorf("decide review: %w", err))
	}
	return nil
}

// StoreAssessment stores an examiner's assessment once.
func (s *Store) StoreAssessment(ctx context.Context, regID uuid.UUID, part, role, assessor, level string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO assessments (registration_id, part, role, assessor, level, assessed_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, regID, part, role, assessor, level, at)
	if err != nil {
		return classify(fmt.Errorf("store assessment: %w", err))
	}
	return nil
}

// Remarking is what a corrected answer key does to one part's result.
type Remarking struct {
	RegistrationID uuid.UUID
	WorkflowID     string
	Part           string
	Old            Result
	New            marking.Outcome
	Key            AnswerKey
	Changed        bool
}

// Remark marks a part's stored answer sheet again with a version of its
// form's key (0: the latest) and compares with the current automated result.
// It changes nothing.
func (s *Store) Remark(ctx context.Context, regID uuid.UUID, part, formID string, version int) (Remarking, error) {
	key, err := s.AnswerKeyByForm(ctx, formID, version)
	if err != nil {
		return Remarking{}, err
	}
	cur, err := s.CurrentResult(ctx, regID, part)
	if err != nil {
		return Remarking{}, err
	}
	sheet, err := s.GetAnswerSheet(ctx, regID, part)
	if err != nil {
		return Remarking{}, err
	}
	out, err := marking.Mark(key.Items, key.Rule, sheet.Answers)
	if err != nil {
		return Remarking{}, fmt.Errorf("mark with %s v%d: %w", formID, key.Version, err)
	}
	changed := cur.Result != out.Result || cur.Score == nil || *cur.Score != out.Score
	return Remarking{RegistrationID: regID, Part: part, Old: cur, New: out, Key: key, Changed: changed}, nil
}

// RemarkForm is the dry run of re-applying a form's latest key: every
// current automated result marked with an older version of the form, marked
// again, and whether it would change.
func (s *Store) RemarkForm(ctx context.Context, formID string) ([]Remarking, error) {
	rows, err := s.pool.Query(ctx, `SELECT res.registration_id, r.workflow_id, res.part FROM results res
		JOIN answer_keys k ON k.id = res.answer_key_id JOIN registrations r ON r.id = res.registration_id
		WHERE k.form_id = $1 AND res.decided_by = 'automated' AND res.superseded_by IS NULL AND res.annulled_at IS NULL
		AND k.version < (SELECT max(version) FROM answer_keys WHERE form_id = $1)
		ORDER BY res.decided_at`, formID)
	if err != nil {
		return nil, classify(fmt.Errorf("find results of form: %w", err))
	}
	type ref struct {
		reg  uuid.UUID
		wf   string
		part string
	}
	refs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ref, error) {
		var r ref
		err := row.Scan(&r.reg, &r.wf, &r.part)
		return r, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("find results of form: %w", err))
	}
	out := make([]Remarking, 0, len(refs))
	for _, r := range refs {
		m, err := s.Remark(ctx, r.reg, r.part, formID, 0)
		if err != nil {
			return nil, err
		}
		m.WorkflowID = r.wf
		out = append(out, m)
	}
	return out, nil
}

// ReleasedResult is a standing result of a released registration.
type ReleasedResult struct {
	RegistrationID uuid.UUID
	TestType       string
	Part           string
	Result         string
	DecidedAt      time.Time
}

// ReleasedResults lists a candidate's standing results (not superseded, not
// annulled) of registrations whose result has been released (stage Result
// or a later one).
func (s *Store) ReleasedResults(ctx context.Context, candidateID uuid.UUID) ([]ReleasedResult, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.test_type, res.part, res.result, res.decided_at
		FROM results res JOIN registrations r ON r.id = res.registration_id
		WHERE r.candidate_id = $1 AND r.stage IN ('Result', 'Published', 'Retained', 'DeletionOnHold')
		AND res.superseded_by IS NULL AND res.annulled_at IS NULL
		ORDER BY res.decided_at`, candidateID)
	if err != nil {
		return nil, classify(fmt.Errorf("read released results: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReleasedResult, error) {
		var r ReleasedResult
		err := row.Scan(&r.RegistrationID, &r.TestType, &r.Part, &r.Result, &r.DecidedAt)
		return r, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("read released results: %w", err))
	}
	return out, nil
}
