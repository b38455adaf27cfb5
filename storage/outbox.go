package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Notification statuses reported by NotificationsFor.
const (
	// NotificationPending: not sent yet; due at NextAttemptAt.
	NotificationPending = "pending"
	// NotificationSent: the mail server accepted the message.
	NotificationSent = "sent"
	// NotificationFailed: sending failed for good and is not tried again.
	NotificationFailed = "failed"
)

// NoEmailAddress is the last_error of a notification whose candidate has no
// e-mail address when it falls due. Such a row is marked failed for good
// (not sent): nothing was delivered, and retrying would not help.
const NoEmailAddress = "no e-mail address"

// maxErrorText bounds the stored failure text.
const maxErrorText = 500

// Notification is a notification to enqueue for a candidate.
type Notification struct {
	// DedupeKey makes enqueueing idempotent: a second notification with the
	// same key is ignored. Derive it from the event, e.g.
	// "result_ready:<registration id>".
	DedupeKey string
	// CandidateID is the recipient; the address is read from the candidate
	// when the notification is sent. For a course participant,
	// CourseRegistrationID is set instead.
	CandidateID          uuid.UUID
	CourseRegistrationID uuid.UUID
	// RegistrationID is the registration the notification is about, or
	// uuid.Nil. It must belong to CandidateID.
	RegistrationID uuid.UUID
	// Kind selects the template, e.g. "result_ready".
	Kind string
	// Payload holds non-personal template values, e.g. {"test_type": "citizenship"}.
	Payload map[string]string
	// Secrets are template values that are credentials, such as a
	// participant's self-service link (course registrations only). They
	// are sealed with the registration's data key, given to the template
	// with Payload when the notification is sent, and cleared once it is
	// sent or has failed for good.
	Secrets map[string]string
	// Purpose is the processing purpose the notification serves (for the
	// record of processing), e.g. "arranging_tests".
	Purpose string
}

// PendingNotification is a claimed notification with its recipient, read
// from the candidate at claim time. Email, GivenName and FamilyName are
// personal data: use them for the message only, never in logs or metrics.
type PendingNotification struct {
	ID                   uuid.UUID
	CandidateID          uuid.UUID
	CourseRegistrationID uuid.UUID
	RegistrationID       uuid.UUID
	Kind                 string
	// Payload holds the template values, the opened Secrets included.
	Payload map[string]string
	Purpose string
	// Attempts is the number of earlier attempts; this one is Attempts+1.
	Attempts   int
	CreatedAt  time.Time
	Email      string
	GivenName  string
	FamilyName string
	// LeasedUntil is when the claim's lease ends; ReleaseNotifications
	// hands the row back only while this lease holds it.
	LeasedUntil time.Time
}

// NotificationStatus is the delivery state of one notification, without
// personal data.
type NotificationStatus struct {
	ID             uuid.UUID
	DedupeKey      string
	CandidateID    uuid.UUID
	RegistrationID uuid.UUID
	Kind           string
	Payload        map[string]string
	Purpose        string
	// Status is NotificationPending, NotificationSent or NotificationFailed.
	Status        string
	Attempts      int
	CreatedAt     time.Time
	NextAttemptAt time.Time
	SentAt        *time.Time
	FailedAt      *time.Time
	LastError     string
}

// EnqueueNotification stores a notification in the outbox. It is idempotent
// by DedupeKey: when a notification with the key exists, nothing changes and
// created is false, so a retried activity enqueues once. It returns
// ErrNotFound when the candidate does not exist or the registration does not
// belong to the candidate.
func (s *Store) EnqueueNotification(ctx context.Context, n Notification) (created bool, err error) {
	switch {
	case n.DedupeKey == "":
		return false, errors.New("enqueue notification: dedupe key is empty")
	case (n.CandidateID == uuid.Nil) == (n.CourseRegistrationID == uuid.Nil):
		return false, errors.New("enqueue notification: exactly one of candidate id and course registration id")
	case n.Kind == "":
		return false, errors.New("enqueue notification: kind is empty")
	case n.Purpose == "":
		return false, errors.New("enqueue notification: purpose is empty")
	case len(n.Secrets) > 0 && n.CourseRegistrationID == uuid.Nil:
		// A candidate's rows move to another key on a merge.
		return false, errors.New("enqueue notification: only course notifications carry secrets")
	}
	payload := n.Payload
	if payload == nil {
		payload = map[string]string{}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return false, fmt.Errorf("new notification id: %w", err)
	}
	var regID, candID, courseID *uuid.UUID
	if n.RegistrationID != uuid.Nil {
		regID = &n.RegistrationID
	}
	if n.CandidateID != uuid.Nil {
		candID = &n.CandidateID
	}
	if n.CourseRegistrationID != uuid.Nil {
		courseID = &n.CourseRegistrationID
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var sealed []byte
		if len(n.Secrets) > 0 {
			dek, err := s.courseKey(ctx, tx, n.CourseRegistrationID, false)
			if err != nil {
				return err
			}
			if sealed, err = sealJSON(dek, n.CourseRegistrationID, secretsLabel(id), n.Secrets); err != nil {
				return err
			}
		}
		// The SELECT inserts nothing when the registration belongs to
		// another candidate, so a notification is never tied to the wrong
		// person.
		tag, err := tx.Exec(ctx, `
			INSERT INTO notification_outbox (id, dedupe_key, candidate_id, registration_id, kind, payload, purpose, course_registration_id, sealed_secrets)
			SELECT $1::uuid, $2::text, $3::uuid, $4::uuid, $5::text, $6::jsonb, $7::text, $8::uuid, $9::bytea
			WHERE $4::uuid IS NULL OR EXISTS (SELECT 1 FROM registrations WHERE id = $4 AND candidate_id = $3)
			ON CONFLICT (dedupe_key) DO NOTHING`,
			id, n.DedupeKey, candID, regID, n.Kind, payload, n.Purpose, courseID, sealed)
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" {
				return ErrNotFound
			}
			return fmt.Errorf("insert notification: %w", err)
		}
		if tag.RowsAffected() == 1 {
			created = true
			return nil
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM notification_outbox WHERE dedupe_key = $1)`, n.DedupeKey).Scan(&exists); err != nil {
			return fmt.Errorf("read notification: %w", err)
		}
		if !exists {
			return fmt.Errorf("%w: registration of the candidate", ErrNotFound)
		}
		return nil
	})
	if errors.Is(err, ErrKeyDestroyed) {
		return false, fmt.Errorf("%w: the recipient's data key is destroyed", ErrNotFound)
	}
	if err != nil {
		return false, classify(err)
	}
	return created, nil
}

// secretsLabel binds a notification's sealed secrets to its row.
func secretsLabel(id uuid.UUID) string { return "notification secrets " + id.String() }

// openSecrets opens a claimed course notification's sealed secrets into
// its payload. A destroyed key (the registration is deleted) is
// ErrKeyDestroyed.
func (s *Store) openSecrets(ctx context.Context, n *PendingNotification, sealed []byte) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		dek, err := s.courseKey(ctx, tx, n.CourseRegistrationID, false)
		if err != nil {
			return err
		}
		var secrets map[string]string
		if err := openJSON(dek, n.CourseRegistrationID, secretsLabel(n.ID), sealed, &secrets); err != nil {
			return fmt.Errorf("%w: %w", errSecretsUnreadable, err)
		}
		if n.Payload == nil {
			n.Payload = map[string]string{}
		}
		maps.Copy(n.Payload, secrets)
		return nil
	})
}

// errSecretsUnreadable: a notification's sealed secrets do not open with
// its recipient's key (written by hand, or moved to another row).
var errSecretsUnreadable = errors.New("sealed secrets cannot be opened")

// clearSecrets is the SQL that forgets a notification's secrets once it is
// sent or has failed for good; confirmations queued before secrets were
// sealed carried the link in payload.
const clearSecrets = `sealed_secrets = NULL, payload = payload - 'withdraw_url'`

// ClaimNotifications claims up to limit due, unsent notifications and
// returns them with the recipient's address and name. In one statement it
// locks the due rows (FOR UPDATE SKIP LOCKED, so concurrent drainers take
// different rows) and pushes their next_attempt_at forward by lease: until
// the lease ends no other drainer claims them, and if this one crashes they
// fall due again afterwards. The caller must record each outcome with
// MarkNotificationSent, MarkNotificationFailed or MarkNotificationAbandoned
// before the lease ends.
//
// A due notification whose candidate has no e-mail address is not returned:
// it is marked failed for good with last_error NoEmailAddress (sent_at stays
// NULL, since nothing was delivered).
func (s *Store) ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]PendingNotification, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, errors.New("claim notifications: lease must be positive")
	}
	rows, err := s.pool.Query(ctx, `
		WITH due AS (
			SELECT o.id, o.next_attempt_at AS due_at
			FROM notification_outbox o
			WHERE o.sent_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= now()
			ORDER BY o.next_attempt_at
			LIMIT $1
			FOR UPDATE OF o SKIP LOCKED
		), leased AS (
			UPDATE notification_outbox o SET next_attempt_at = now() + make_interval(secs => $2)
			FROM due WHERE o.id = due.id
			RETURNING o.id, o.candidate_id, o.registration_id, o.kind, o.payload, o.purpose, o.attempts, o.created_at, due.due_at, o.course_registration_id, o.sealed_secrets, o.next_attempt_at
		)
		SELECT id, candidate_id, registration_id, kind, payload, purpose, attempts, created_at, course_registration_id, sealed_secrets, next_attempt_at
		FROM leased ORDER BY due_at, id`,
		limit, lease.Seconds())
	if err != nil {
		return nil, classify(fmt.Errorf("claim notifications: %w", err))
	}
	defer rows.Close()
	var claimed []PendingNotification
	sealed := map[uuid.UUID][]byte{}
	for rows.Next() {
		var n PendingNotification
		var regID, candID, courseID *uuid.UUID
		var payload, secrets []byte
		if err := rows.Scan(&n.ID, &candID, &regID, &n.Kind, &payload, &n.Purpose, &n.Attempts, &n.CreatedAt, &courseID, &secrets, &n.LeasedUntil); err != nil {
			return nil, classify(fmt.Errorf("read claimed notification: %w", err))
		}
		for _, x := range []struct {
			from *uuid.UUID
			to   *uuid.UUID
		}{{regID, &n.RegistrationID}, {candID, &n.CandidateID}, {courseID, &n.CourseRegistrationID}} {
			if x.from != nil {
				*x.to = *x.from
			}
		}
		// A payload that is not an object of strings (written by hand) is
		// left nil: its template then fails for this row alone, instead of
		// every claim failing on it.
		n.Payload = decodePayload(payload)
		if secrets != nil {
			sealed[n.ID] = secrets
		}
		claimed = append(claimed, n)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("claim notifications: %w", err))
	}
	rows.Close()
	out, err := s.addressClaimed(ctx, claimed, sealed)
	if err != nil {
		// Hand the batch back rather than hold it for the whole lease: the
		// failure is the database's or the key store's, not the rows'.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if rerr := s.ReleaseNotifications(rctx, claimed); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		return nil, err
	}
	return out, nil
}

// addressClaimed reads the recipient of each claimed row, decrypted, at
// send time: a rectified address takes effect, and a shredded subject is
// never mailed (its row fails for good and is left out).
func (s *Store) addressClaimed(ctx context.Context, claimed []PendingNotification, sealed map[uuid.UUID][]byte) ([]PendingNotification, error) {
	var out []PendingNotification
	for _, n := range claimed {
		var pd PersonalData
		var err error
		if n.CourseRegistrationID != uuid.Nil {
			var r CourseRegistration
			r, err = s.GetCourseRegistration(ctx, n.CourseRegistrationID)
			pd.Person = Person{GivenName: r.Participant.GivenName, FamilyName: r.Participant.FamilyName, Email: r.Participant.Email}
		} else {
			pd, err = s.PersonalDataOf(ctx, n.CandidateID)
		}
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrKeyDestroyed) {
			return nil, err
		}
		if sec, ok := sealed[n.ID]; ok && pd.Person.Email != "" {
			err := s.openSecrets(ctx, &n, sec)
			switch {
			case errors.Is(err, ErrKeyDestroyed):
				pd.Person.Email = ""
			case errors.Is(err, errSecretsUnreadable):
				// This row alone fails for good; the others are sent.
				if err := s.MarkNotificationAbandoned(ctx, n.ID, errSecretsUnreadable.Error()); err != nil && !errors.Is(err, ErrNotFound) {
					return nil, err
				}
				continue
			case err != nil:
				return nil, classify(err)
			}
		}
		if pd.Person.Email == "" {
			if _, err := s.pool.Exec(ctx, `UPDATE notification_outbox SET failed_at = now(), last_error = $2, `+clearSecrets+` WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL`,
				n.ID, NoEmailAddress); err != nil {
				return nil, classify(fmt.Errorf("mark notification without address: %w", err))
			}
			continue
		}
		n.Email, n.GivenName, n.FamilyName = pd.Person.Email, pd.Person.GivenName, pd.Person.FamilyName
		out = append(out, n)
	}
	return out, nil
}

// ReleaseNotifications hands claimed rows that were not sent back to the
// outbox at once, so that the next drain (of any drainer) takes them instead
// of waiting for their lease to end. A row is released only while the
// claim that returned it still holds it: one already sent or failed, or
// claimed again after its lease, is left alone.
func (s *Store) ReleaseNotifications(ctx context.Context, ns []PendingNotification) error {
	if len(ns) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(ns))
	leases := make([]time.Time, len(ns))
	for i, n := range ns {
		ids[i], leases[i] = n.ID, n.LeasedUntil
	}
	if _, err := s.pool.Exec(ctx, `
		UPDATE notification_outbox o SET next_attempt_at = now()
		FROM unnest($1::uuid[], $2::timestamptz[]) AS r(id, leased_until)
		WHERE o.id = r.id AND o.next_attempt_at = r.leased_until AND o.sent_at IS NULL AND o.failed_at IS NULL`,
		ids, leases); err != nil {
		return classify(fmt.Errorf("release notifications: %w", err))
	}
	return nil
}

// MarkNotificationSent records that the mail server accepted the
// notification. It is idempotent; it returns ErrNotFound when the row is
// gone (its candidate was deleted).
func (s *Store) MarkNotificationSent(ctx context.Context, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE notification_outbox SET sent_at = now(), failed_at = NULL, attempts = attempts + 1, last_error = NULL, `+clearSecrets+`
		WHERE id = $1 AND sent_at IS NULL`, id)
	if err != nil {
		return classify(fmt.Errorf("mark notification sent: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return s.notificationExists(ctx, id)
	}
	return nil
}

// MarkNotificationFailed records a failed attempt that may succeed later:
// it counts the attempt, keeps errText and makes the notification due again
// at retryAt. errText must be a classified message without any address
// (anything that looks like one is masked anyway). A notification that is
// already sent or failed for good is left alone. It returns ErrNotFound when
// the row is gone.
func (s *Store) MarkNotificationFailed(ctx context.Context, id uuid.UUID, errText string, retryAt time.Time) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE notification_outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3
		WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL`, id, sanitizeErrorText(errText), retryAt)
	if err != nil {
		return classify(fmt.Errorf("mark notification failed: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return s.notificationExists(ctx, id)
	}
	return nil
}

// MarkNotificationAbandoned records a failed attempt that a retry would not
// fix (the address was refused, the kind has no template): it counts the
// attempt, keeps errText and marks the notification failed for good.
// errText follows the rules of MarkNotificationFailed.
func (s *Store) MarkNotificationAbandoned(ctx context.Context, id uuid.UUID, errText string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE notification_outbox SET attempts = attempts + 1, last_error = $2, failed_at = now(), `+clearSecrets+`
		WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL`, id, sanitizeErrorText(errText))
	if err != nil {
		return classify(fmt.Errorf("mark notification abandoned: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return s.notificationExists(ctx, id)
	}
	return nil
}

func (s *Store) notificationExists(ctx context.Context, id uuid.UUID) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM notification_outbox WHERE id = $1)`, id).Scan(&exists); err != nil {
		return classify(fmt.Errorf("read notification: %w", err))
	}
	if !exists {
		return ErrNotFound
	}
	return nil
}

// NotificationsFor lists the notifications about a registration, oldest
// first.
func (s *Store) NotificationsFor(ctx context.Context, registrationID uuid.UUID) ([]NotificationStatus, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, dedupe_key, candidate_id, registration_id, kind, payload, purpose, attempts, created_at,
			next_attempt_at, sent_at, failed_at, COALESCE(last_error, '')
		FROM notification_outbox WHERE registration_id = $1 ORDER BY created_at, id`, registrationID)
	if err != nil {
		return nil, classify(fmt.Errorf("list notifications: %w", err))
	}
	defer rows.Close()
	var out []NotificationStatus
	for rows.Next() {
		var n NotificationStatus
		var regID *uuid.UUID
		var payload []byte
		if err := rows.Scan(&n.ID, &n.DedupeKey, &n.CandidateID, &regID, &n.Kind, &payload, &n.Purpose, &n.Attempts,
			&n.CreatedAt, &n.NextAttemptAt, &n.SentAt, &n.FailedAt, &n.LastError); err != nil {
			return nil, classify(fmt.Errorf("read notification: %w", err))
		}
		n.Payload = decodePayload(payload)
		if regID != nil {
			n.RegistrationID = *regID
		}
		switch {
		case n.SentAt != nil:
			n.Status = NotificationSent
		case n.FailedAt != nil:
			n.Status = NotificationFailed
		default:
			n.Status = NotificationPending
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("list notifications: %w", err))
	}
	return out, nil
}

// decodePayload decodes a payload column; one that is not an object of
// strings gives nil.
func decodePayload(b []byte) map[string]string {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil
	}
	return m
}

// emailLike matches anything that looks like an e-mail address.
var emailLike = regexp.MustCompile(`[^\s<>"'(),;:]+@[^\s<>"'(),;:]+`)

// sanitizeErrorText masks anything that looks like an e-mail address and
// bounds the length, as a second line of defence: callers already pass
// classified messages only.
func sanitizeErrorText(s string) string {
	s = emailLike.ReplaceAllString(s, "[address]")
	if len(s) > maxErrorText {
		s = strings.ToValidUTF8(s[:maxErrorText], "")
	}
	return s
}
