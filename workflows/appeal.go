package workflows

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/appeals"
	"github.com/examflow/examflow/cases"
)

// AppealInput is the appeal workflow's input.
type AppealInput struct {
	AppealID       string                     `json:"appeal_id"`
	RegistrationID string                     `json:"registration_id"`
	Admission      activities.AppealAdmission `json:"admission"`
}

type appealRun struct {
	in       AppealInput
	trail    stageTrail
	outcome  *cases.AppealOutcome
	deciding bool
}

func firstAppealStage(firstInstance string) cases.Stage {
	switch firstInstance {
	case appeals.InstanceTestCentre:
		return cases.StageAppealAtTestCentre
	case appeals.InstanceReassessment:
		return cases.StageAppealReassessment
	default:
		return cases.StageAppealFirstInstance
	}
}

// instance is who decides in the current stage.
func (a *appealRun) instance() string {
	switch a.trail.stage {
	case cases.StageAppealAtTestCentre:
		return appeals.InstanceTestCentre
	case cases.StageAppealReassessment:
		return appeals.InstanceReassessment
	case cases.StageAppealFirstInstance:
		return appeals.InstanceFirstInstance
	case cases.StageAppealCountyGovernor:
		return appeals.InstanceCountyGovernor
	}
	return ""
}

func (a *appealRun) validateDecision(d cases.AppealDecision) error {
	want := a.instance()
	switch {
	case a.outcome != nil && a.outcome.Closed:
		return refuse("decision", "decision: the appeal has been decided")
	case a.deciding:
		return refuse("decision", "decision: another decision is being recorded; try again")
	case want == appeals.InstanceReassessment:
		return refuse("instance", "instance: this appeal is decided by a re-assessment, not by a decision")
	case d.Instance != want:
		return refuse("instance", "instance: the appeal is with the %s, not the %s", want, d.Instance)
	case d.Reasons == "" || d.DecidedBy == "":
		return refuse("reason", "reasons and decided_by are required")
	}
	allowed := []string{appeals.Upheld, appeals.Rejected}
	if want == appeals.InstanceFirstInstance {
		allowed = []string{appeals.Upheld, appeals.Maintained}
	}
	if !slices.Contains(allowed, d.Decision) {
		return refuse("decision", "decision: the %s decides %v", want, allowed)
	}
	return nil
}

func (a *appealRun) validateReassessment(r cases.Reassessment) error {
	switch {
	case a.outcome != nil && a.outcome.Closed:
		return refuse("decision", "decision: the appeal has been decided")
	case a.deciding:
		return refuse("decision", "decision: another decision is being recorded; try again")
	case a.trail.stage != cases.StageAppealReassessment:
		return refuse("kind", "kind: only a writing or C1 appeal is re-assessed")
	case r.Assessor == "":
		return refuse("assessor", "assessor is required")
	case !slices.Contains(a.in.Admission.Levels, r.Level):
		return refuse("level", "level must be one of %v", a.in.Admission.Levels)
	}
	return nil
}

// CandidateAppeal is one appeal: it waits for its instances' decisions,
// each an Update, records each through an activity that applies it, moves
// its own Stage, and returns the outcome to the registration's workflow.
func CandidateAppeal(ctx workflow.Context, in AppealInput) (cases.AppealOutcome, error) {
	// The first stage is set before the Update handlers exist: an Update
	// buffered before the first workflow task is validated against it. The
	// parent starts the workflow with this Stage search attribute already.
	first := firstAppealStage(in.Admission.FirstInstance)
	a := &appealRun{in: in, trail: stageTrail{stage: first, stages: []cases.Stage{first}}}
	a.trail.details = func() string { return appealDetails(a) }
	if err := describedQuery(ctx, cases.QueryAppeal, func() (cases.AppealStatus, error) {
		return cases.AppealStatus{Stage: a.trail.stage, Kind: in.Admission.Kind, Stages: slices.Clone(a.trail.stages)}, nil
	}); err != nil {
		return cases.AppealOutcome{}, err
	}
	uctx := activityOptions(ctx, 5)
	decide := func(ctx workflow.Context, d cases.AppealDecision, r *cases.Reassessment) (cases.AppealOutcome, error) {
		a.deciding = true
		a.trail.show(ctx)
		defer func() {
			a.deciding = false
			a.trail.show(ctx)
		}()
		var out cases.AppealOutcome
		err := workflow.ExecuteActivity(withSummary(uctx, "record the "+d.Instance+" decision: "+d.Decision), appealActivities.DecideAppeal, activities.DecideAppealInput{
			AppealID: in.AppealID, RegistrationID: in.RegistrationID, Admission: in.Admission, Decision: d, Reassessment: r, At: workflow.Now(ctx),
		}).Get(ctx, &out)
		if err != nil {
			return out, fmt.Errorf("record appeal decision: %w", err)
		}
		if err := a.trail.move(ctx, out.Stage, stageMove{}); err != nil {
			return out, err
		}
		a.outcome = &out
		return out, nil
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, cases.UpdateAppealDecision, func(ctx workflow.Context, d cases.AppealDecision) (cases.AppealOutcome, error) {
		return decide(ctx, d, nil)
	}, updateOptions(cases.UpdateAppealDecision, a.validateDecision)); err != nil {
		return cases.AppealOutcome{}, fmt.Errorf("set update handler: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, cases.UpdateReassessment, func(ctx workflow.Context, r cases.Reassessment) (cases.AppealOutcome, error) {
		return decide(ctx, cases.AppealDecision{Instance: appeals.InstanceReassessment, Decision: appeals.Reassessed, Reasons: r.Reasons, DecidedBy: r.Assessor}, &r)
	}, updateOptions(cases.UpdateReassessment, a.validateReassessment)); err != nil {
		return cases.AppealOutcome{}, fmt.Errorf("set update handler: %w", err)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, cases.StageKey.ValueSet(string(first))); err != nil {
		return cases.AppealOutcome{}, fmt.Errorf("upsert stage: %w", err)
	}
	a.trail.show(ctx)
	if err := workflow.Await(ctx, func() bool { return a.outcome != nil && a.outcome.Closed && !a.deciding }); err != nil {
		return cases.AppealOutcome{}, err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return cases.AppealOutcome{}, err
	}
	return *a.outcome, nil
}

// appealDesk lodges appeals for a registration's workflow (the lifecycle
// or its retention phase) and follows them to their end.
type appealDesk struct {
	registrationID string
	// ready reports whether the workflow can take an appeal yet.
	ready func() bool
	open  int
	// closed receives each finished appeal's outcome.
	closed func(ctx workflow.Context, out cases.AppealOutcome)
	// changed, when set, is called when an appeal opens or closes.
	changed func(ctx workflow.Context)
	// refusing, when set, gives the reason the workflow takes no appeal
	// any more ("" while it does). It is checked by the Update's
	// validator only, so it never changes a recorded history.
	refusing func() string
}

func validateAppealRequest(r cases.AppealRequest) error {
	switch {
	case r.Kind == "":
		return refuse("kind", "kind is required")
	case len(r.Grounds) > 10000:
		return refuse("grounds", "grounds must be at most 10000 characters")
	case r.LateAcceptance != nil && (r.LateAcceptance.AcceptedBy == "" || r.LateAcceptance.Reason == ""):
		return refuse("late_acceptance", "late_acceptance needs accepted_by and reason")
	}
	return nil
}

// register installs the lodge-appeal Update: the AdmitAppeal activity
// checks the rules and stores the appeal, then the appeal's own workflow
// starts as a child. The caller learns the appeal ID, the deadline and
// whether it was late; a refusal comes back with its reason.
func (d *appealDesk) register(ctx workflow.Context) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, cases.UpdateLodgeAppeal, func(ctx workflow.Context, req cases.AppealRequest) (cases.AppealRef, error) {
		if err := workflow.Await(ctx, d.ready); err != nil {
			return cases.AppealRef{}, err
		}
		// The appeal's ID follows from the Update's ID, so the same
		// request sent twice is the same appeal.
		id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(d.registrationID+"/appeal/"+workflow.GetCurrentUpdateInfo(ctx).ID)).String()
		ref := cases.AppealRef{AppealID: id, WorkflowID: cases.AppealWorkflowID(id)}
		var adm activities.AppealAdmission
		err := workflow.ExecuteActivity(withSummary(activityOptions(ctx, 5), "admit appeal "+id), appealActivities.AdmitAppeal, activities.AdmitAppealInput{
			RegistrationID: d.registrationID, AppealID: id, WorkflowID: ref.WorkflowID, Request: req, Now: workflow.Now(ctx),
		}).Get(ctx, &adm)
		if err != nil {
			return ref, err
		}
		ref.Deadline, ref.Late, ref.Stage = adm.Deadline, adm.Late, firstAppealStage(adm.FirstInstance)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            ref.WorkflowID,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			StaticSummary:         cases.AppealSummary(adm.Kind, adm.Part, adm.TestType),
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				cases.StageKey.ValueSet(string(ref.Stage)),
				cases.AppealKindKey.ValueSet(adm.Kind),
				cases.TestTypeKey.ValueSet(adm.TestType),
			),
		})
		child := workflow.ExecuteChildWorkflow(cctx, cases.AppealWorkflow, AppealInput{AppealID: id, RegistrationID: d.registrationID, Admission: adm})
		if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			var started *temporal.ChildWorkflowExecutionAlreadyStartedError
			if errors.As(err, &started) {
				// Lodged by an earlier run of this workflow: it goes on by itself.
				return ref, nil
			}
			return ref, fmt.Errorf("start appeal workflow: %w", err)
		}
		d.open++
		d.notify(ctx)
		workflow.Go(ctx, func(ctx workflow.Context) {
			var out cases.AppealOutcome
			err := child.Get(ctx, &out)
			d.open--
			d.notify(ctx)
			if err == nil && d.closed != nil {
				d.closed(ctx, out)
			}
		})
		return ref, nil
	}, updateOptions(cases.UpdateLodgeAppeal, func(req cases.AppealRequest) error {
		if d.refusing != nil {
			if why := d.refusing(); why != "" {
				return errors.New(why)
			}
		}
		return validateAppealRequest(req)
	}))
}

// notify tells the workflow an appeal opened or closed.
func (d *appealDesk) notify(ctx workflow.Context) {
	if d.changed != nil {
		d.changed(ctx)
	}
}
