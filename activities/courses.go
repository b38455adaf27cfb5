package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/minio/sio"
	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/storage"
)

// Courses carries out the course registrations' steps (C01-C11).
// Purpose (C03): administering and following up the chosen training.
type Courses struct {
	Store     courseStore
	Objects   *storage.Objects
	SurveyURL string
	Logger    *slog.Logger
}

// courseStore is what the Courses activities need of the store: the methods
// they call, no more. *storage.Store is one (the worker passes it); a unit
// test passes a fake of its own.
type courseStore interface {
	CourseDataKey(ctx context.Context, id uuid.UUID) ([]byte, error)
	Courses(ctx context.Context, courseType string, since *time.Time) ([]storage.Course, error)
	DeleteCourseRegistration(ctx context.Context, objects *storage.Objects, id uuid.UUID, reason string, at time.Time) (storage.CourseDeletion, error)
	EnqueueNotification(ctx context.Context, n storage.Notification) (created bool, err error)
	GetCourse(ctx context.Context, id uuid.UUID) (storage.Course, error)
	GetCourseRegistration(ctx context.Context, id uuid.UUID) (storage.CourseRegistration, error)
	SetCourseStage(ctx context.Context, id uuid.UUID, stage, completedBy string, at time.Time) error
}

var _ courseStore = (*storage.Store)(nil)

const coursePurpose = "administering and following up the chosen training"

// gone reports whether a step found the registration deleted (consent
// withdrawn meanwhile): then there is nothing left to do.
func gone(err error) bool {
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrKeyDestroyed)
}

// courseSteps are the steps CourseStep knows.
var courseSteps = []string{"event_held", "completed", "survey"}

// CourseStepInput records a stage or sends the notice that goes with it.
type CourseStepInput struct {
	RegistrationID string    `json:"registration_id"`
	Step           string    `json:"step"` // event_held, completed, survey
	CompletedBy    string    `json:"completed_by,omitempty"`
	At             time.Time `json:"at"`
}

// CourseStep records a stage and sends the survey invitation (C04).
func (a *Courses) CourseStep(ctx context.Context, in CourseStepInput) error {
	if !slices.Contains(courseSteps, in.Step) {
		// A step this code does not know is a bug, not a passing fault.
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown course step %q", in.Step), cases.ErrorInvalidInput, nil)
	}
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return err
	}
	r, err := a.Store.GetCourseRegistration(ctx, id)
	if gone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	switch in.Step {
	case "event_held":
		return a.Store.SetCourseStage(ctx, id, string(cases.StageEventHeld), "", in.At)
	case "completed":
		return a.Store.SetCourseStage(ctx, id, string(cases.StageCourseCompleted), in.CompletedBy, in.At)
	case "survey":
		c, err := a.Store.GetCourse(ctx, r.CourseID)
		if err != nil {
			return err
		}
		if _, err := a.Store.EnqueueNotification(ctx, storage.Notification{DedupeKey: "course_survey/" + in.RegistrationID,
			CourseRegistrationID: id, Kind: "course_survey", Purpose: coursePurpose,
			Payload: map[string]string{"course_title": c.Title, "survey_url": a.SurveyURL}}); err != nil && !gone(err) {
			return err
		}
		return a.Store.SetCourseStage(ctx, id, string(cases.StageSurveyInvited), "", in.At)
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown course step %q", in.Step), cases.ErrorInvalidInput, nil)
}

// IssueCourseCertificate stores a course certificate for the participant
// in MinIO, encrypted with the registration's data key.
func (a *Courses) IssueCourseCertificate(ctx context.Context, registrationID string) error {
	id, err := parseID(registrationID)
	if err != nil {
		return err
	}
	r, err := a.Store.GetCourseRegistration(ctx, id)
	if gone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c, err := a.Store.GetCourse(ctx, r.CourseID)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(map[string]any{"participant": r.Participant.GivenName + " " + r.Participant.FamilyName, "course": c.Title,
		"course_type": c.CourseType, "event_date": c.EventDate.Format(time.DateOnly), "completed_at": r.CompletedAt})
	if err != nil {
		return fmt.Errorf("encode certificate: %w", err)
	}
	dek, err := a.Store.CourseDataKey(ctx, id)
	if gone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var sealed bytes.Buffer
	if _, err := sio.Encrypt(&sealed, bytes.NewReader(doc), sio.Config{Key: dek}); err != nil {
		return fmt.Errorf("encrypt certificate: %w", err)
	}
	_, err = a.Objects.PutObject(ctx, CourseCertificateKey(registrationID), &sealed, int64(sealed.Len()), "application/octet-stream")
	return err
}

// CourseCertificateKey is where a participant's certificate is stored.
func CourseCertificateKey(registrationID string) string {
	return storage.CoursePrefix + registrationID + "/certificate.json.sio"
}

// CourseNewsInput asks for news of courses created since a time.
type CourseNewsInput struct {
	RegistrationID string    `json:"registration_id"`
	CourseType     string    `json:"course_type"`
	Since          time.Time `json:"since"`
	At             time.Time `json:"at"`
}

// SendCourseNews tells a previous participant about new courses of the same
// type (C04), if there are any since the last time.
func (a *Courses) SendCourseNews(ctx context.Context, in CourseNewsInput) error {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return err
	}
	since := in.Since
	news, err := a.Store.Courses(ctx, in.CourseType, &since)
	if err != nil || len(news) == 0 {
		return err
	}
	var titles []string
	for _, c := range news {
		titles = append(titles, c.Title+" ("+c.EventDate.Format(time.DateOnly)+")")
	}
	_, err = a.Store.EnqueueNotification(ctx, storage.Notification{DedupeKey: fmt.Sprintf("course_news/%s/%d", in.RegistrationID, in.At.Unix()),
		CourseRegistrationID: id, Kind: "course_news", Purpose: coursePurpose, Payload: map[string]string{"courses": strings.Join(titles, "; ")}})
	if gone(err) {
		return nil
	}
	return err
}

// DeleteParticipantInput deletes everything about a participant.
type DeleteParticipantInput struct {
	RegistrationID string    `json:"registration_id"`
	Reason         string    `json:"reason"`
	At             time.Time `json:"at"`
}

// DeleteCourseParticipant deletes everything about a participant: objects
// in MinIO, the registration, its notices and its data key (C06, C10).
func (a *Courses) DeleteCourseParticipant(ctx context.Context, in DeleteParticipantInput) (cases.WithdrawalConfirmation, error) {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return cases.WithdrawalConfirmation{}, err
	}
	d, err := a.Store.DeleteCourseRegistration(ctx, a.Objects, id, in.Reason, in.At)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return cases.WithdrawalConfirmation{}, err
	}
	if err == nil {
		count(ctx, MetricCourseDeletions, map[string]string{"reason": oneOf(in.Reason, cases.CourseReasonWithdrawn, cases.CourseReasonRetentionEnded)})
	}
	a.Logger.InfoContext(ctx, "course participant deleted", "registration_id", in.RegistrationID, "reason", in.Reason,
		"rows", d.RowsDeleted, "objects", d.ObjectsRemoved)
	return cases.WithdrawalConfirmation{DeletedAt: d.DeletedAt, RowsDeleted: d.RowsDeleted, ObjectsRemoved: d.ObjectsRemoved}, nil
}
