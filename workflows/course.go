package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

// CourseRegistrationFlow runs one course registration: the event is held,
// a course_admin marks completion, the survey invitation follows, news of
// new courses of the same type is sent while consent stands, and 24 months
// after registration everything is deleted. Withdrawing consent deletes
// everything at once and ends the workflow.
func CourseRegistrationFlow(ctx workflow.Context, in cases.CourseInput) error {
	r := &courseRegistration{in: in}
	if err := r.handle(ctx); err != nil {
		return err
	}
	return r.run(ctx)
}

// courseRegistration is one course registration's workflow state.
type courseRegistration struct {
	in        cases.CourseInput
	trail     stageTrail
	withdrawn *cases.WithdrawalConfirmation
	completed *cases.Completion
	// deleting: a deletion (withdrawal or retention's end) has begun.
	deleting bool
}

// handle registers the status Query and the Updates.
func (r *courseRegistration) handle(ctx workflow.Context) error {
	r.trail.details = func() string { return courseDetails(r) }
	if err := describedQuery(ctx, cases.QueryCourse, func() (cases.CourseStatus, error) {
		return cases.CourseStatus{Stage: r.trail.stage, Stages: r.trail.stages}, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, cases.UpdateWithdrawConsent, r.withdraw,
		updateOptions(cases.UpdateWithdrawConsent, r.validateWithdrawal)); err != nil {
		return fmt.Errorf("set update handler: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, cases.UpdateCompleteCourse, func(ctx workflow.Context, c cases.Completion) error {
		r.completed = &c
		r.trail.show(ctx)
		return nil
	}, updateOptions(cases.UpdateCompleteCourse, func(c cases.Completion) error { return r.validateCompletion(ctx, c) })); err != nil {
		return fmt.Errorf("set update handler: %w", err)
	}
	return nil
}

// withdraw deletes everything at once when consent is withdrawn (C06).
func (r *courseRegistration) withdraw(ctx workflow.Context, _ cases.Withdrawal) (cases.WithdrawalConfirmation, error) {
	r.deleting = true
	var c cases.WithdrawalConfirmation
	err := workflow.ExecuteActivity(withSummary(activityOptions(ctx, 10), "delete the participant: consent withdrawn"), courses.DeleteCourseParticipant, activities.DeleteParticipantInput{
		RegistrationID: r.in.RegistrationID, Reason: cases.CourseReasonWithdrawn, At: workflow.Now(ctx)}).Get(ctx, &c)
	if err != nil {
		r.deleting = false
		return c, fmt.Errorf("delete the participant's data: %w", err)
	}
	r.withdrawn = &c
	return c, nil
}

func (r *courseRegistration) validateWithdrawal(w cases.Withdrawal) error {
	switch {
	case r.deleting || r.withdrawn != nil:
		return refuse("consent", "consent: already withdrawn; everything is deleted")
	case w.Via == "":
		return refuse("via", "via is required")
	}
	return nil
}

func (r *courseRegistration) validateCompletion(ctx workflow.Context, c cases.Completion) error {
	switch {
	case r.deleting || r.withdrawn != nil:
		return refuse("consent", "consent: withdrawn; nothing is kept")
	case r.completed != nil:
		return refuse("completed_by", "completed_by: already marked completed")
	case workflow.Now(ctx).Before(r.in.EventEnds) && r.trail.stage == cases.StageCourseRegistered:
		return refuse("completed_by", "completed_by: the event has not been held yet")
	case c.CompletedBy == "":
		return refuse("completed_by", "completed_by is required")
	}
	return nil
}

// enter moves the registration into a stage: the Stage search attribute
// and the deletion date while there is one.
func (r *courseRegistration) enter(ctx workflow.Context, stage cases.Stage, due *time.Time) error {
	return r.trail.move(ctx, stage, stageMove{attrs: deletionDue(due), again: true})
}

// gone reports whether consent was withdrawn (and everything deleted).
func (r *courseRegistration) gone() bool { return r.withdrawn != nil }

// wait blocks until d has passed, cond holds, or consent is withdrawn; its
// timer's summary says what it waits for.
func (r *courseRegistration) wait(ctx workflow.Context, what string, d time.Duration, cond func() bool) error {
	if d <= 0 {
		return nil
	}
	_, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: d,
		TimerOptions: workflow.TimerOptions{Summary: what + " at " + day(workflow.Now(ctx).Add(d))}},
		func() bool { return r.gone() || (cond != nil && cond()) })
	return err
}

// step records a course step through the CourseStep activity.
func (r *courseRegistration) step(ctx workflow.Context, s activities.CourseStepInput) error {
	s.RegistrationID, s.At = r.in.RegistrationID, workflow.Now(ctx)
	return workflow.ExecuteActivity(withSummary(activityOptions(ctx, 0), "course step "+s.Step), courses.CourseStep, s).Get(ctx, nil)
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
	if err := r.enter(ctx, cases.StageCourseRegistered, &due); err != nil {
		return err
	}
	if err := r.wait(ctx, "event ends", in.EventEnds.Sub(workflow.Now(ctx)), nil); err != nil {
		return err
	}
	if !r.gone() && r.untilDelete(ctx) > 0 {
		if err := r.step(ctx, activities.CourseStepInput{Step: "event_held"}); err != nil {
			return err
		}
		if err := r.enter(ctx, cases.StageEventHeld, &due); err != nil {
			return err
		}
		if err := r.wait(ctx, "completion, or deletion", r.untilDelete(ctx), func() bool { return r.completed != nil }); err != nil {
			return err
		}
	}
	if !r.gone() && r.completed != nil && r.untilDelete(ctx) > 0 {
		if err := r.step(ctx, activities.CourseStepInput{Step: "completed", CompletedBy: r.completed.CompletedBy}); err != nil {
			return err
		}
		if err := workflow.ExecuteActivity(withSummary(actx, "issue the course certificate"), courses.IssueCourseCertificate, in.RegistrationID).Get(ctx, nil); err != nil {
			return fmt.Errorf("issue certificate: %w", err)
		}
		if err := r.enter(ctx, cases.StageCourseCompleted, &due); err != nil {
			return err
		}
		if err := r.wait(ctx, "survey invitation", min(in.SurveyAfter, r.untilDelete(ctx)), nil); err != nil {
			return err
		}
		if !r.gone() && r.untilDelete(ctx) > 0 {
			if err := r.step(ctx, activities.CourseStepInput{Step: "survey"}); err != nil {
				return err
			}
			if err := r.enter(ctx, cases.StageSurveyInvited, &due); err != nil {
				return err
			}
		}
		// News of new courses of the same type, while consent stands.
		since := workflow.Now(ctx)
		for !r.gone() && in.NewsEvery > 0 && r.untilDelete(ctx) > in.NewsEvery {
			if err := r.wait(ctx, "course news", in.NewsEvery, nil); err != nil {
				return err
			}
			if r.gone() {
				break
			}
			now := workflow.Now(ctx)
			if err := workflow.ExecuteActivity(withSummary(actx, "course news of type "+in.CourseType), courses.SendCourseNews, activities.CourseNewsInput{RegistrationID: in.RegistrationID,
				CourseType: in.CourseType, Since: since, At: now}).Get(ctx, nil); err != nil {
				return fmt.Errorf("course news: %w", err)
			}
			since = now
		}
	}
	if err := r.wait(ctx, "delete everything", r.untilDelete(ctx), nil); err != nil {
		return err
	}
	if r.gone() {
		if err := r.enter(ctx, cases.StageConsentWithdrawn, nil); err != nil {
			return err
		}
		return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	}
	// 24 months after registration (C06): delete everything.
	r.deleting = true
	if err := workflow.ExecuteActivity(withSummary(actx, "delete the participant: retention ended"), courses.DeleteCourseParticipant, activities.DeleteParticipantInput{RegistrationID: in.RegistrationID,
		Reason: cases.CourseReasonRetentionEnded, At: workflow.Now(ctx)}).Get(ctx, nil); err != nil {
		return fmt.Errorf("delete at the end of retention: %w", err)
	}
	if err := r.enter(ctx, cases.StageCourseDeleted, nil); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}
