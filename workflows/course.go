package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/policy"
)

// Course registrations (C01-C11): one CourseRegistration workflow per
// registration, ID "course-registration-<registration id>".
const (
	CourseWorkflow = "CourseRegistration"
	// UpdateCompleteCourse marks the participant as having completed (course_admin).
	UpdateCompleteCourse = "complete-course"
	// UpdateWithdrawConsent withdraws consent: everything is deleted at once.
	UpdateWithdrawConsent = "withdraw-consent"
	// QueryCourse returns a CourseStatus.
	QueryCourse = "course"

	ActivityCourseStep         = "CourseStep"
	ActivityDeleteParticipant  = "DeleteCourseParticipant"
	ActivitySendCourseNews     = "SendCourseNews"
	ActivityIssueCertificate   = "IssueCourseCertificate"
	CourseReasonWithdrawn      = "consent_withdrawn"
	CourseReasonRetentionEnded = "retention_expired"
)

// CourseTypeKey is a course registration's course type.
var CourseTypeKey = temporal.NewSearchAttributeKeyKeyword("CourseType")

// CourseInput starts a registration's workflow: IDs and dates only.
type CourseInput struct {
	RegistrationID string    `json:"registration_id"`
	CourseType     string    `json:"course_type"`
	EventEnds      time.Time `json:"event_ends"`
	// DeleteAt is 24 months after registration (C06), or shorter in tests.
	DeleteAt time.Time `json:"delete_at"`
	// SurveyAfter is how long after the completion the survey invitation goes (C04).
	SurveyAfter time.Duration `json:"survey_after"`
	// NewsEvery is how often new relevant courses are looked for (C04).
	NewsEvery time.Duration `json:"news_every"`
}

// CourseTiming is the configured timing of course registrations: the
// retention override (zero: the policy's 24 months), the survey delay and
// the news interval.
type CourseTiming struct {
	Retention   time.Duration
	SurveyAfter time.Duration
	NewsEvery   time.Duration
}

// NewCourseInput is the input a registration's workflow starts with,
// computed from what is stored (the course's event date, the consent's
// time) so that the API and the reconciler start the same workflow: the
// event ends the day after its date, and the data is deleted by
// policy.CourseDeletionDue.
func NewCourseInput(registrationID, courseType string, eventDate, consentAt time.Time, t CourseTiming) CourseInput {
	return CourseInput{RegistrationID: registrationID, CourseType: courseType, EventEnds: eventDate.AddDate(0, 0, 1),
		DeleteAt: policy.CourseDeletionDue(consentAt, t.Retention), SurveyAfter: t.SurveyAfter, NewsEvery: t.NewsEvery}
}

// Completion marks a participant as having completed.
type Completion struct {
	CompletedBy string `json:"completed_by"`
}

// Withdrawal withdraws the participant's consent.
type Withdrawal struct {
	// Via says how: "participant_link" or the staff member's name.
	Via string `json:"via"`
}

// WithdrawalConfirmation answers a withdrawal: what was deleted, when. The
// person's address is deleted too, so this answer is the confirmation.
type WithdrawalConfirmation struct {
	DeletedAt      time.Time `json:"deleted_at"`
	RowsDeleted    int       `json:"rows_deleted"`
	ObjectsRemoved int       `json:"objects_removed"`
}

// CourseStepInput records a stage or sends the notice that goes with it.
type CourseStepInput struct {
	RegistrationID string    `json:"registration_id"`
	Step           string    `json:"step"` // event_held, completed, survey
	CompletedBy    string    `json:"completed_by,omitempty"`
	At             time.Time `json:"at"`
}

// DeleteParticipantInput deletes everything about a participant.
type DeleteParticipantInput struct {
	RegistrationID string    `json:"registration_id"`
	Reason         string    `json:"reason"`
	At             time.Time `json:"at"`
}

// CourseNewsInput asks for news of courses created since a time.
type CourseNewsInput struct {
	RegistrationID string    `json:"registration_id"`
	CourseType     string    `json:"course_type"`
	Since          time.Time `json:"since"`
	At             time.Time `json:"at"`
}

// CourseStatus answers the course query.
type CourseStatus struct {
	Stage  Stage   `json:"stage"`
	Stages []Stage `json:"stages"`
}

// CourseRegistrationFlow runs one course registration: the event is held,
// a course_admin marks completion, the survey invitation follows, news of
// new courses of the same type is sent while consent stands, and 24 months
// after registration everything is deleted. Withdrawing consent deletes
// everything at once and ends the workflow.
func CourseRegistrationFlow(ctx workflow.Context, in CourseInput) error {
	r := &courseRegistration{in: in}
	if err := r.handle(ctx); err != nil {
		return err
	}
	return r.run(ctx)
}

// courseRegistration is one course registration's workflow state.
type courseRegistration struct {
	in        CourseInput
	st        CourseStatus
	withdrawn *WithdrawalConfirmation
	completed *Completion
	// deleting: a deletion (withdrawal or retention's end) has begun.
	deleting bool
}

// handle registers the status Query and the Updates.
func (r *courseRegistration) handle(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryCourse, func() (CourseStatus, error) { return r.st, nil }); err != nil {
		return fmt.Errorf("set query handler: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateWithdrawConsent, r.withdraw,
		workflow.UpdateHandlerOptions{Validator: r.validateWithdrawal}); err != nil {
		return fmt.Errorf("set update handler: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCompleteCourse, func(ctx workflow.Context, c Completion) error {
		r.completed = &c
		return nil
	}, workflow.UpdateHandlerOptions{Validator: func(c Completion) error { return r.validateCompletion(ctx, c) }}); err != nil {
		return fmt.Errorf("set update handler: %w", err)
	}
	return nil
}

// withdraw deletes everything at once when consent is withdrawn (C06).
func (r *courseRegistration) withdraw(ctx workflow.Context, _ Withdrawal) (WithdrawalConfirmation, error) {
	r.deleting = true
	var c WithdrawalConfirmation
	err := workflow.ExecuteActivity(activityOptions(ctx, 10), ActivityDeleteParticipant, DeleteParticipantInput{
		RegistrationID: r.in.RegistrationID, Reason: CourseReasonWithdrawn, At: workflow.Now(ctx)}).Get(ctx, &c)
	if err != nil {
		r.deleting = false
		return c, fmt.Errorf("delete the participant's data: %w", err)
	}
	r.withdrawn = &c
	return c, nil
}

func (r *courseRegistration) validateWithdrawal(w Withdrawal) error {
	switch {
	case r.deleting || r.withdrawn != nil:
		return refuse("consent", "consent: already withdrawn; everything is deleted")
	case w.Via == "":
		return refuse("via", "via is required")
	}
	return nil
}

func (r *courseRegistration) validateCompletion(ctx workflow.Context, c Completion) error {
	switch {
	case r.deleting || r.withdrawn != nil:
		return refuse("consent", "consent: withdrawn; nothing is kept")
	case r.completed != nil:
		return refuse("completed_by", "completed_by: already marked completed")
	case workflow.Now(ctx).Before(r.in.EventEnds) && r.st.Stage == StageCourseRegistered:
		return refuse("completed_by", "completed_by: the event has not been held yet")
	case c.CompletedBy == "":
		return refuse("completed_by", "completed_by is required")
	}
	return nil
}

// enter moves the registration into a stage: the Stage search attribute
// and the deletion date while there is one.
func (r *courseRegistration) enter(ctx workflow.Context, stage Stage, due *time.Time) error {
	r.st.Stage = stage
	r.st.Stages = append(r.st.Stages, stage)
	attrs := []temporal.SearchAttributeUpdate{StageKey.ValueSet(string(stage))}
	if due != nil {
		attrs = append(attrs, DeletionDueKey.ValueSet(*due))
	} else {
		attrs = append(attrs, DeletionDueKey.ValueUnset())
	}
	return workflow.UpsertTypedSearchAttributes(ctx, attrs...)
}

// gone reports whether consent was withdrawn (and everything deleted).
func (r *courseRegistration) gone() bool { return r.withdrawn != nil }

// wait blocks until d has passed, cond holds, or consent is withdrawn.
func (r *courseRegistration) wait(ctx workflow.Context, d time.Duration, cond func() bool) error {
	if d <= 0 {
		return nil
	}
	_, err := workflow.AwaitWithTimeout(ctx, d, func() bool { return r.gone() || (cond != nil && cond()) })
	return err
}

// step records a course step through the CourseStep activity.
func (r *courseRegistration) step(ctx workflow.Context, s CourseStepInput) error {
	s.RegistrationID, s.At = r.in.RegistrationID, workflow.Now(ctx)
	return workflow.ExecuteActivity(activityOptions(ctx, 0), ActivityCourseStep, s).Get(ctx, nil)
}

// untilDelete is how long until the data is deleted.
func (r *courseRegistration) untilDelete(ctx workflow.Context) time.Duration {
	return r.in.DeleteAt.Sub(workflow.Now(ctx))
}

// run follows the registration from the event to its deletion: the event
// held, completion with its certificate, the survey, course news while
// consent stands, and deletion 24 months after consent (C06).
func (r *courseRegistration) run(ctx workflow.Context) error {
	in := r.in
	actx := activityOptions(ctx, 0)
	due := in.DeleteAt
	if err := r.enter(ctx, StageCourseRegistered, &due); err != nil {
		return err
	}
	if err := r.wait(ctx, in.EventEnds.Sub(workflow.Now(ctx)), nil); err != nil {
		return err
	}
	if !r.gone() && r.untilDelete(ctx) > 0 {
		if err := r.step(ctx, CourseStepInput{Step: "event_held"}); err != nil {
			return err
		}
		if err := r.enter(ctx, StageEventHeld, &due); err != nil {
			return err
		}
		if err := r.wait(ctx, r.untilDelete(ctx), func() bool { return r.completed != nil }); err != nil {
			return err
		}
	}
	if !r.gone() && r.completed != nil && r.untilDelete(ctx) > 0 {
		if err := r.step(ctx, CourseStepInput{Step: "completed", CompletedBy: r.completed.CompletedBy}); err != nil {
			return err
		}
		if err := workflow.ExecuteActivity(actx, ActivityIssueCertificate, in.RegistrationID).Get(ctx, nil); err != nil {
			return fmt.Errorf("issue certificate: %w", err)
		}
		if err := r.enter(ctx, StageCourseCompleted, &due); err != nil {
			return err
		}
		if err := r.wait(ctx, min(in.SurveyAfter, r.untilDelete(ctx)), nil); err != nil {
			return err
		}
		if !r.gone() && r.untilDelete(ctx) > 0 {
			if err := r.step(ctx, CourseStepInput{Step: "survey"}); err != nil {
				return err
			}
			if err := r.enter(ctx, StageSurveyInvited, &due); err != nil {
				return err
			}
		}
		// News of new courses of the same type, while consent stands.
		since := workflow.Now(ctx)
		for !r.gone() && in.NewsEvery > 0 && r.untilDelete(ctx) > in.NewsEvery {
			if err := r.wait(ctx, in.NewsEvery, nil); err != nil {
				return err
			}
			if r.gone() {
				break
			}
			now := workflow.Now(ctx)
			if err := workflow.ExecuteActivity(actx, ActivitySendCourseNews, CourseNewsInput{RegistrationID: in.RegistrationID,
				CourseType: in.CourseType, Since: since, At: now}).Get(ctx, nil); err != nil {
				return fmt.Errorf("course news: %w", err)
			}
			since = now
		}
	}
	if err := r.wait(ctx, r.untilDelete(ctx), nil); err != nil {
		return err
	}
	if r.gone() {
		if err := r.enter(ctx, StageConsentWithdrawn, nil); err != nil {
			return err
		}
		return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	}
	// 24 months after registration (C06): delete everything.
	r.deleting = true
	if err := workflow.ExecuteActivity(actx, ActivityDeleteParticipant, DeleteParticipantInput{RegistrationID: in.RegistrationID,
		Reason: CourseReasonRetentionEnded, At: workflow.Now(ctx)}).Get(ctx, nil); err != nil {
		return fmt.Errorf("delete at the end of retention: %w", err)
	}
	if err := r.enter(ctx, StageCourseDeleted, nil); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}
