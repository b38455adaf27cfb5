package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

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
	if l.stage == cases.StageResult || l.stage == cases.StageAnnulled {
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
			err := workflow.ExecuteActivity(uctx, testDay.StoreAnswerSheet, activities.StoreAnswerSheetInput{RegistrationID: l.in.RegistrationID, Sheet: s}).Get(ctx, nil)
			if err != nil {
				p.status = cases.PartAwaiting
				return fmt.Errorf("store answer sheet: %w", err)
			}
			l.dirty = true
			return nil
		}),
		whenReady(l, cases.UpdateReportDiscrepancy, l.validateDiscrepancy, func(ctx workflow.Context, d cases.Discrepancy) error {
			if !d.SessionWide {
				err := workflow.ExecuteActivity(uctx, testDay.RecordDiscrepancy, activities.RecordDiscrepancyInput{RegistrationID: l.in.RegistrationID, Discrepancy: d}).Get(ctx, nil)
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
			err := workflow.ExecuteActivity(uctx, testDay.DecideReview, activities.DecideReviewInput{
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
			err := workflow.ExecuteActivity(uctx, testDay.StoreAssessment, activities.StoreAssessmentInput{RegistrationID: l.in.RegistrationID, Assessment: a, At: workflow.Now(ctx)}).Get(ctx, nil)
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
			err := workflow.ExecuteActivity(uctx, testDay.DecideCheating, activities.DecideCheatingInput{RegistrationID: l.in.RegistrationID, Decision: d, DecidedAt: now}).Get(ctx, nil)
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
			err := workflow.ExecuteActivity(uctx, testDay.ReapplyKey, activities.ReapplyKeyInput{RegistrationID: l.in.RegistrationID, Key: k, At: workflow.Now(ctx)}).Get(ctx, nil)
			if err != nil {
				return fmt.Errorf("re-apply key: %w", err)
			}
			return nil
		}),
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.handler, workflow.UpdateHandlerOptions{Validator: h.valid}); err != nil {
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
