// Package workflows holds examflow's deterministic Temporal workflow code,
// one file per workflow. Workflow inputs, IDs, search attributes and memos
// carry opaque IDs and status values only; personal data stays in PostgreSQL
// and MinIO and is reached through activities.
package workflows

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

type partRun struct {
	info        activities.PartInfo
	status      string
	reasons     []string
	resultID    string
	reviewID    string
	reviewDue   time.Time
	assessments map[string]cases.Assessment
}

type lifecycle struct {
	in     cases.LifecycleInput
	status cases.LifecycleStatus
	stage  cases.Stage
	// entering is the stage being recorded before it is shown
	// (ChangeStageRecordedBeforeShown), so a second entry waits for none.
	entering cases.Stage
	ctx      *activities.RegistrationContext
	parts    []*partRun
	dirty    bool
	cheated  bool // provisional cheating reported: nothing is released
	// cheatingDecided: a case handler decided the cheating case.
	cheatingDecided bool
	// now is workflow time, for validators.
	now func() time.Time
	// finalTimer runs from the close of the test day to the final result.
	finalTimer workflow.Future
	// holdsWithAnEnd: the run deletes the categories no case needs on their
	// dates and escalates an undecided cheating case (ChangeHoldsWithAnEnd).
	holdsWithAnEnd bool
	// watchingCheating: the escalation of the cheating case is timed.
	watchingCheating bool
}

func (l *lifecycle) part(name string) *partRun {
	for _, p := range l.parts {
		if p.info.Name == name {
			return p
		}
	}
	return nil
}

// activityOptions: activities retry until they succeed (attempts 0); those
// on an Update's path give up sooner so the caller gets an answer.
func activityOptions(ctx workflow.Context, attempts int32) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    attempts,
		},
	})
}

// CandidateLifecycle drives one registration from registration through the
// test day, marking, review and assessment to the result.
func CandidateLifecycle(ctx workflow.Context, in cases.LifecycleInput) error {
	if _, err := uuid.Parse(in.RegistrationID); err != nil {
		return temporal.NewNonRetryableApplicationError("registration_id is not a UUID", cases.ErrorInvalidInput, err)
	}
	l := &lifecycle{in: in, now: func() time.Time { return workflow.Now(ctx) }}
	if err := workflow.SetQueryHandler(ctx, cases.QueryStatus, func() (cases.LifecycleStatus, error) {
		return l.snapshot(), nil
	}); err != nil {
		return fmt.Errorf("set query handler: %w", err)
	}
	if err := l.registerUpdates(ctx); err != nil {
		return err
	}
	// An appeal that arrives while the registration is loading waits for it.
	desk := &appealDesk{registrationID: in.RegistrationID, ready: func() bool { return l.ctx != nil }, closed: l.appealClosed}
	if err := desk.register(ctx); err != nil {
		return fmt.Errorf("set update handler %s: %w", cases.UpdateLodgeAppeal, err)
	}
	ctx = activityOptions(ctx, 0)
	if err := l.enter(ctx, cases.StageRegistered); err != nil {
		return err
	}
	var rc activities.RegistrationContext
	if err := workflow.ExecuteActivity(ctx, testDay.LoadRegistration, in.RegistrationID).Get(ctx, &rc); err != nil {
		return fmt.Errorf("load registration: %w", err)
	}
	l.ctx = &rc
	for _, p := range rc.Parts {
		l.parts = append(l.parts, &partRun{info: p, status: cases.PartAwaiting, assessments: map[string]cases.Assessment{}})
	}
	if workflow.GetVersion(ctx, ChangeHoldsWithAnEnd, workflow.DefaultVersion, 1) == 1 {
		l.holdsWithAnEnd = true
		l.deleteUnheldOnTime(ctx)
	}

	// Events keep arriving after the result too (a final cheating decision,
	// a corrected answer key, an appeal). FinalAfter the test day closed
	// (the appeal window), once no appeal is open, the result is final and
	// the lifecycle continues as new into its retention phase.
	var final bool
	for {
		if l.closed() && l.finalTimer == nil {
			l.finalTimer = workflow.NewTimer(ctx, rc.FinalAfter)
			workflow.Go(ctx, func(ctx workflow.Context) {
				if l.finalTimer.Get(ctx, nil) == nil {
					final = true
				}
			})
		}
		if err := workflow.Await(ctx, func() bool { return l.dirty || (final && desk.open == 0) }); err != nil {
			return err
		}
		if l.dirty {
			l.dirty = false
			if err := l.advance(ctx); err != nil {
				return err
			}
			continue
		}
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return err
		}
		// A handler that finished just now may have lodged an appeal.
		if desk.open == 0 && !l.dirty {
			break
		}
	}
	// The result is final: publish it to the Diploma Registry (or withdraw
	// what no longer stands). The activity retries until the registry takes
	// it; the publication key makes every retry harmless.
	var pub activities.PublishOutcome
	if err := workflow.ExecuteActivity(ctx, publication.PublishResults, in.RegistrationID).Get(ctx, &pub); err != nil {
		return fmt.Errorf("publish results: %w", err)
	}
	if pub.Published {
		if err := l.enter(ctx, cases.StagePublished); err != nil {
			return err
		}
	}
	var plan activities.RetentionPlan
	if err := workflow.ExecuteActivity(ctx, retention.PlanRetention, in.RegistrationID).Get(ctx, &plan); err != nil {
		return fmt.Errorf("plan retention: %w", err)
	}
	plan.Stages = l.status.Stages
	return workflow.NewContinueAsNewError(ctx, cases.RetentionWorkflow, plan)
}

// appealClosed applies a finished appeal to the parts: annulled parts end
// annulled; changed results are read from PostgreSQL when published.
func (l *lifecycle) appealClosed(_ workflow.Context, out cases.AppealOutcome) {
	for _, p := range l.parts {
		if out.AnnulledAll || slices.Contains(out.AnnulledParts, p.info.Name) {
			p.status, p.reasons, p.reviewID = cases.PartAnnulled, nil, ""
		}
	}
	l.dirty = true
}

// closed reports whether the test day has ended for every part.
func (l *lifecycle) closed() bool {
	return l.stage == cases.StageResult || l.stage == cases.StageAbsent || l.stage == cases.StageAnnulled
}

// advance does the work the last events made due: marking, assessments,
// reviews, and the stage that follows.
func (l *lifecycle) advance(ctx workflow.Context) error {
	for _, p := range l.parts {
		switch {
		case p.status == cases.PartSubmitted:
			var out activities.MarkOutcome
			if err := workflow.ExecuteActivity(ctx, testDay.MarkPart, activities.MarkPartInput{RegistrationID: l.in.RegistrationID, Part: p.info.Name}).Get(ctx, &out); err != nil {
				return fmt.Errorf("mark %s: %w", p.info.Name, err)
			}
			p.resultID = out.ResultID
			if out.Hold {
				if err := l.openReview(ctx, p, out.Reasons); err != nil {
					return err
				}
			} else {
				p.status = cases.PartDecided
			}
		case p.status == cases.PartAssessing && len(p.assessments) >= 2:
			ex, ext := p.assessments[cases.RoleExaminer], p.assessments[cases.RoleExternalExaminer]
			if ex.Level == ext.Level {
				if err := l.decideAssessed(ctx, p, ex.Level, "examiners", ""); err != nil {
					return err
				}
			} else {
				p.status = cases.PartDisputed
			}
		case p.status == cases.PartDisputed:
			if third, ok := p.assessments[cases.RoleThirdExaminer]; ok {
				if err := l.decideAssessed(ctx, p, third.Level, "examiners", "settled by a third examiner"); err != nil {
					return err
				}
			}
		}
	}
	return l.nextStage(ctx)
}

func (l *lifecycle) decideAssessed(ctx workflow.Context, p *partRun, level, by, reason string) error {
	err := workflow.ExecuteActivity(ctx, testDay.DecideAssessedPart, activities.DecideAssessedPartInput{
		RegistrationID: l.in.RegistrationID, Part: p.info.Name, Level: level, DecidedBy: by, Reason: reason, At: workflow.Now(ctx),
	}).Get(ctx, nil)
	if err != nil {
		return fmt.Errorf("decide %s: %w", p.info.Name, err)
	}
	p.status = cases.PartDecided
	return nil
}

func (l *lifecycle) openReview(ctx workflow.Context, p *partRun, reasons []string) error {
	now := workflow.Now(ctx)
	due := now.Add(l.ctx.ReviewDue)
	var ref activities.ReviewRef
	err := workflow.ExecuteActivity(ctx, testDay.OpenReview, activities.OpenReviewInput{
		RegistrationID: l.in.RegistrationID, Part: p.info.Name, ResultID: p.resultID, Reasons: reasons, OpenedAt: now, DueAt: due,
	}).Get(ctx, &ref)
	if err != nil {
		return fmt.Errorf("open review of %s: %w", p.info.Name, err)
	}
	p.status, p.reasons, p.reviewID, p.reviewDue = cases.PartHeld, reasons, ref.ReviewID, due
	reviewID := ref.ReviewID
	workflow.Go(ctx, func(ctx workflow.Context) {
		if err := workflow.Sleep(ctx, l.ctx.ReviewReminder); err != nil {
			return
		}
		if p.status == cases.PartHeld && p.reviewID == reviewID {
			// The activity retries by its policy; the review stays open either way.
			_ = workflow.ExecuteActivity(ctx, testDay.RemindReview, activities.ReviewRef{ReviewID: reviewID}).Get(ctx, nil)
		}
	})
	return nil
}

// nextStage moves to the stage the parts add up to and keeps the review
// search attributes current.
func (l *lifecycle) nextStage(ctx workflow.Context) error {
	var held, open, absent, annulled int
	var due time.Time
	for _, p := range l.parts {
		switch p.status {
		case cases.PartHeld:
			held++
			if due.IsZero() || p.reviewDue.Before(due) {
				due = p.reviewDue
			}
		case cases.PartAbsent:
			absent++
		case cases.PartAnnulled:
			annulled++
		case cases.PartDecided:
		default:
			open++
		}
	}
	reviewAttrs := []temporal.SearchAttributeUpdate{cases.ReviewPendingKey.ValueSet(held > 0)}
	if held > 0 {
		reviewAttrs = append(reviewAttrs, cases.ReviewDueKey.ValueSet(due))
	} else {
		reviewAttrs = append(reviewAttrs, cases.ReviewDueKey.ValueUnset())
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, reviewAttrs...); err != nil {
		return fmt.Errorf("upsert review attributes: %w", err)
	}
	switch {
	case held > 0:
		return l.enter(ctx, cases.StageUnderReview)
	case open > 0 || l.cheated:
		if l.touched() {
			return l.enter(ctx, cases.StageTested)
		}
		return nil
	case annulled > 0:
		return l.enter(ctx, cases.StageAnnulled)
	case absent == len(l.parts):
		return l.enter(ctx, cases.StageAbsent)
	case l.stage == cases.StageResult:
		return nil
	}
	if err := workflow.ExecuteActivity(ctx, testDay.ReleaseResults, activities.ReleaseResultsInput{RegistrationID: l.in.RegistrationID}).Get(ctx, nil); err != nil {
		return fmt.Errorf("release results: %w", err)
	}
	return l.enter(ctx, cases.StageResult)
}

// touched reports whether anything arrived for any part.
func (l *lifecycle) touched() bool {
	for _, p := range l.parts {
		if p.status != cases.PartAwaiting {
			return true
		}
	}
	return false
}

func (l *lifecycle) snapshot() cases.LifecycleStatus {
	st := l.status
	st.Stages = slices.Clone(l.status.Stages)
	for _, p := range l.parts {
		ps := cases.PartStatus{Name: p.info.Name, Automated: p.info.Automated, Status: p.status, Reasons: p.reasons}
		if p.status == cases.PartHeld {
			due := p.reviewDue
			ps.ReviewDue = &due
		}
		st.Parts = append(st.Parts, ps)
	}
	return st
}

// enter moves the lifecycle into a stage: the Stage search attribute, the
// status query and the stage history in PostgreSQL.
func (l *lifecycle) enter(ctx workflow.Context, stage cases.Stage) error {
	if l.stage == stage || l.entering == stage {
		return nil
	}
	now := workflow.Now(ctx)
	record := func() error {
		err := workflow.ExecuteActivity(ctx, registration.RecordStage, activities.RecordStageInput{
			RegistrationID: l.in.RegistrationID, Stage: stage, At: now,
		}).Get(ctx, nil)
		if err != nil {
			return fmt.Errorf("record stage %s: %w", stage, err)
		}
		return nil
	}
	// The first stage (Registered) is shown at once: the registration is in
	// PostgreSQL already, and nothing acts on it before it is recorded.
	recordFirst := l.stage != "" && workflow.GetVersion(ctx, ChangeStageRecordedBeforeShown, workflow.DefaultVersion, 1) == 1
	if recordFirst {
		l.entering = stage
		err := record()
		l.entering = ""
		if err != nil {
			return err
		}
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, cases.StageKey.ValueSet(string(stage))); err != nil {
		return fmt.Errorf("upsert stage: %w", err)
	}
	l.stage = stage
	l.status.Stage = stage
	l.status.Since = now
	l.status.Stages = append(l.status.Stages, stage)
	if !recordFirst {
		return record()
	}
	return nil
}
