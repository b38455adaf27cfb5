package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/examflow/examflow/policy"
)

// RetentionFacts are the events a registration's retention periods run from.
type RetentionFacts struct {
	TestDate     time.Time
	RegisteredAt time.Time
	// CheatingDecidedAt is the latest cheating decision, if any.
	CheatingDecidedAt *time.Time
	// PaymentStatus: the registration has a payment status to delete.
	PaymentStatus bool
}

// RetentionFactsOf reads a registration's retention events.
func (s *Store) RetentionFactsOf(ctx context.Context, regID uuid.UUID) (RetentionFacts, error) {
	var f RetentionFacts
	err := s.pool.QueryRow(ctx, `SELECT r.session_date, r.registered_at,
		(SELECT max(decided_at) FROM cheating_decisions d WHERE d.registration_id = r.id), r.payment_status IS NOT NULL
		FROM registrations r WHERE r.id = $1`, regID).Scan(&f.TestDate, &f.RegisteredAt, &f.CheatingDecidedAt, &f.PaymentStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, ErrNotFound
	}
	if err != nil {
		return f, classify(fmt.Errorf("read retention facts: %w", err))
	}
	return f, nil
}

// LegalHold reports whether the deletion of a category of the
// registration's data must wait, and why: a cheating case reported but not
// decided, or an open appeal that needs the category.
func (s *Store) LegalHold(ctx context.Context, regID uuid.UUID, category string) (string, error) {
	var cheating bool
	var appeals int
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM discrepancies WHERE registration_id = $1 AND kind = 'provisional_cheating')
		AND NOT EXISTS (SELECT 1 FROM cheating_decisions WHERE registration_id = $1),
		(SELECT count(*) FROM appeals WHERE registration_id = $1 AND closed_at IS NULL)`, regID).Scan(&cheating, &appeals)
	if err != nil {
		return "", classify(fmt.Errorf("read legal holds: %w", err))
	}
	// Only what an open case needs waits for it (policy.CaseNeeds).
	switch {
	case !policy.CaseNeeds[policy.Category(category)]:
		return "", nil
	case cheating:
		return "open cheating case", nil
	case appeals > 0:
		return "open appeal", nil
	}
	return "", nil
}

// EscalateCheatingCase records that the registration's undecided
// provisional cheating case was escalated to case handlers at the given
// time. It reports whether an undecided case was there to escalate; the
// first escalation's time stays (idempotent).
func (s *Store) EscalateCheatingCase(ctx context.Context, regID uuid.UUID, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE discrepancies d SET escalated_at = coalesce(d.escalated_at, $2)
		WHERE d.registration_id = $1 AND d.kind = 'provisional_cheating'
			AND NOT EXISTS (SELECT 1 FROM cheating_decisions c WHERE c.registration_id = $1)`, regID, at)
	if err != nil {
		return false, classify(fmt.Errorf("escalate cheating case: %w", err))
	}
	return tag.RowsAffected() > 0, nil
}

// Deletion is the record of one category deleted for a registration.
type Deletion struct {
	ID             uuid.UUID
	RegistrationID uuid.UUID
	Category       string
	DueAt          time.Time
	DeletedAt      time.Time
	RowsDeleted    int
	SubjectDeleted bool
	// SubjectRequests are the subject requests the deletion deleted with
	// the person (SubjectDeleted): their workflows are to be closed
	// (cases.UpdateCloseRequest). IDs only.
	SubjectRequests []uuid.UUID
}

// laterRegistration finds a registration of the candidate (@candidate) for
// a later test than the registration @reg (session date, then registration
// time): the address is still needed for it.
const laterRegistration = `SELECT 1 FROM registrations o JOIN registrations r ON r.id = @reg
	WHERE o.candidate_id = @candidate AND o.id <> r.id AND (o.session_date, o.registered_at) > (r.session_date, r.registered_at)`

// categoryDeletes are the statements that delete a category of one
// registration's data (@reg the registration, @candidate its candidate,
// @registered its registered_at). personal_data is the registration's final deletion.
var categoryDeletes = map[policy.Category][]string{
	policy.Address: {
		// The address a later registration recorded is that registration's,
		// and while the candidate has a registration for a later test (a
		// legacy import of an old test arrives after a new registration) the
		// address is that test's: its own milestone deletes it.
		`DELETE FROM candidate_addresses WHERE candidate_id = @candidate AND recorded_at <= @registered
			AND NOT EXISTS (` + laterRegistration + `)`,
	},
	policy.Cheating: {
		`DELETE FROM cheating_decisions WHERE registration_id = @reg`,
		`DELETE FROM discrepancies WHERE registration_id = @reg AND kind = 'provisional_cheating'`,
	},
	policy.PaymentStatus: {
		`UPDATE registrations SET payment_status = NULL WHERE id = @reg AND payment_status IS NOT NULL`,
	},
	// The audio objects are removed from MinIO first (RemoveRecordings).
	policy.Audio: {
		`DELETE FROM recordings WHERE registration_id = @reg`,
	},
	policy.PersonalData: {
		`DELETE FROM notification_outbox WHERE registration_id = @reg`,
		`DELETE FROM reviews WHERE registration_id = @reg`,
		`UPDATE results SET superseded_by = NULL WHERE registration_id = @reg`,
		`DELETE FROM results WHERE registration_id = @reg`,
		`DELETE FROM assessments WHERE registration_id = @reg`,
		`DELETE FROM answer_sheets WHERE registration_id = @reg`,
		`DELETE FROM discrepancies WHERE registration_id = @reg`,
		`DELETE FROM cheating_decisions WHERE registration_id = @reg`,
		`DELETE FROM appeal_decisions WHERE appeal_id IN (SELECT id FROM appeals WHERE registration_id = @reg)`,
		`DELETE FROM appeals WHERE registration_id = @reg`,
		`DELETE FROM registration_stages WHERE registration_id = @reg`,
		`DELETE FROM idempotency_keys WHERE resource_id = @reg`,
		`DELETE FROM registrations WHERE id = @reg`,
	},
}

// DeleteCategory deletes one category of a registration's personal data
// and records it. It is idempotent: a second call returns the first record.
// The personal_data category deletes the registration itself and, when the
// candidate has no registration left, the candidate: the subject's final
// deletion (identifiers, address and sensitive data go with it).
func (s *Store) DeleteCategory(ctx context.Context, regID uuid.UUID, category string, due time.Time) (Deletion, error) {
	stmts, ok := categoryDeletes[policy.Category(category)]
	if !ok {
		return Deletion{}, fmt.Errorf("unknown retention category %q", category)
	}
	var d Deletion
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, regID.String()); err != nil {
			return fmt.Errorf("lock registration: %w", err)
		}
		err := tx.QueryRow(ctx, `SELECT id, registration_id, category, due_at, deleted_at, rows_deleted, subject_deleted, subject_requests
			FROM deletion_records WHERE registration_id = $1 AND category = $2`, regID, category).Scan(
			&d.ID, &d.RegistrationID, &d.Category, &d.DueAt, &d.DeletedAt, &d.RowsDeleted, &d.SubjectDeleted, &d.SubjectRequests)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read deletion record: %w", err)
		}
		var candidateID uuid.UUID
		var registeredAt time.Time
		err = tx.QueryRow(ctx, `SELECT candidate_id, registered_at FROM registrations WHERE id = $1`, regID).Scan(&candidateID, &registeredAt)
		found := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read registration: %w", err)
		}
		rows := 0
		// A registration already gone (its final deletion came first) has
		// nothing left to delete; the record says so.
		for _, q := range stmts {
			if !found {
				break
			}
			tag, err := tx.Exec(ctx, q, pgx.NamedArgs{"reg": regID, "candidate": candidateID, "registered": registeredAt})
			if err != nil {
				return fmt.Errorf("delete %s: %w", category, err)
			}
			rows += int(tag.RowsAffected())
		}
		subject := false
		requests := []uuid.UUID{}
		if category == "personal_data" && found {
			// The person's subject requests go with them (ON DELETE
			// CASCADE): their IDs are read first, in the same transaction.
			if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(id ORDER BY received_at, id), '{}') FROM subject_requests WHERE candidate_id = $1`,
				candidateID).Scan(&requests); err != nil {
				return fmt.Errorf("read subject requests: %w", err)
			}
			tag, err := tx.Exec(ctx, `DELETE FROM candidates c WHERE c.id = $1 AND NOT EXISTS (SELECT 1 FROM registrations r WHERE r.candidate_id = c.id)`, candidateID)
			if err != nil {
				return fmt.Errorf("delete candidate: %w", err)
			}
			subject = tag.RowsAffected() == 1
			if !subject {
				requests = []uuid.UUID{}
			}
		}
		d = Deletion{ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(regID.String()+"/"+category)), RegistrationID: regID, Category: category,
			DueAt: due, RowsDeleted: rows, SubjectDeleted: subject, SubjectRequests: requests}
		return tx.QueryRow(ctx, `INSERT INTO deletion_records (id, registration_id, category, due_at, rows_deleted, subject_deleted, subject_requests)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING deleted_at`, d.ID, regID, category, due, rows, subject, requests).Scan(&d.DeletedAt)
	})
	if err != nil {
		return Deletion{}, classify(err)
	}
	return d, nil
}

// Deletions lists a registration's deletion records.
func (s *Store) Deletions(ctx context.Context, regID uuid.UUID) ([]Deletion, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, registration_id, category, due_at, deleted_at, rows_deleted, subject_deleted
		FROM deletion_records WHERE registration_id = $1 ORDER BY deleted_at, category`, regID)
	if err != nil {
		return nil, classify(fmt.Errorf("read deletions: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Deletion, error) {
		var d Deletion
		err := r.Scan(&d.ID, &d.RegistrationID, &d.Category, &d.DueAt, &d.DeletedAt, &d.RowsDeleted, &d.SubjectDeleted)
		return d, err
	})
	return out, classify(err)
}

// Overdue is a category of a registration past its deletion deadline and
// not yet deleted.
type Overdue struct {
	RegistrationID uuid.UUID
	Category       string
	// EventAt is the event the period ran from.
	EventAt time.Time
}

// OverdueDeletions finds what should have been deleted by now: for each
// category, registrations whose event is before the category's cutoff
// (now minus its period) and that have no deletion record for it. cutoffs
// maps category to cutoff; addressFromRegistered says the address period
// runs from registration rather than the test date.
func (s *Store) OverdueDeletions(ctx context.Context, cutoffs map[string]time.Time, addressFromRegistered bool, limit int) ([]Overdue, error) {
	queries := overdueQueries(addressFromRegistered)
	var out []Overdue
	for _, category := range deletionCategories {
		cutoff, ok := cutoffs[category]
		if !ok {
			continue
		}
		rows, err := s.pool.Query(ctx, queries[category]+`
			ORDER BY 2 LIMIT $3`, cutoff, category, limit)
		if err != nil {
			return nil, classify(fmt.Errorf("find overdue %s: %w", category, err))
		}
		found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Overdue, error) {
			o := Overdue{Category: category}
			err := row.Scan(&o.RegistrationID, &o.EventAt)
			return o, err
		})
		if err != nil {
			return nil, classify(fmt.Errorf("find overdue %s: %w", category, err))
		}
		out = append(out, found...)
	}
	return out, nil
}

// deletionCategories are the categories of a registration's data with a
// deletion deadline, in the order they are deleted.
var deletionCategories = []string{"audio", "address", "payment_status", "cheating", "personal_data"}

// overdueQueries select, per category, the registrations (id, event) whose
// event is before the cutoff ($1) and that have no deletion record of the
// category ($2).
func overdueQueries(addressFromRegistered bool) map[string]string {
	addrEvent := "r.session_date::timestamptz"
	if addressFromRegistered {
		addrEvent = "r.registered_at"
	}
	queries := map[string]string{
		"payment_status": `SELECT r.id, r.session_date::timestamptz FROM registrations r WHERE r.session_date::timestamptz <= $1 AND r.payment_status IS NOT NULL`,
		"personal_data":  `SELECT r.id, r.session_date::timestamptz FROM registrations r WHERE r.session_date::timestamptz <= $1`,
		"address": `SELECT r.id, ` + addrEvent + ` FROM registrations r WHERE ` + addrEvent + ` <= $1
			AND EXISTS (SELECT 1 FROM candidate_addresses a WHERE a.candidate_id = r.candidate_id AND a.recorded_at <= r.registered_at)
			AND NOT EXISTS (SELECT 1 FROM registrations o WHERE o.candidate_id = r.candidate_id AND o.id <> r.id
				AND (o.session_date, o.registered_at) > (r.session_date, r.registered_at))`,
		"audio": `SELECT r.id, x.up FROM registrations r
			JOIN LATERAL (SELECT min(uploaded_at) AS up FROM recordings WHERE registration_id = r.id) x ON x.up IS NOT NULL
			WHERE x.up <= $1`,
		"cheating": `SELECT r.id, d.decided_at FROM registrations r
			JOIN LATERAL (SELECT max(decided_at) AS decided_at FROM cheating_decisions WHERE registration_id = r.id) d ON d.decided_at IS NOT NULL
			WHERE d.decided_at <= $1`,
	}
	for c, q := range queries {
		queries[c] = q + `
			AND NOT EXISTS (SELECT 1 FROM deletion_records x WHERE x.registration_id = r.id AND x.category = $2)`
	}
	return queries
}
