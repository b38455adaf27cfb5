package storage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
)

// Errors that callers map to HTTP answers.
var (
	// ErrNotFound: no such resource.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate: the same candidate is already registered for the same
	// test and session date. The existing registration is returned with it.
	ErrDuplicate = errors.New("already registered")
	// ErrIdempotencyMismatch: the Idempotency-Key was used for another request.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
	// ErrIdentifierConflict: the identifiers given belong to different
	// candidates, which a case handler must merge first.
	ErrIdentifierConflict = errors.New("identifiers belong to different candidates")
)

// Person is the personal data given at registration.
type Person struct {
	GivenName      string
	FamilyName     string
	DateOfBirth    time.Time
	NationalID     string
	DUFNumber      string
	PassportNumber string
	// PassportCountry is the ISO 3166-1 alpha-2 code of the passport's
	// issuing country: part of the passport identifier, sealed with the
	// number and used only to match the passport.
	PassportCountry string
	Email           string
	Phone           string
	Gender          string
	Address         *Address
}

// Address is a postal address.
type Address struct {
	Street     string
	PostalCode string
	City       string
	Country    string
}

// NewRegistration is a validated registration request.
type NewRegistration struct {
	Person      Person
	TestType    string
	TestParts   []string
	LevelBand   string
	Language    string
	WrittenForm string
	TestCentre  string
	SessionDate time.Time
	// Source is where the personal data came from (T05): candidate, or a
	// public authority.
	Source string
	// PaymentStatus is paid, unpaid, free or waived; empty if not known.
	PaymentStatus string
}

// Registration is a stored registration, without the person's data.
type Registration struct {
	ID              uuid.UUID
	CandidateID     uuid.UUID
	CandidateNumber string
	TestType        string
	TestParts       []string
	LevelBand       string
	Language        string
	WrittenForm     string
	TestCentre      string
	SessionDate     time.Time
	WorkflowID      string
	Stage           string
	WorkflowStarted bool
	RegisteredAt    time.Time
	Source          string
	PaymentStatus   string
}

// IdempotencyKey is a client's Idempotency-Key header in its scope (the
// caller), with a hash of the request it was first used for.
type IdempotencyKey struct {
	Scope       string
	Key         string
	RequestHash []byte
}

// Store is the PostgreSQL store shared by the API and the activities.
type Store struct {
	pool      *pgxpool.Pool
	lookupKey []byte
	keys      KeyRing
}

// NewStore returns a store on the pool. lookupKey is the secret of the
// identifier blind index.
func NewStore(pool *pgxpool.Pool, lookupKey []byte) *Store {
	return &Store{pool: pool, lookupKey: lookupKey}
}

// WithKeyRing sets the key ring that wraps the subjects' data keys
// (crypto-shredding) and returns the store.
func (s *Store) WithKeyRing(k KeyRing) *Store {
	s.keys = k
	return s
}

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("%w: postgres: %w", ErrUnavailable, err)
	}
	return nil
}

// WorkflowIDFor is the lifecycle workflow ID of a registration
// (cases.RegistrationWorkflowID): opaque, no
// personal data.
func WorkflowIDFor(id uuid.UUID) string { return cases.RegistrationWorkflowID(id) }

func (s *Store) lookup(kind, value string) []byte {
	m := hmac.New(sha256.New, s.lookupKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// passportKey is what the strong passport identifier's blind index is
// over: the issuing country and the number.
func passportKey(country, number string) string { return country + ":" + number }

// identifiersOf returns the identifiers that match a candidate (strong)
// and the passport number alone, which only flags a possible duplicate
// (weak; empty when there is none).
func identifiersOf(p Person) (strong map[string]string, weakPassport string) {
	strong = map[string]string{}
	if p.NationalID != "" {
		strong["national_id"] = p.NationalID
	}
	if p.DUFNumber != "" {
		strong["duf_number"] = p.DUFNumber
	}
	if p.PassportNumber != "" && p.PassportCountry != "" {
		strong["passport"] = passportKey(p.PassportCountry, p.PassportNumber)
	}
	return strong, p.PassportNumber
}

// weakPassportMatch is the reason of a possible duplicate found by
// passport number alone.
const weakPassportMatch = "same passport number, issuing country different or not recorded"

// CreateRegistration stores a registration in one transaction: it finds or
// creates the candidate by identifier, records the identifiers, the address
// and the registration. With an idempotency key it returns the registration
// that key created before (created is then false). A second registration of
// the same candidate for the same test and session date returns the existing
// one with ErrDuplicate.
func (s *Store) CreateRegistration(ctx context.Context, in NewRegistration, idem *IdempotencyKey) (reg Registration, created bool, err error) {
	return s.createRegistration(ctx, in, nil, idem)
}

// createRegistration is CreateRegistration, and with legacy data the legacy
// import: the person data then only fills the gaps of a known candidate,
// and the original date and sensitive data are recorded in the same
// transaction.
func (s *Store) createRegistration(ctx context.Context, in NewRegistration, legacy *LegacyData, idem *IdempotencyKey) (reg Registration, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if idem != nil {
			rid, found, err := idempotentResource(ctx, tx, *idem)
			if err != nil {
				return err
			}
			if found {
				reg, err = getRegistration(ctx, tx, rid)
				return err
			}
		}

		var sessionID uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id FROM test_sessions WHERE test_type = $1 AND test_centre = $2 AND session_date = $3`,
			in.TestType, in.TestCentre, in.SessionDate).Scan(&sessionID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoSession
		}
		if err != nil {
			return fmt.Errorf("find session: %w", err)
		}
		candidateID, err := s.upsertCandidate(ctx, tx, in.Person, legacy != nil)
		if err != nil {
			return err
		}
		// The candidate's quarantines, decided on by policy.Quarantined.
		quarantines, err := quarantinesOf(ctx, tx, candidateID, in.TestType)
		if err != nil {
			return err
		}
		if _, refused := policy.Quarantined(quarantines, in.TestType, in.SessionDate, time.Now()); refused {
			return ErrQuarantined
		}
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("new registration id: %w", err)
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO registrations (id, candidate_id, test_type, test_parts, level_band, language, written_form, test_centre, session_date, workflow_id, session_id, source, original_registration_date, payment_status)
			VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), NULLIF($7, ''), $8, $9, $10, $11, COALESCE(NULLIF($12, ''), 'candidate'), $13, NULLIF($14, ''))
			ON CONFLICT (candidate_id, test_type, session_date) DO NOTHING`,
			id, candidateID, in.TestType, in.TestParts, in.LevelBand, in.Language, in.WrittenForm, in.TestCentre, in.SessionDate, WorkflowIDFor(id), sessionID, in.Source, legacy.originalDate(), in.PaymentStatus)
		if err != nil {
			return fmt.Errorf("insert registration: %w", err)
		}
		if tag.RowsAffected() == 0 {
			var existing uuid.UUID
			if err := tx.QueryRow(ctx, `SELECT id FROM registrations WHERE candidate_id = $1 AND test_type = $2 AND session_date = $3`,
				candidateID, in.TestType, in.SessionDate).Scan(&existing); err != nil {
				return fmt.Errorf("read existing registration: %w", err)
			}
			if reg, err = getRegistration(ctx, tx, existing); err != nil {
				return err
			}
			return ErrDuplicate
		}
		if legacy != nil {
			if err := legacy.record(ctx, s, tx, candidateID); err != nil {
				return err
			}
		}
		if idem != nil {
			if err := storeIdempotencyKey(ctx, tx, *idem, id); err != nil {
				return err
			}
		}
		created = true
		reg, err = getRegistration(ctx, tx, id)
		return err
	})
	if errors.Is(err, ErrDuplicate) {
		return reg, false, err
	}
	if errors.Is(err, ErrNoSession) || errors.Is(err, ErrQuarantined) {
		return Registration{}, false, err
	}
	if err != nil {
		return Registration{}, false, classify(err)
	}
	return reg, created, nil
}

// upsertCandidate finds the candidate by identifier or creates one, and
// records the identifiers and address. A known candidate's data is updated
// from p, or with fillOnly (older data, a legacy import) only where it is
// empty.
func (s *Store) upsertCandidate(ctx context.Context, tx pgx.Tx, p Person, fillOnly bool) (uuid.UUID, error) {
	ids, passport := identifiersOf(p)
	found := map[uuid.UUID]bool{}
	for kind, value := range ids {
		var cid uuid.UUID
		err := tx.QueryRow(ctx, `SELECT candidate_id FROM candidate_identifiers WHERE kind = $1 AND lookup = $2 FOR UPDATE`, kind, s.lookup(kind, value)).Scan(&cid)
		if err == nil {
			found[cid] = true
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return uuid.Nil, fmt.Errorf("look up identifier: %w", err)
		}
	}
	if len(found) > 1 {
		return uuid.Nil, ErrIdentifierConflict
	}
	var candidateID uuid.UUID
	for id := range found {
		candidateID = id
	}
	var dek []byte
	var cur sealedPerson
	if candidateID == uuid.Nil {
		var err error
		if candidateID, err = uuid.NewV7(); err != nil {
			return uuid.Nil, fmt.Errorf("new candidate id: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO candidates (id, candidate_number) VALUES ($1, lpad(nextval('candidate_number_seq')::text, 9, '0'))`,
			candidateID); err != nil {
			return uuid.Nil, fmt.Errorf("insert candidate: %w", err)
		}
		if dek, err = s.subjectKey(ctx, tx, candidateID, true); err != nil {
			return uuid.Nil, err
		}
	} else {
		var err error
		if dek, err = s.subjectKey(ctx, tx, candidateID, true); err != nil {
			return uuid.Nil, err
		}
		if cur, err = s.readPerson(ctx, tx, candidateID, dek); err != nil {
			return uuid.Nil, err
		}
	}
	next := toSealed(p)
	if fillOnly {
		// Older data (a legacy import) only fills what is empty.
		cur.fill(next)
		next = cur
	} else {
		// The newest registration carries the newest name and contact
		// details; an identifier or detail once known is kept when absent.
		next.fill(cur)
	}
	if err := s.writePerson(ctx, tx, candidateID, dek, next); err != nil {
		return uuid.Nil, err
	}
	for kind, value := range ids {
		if _, err := tx.Exec(ctx, `INSERT INTO candidate_identifiers (kind, lookup, candidate_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			kind, s.lookup(kind, value), candidateID); err != nil {
			return uuid.Nil, fmt.Errorf("insert identifier: %w", err)
		}
	}
	if passport != "" {
		if err := s.recordWeakPassport(ctx, tx, candidateID, passport); err != nil {
			return uuid.Nil, err
		}
	}
	if a := p.Address; a != nil {
		if err := writeAddress(ctx, tx, candidateID, dek, *a, fillOnly, time.Time{}); err != nil {
			return uuid.Nil, err
		}
	}
	return candidateID, nil
}

// recordWeakPassport records the passport number alone for the candidate,
// unless another candidate holds it: then the two are flagged as a
// possible duplicate for a case handler, never merged (a passport number
// is unique only within its issuing country).
func (s *Store) recordWeakPassport(ctx context.Context, tx pgx.Tx, candidateID uuid.UUID, number string) error {
	lookup := s.lookup("passport_number", number)
	var holder uuid.UUID
	err := tx.QueryRow(ctx, `
		INSERT INTO candidate_identifiers (kind, lookup, candidate_id) VALUES ('passport_number', $1, $2)
		ON CONFLICT (kind, lookup) DO UPDATE SET candidate_id = candidate_identifiers.candidate_id
		RETURNING candidate_id`, lookup, candidateID).Scan(&holder)
	if err != nil {
		return fmt.Errorf("record passport number: %w", err)
	}
	if holder == candidateID {
		return nil
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("new flag id: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO candidate_possible_duplicates (id, candidate_id, other_id, reason)
		SELECT $1, $2, $3, $4
		WHERE NOT EXISTS (SELECT 1 FROM candidate_possible_duplicates WHERE candidate_id = $3 AND other_id = $2)
		ON CONFLICT (candidate_id, other_id) DO NOTHING`, id, candidateID, holder, weakPassportMatch); err != nil {
		return fmt.Errorf("flag possible duplicate: %w", err)
	}
	return nil
}

const registrationColumns = `r.id, r.candidate_id, c.candidate_number, r.test_type, r.test_parts, COALESCE(r.level_band, ''),
	COALESCE(r.language, ''), COALESCE(r.written_form, ''), r.test_centre, r.session_date, r.workflow_id, r.stage,
	r.workflow_started_at IS NOT NULL, r.registered_at, r.source, COALESCE(r.payment_status, '')`

func scanRegistration(row pgx.Row) (Registration, error) {
	var r Registration
	err := row.Scan(&r.ID, &r.CandidateID, &r.CandidateNumber, &r.TestType, &r.TestParts, &r.LevelBand, &r.Language,
		&r.WrittenForm, &r.TestCentre, &r.SessionDate, &r.WorkflowID, &r.Stage, &r.WorkflowStarted, &r.RegisteredAt, &r.Source, &r.PaymentStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return Registration{}, ErrNotFound
	}
	if err != nil {
		return Registration{}, fmt.Errorf("read registration: %w", err)
	}
	return r, nil
}

func getRegistration(ctx context.Context, q pgx.Tx, id uuid.UUID) (Registration, error) {
	return scanRegistration(q.QueryRow(ctx, `SELECT `+registrationColumns+` FROM registrations r JOIN candidates c ON c.id = r.candidate_id WHERE r.id = $1`, id))
}

// GetRegistration reads one registration.
func (s *Store) GetRegistration(ctx context.Context, id uuid.UUID) (Registration, error) {
	r, err := scanRegistration(s.pool.QueryRow(ctx, `SELECT `+registrationColumns+` FROM registrations r JOIN candidates c ON c.id = r.candidate_id WHERE r.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return r, classify(err)
	}
	return r, err
}

// MarkWorkflowStarted records that the registration's workflow exists.
func (s *Store) MarkWorkflowStarted(ctx context.Context, id uuid.UUID) error {
	if _, err := s.pool.Exec(ctx, `UPDATE registrations SET workflow_started_at = now() WHERE id = $1 AND workflow_started_at IS NULL`, id); err != nil {
		return classify(fmt.Errorf("mark workflow started: %w", err))
	}
	return nil
}

// UnstartedRegistrations lists registrations older than minAge whose workflow
// was never confirmed started (the API failed between commit and start).
func (s *Store) UnstartedRegistrations(ctx context.Context, minAge time.Duration, limit int) ([]Registration, error) {
	return s.listRegistrations(ctx, `WHERE r.workflow_started_at IS NULL AND r.registered_at < now() - make_interval(secs => $1)
		ORDER BY r.registered_at LIMIT $2`, minAge.Seconds(), limit)
}

// listRegistrations reads the registrations a WHERE ... clause selects.
func (s *Store) listRegistrations(ctx context.Context, where string, args ...any) ([]Registration, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+registrationColumns+` FROM registrations r JOIN candidates c ON c.id = r.candidate_id `+where, args...)
	if err != nil {
		return nil, classify(fmt.Errorf("list registrations: %w", err))
	}
	defer rows.Close()
	var out []Registration
	for rows.Next() {
		r, err := scanRegistration(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, classify(rows.Err())
}

// RecordStage records that a registration's workflow entered a stage. It is
// idempotent: a retried activity records the stage once, at its first time.
func (s *Store) RecordStage(ctx context.Context, id uuid.UUID, stage string, at time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO registration_stages (registration_id, stage, entered_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, id, stage, at)
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" {
				return ErrNotFound
			}
			return classify(fmt.Errorf("record stage: %w", err))
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE registrations SET stage = $2 WHERE id = $1`, id, stage); err != nil {
			return classify(fmt.Errorf("update stage: %w", err))
		}
		return nil
	})
}

// StageHistory lists the stages a registration has entered, oldest first.
func (s *Store) StageHistory(ctx context.Context, id uuid.UUID) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT stage FROM registration_stages WHERE registration_id = $1 ORDER BY entered_at, stage`, id)
	if err != nil {
		return nil, classify(fmt.Errorf("read stages: %w", err))
	}
	stages, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, classify(fmt.Errorf("read stages: %w", err))
	}
	return stages, nil
}

// classify marks the failures to reach a dependency (PostgreSQL or MinIO
// down, restarting, refusing connections, or a timeout) as ErrUnavailable,
// which the API answers with 503 and a client retries. Every other error
// keeps its cause unmarked: a constraint, a bug or bad data is not cured by
// retrying, so the API answers 500 and logs it.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !unreachable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// unreachable reports whether err says that a dependency could not be
// reached or did not answer in time.
func unreachable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // shutting down, crashed, starting
			return true
		case pgErr.Code == "53300": // too many connections
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var minioErr minio.ErrorResponse
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &minioErr):
		return minioErr.StatusCode == 503 || minioErr.StatusCode == 500 || minioErr.Code == "XMinioServerNotInitialized"
	}
	return false
}

// MarkFinal records that a registration's result is final. Idempotent.
func (s *Store) MarkFinal(ctx context.Context, regID uuid.UUID, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE registrations SET final_at = COALESCE(final_at, $2) WHERE id = $1`, regID, at)
	return classify(err)
}

// FinalRegistrations lists a candidate's registrations whose result is
// final, for republication.
func (s *Store) FinalRegistrations(ctx context.Context, candidateID uuid.UUID) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM registrations WHERE candidate_id = $1 AND final_at IS NOT NULL ORDER BY registered_at`, candidateID)
	if err != nil {
		return nil, classify(fmt.Errorf("read registrations: %w", err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	return out, classify(err)
}
