// Package workflows holds examflow's deterministic Temporal workflow code,
// one file per workflow. Workflow inputs, IDs, search attributes and memos
// carry opaque IDs and status values only; personal data stays in PostgreSQL
// and MinIO and is reached through activities.
package workflows

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
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
	// trail is the stage, since when, and the stages passed.
	trail   stageTrail
	ctx     *activities.RegistrationContext
	parts   []*partRun
	dirty   bool
	cheated bool // provisional cheating reported: nothing is released
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
	// appealWindowEnds is when the result becomes final (zero until the
	// test day has closed), for the current details.
	appealWindowEnds time.Time
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
	if err := describedQuery(ctx, cases.QueryStatus, func() (cases.LifecycleStatus, error) {
		return l.snapshot(), nil
	}); err != nil {
		return err
	}
	if err := l.registerUpdates(ctx); err != nil {
		return err
	}
	// An appeal that arrives while the registration is loading waits for it.
	desk := &appealDesk{registrationID: in.RegistrationID, ready: func() bool { return l.ctx != nil }, closed: l.appealClosed, changed: l.trail.show}
	l.trail.details = func() string { return lifecycleDetails(l, l.appealWindowEnds, desk.open) }
	if err := desk.register(ctx); err != nil {
		return fmt.Errorf("set update handler %s: %w", cases.UpdateLodgeAppeal, err)
	}
	ctx = activityOptions(ctx, 0)
	if err := l.enter(ctx, cases.StageRegistered); err != nil {
		return err
	}
	var rc activities.RegistrationContext
	if err := workflow.ExecuteActivity(withSummary(ctx, "load registration"), testDay.LoadRegistration, in.RegistrationID).Get(ctx, &rc); err != nil {
		return fmt.Errorf("load registration: %w", err)
	}
	l.ctx = &rc
	for _, p := range rc.Parts {
		l.parts = append(l.parts, &partRun{info: p, status: cases.PartAwaiting, assessments: map[string]cases.Assessment{}})
	}
	l.trail.show(ctx)
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
			l.appealWindowEnds = workflow.Now(ctx).Add(rc.FinalAfter)
			l.finalTimer = workflow.NewTimerWithOptions(ctx, rc.FinalAfter, workflow.TimerOptions{Summary: "appeal window until " + day(l.appealWindowEnds)})
			l.trail.show(ctx)
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
			l.trail.show(ctx)
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
	if err := workflow.ExecuteActivity(withSummary(ctx, "publish the final result"), publication.PublishResults, in.RegistrationID).Get(ctx, &pub); err != nil {
		return fmt.Errorf("publish results: %w", err)
	}
	if pub.Published {
		if err := l.enter(ctx, cases.StagePublished); err != nil {
			return err
		}
	}
	var plan activities.RetentionPlan
	if err := workflow.ExecuteActivity(withSummary(ctx, "plan the retention phase"), retention.PlanRetention, in.RegistrationID).Get(ctx, &plan); err != nil {
		return fmt.Errorf("plan retention: %w", err)
	}
	plan.Stages = l.trail.stages
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
	return l.trail.stage == cases.StageResult || l.trail.stage == cases.StageAbsent || l.trail.stage == cases.StageAnnulled
}

// advance does the work the last events made due: marking, assessments,
// reviews, and the stage that follows.
func (l *lifecycle) advance(ctx workflow.Context) error {
	for _, p := range l.parts {
		switch {
		case p.status == cases.PartSubmitted:
			var out activities.MarkOutcome
			if err := workflow.ExecuteActivity(withSummary(ctx, "mark part "+p.info.Name), testDay.MarkPart, activities.MarkPartInput{RegistrationID: l.in.RegistrationID, Part: p.info.Name}).Get(ctx, &out); err != nil {
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
	err := workflow.ExecuteActivity(withSummary(ctx, "decide part "+p.info.Name+" by "+by), testDay.DecideAssessedPart, activities.DecideAssessedPartInput{
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
	err := workflow.ExecuteActivity(withSummary(ctx, "open review of part "+p.info.Name+", due "+day(due)), testDay.OpenReview, activities.OpenReviewInput{
		RegistrationID: l.in.RegistrationID, Part: p.info.Name, ResultID: p.resultID, Reasons: reasons, OpenedAt: now, DueAt: due,
	}).Get(ctx, &ref)
	if err != nil {
		return fmt.Errorf("open review of %s: %w", p.info.Name, err)
	}
	p.status, p.reasons, p.reviewID, p.reviewDue = cases.PartHeld, reasons, ref.ReviewID, due
	reviewID := ref.ReviewID
	workflow.Go(ctx, func(ctx workflow.Context) {
		remindAt := workflow.Now(ctx).Add(l.ctx.ReviewReminder)
		if err := workflow.NewTimerWithOptions(ctx, l.ctx.ReviewReminder, workflow.TimerOptions{Summary: "remind review of part " + p.info.Name + " at " + day(remindAt)}).Get(ctx, nil); err != nil {
			return
		}
		if p.status == cases.PartHeld && p.reviewID == reviewID {
			// The activity retries by its policy; the review stays open either way.
			_ = workflow.ExecuteActivity(withSummary(ctx, "remind review of part "+p.info.Name), testDay.RemindReview, activities.ReviewRef{ReviewID: reviewID}).Get(ctx, nil)
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
	case l.trail.stage == cases.StageResult:
		return nil
	}
	if err := workflow.ExecuteActivity(withSummary(ctx, "release results"), testDay.ReleaseResults, activities.ReleaseResultsInput{RegistrationID: l.in.RegistrationID}).Get(ctx, nil); err != nil {
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
	st.Stage, st.Since, st.Stages = l.trail.stage, l.trail.since, slices.Clone(l.trail.stages)
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
// status query and the stage history in PostgreSQL (the RecordStage
// activity, before the stage is shown since ChangeStageRecordedBeforeShown).
// A move to the current stage, or to the one being recorded, does nothing.
func (l *lifecycle) enter(ctx workflow.Context, stage cases.Stage) error {
	return l.trail.move(ctx, stage, stageMove{
		record: func(ctx workflow.Context, stage cases.Stage, at time.Time) error {
			err := workflow.ExecuteActivity(withSummary(ctx, "record stage "+string(stage)), registration.RecordStage, activities.RecordStageInput{
				RegistrationID: l.in.RegistrationID, Stage: stage, At: at,
			}).Get(ctx, nil)
			if err != nil {
				return fmt.Errorf("record stage %s: %w", stage, err)
			}
			return nil
		},
		// The first stage (Registered) is shown at once: the registration is in
		// PostgreSQL already, and nothing acts on it before it is recorded.
		recordFirst: func() bool {
			return l.trail.stage != "" && workflow.GetVersion(ctx, ChangeStageRecordedBeforeShown, workflow.DefaultVersion, 1) == 1
		},
	})
}

// validateSheet is the submit-answer-sheet validator: the part is registered
// and machine-marked, not submitted before, the form is the session's, every
// item is on the form, and each item has exactly one choice.
func (l *lifecycle) validateSheet(s cases.AnswerSheet) error {
	p := l.part(s.Part)
	switch {
	case l.ctx == nil:
		return refuse("body", "the registration is still being set up; try again")
	case p == nil:
		return refuse("part", "part %q is not registered for this candidate", s.Part)
	case !p.info.Automated:
		return refuse("part", "part %q is assessed by examiners, not by answer sheet", s.Part)
	case p.status != cases.PartAwaiting:
		return refuse("part", "part %q has already been submitted or closed (%s)", s.Part, p.status)
	case s.FormID != p.info.FormID:
		return refuse("form_id", "form_id %q is not the session's form %q for part %s", s.FormID, p.info.FormID, s.Part)
	case s.KeyVersion < 1:
		return refuse("key_version", "key_version must be 1 or more")
	case s.SubmittedAt.IsZero():
		return refuse("submitted_at", "submitted_at is required")
	case len(s.Answers) == 0:
		return refuse("answers", "answers must not be empty")
	}
	seen := make(map[string]bool, len(s.Answers))
	for i, a := range s.Answers {
		switch {
		case !slices.Contains(p.info.ItemIDs, a.Item):
			return refuse(fmt.Sprintf("answers[%d]", i), "answers[%d]: item %q is not on form %s", i, a.Item, s.FormID)
		case seen[a.Item]:
			return refuse(fmt.Sprintf("answers[%d]", i), "answers[%d]: item %q is answered twice; one choice per item", i, a.Item)
		case len(a.Choice) > 16:
			return refuse(fmt.Sprintf("answers[%d]", i), "answers[%d]: choice is longer than 16 characters", i)
		}
		seen[a.Item] = true
	}
	return nil
}

func (l *lifecycle) validateDiscrepancy(d cases.Discrepancy) error {
	switch d.Kind {
	case cases.DiscrepancyTechnicalProblem, cases.DiscrepancyDidNotAttend, cases.DiscrepancyValidAbsence, cases.DiscrepancyProvisionalCheating:
	default:
		return refuse("kind", "kind must be technical_problem, did_not_attend, valid_absence or provisional_cheating")
	}
	if l.ctx == nil {
		return refuse("body", "the registration is still being set up; try again")
	}
	if d.Part != "" && l.part(d.Part) == nil {
		return refuse("part", "part %q is not registered for this candidate", d.Part)
	}
	if l.trail.stage == cases.StageResult || l.trail.stage == cases.StageAnnulled {
		return refuse("body", "the result has been released; a discrepancy after that is a formal-error complaint")
	}
	return nil
}

func (l *lifecycle) validateReview(d cases.ReviewDecision) error {
	p := l.part(d.Part)
	switch {
	case p == nil:
		return refuse("part", "part %q is not registered for this candidate", d.Part)
	case p.status != cases.PartHeld:
		return refuse("part", "part %q has no open review (status %s)", d.Part, p.status)
	case d.DecidedBy == "":
		return refuse("decided_by", "decided_by is required")
	}
	switch d.Decision {
	case cases.ReviewConfirm:
		if d.CorrectedScore != nil {
			return refuse("corrected_score", "corrected_score goes with decision correct")
		}
	case cases.ReviewCorrect:
		if d.CorrectedScore == nil || *d.CorrectedScore < 0 {
			return refuse("decision", "decision correct needs corrected_score of 0 or more")
		}
		if d.Reason == "" {
			return refuse("decision", "decision correct needs a reason")
		}
		if !p.info.Automated {
			return refuse("corrected_score", "only machine-marked parts have a score to correct")
		}
	case cases.ReviewAnnul:
		if d.Reason == "" {
			return refuse("decision", "decision annul needs a reason")
		}
	default:
		return refuse("decision", "decision must be confirm, correct or annul")
	}
	return nil
}

func (l *lifecycle) validateAssessment(a cases.Assessment) error {
	p := l.part(a.Part)
	switch {
	case p == nil:
		return refuse("part", "part %q is not registered for this candidate", a.Part)
	case p.info.Automated:
		return refuse("part", "part %q is machine-marked; examiners assess writing and oral parts", a.Part)
	case p.status != cases.PartAwaiting && p.status != cases.PartAssessing && p.status != cases.PartDisputed:
		return refuse("part", "part %q is not open for assessment (status %s)", a.Part, p.status)
	case a.Assessor == "":
		return refuse("assessor", "assessor is required")
	case !slices.Contains(p.info.Levels, a.Level):
		return refuse("level", "level must be one of %v", p.info.Levels)
	}
	switch a.Role {
	case cases.RoleExaminer, cases.RoleExternalExaminer:
		if _, done := p.assessments[a.Role]; done {
			return refuse("role", "the %s has already assessed part %q", a.Role, a.Part)
		}
		for role, prev := range p.assessments {
			if prev.Assessor == a.Assessor && role != a.Role {
				return refuse("assessor", "the examiner and the external examiner must be different people")
			}
		}
	case cases.RoleThirdExaminer:
		if p.status != cases.PartDisputed {
			return refuse("role", "a third assessment is only for parts the examiners disagree on")
		}
		for _, prev := range p.assessments {
			if prev.Assessor == a.Assessor {
				return refuse("assessor", "the third examiner must be someone who has not assessed the part")
			}
		}
	default:
		return refuse("role", "role must be examiner, external_examiner or third_examiner")
	}
	return nil
}

func (l *lifecycle) validateCheating(d cases.CheatingDecision) error {
	switch {
	case d.Decision != cases.CheatingFinal && d.Decision != cases.CheatingDismissed:
		return refuse("decision", "decision must be final or dismissed")
	case d.Reasons == "" || d.DecidedBy == "":
		return refuse("reason", "reasons and decided_by are required")
	case l.cheatingDecided:
		return refuse("decision", "the cheating case has been decided")
	case d.Decision == cases.CheatingDismissed && !l.cheated:
		return refuse("decision", "decision dismissed needs a provisional cheating report")
	case d.Decision == cases.CheatingDismissed && d.QuarantineUntil != nil:
		return refuse("quarantine_until", "quarantine_until goes with decision final")
	case d.QuarantineUntil != nil && l.ctx != nil:
		now := l.now()
		if !d.QuarantineUntil.After(now) || d.QuarantineUntil.After(now.Add(l.ctx.QuarantineDefault)) {
			return refuse("quarantine_until", "quarantine_until must be after the decision and at most %s after it", l.ctx.QuarantineDefault)
		}
	}
	return nil
}

func (l *lifecycle) validateReapply(k cases.ReapplyKey) error {
	p := l.part(k.Part)
	switch {
	case p == nil:
		return refuse("part", "part %q is not registered for this candidate", k.Part)
	case !p.info.Automated || p.info.FormID != k.FormID:
		return refuse("form_id", "form_id %q is not the form of part %s", k.FormID, k.Part)
	case p.status != cases.PartDecided:
		return refuse("part", "part %q has no standing automated result (status %s)", k.Part, p.status)
	case k.KeyVersion < 2:
		return refuse("key_version", "key_version must be a corrected version (2 or more)")
	}
	return nil
}

func (l *lifecycle) validateSettlement(s cases.Settlement) error {
	p := l.part(s.Part)
	switch {
	case p == nil:
		return refuse("part", "part %q is not registered for this candidate", s.Part)
	case p.status != cases.PartDisputed:
		return refuse("part", "part %q is not disputed (status %s)", s.Part, p.status)
	case !slices.Contains(p.info.Levels, s.Level):
		return refuse("level", "level must be one of %v", p.info.Levels)
	case s.Reason == "" || s.DecidedBy == "":
		return refuse("reason", "reason and decided_by are required")
	}
	return nil
}

// registerUpdates installs the Update handlers. Each validator refuses what
// does not fit the current state, so the caller learns at once; each handler
// stores the event through an activity before it answers.
func (l *lifecycle) registerUpdates(ctx workflow.Context) error {
	uctx := activityOptions(ctx, 5)
	handlers := []updateEntry{
		whenReady(l, cases.UpdateSubmitAnswerSheet, l.validateSheet, func(ctx workflow.Context, s cases.AnswerSheet) error {
			p := l.part(s.Part)
			p.status = cases.PartSubmitted // claimed: a second submission is refused from now on
			err := workflow.ExecuteActivity(withSummary(uctx, "store answer sheet of part "+s.Part), testDay.StoreAnswerSheet, activities.StoreAnswerSheetInput{RegistrationID: l.in.RegistrationID, Sheet: s}).Get(ctx, nil)
			if err != nil {
				p.status = cases.PartAwaiting
				return fmt.Errorf("store answer sheet: %w", err)
			}
			l.dirty = true
			return nil
		}),
		whenReady(l, cases.UpdateReportDiscrepancy, l.validateDiscrepancy, func(ctx workflow.Context, d cases.Discrepancy) error {
			if !d.SessionWide {
				err := workflow.ExecuteActivity(withSummary(uctx, "record discrepancy "+d.Kind), testDay.RecordDiscrepancy, activities.RecordDiscrepancyInput{RegistrationID: l.in.RegistrationID, Discrepancy: d}).Get(ctx, nil)
				if err != nil {
					return fmt.Errorf("record discrepancy: %w", err)
				}
			}
			l.applyDiscrepancy(ctx, d)
			l.dirty = true
			return nil
		}),
		whenReady(l, cases.UpdateReviewDecision, l.validateReview, func(ctx workflow.Context, d cases.ReviewDecision) error {
			p := l.part(d.Part)
			err := workflow.ExecuteActivity(withSummary(uctx, "record review decision on part "+d.Part), testDay.DecideReview, activities.DecideReviewInput{
				RegistrationID: l.in.RegistrationID, ReviewID: p.reviewID, Decision: d, DecidedAt: workflow.Now(ctx),
			}).Get(ctx, nil)
			if err != nil {
				return fmt.Errorf("record review decision: %w", err)
			}
			p.reasons, p.reviewID = nil, ""
			if d.Decision == cases.ReviewAnnul {
				p.status = cases.PartAnnulled
			} else {
				p.status = cases.PartDecided
			}
			l.dirty = true
			return nil
		}),
		whenReady(l, cases.UpdateAssessment, l.validateAssessment, func(ctx workflow.Context, a cases.Assessment) error {
			p := l.part(a.Part)
			err := workflow.ExecuteActivity(withSummary(uctx, "store "+a.Role+" assessment of part "+a.Part), testDay.StoreAssessment, activities.StoreAssessmentInput{RegistrationID: l.in.RegistrationID, Assessment: a, At: workflow.Now(ctx)}).Get(ctx, nil)
			if err != nil {
				return fmt.Errorf("store assessment: %w", err)
			}
			p.assessments[a.Role] = a
			if p.status == cases.PartAwaiting {
				p.status = cases.PartAssessing
			}
			l.dirty = true
			return nil
		}),
		whenReady(l, cases.UpdateSettleAssessment, l.validateSettlement, func(ctx workflow.Context, s cases.Settlement) error {
			if err := l.decideAssessed(activityOptions(ctx, 5), l.part(s.Part), s.Level, "case_handler", s.Reason); err != nil {
				return err
			}
			l.dirty = true
			return nil
		}),
		whenReady(l, cases.UpdateCheatingDecision, l.validateCheating, func(ctx workflow.Context, d cases.CheatingDecision) error {
			now := workflow.Now(ctx)
			if d.Decision == cases.CheatingFinal && d.QuarantineUntil == nil {
				until := now.Add(l.ctx.QuarantineDefault)
				d.QuarantineUntil = &until
			}
			err := workflow.ExecuteActivity(withSummary(uctx, "record cheating decision "+d.Decision), testDay.DecideCheating, activities.DecideCheatingInput{RegistrationID: l.in.RegistrationID, Decision: d, DecidedAt: now}).Get(ctx, nil)
			if err != nil {
				return fmt.Errorf("record cheating decision: %w", err)
			}
			l.cheatingDecided = true
			l.cheated = false
			if d.Decision == cases.CheatingFinal {
				for _, p := range l.parts {
					p.status, p.reasons, p.reviewID = cases.PartAnnulled, nil, ""
				}
			}
			l.dirty = true
			return nil
		}),
		whenReady(l, cases.UpdateReapplyKey, l.validateReapply, func(ctx workflow.Context, k cases.ReapplyKey) error {
			err := workflow.ExecuteActivity(withSummary(uctx, "re-apply key version "+fmt.Sprint(k.KeyVersion)+" to part "+k.Part), testDay.ReapplyKey, activities.ReapplyKeyInput{RegistrationID: l.in.RegistrationID, Key: k, At: workflow.Now(ctx)}).Get(ctx, nil)
			if err != nil {
				return fmt.Errorf("re-apply key: %w", err)
			}
			return nil
		}),
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.handler, updateOptions(h.name, h.valid)); err != nil {
			return fmt.Errorf("set update handler %s: %w", h.name, err)
		}
	}
	return nil
}

// whenReady wraps an Update: an Update that arrives while the workflow is
// still loading its registration is accepted, waits for the loading, and is
// then validated like any other; afterwards the validator refuses at once.
func whenReady[T any](l *lifecycle, name string, validate func(T) error, handle func(workflow.Context, T) error) updateEntry {
	handler := func(ctx workflow.Context, arg T) error {
		if err := workflow.Await(ctx, func() bool { return l.ctx != nil }); err != nil {
			return err
		}
		if err := validate(arg); err != nil {
			return temporal.NewApplicationError(err.Error(), "Refused")
		}
		return handle(ctx, arg)
	}
	validator := func(arg T) error {
		if l.ctx == nil {
			return nil
		}
		return validate(arg)
	}
	return updateEntry{name: name, handler: handler, valid: validator}
}

type updateEntry struct {
	name    string
	handler any
	valid   any
}

// applyDiscrepancy changes the parts a test centre's report concerns.
func (l *lifecycle) applyDiscrepancy(ctx workflow.Context, d cases.Discrepancy) {
	for _, p := range l.parts {
		if d.Part != "" && p.info.Name != d.Part {
			continue
		}
		switch d.Kind {
		case cases.DiscrepancyDidNotAttend, cases.DiscrepancyValidAbsence:
			if p.status == cases.PartAwaiting {
				p.status = cases.PartAbsent
			}
		case cases.DiscrepancyTechnicalProblem:
			// A machine-marked result that already stands but is not yet
			// released is held for review (T04). Opening the review is
			// retried until it opens: given up, the result would be
			// released unreviewed. (Retry options are not part of the
			// history, so this replays without a version.)
			if p.info.Automated && p.status == cases.PartDecided {
				if err := l.openReview(activityOptions(ctx, 0), p, []string{"technical_problem"}); err != nil {
					workflow.GetLogger(ctx).Error("review not opened", "part", p.info.Name, "error", err)
				}
			}
		case cases.DiscrepancyProvisionalCheating:
			l.cheated = true
			l.watchCheatingCase(ctx)
		}
	}
}

// RetentionStatus answers the retention query.
type RetentionStatus struct {
	Stage   cases.Stage            `json:"stage"`
	Done    []activities.Milestone `json:"done"`
	Pending []activities.Milestone `json:"pending"`
	Hold    string                 `json:"hold,omitempty"`
}

// CandidateRetention is the lifecycle's retention phase: one durable timer
// per milestone, a legal hold postpones a deletion and says so, each
// deletion is an idempotent activity, and after the final deletion the
// registration's closed histories are deleted. Its history stays small: it
// holds IDs, categories and dates only.
func CandidateRetention(ctx workflow.Context, plan activities.RetentionPlan) error {
	ms := append([]activities.Milestone(nil), plan.Milestones...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Due.Before(ms[j].Due) })
	st := RetentionStatus{Stage: cases.StageRetained, Pending: ms}
	if err := describedQuery(ctx, cases.QueryRetention, func() (RetentionStatus, error) { return st, nil }); err != nil {
		return err
	}
	// The lifecycle's status query goes on answering, with the stage history.
	trail := &stageTrail{stage: cases.StageRetained, stages: append([]cases.Stage(nil), plan.Stages...)}
	if err := describedQuery(ctx, cases.QueryStatus, func() (cases.LifecycleStatus, error) {
		return cases.LifecycleStatus{Stage: trail.stage, Since: trail.since, Stages: trail.stages}, nil
	}); err != nil {
		return err
	}
	var recheckAt time.Time
	trail.details = func() string { return retentionDetails(plan.RegistrationID, st, recheckAt) }
	trail.show(ctx)
	ctx = activityOptions(ctx, 0)
	// Appeals still arrive here: late ones a case handler accepted, and
	// appeals against decisions taken late. A changed or annulled result
	// is republished or withdrawn at once.
	var publishing int
	desk := &appealDesk{registrationID: plan.RegistrationID, ready: func() bool { return true }, closed: func(ctx workflow.Context, out cases.AppealOutcome) {
		if !out.ResultsChanged {
			return
		}
		publishing++
		defer func() { publishing-- }()
		// The activity retries until the registry answers; the publication key makes retries harmless.
		_ = workflow.ExecuteActivity(withSummary(activityOptions(ctx, 0), "republish after appeal"), publication.PublishResults, plan.RegistrationID).Get(ctx, nil)
	}}
	// Once the final deletion has begun, an appeal would be lodged against
	// data that is going: it is refused (the legal hold has let the
	// deletion go, so no appeal was open).
	finalDeletion := false
	desk.refusing = func() string {
		if finalDeletion {
			return "the registration's data is being deleted at the end of its retention period: no appeal can be lodged any more"
		}
		return ""
	}
	if err := desk.register(ctx); err != nil {
		return fmt.Errorf("set update handler %s: %w", cases.UpdateLodgeAppeal, err)
	}
	desk.changed = trail.show
	recheck := plan.HoldRecheck
	if recheck <= 0 {
		recheck = 24 * time.Hour
	}
	// A stage shown again (the next milestone's date) keeps the trail.
	setStage := func(stage cases.Stage, due *time.Time) error {
		st.Stage = stage
		return trail.move(ctx, stage, stageMove{attrs: deletionDue(due), again: true})
	}
	if len(ms) > 0 {
		if err := setStage(cases.StageRetained, &ms[0].Due); err != nil {
			return err
		}
	}
	for len(st.Pending) > 0 {
		m := st.Pending[0]
		if wait := m.Due.Sub(workflow.Now(ctx)); wait > 0 {
			if err := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{Summary: milestoneSummary("delete", m)}).Get(ctx, nil); err != nil {
				return err
			}
		}
		var hold activities.LegalHoldStatus
		if err := workflow.ExecuteActivity(withSummary(ctx, "legal hold on "+m.Category+"?"), retention.LegalHold, activities.LegalHoldInput{RegistrationID: plan.RegistrationID, Category: m.Category}).Get(ctx, &hold); err != nil {
			return fmt.Errorf("legal hold: %w", err)
		}
		if hold.Held {
			st.Hold = hold.Reason
			next := workflow.Now(ctx).Add(recheck)
			recheckAt = next
			if err := setStage(cases.StageDeletionOnHold, &next); err != nil {
				return err
			}
			if err := workflow.NewTimerWithOptions(ctx, recheck, workflow.TimerOptions{Summary: "legal hold on " + m.Category + ": check again at " + day(next)}).Get(ctx, nil); err != nil {
				return err
			}
			continue
		}
		st.Hold = ""
		if m.Category == string(policy.PersonalData) {
			finalDeletion = true
		}
		var res activities.DeletionResult
		if err := workflow.ExecuteActivity(withSummary(ctx, milestoneSummary("delete", m)), retention.DeleteCategory, activities.DeleteCategoryInput{RegistrationID: plan.RegistrationID, Category: m.Category, Due: m.Due}).Get(ctx, &res); err != nil {
			return fmt.Errorf("delete %s: %w", m.Category, err)
		}
		st.Done = append(st.Done, m)
		st.Pending = st.Pending[1:]
		var next *time.Time
		if len(st.Pending) > 0 {
			next = &st.Pending[0].Due
		}
		if err := setStage(cases.StageRetained, next); err != nil {
			return err
		}
	}
	if err := workflow.Await(ctx, func() bool {
		return desk.open == 0 && publishing == 0 && workflow.AllHandlersFinished(ctx)
	}); err != nil {
		return err
	}
	if err := workflow.ExecuteActivity(withSummary(ctx, "delete closed histories"), retention.DeleteClosedHistories, plan.RegistrationID).Get(ctx, nil); err != nil {
		return fmt.Errorf("delete closed histories: %w", err)
	}
	return setStage(cases.StageDeleted, nil)
}
