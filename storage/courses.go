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

// Course is a course, training or event (no personal data).
type Course struct {
	ID               uuid.UUID
	Title            string
	CourseType       string
	EventDate        time.Time
	Paid             bool
	ProfileQuestions bool
	CreatedAt        time.Time
}

// Participant is what a course registration holds about the person: C01
// and, where the course type asks, the optional profile answers of C02.
type Participant struct {
	GivenName  string   `json:"given_name"`
	FamilyName string   `json:"family_name"`
	Email      string   `json:"email"`
	Invoice    *Invoice `json:"invoice,omitempty"`
	Profile    *Profile `json:"profile,omitempty"`
}

// Invoice is what a paid course needs: invoice address, organisation
// number and invoice e-mail.
type Invoice struct {
	Address            Address `json:"address"`
	OrganisationNumber string  `json:"organisation_number"`
	Email              string  `json:"email"`
}

// Profile holds the optional profile answers.
type Profile struct {
	EducationLevel  string `json:"education_level,omitempty"`
	YearsInPosition *int   `json:"years_in_position,omitempty"`
	Company         string `json:"company,omitempty"`
}

// CourseRegistration is a participant's registration for a course.
type CourseRegistration struct {
	ID            uuid.UUID
	CourseID      uuid.UUID
	Participant   Participant
	ConsentAt     time.Time
	PolicyVersion string
	Stage         string
	CompletedAt   *time.Time
	CompletedBy   string
	RegisteredAt  time.Time
	WorkflowID    string
}

// CreateCourse stores a course.
func (s *Store) CreateCourse(ctx context.Context, c Course) (Course, error) {
	err := s.pool.QueryRow(ctx, `INSERT INTO courses (id, title, course_type, event_date, paid, profile_questions) VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING created_at`, c.ID, c.Title, c.CourseType, c.EventDate, c.Paid, c.ProfileQuestions).Scan(&c.CreatedAt)
	if err != nil {
		return c, classify(fmt.Errorf("create course: %w", err))
	}
	return c, nil
}

// GetCourse reads a course.
func (s *Store) GetCourse(ctx context.Context, id uuid.UUID) (Course, error) {
	var c Course
	err := s.pool.QueryRow(ctx, `SELECT id, title, course_type, event_date, paid, profile_questions, created_at FROM courses WHERE id = $1`, id).
		Scan(&c.ID, &c.Title, &c.CourseType, &c.EventDate, &c.Paid, &c.ProfileQuestions, &c.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, classify(err)
}

// Courses lists courses by date; with courseType set, only that type; with
// since set, only those created after it that are still to be held (new
// relevant courses).
func (s *Store) Courses(ctx context.Context, courseType string, since *time.Time) ([]Course, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, title, course_type, event_date, paid, profile_questions, created_at FROM courses
		WHERE ($1 = '' OR course_type = $1) AND ($2::timestamptz IS NULL OR (created_at > $2 AND event_date >= current_date))
		ORDER BY event_date, id`, courseType, since)
	if err != nil {
		return nil, classify(fmt.Errorf("list courses: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Course, error) {
		var c Course
		err := r.Scan(&c.ID, &c.Title, &c.CourseType, &c.EventDate, &c.Paid, &c.ProfileQuestions, &c.CreatedAt)
		return c, err
	})
	return out, classify(err)
}

// courseKey is a course registration's own data key.
func (s *Store) courseKey(ctx context.Context, tx pgx.Tx, regID uuid.UUID, create bool) ([]byte, error) {
	return s.dataKey(ctx, tx, "course_keys", "registration_id", regID, create)
}

// CreateCourseRegistration stores a registration with its consent, the
// participant sealed under a new data key. With an idempotency key (scoped
// by route and caller), the registration that key made before is returned
// (created false); the key used for another request is
// ErrIdempotencyMismatch.
func (s *Store) CreateCourseRegistration(ctx context.Context, r CourseRegistration, idem *IdempotencyKey) (CourseRegistration, bool, error) {
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if idem != nil {
			id, found, err := idempotentResource(ctx, tx, *idem)
			if err != nil {
				return err
			}
			if found {
				r.ID = id
				return nil
			}
		}
		// The key row needs the registration row first; the sealed column is
		// filled in right after, in the same transaction.
		if _, err := tx.Exec(ctx, `INSERT INTO course_registrations (id, course_id, sealed, consent_at, policy_version, workflow_id)
			VALUES ($1, $2, '\x', $3, $4, $5)`, r.ID, r.CourseID, r.ConsentAt, r.PolicyVersion, r.WorkflowID); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" {
				return ErrNotFound
			}
			return fmt.Errorf("insert course registration: %w", err)
		}
		dek, err := s.courseKey(ctx, tx, r.ID, true)
		if err != nil {
			return err
		}
		sealed, err := sealJSON(dek, r.ID, "participant", r.Participant)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE course_registrations SET sealed = $2 WHERE id = $1`, r.ID, sealed); err != nil {
			return fmt.Errorf("seal participant: %w", err)
		}
		if idem != nil {
			if err := storeIdempotencyKey(ctx, tx, *idem, r.ID); err != nil {
				return err
			}
		}
		created = true
		return nil
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrIdempotencyMismatch) {
		return r, false, err
	}
	if err != nil {
		return r, false, classify(err)
	}
	if !created {
		got, err := s.GetCourseRegistration(ctx, r.ID)
		return got, false, err
	}
	return r, true, nil
}

// GetCourseRegistration reads a registration with the participant
// decrypted. After a deletion: ErrNotFound.
func (s *Store) GetCourseRegistration(ctx context.Context, id uuid.UUID) (CourseRegistration, error) {
	out, err := s.courseRegistrations(ctx, `WHERE r.id = $1`, id)
	if err != nil {
		return CourseRegistration{}, err
	}
	if len(out) == 0 {
		return CourseRegistration{}, ErrNotFound
	}
	return out[0], nil
}

// CourseParticipants lists a course's registrations, decrypted.
func (s *Store) CourseParticipants(ctx context.Context, courseID uuid.UUID) ([]CourseRegistration, error) {
	return s.courseRegistrations(ctx, `WHERE r.course_id = $1 ORDER BY r.registered_at, r.id`, courseID)
}

func (s *Store) courseRegistrations(ctx context.Context, where string, args ...any) ([]CourseRegistration, error) {
	var out []CourseRegistration
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT r.id, r.course_id, r.sealed, r.consent_at, r.policy_version, r.stage, r.completed_at,
			COALESCE(r.completed_by, ''), r.registered_at, r.workflow_id FROM course_registrations r `+where, args...)
		if err != nil {
			return fmt.Errorf("read course registrations: %w", err)
		}
		type row struct {
			r      CourseRegistration
			sealed []byte
		}
		list, err := pgx.CollectRows(rows, func(cr pgx.CollectableRow) (row, error) {
			var x row
			err := cr.Scan(&x.r.ID, &x.r.CourseID, &x.sealed, &x.r.ConsentAt, &x.r.PolicyVersion, &x.r.Stage, &x.r.CompletedAt,
				&x.r.CompletedBy, &x.r.RegisteredAt, &x.r.WorkflowID)
			return x, err
		})
		if err != nil {
			return fmt.Errorf("read course registrations: %w", err)
		}
		for _, x := range list {
			dek, err := s.courseKey(ctx, tx, x.r.ID, false)
			if err != nil {
				return err
			}
			if err := openJSON(dek, x.r.ID, "participant", x.sealed, &x.r.Participant); err != nil {
				return err
			}
			out = append(out, x.r)
		}
		return nil
	})
	return out, classify(err)
}

// CorrectCourseRegistration changes the participant's data (C11) and seals
// it again.
func (s *Store) CorrectCourseRegistration(ctx context.Context, id uuid.UUID, change func(*Participant) error) error {
	return classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var sealed []byte
		if err := tx.QueryRow(ctx, `SELECT sealed FROM course_registrations WHERE id = $1 FOR UPDATE`, id).Scan(&sealed); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("read course registration: %w", err)
		}
		dek, err := s.courseKey(ctx, tx, id, false)
		if err != nil {
			return err
		}
		var p Participant
		if err := openJSON(dek, id, "participant", sealed, &p); err != nil {
			return err
		}
		if err := change(&p); err != nil {
			return err
		}
		if sealed, err = sealJSON(dek, id, "participant", p); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE course_registrations SET sealed = $2 WHERE id = $1`, id, sealed)
		return err
	}))
}

// SetCourseStage records a registration's stage; completedBy marks the
// completion.
func (s *Store) SetCourseStage(ctx context.Context, id uuid.UUID, stage, completedBy string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE course_registrations SET stage = $2,
		completed_at = CASE WHEN $3 <> '' THEN COALESCE(completed_at, $4) ELSE completed_at END,
		completed_by = CASE WHEN $3 <> '' THEN COALESCE(completed_by, $3) ELSE completed_by END WHERE id = $1`, id, stage, completedBy, at)
	return classify(err)
}

// CourseDeletion is the record a deletion leaves.
type CourseDeletion struct {
	RegistrationID uuid.UUID
	CourseID       uuid.UUID
	Reason         string
	RowsDeleted    int
	ObjectsRemoved int
	DeletedAt      time.Time
	// Now: this call deleted it; false when the record is an earlier
	// deletion's.
	Now bool
}

// DeleteCourseRegistration deletes everything about a participant: the
// objects in MinIO under the registration's prefix first, then the
// registration with its key (shredding anything sealed with it) and its
// notices, and records the deletion. The registration's row stays locked
// from before the objects are removed until the record is written, so
// deletions at once (the workflow, the reconciler of several replicas, a
// withdrawal) are one deletion with one true record. Idempotent: a second
// call returns the first record; a registration never stored is
// ErrNotFound.
func (s *Store) DeleteCourseRegistration(ctx context.Context, objects *Objects, id uuid.UUID, reason string, at time.Time) (CourseDeletion, error) {
	d := CourseDeletion{RegistrationID: id, Reason: reason, DeletedAt: at}
	previous := func() error {
		err := s.pool.QueryRow(ctx, `SELECT course_id, reason, rows_deleted, objects_removed, deleted_at FROM course_deletions WHERE registration_id = $1`, id).
			Scan(&d.CourseID, &d.Reason, &d.RowsDeleted, &d.ObjectsRemoved, &d.DeletedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return classify(fmt.Errorf("read course deletion: %w", err))
		}
		return nil
	}
	if err := previous(); !errors.Is(err, ErrNotFound) {
		return d, err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT course_id FROM course_registrations WHERE id = $1 FOR UPDATE`, id).Scan(&d.CourseID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("read course registration: %w", err)
		}
		if objects != nil {
			n, err := objects.RemovePrefix(ctx, CoursePrefix+id.String()+"/")
			if err != nil {
				return err
			}
			d.ObjectsRemoved = n
		}
		for _, q := range []string{
			`DELETE FROM notification_outbox WHERE course_registration_id = $1`,
			`DELETE FROM course_keys WHERE registration_id = $1`,
			`DELETE FROM idempotency_keys WHERE resource_id = $1`,
			`DELETE FROM course_registrations WHERE id = $1`,
		} {
			tag, err := tx.Exec(ctx, q, id)
			if err != nil {
				return fmt.Errorf("delete course registration: %w", err)
			}
			d.RowsDeleted += int(tag.RowsAffected())
		}
		_, err := tx.Exec(ctx, `INSERT INTO course_deletions (registration_id, course_id, reason, rows_deleted, objects_removed, deleted_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, d.CourseID, reason, d.RowsDeleted, d.ObjectsRemoved, at)
		return err
	})
	d.Now = err == nil
	if errors.Is(err, ErrNotFound) {
		// Deleted by another meanwhile (the lock was waited for): its record.
		return d, previous()
	}
	return d, classify(err)
}

// CourseStart is what starting a course registration's workflow needs:
// IDs, the course type and dates, no personal data.
type CourseStart struct {
	ID         uuid.UUID
	WorkflowID string
	CourseType string
	EventDate  time.Time
	ConsentAt  time.Time
	// Started: the workflow's start was confirmed.
	Started bool
}

const courseStartColumns = `SELECT r.id, r.workflow_id, c.course_type, c.event_date, r.consent_at, r.workflow_started_at IS NOT NULL
	FROM course_registrations r JOIN courses c ON c.id = r.course_id `

func (s *Store) courseStarts(ctx context.Context, where string, args ...any) ([]CourseStart, error) {
	rows, err := s.pool.Query(ctx, courseStartColumns+where, args...)
	if err != nil {
		return nil, classify(fmt.Errorf("list course registrations: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CourseStart, error) {
		var c CourseStart
		err := r.Scan(&c.ID, &c.WorkflowID, &c.CourseType, &c.EventDate, &c.ConsentAt, &c.Started)
		return c, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("list course registrations: %w", err))
	}
	return out, nil
}

// GetCourseStart reads what starting one registration's workflow needs.
func (s *Store) GetCourseStart(ctx context.Context, id uuid.UUID) (CourseStart, error) {
	list, err := s.courseStarts(ctx, `WHERE r.id = $1`, id)
	if err != nil {
		return CourseStart{}, err
	}
	if len(list) == 0 {
		return CourseStart{}, ErrNotFound
	}
	return list[0], nil
}

// UnstartedCourseRegistrations lists registrations older than minAge whose
// workflow start was never confirmed, oldest first.
func (s *Store) UnstartedCourseRegistrations(ctx context.Context, minAge time.Duration, limit int) ([]CourseStart, error) {
	return s.courseStarts(ctx, `WHERE r.workflow_started_at IS NULL AND r.registered_at < now() - make_interval(secs => $1)
		ORDER BY r.registered_at LIMIT $2`, minAge.Seconds(), limit)
}

// CourseRegistrationsConsentedBefore lists registrations whose consent was
// given before t, oldest first: the caller decides by
// policy.CourseDeletionDue which of them are past their time.
func (s *Store) CourseRegistrationsConsentedBefore(ctx context.Context, t time.Time, limit int) ([]CourseStart, error) {
	return s.courseStarts(ctx, `WHERE r.consent_at < $1 ORDER BY r.consent_at LIMIT $2`, t, limit)
}

// MarkCourseWorkflowStarted records that a registration's workflow exists.
func (s *Store) MarkCourseWorkflowStarted(ctx context.Context, id uuid.UUID) error {
	_, err := s.pool.Exec(ctx, `UPDATE course_registrations SET workflow_started_at = now() WHERE id = $1 AND workflow_started_at IS NULL`, id)
	if err != nil {
		return classify(fmt.Errorf("mark course workflow started: %w", err))
	}
	return nil
}

// CourseDataKey returns a course registration's data key (what its
// objects in MinIO are encrypted with).
func (s *Store) CourseDataKey(ctx context.Context, id uuid.UUID) ([]byte, error) {
	var dek []byte
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		dek, err = s.courseKey(ctx, tx, id, false)
		return err
	})
	return dek, classify(err)
}

// CourseStatCell is one anonymous cell of course statistics (C05).
type CourseStatCell struct {
	Month      time.Time
	CourseType string
	Registered int
	Completed  int
	Suppressed bool
	// Coarsened: Registered is shown, Completed only as the band
	// CompletedMin to CompletedMax (Band), so no cell tells whether a
	// participant completed (C08).
	Coarsened                  bool
	CompletedMin, CompletedMax int
	ComputedAt                 time.Time
}

// SuppressCourse applies the rules of Suppress to course cells with the
// configured minimum cell: fewer registrations than the minimum, no
// numbers; a completion count that would tell who completed, a band.
func SuppressCourse(cells []CourseStatCell, minCell int) []CourseStatCell {
	out := make([]CourseStatCell, 0, len(cells))
	for _, c := range cells {
		c.Coarsened, c.CompletedMin, c.CompletedMax = false, 0, 0
		if c.Suppressed || c.Registered < EffectiveMinCell(minCell) || c.Completed < 0 || c.Completed > c.Registered {
			c.Registered, c.Completed, c.Suppressed = 0, 0, true
		} else if lo, hi, exact := Band(c.Registered, c.Completed, minCell); !exact {
			c.Completed, c.Coarsened, c.CompletedMin, c.CompletedMax = 0, true, lo, hi
		} else {
			c.CompletedMin, c.CompletedMax = c.Completed, c.Completed
		}
		out = append(out, c)
	}
	return out
}

// MaterialiseCourseStatistics recomputes one month's course cells:
// registrations (withdrawn ones included, from the deletion records) and
// completions per course type, for events held that month. A cell with
// fewer than minCell registrations is stored without numbers.
func (s *Store) MaterialiseCourseStatistics(ctx context.Context, month time.Time, minCell int) (int, error) {
	from := MonthStart(month)
	to := from.AddDate(0, 1, 0)
	minCell = EffectiveMinCell(minCell)
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM course_statistics_cells WHERE month = $1`, from); err != nil {
			return fmt.Errorf("delete course statistics: %w", err)
		}
		tag, err := tx.Exec(ctx, `
			WITH regs AS (
				SELECT c.course_type, r.completed_at IS NOT NULL AS completed FROM course_registrations r JOIN courses c ON c.id = r.course_id
				WHERE c.event_date >= $1 AND c.event_date < $2
				UNION ALL
				SELECT c.course_type, false FROM course_deletions d JOIN courses c ON c.id = d.course_id
				WHERE d.reason = 'consent_withdrawn' AND c.event_date >= $1 AND c.event_date < $2
			), cells AS (
				SELECT course_type, count(*) AS registered, count(*) FILTER (WHERE completed) AS completed FROM regs GROUP BY course_type
			)
			INSERT INTO course_statistics_cells (month, course_type, registered, completed, suppressed, computed_at)
			SELECT $1, course_type, CASE WHEN registered >= $3 THEN registered END, CASE WHEN registered >= $3 THEN completed END,
				registered < $3, now() FROM cells`, from, to, minCell)
		if err != nil {
			return fmt.Errorf("materialise course statistics: %w", err)
		}
		n = int(tag.RowsAffected())
		return nil
	})
	return n, classify(err)
}

// CourseStatistics lists the materialised course cells, oldest month first,
// as stored: the caller applies SuppressCourse with the configured minimum.
func (s *Store) CourseStatistics(ctx context.Context) ([]CourseStatCell, error) {
	rows, err := s.pool.Query(ctx, `SELECT month, course_type, COALESCE(registered, 0), COALESCE(completed, 0), suppressed, computed_at
		FROM course_statistics_cells ORDER BY month, course_type`)
	if err != nil {
		return nil, classify(fmt.Errorf("read course statistics: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CourseStatCell, error) {
		var c CourseStatCell
		err := r.Scan(&c.Month, &c.CourseType, &c.Registered, &c.Completed, &c.Suppressed, &c.ComputedAt)
		return c, err
	})
	return out, classify(err)
}
