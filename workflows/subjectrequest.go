package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
)

type subjectRequest struct {
	in       cases.SubjectRequestInput
	trail    stageTrail
	due      time.Time
	verified bool
	decision *cases.RequestDecision
	lift     *cases.RequestDecision
	answered bool
	// liftAt is when a restriction being lifted ends (zero before).
	liftAt time.Time
	// closed: the final deletion deleted the person and the request with
	// them (UpdateCloseRequest); the workflow ends unanswered.
	closed bool
}

// errClosed refuses an Update to a request its person's deletion closed.
func errClosed() error {
	return refuse("request", "the request is closed: the person's data was deleted")
}

// validateClosure: only the final deletion closes a request, with its
// reason; a second closure (a retried deletion) is accepted and changes
// nothing.
func (r *subjectRequest) validateClosure(c cases.RequestClosure) error {
	if c.Reason != cases.ClosureDataDeleted {
		return refuse("reason", "reason must be %q", cases.ClosureDataDeleted)
	}
	return nil
}

func (r *subjectRequest) validateIdentity(c cases.IdentityCheck) error {
	switch {
	case r.closed:
		return errClosed()
	case r.verified:
		return refuse("identity", "identity: already confirmed")
	case c.VerifiedBy == "" || c.Evidence == "":
		return refuse("verified_by", "verified_by and evidence are required")
	}
	return nil
}

// validateExtension: an extension has a reason and is made while the first
// 30 days run, since the person must be told of it, and why, within them
// (T19). Validators do not run on replay, so this needs no version.
func (r *subjectRequest) validateExtension(ctx workflow.Context, e cases.Extension) error {
	switch {
	case r.closed:
		return errClosed()
	case r.answered:
		return refuse("until", "until: the request has been answered")
	case workflow.Now(ctx).After(r.in.DueAt):
		return refuse("until", "until: an extension must be made, and the person told why, within the first period (by %s)", r.in.DueAt.UTC().Format(time.RFC3339))
	case e.Reason == "":
		return refuse("reason", "reason: the person is told why; it is required")
	case !e.Until.After(r.due):
		return refuse("until", "until must be after the current due date %s", r.due.UTC().Format(time.RFC3339))
	case e.Until.After(r.in.MaxDueAt):
		return refuse("until", "until: at most two months beyond the first due date (%s)", r.in.MaxDueAt.UTC().Format(time.RFC3339))
	}
	return nil
}

func (r *subjectRequest) validateDecision(d cases.RequestDecision) error {
	allowed := map[string][]string{cases.RequestRectification: {"approved", "refused"}, cases.RequestObjection: {"upheld", "rejected"}}[r.in.Kind]
	switch {
	case r.closed:
		return errClosed()
	case allowed == nil:
		return refuse("decision", "decision: a %s request takes no decision", r.in.Kind)
	case !r.verified:
		return refuse("decision", "decision: the person's identity is not confirmed yet")
	case r.decision != nil:
		return refuse("decision", "decision: already decided")
	case !slices.Contains(allowed, d.Decision):
		return refuse("decision", "decision must be one of %v", allowed)
	case r.in.Kind == cases.RequestObjection && d.Decision == "upheld" && !policy.CanUpholdObjection(r.in.Purposes):
		return refuse("decision", "decision: an objection to %s cannot be upheld (policy.ObjectionRules: the law requires that processing while the registration stands); reject it with that reason", strings.Join(r.in.Purposes, ", "))
	case d.Reason == "" || d.DecidedBy == "":
		return refuse("reason", "reason and decided_by are required")
	}
	return nil
}

func (r *subjectRequest) validateLift(d cases.RequestDecision) error {
	switch {
	case r.closed:
		return errClosed()
	case r.in.Kind != cases.RequestRestriction || r.trail.stage != cases.StageRestricted:
		return refuse("decision", "decision: no restriction in force to lift")
	case r.lift != nil:
		return refuse("decision", "decision: the restriction is being lifted")
	case d.Reason == "" || d.DecidedBy == "":
		return refuse("reason", "reason and decided_by are required")
	}
	return nil
}

// SubjectRequest runs one data subject request: the identity is confirmed
// first; the request is due 30 days after receipt (extendable by up to two
// further months, within those 30 days, with a reason the person is told),
// case handlers are reminded before the due date, and the ReviewDue search
// attribute shows the due date. Access builds an encrypted export; rectification and
// objection wait for a case handler's decision; a rectification is
// republished to the Diploma Registry; a restriction stops publication until
// it is lifted, and the person is told before it is. A request whose person
// the final deletion deleted is closed by it (UpdateCloseRequest): whatever
// it waits for, it ends in RequestClosedDataDeleted, off the case handlers'
// lists.
func SubjectRequest(ctx workflow.Context, in cases.SubjectRequestInput) error {
	r := &subjectRequest{in: in, due: in.DueAt, verified: in.IdentityVerified}
	if err := r.handle(ctx); err != nil {
		return err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, cases.RequestKindKey.ValueSet(in.Kind)); err != nil {
		return err
	}
	workflow.Go(ctx, r.remind)
	return r.run(ctx)
}

// handle registers the status Query and the Updates.
func (r *subjectRequest) handle(ctx workflow.Context) error {
	r.trail.details = func() string { return requestDetails(r, r.liftAt) }
	if err := describedQuery(ctx, cases.QuerySubjectRequest, func() (cases.SubjectRequestStatus, error) {
		return cases.SubjectRequestStatus{Stage: r.trail.stage, Kind: r.in.Kind, DueAt: r.due, Stages: slices.Clone(r.trail.stages)}, nil
	}); err != nil {
		return err
	}
	handlers := []struct {
		name    string
		handler any
		valid   any
	}{
		{cases.UpdateVerifyIdentity, func(ctx workflow.Context, c cases.IdentityCheck) error {
			if err := r.step(activityOptions(ctx, 5), activities.RequestStepInput{Step: "verified", Evidence: &c}); err != nil {
				return err
			}
			r.verified = true
			r.trail.show(ctx)
			return nil
		}, r.validateIdentity},
		{cases.UpdateExtendRequest, func(ctx workflow.Context, e cases.Extension) error {
			if err := r.step(activityOptions(ctx, 5), activities.RequestStepInput{Step: "extended", Extension: &e}); err != nil {
				return err
			}
			r.due = e.Until
			r.trail.show(ctx)
			return workflow.UpsertTypedSearchAttributes(ctx, cases.ReviewDueKey.ValueSet(r.due))
		}, r.validateExtension},
		{cases.UpdateDecideRequest, func(ctx workflow.Context, d cases.RequestDecision) error {
			r.decision = &d
			r.trail.show(ctx)
			return nil
		}, r.validateDecision},
		{cases.UpdateLiftRestriction, func(ctx workflow.Context, d cases.RequestDecision) error {
			r.lift = &d
			r.trail.show(ctx)
			return nil
		}, r.validateLift},
		{cases.UpdateCloseRequest, func(ctx workflow.Context, _ cases.RequestClosure) error {
			if !r.closed {
				r.closed = true
				r.trail.show(ctx)
			}
			return nil
		}, r.validateClosure},
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.handler, updateOptions(h.name, h.valid)); err != nil {
			return fmt.Errorf("set update handler %s: %w", h.name, err)
		}
	}
	return nil
}

// step records a step of the request (RequestStepInput) through the
// SubjectRequestStep activity.
func (r *subjectRequest) step(ctx workflow.Context, s activities.RequestStepInput) error {
	s.RequestID, s.At = r.in.RequestID, workflow.Now(ctx)
	return workflow.ExecuteActivity(withSummary(ctx, "request step "+s.Step), subjectRequests.SubjectRequestStep, s).Get(ctx, nil)
}

// enter moves the request into a stage: the Stage search attribute, with
// ReviewPending and ReviewDue while it is unanswered. A move to the current
// stage does nothing.
func (r *subjectRequest) enter(ctx workflow.Context, stage cases.Stage) error {
	attrs := []temporal.SearchAttributeUpdate{cases.ReviewPendingKey.ValueSet(!r.answered)}
	if r.answered {
		attrs = append(attrs, cases.ReviewDueKey.ValueUnset())
	} else {
		attrs = append(attrs, cases.ReviewDueKey.ValueSet(r.due))
	}
	return r.trail.move(ctx, stage, stageMove{attrs: attrs})
}

// remind reminds case handlers before the due date, following extensions,
// until the request is answered.
func (r *subjectRequest) remind(ctx workflow.Context) {
	sent := map[time.Duration]bool{}
	for !r.answered && !r.closed {
		var next time.Time
		var which time.Duration
		for _, d := range r.in.Reminders {
			if at := r.due.Add(-d); !sent[d] && (next.IsZero() || at.Before(next)) {
				next, which = at, d
			}
		}
		if next.IsZero() {
			return
		}
		due := r.due
		wait := next.Sub(workflow.Now(ctx))
		if wait > 0 {
			if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: wait,
				TimerOptions: workflow.TimerOptions{Summary: "remind case handlers at " + day(next) + ", due " + day(due)}},
				func() bool { return r.answered || r.closed || !r.due.Equal(due) }); err != nil {
				return
			}
			if r.answered || r.closed || !r.due.Equal(due) {
				continue
			}
		}
		sent[which] = true
		_ = r.step(activityOptions(ctx, 0), activities.RequestStepInput{Step: "reminded"})
	}
}

// run takes the request from the identity check to its answer, and a
// restriction until it is lifted.
func (r *subjectRequest) run(ctx workflow.Context) error {
	in := r.in
	// Retried until they succeed: a step given up would fail the workflow
	// and leave the request unanswered for good. (Retry options are not in
	// the history, so this replays without a version.)
	actx := activityOptions(ctx, 0)
	if !r.verified {
		if err := r.enter(ctx, cases.StageAwaitingIdentity); err != nil {
			return err
		}
		if err := workflow.Await(ctx, func() bool { return r.verified || r.closed }); err != nil {
			return err
		}
		if r.closed {
			return r.close(ctx)
		}
	}
	if err := r.enter(ctx, cases.StageRequestInProgress); err != nil {
		return err
	}
	switch in.Kind {
	case cases.RequestAccess:
		if err := workflow.ExecuteActivity(withSummary(actx, "build the access export"), subjectRequests.BuildAccessExport, in.RequestID).Get(ctx, nil); err != nil {
			return fmt.Errorf("build access export: %w", err)
		}
	case cases.RequestRectification, cases.RequestObjection:
		if err := r.enter(ctx, cases.StageAwaitingDecision); err != nil {
			return err
		}
		if err := workflow.Await(ctx, func() bool { return r.decision != nil || r.closed }); err != nil {
			return err
		}
		if r.closed {
			return r.close(ctx)
		}
	case cases.RequestRestriction:
		if err := r.step(actx, activities.RequestStepInput{Step: "restricted"}); err != nil {
			return err
		}
	}
	if err := r.step(actx, activities.RequestStepInput{Step: "answered", Decision: r.decision}); err != nil {
		return err
	}
	r.answered = true
	if in.Kind == cases.RequestRectification && r.decision.Decision == "approved" {
		if err := workflow.ExecuteActivity(withSummary(actx, "republish after the rectification"), subjectRequests.RepublishCandidate, in.RequestID).Get(ctx, nil); err != nil {
			return fmt.Errorf("republish: %w", err)
		}
	}
	if in.Kind != cases.RequestRestriction {
		return r.finish(ctx)
	}
	// The restriction holds until a case handler lifts it; the person is
	// told first, and the restriction ends after the notice period.
	if err := r.enter(ctx, cases.StageRestricted); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool { return r.lift != nil || r.closed }); err != nil {
		return err
	}
	if r.closed {
		return r.close(ctx)
	}
	if err := r.step(actx, activities.RequestStepInput{Step: "lifting", Decision: r.lift}); err != nil {
		return err
	}
	r.liftAt = workflow.Now(ctx).Add(in.LiftNotice)
	r.trail.show(ctx)
	// The same timer command as a plain timer; a closure ends the wait.
	if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: in.LiftNotice,
		TimerOptions: workflow.TimerOptions{Summary: "lift the restriction at " + day(r.liftAt)}}, func() bool { return r.closed }); err != nil {
		return err
	}
	if r.closed {
		return r.close(ctx)
	}
	if err := r.step(actx, activities.RequestStepInput{Step: "lifted", Decision: r.lift}); err != nil {
		return err
	}
	if err := workflow.ExecuteActivity(withSummary(actx, "publish after the restriction"), subjectRequests.RepublishCandidate, in.RequestID).Get(ctx, nil); err != nil {
		return fmt.Errorf("publish after the restriction: %w", err)
	}
	return r.finish(ctx)
}

// finish shows the request answered and lets running Update handlers end.
// A request closed while its last steps ran (they recorded nothing) ends
// closed instead.
func (r *subjectRequest) finish(ctx workflow.Context) error {
	if r.closed {
		return r.close(ctx)
	}
	if err := r.enter(ctx, cases.StageRequestAnswered); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// close ends a request whose person the final deletion deleted: the
// RequestClosedDataDeleted stage, with ReviewPending false and ReviewDue
// unset, so it leaves the case handlers' lists; the reminders stop. Nothing
// is recorded: the request's rows went with the person.
func (r *subjectRequest) close(ctx workflow.Context) error {
	if err := r.trail.move(ctx, cases.StageRequestClosedDataDeleted, stageMove{attrs: []temporal.SearchAttributeUpdate{
		cases.ReviewPendingKey.ValueSet(false), cases.ReviewDueKey.ValueUnset()}}); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}
