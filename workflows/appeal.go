package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/appeals"
)

// Appeal names. The appeals system lodges an appeal with the lodge-appeal
// Update on the registration's workflow; each appeal is then a child
// workflow, CandidateAppeal, with workflow ID "appeal-<appeal id>", that
// takes its decisions as Updates.
const (
	AppealWorkflow = "CandidateAppeal"
	// UpdateLodgeAppeal lodges an appeal (AppealRequest → AppealRef).
	UpdateLodgeAppeal = "lodge-appeal"
	// UpdateAppealDecision is a decision by the test centre, the first
	// instance or the County Governor (AppealDecision → AppealOutcome).
	UpdateAppealDecision = "appeal-decision"
	// UpdateReassessment is the new independent assessment of a writing or
	// C1 appeal (Reassessment → AppealOutcome).
	UpdateReassessment = "reassessment"
	// QueryAppeal returns an AppealStatus.
	QueryAppeal = "appeal"

	ActivityAdmitAppeal  = "AdmitAppeal"
	ActivityDecideAppeal = "DecideAppeal"
)

// AppealKindKey is the appeal's kind on the appeal's workflow.
var AppealKindKey = temporal.NewSearchAttributeKeyKeyword("AppealKind")

// LateAcceptance is a case handler's acceptance of a late appeal.
type LateAcceptance struct {
	AcceptedBy string `json:"accepted_by"`
	Reason     string `json:"reason"`
}

// AppealRequest lodges an appeal. Grounds are the candidate's words: they
// travel in the encrypted Update payload and are stored sealed.
type AppealRequest struct {
	Kind    string `json:"kind"`
	Part    string `json:"part,omitempty"`
	Against string `json:"against,omitempty"`
	// ReceivedAt is when the appeal was received; the deadline counts it.
	// Empty means now.
	ReceivedAt     *time.Time      `json:"received_at,omitempty"`
	Grounds        string          `json:"grounds,omitempty"`
	LateAcceptance *LateAcceptance `json:"late_acceptance,omitempty"`
}

// AppealRef answers a lodged appeal.
type AppealRef struct {
	AppealID   string    `json:"appeal_id"`
	WorkflowID string    `json:"workflow_id"`
	Deadline   time.Time `json:"deadline"`
	Late       bool      `json:"late"`
	Stage      Stage     `json:"stage"`
}

// AdmitAppealInput asks the AdmitAppeal activity to check an appeal against
// the rules and store it.
type AdmitAppealInput struct {
	RegistrationID string        `json:"registration_id"`
	AppealID       string        `json:"appeal_id"`
	WorkflowID     string        `json:"workflow_id"`
	Request        AppealRequest `json:"request"`
	Now            time.Time     `json:"now"`
}

// AppealAdmission is an admitted appeal: no personal data.
type AppealAdmission struct {
	Kind          string    `json:"kind"`
	Part          string    `json:"part,omitempty"`
	Against       string    `json:"against,omitempty"`
	Deadline      time.Time `json:"deadline"`
	Late          bool      `json:"late"`
	FirstInstance string    `json:"first_instance"`
	Levels        []string  `json:"levels,omitempty"`
	TestType      string    `json:"test_type"`
}

// AppealInput is the appeal workflow's input.
type AppealInput struct {
	AppealID       string          `json:"appeal_id"`
	RegistrationID string          `json:"registration_id"`
	Admission      AppealAdmission `json:"admission"`
}

// AppealDecision is an instance's decision: upheld or rejected by the test
// centre or the County Governor; upheld or maintained by the first instance.
type AppealDecision struct {
	Instance  string `json:"instance"`
	Decision  string `json:"decision"`
	Reasons   string `json:"reasons"`
	DecidedBy string `json:"decided_by"`
}

// Reassessment is the new independent assessment of an appealed part.
type Reassessment struct {
	Assessor string `json:"assessor"`
	Level    string `json:"level"`
	Reasons  string `json:"reasons,omitempty"`
}

// DecideAppealInput records a decision and applies it.
type DecideAppealInput struct {
	AppealID       string          `json:"appeal_id"`
	RegistrationID string          `json:"registration_id"`
	Admission      AppealAdmission `json:"admission"`
	Decision       AppealDecision  `json:"decision"`
	Reassessment   *Reassessment   `json:"reassessment,omitempty"`
	At             time.Time       `json:"at"`
}

// AppealOutcome is what a decision did. The appeal workflow returns the
// last one to its parent.
type AppealOutcome struct {
	Status string `json:"status"`
	Closed bool   `json:"closed"`
	// ResultsChanged: a result changed or was annulled, so the publication
	// follows.
	ResultsChanged bool     `json:"results_changed"`
	AnnulledParts  []string `json:"annulled_parts,omitempty"`
	AnnulledAll    bool     `json:"annulled_all,omitempty"`
	Stage          Stage    `json:"stage"`
}

// AppealStatus answers the appeal query.
type AppealStatus struct {
	Stage  Stage   `json:"stage"`
	Kind   string  `json:"kind"`
	Stages []Stage `json:"stages"`
}

type appealRun struct {
	in       AppealInput
	stage    Stage
	stages   []Stage
	outcome  *AppealOutcome
	deciding bool
}

func firstAppealStage(firstInstance string) Stage {
	switch firstInstance {
	case appeals.InstanceTestCentre:
		return StageAppealAtTestCentre
	case appeals.InstanceReassessment:
		return StageAppealReassessment
	default:
		return StageAppealFirstInstance
	}
}

// instance is who decides in the current stage.
func (a *appealRun) instance() string {
	switch a.stage {
	case StageAppealAtTestCentre:
		return appeals.InstanceTestCentre
	case StageAppealReassessment:
		return appeals.InstanceReassessment
	case StageAppealFirstInstance:
		return appeals.InstanceFirstInstance
	case StageAppealCountyGovernor:
		return appeals.InstanceCountyGovernor
	}
	return ""
}

func (a *appealRun) validateDecision(d AppealDecision) error {
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

func (a *appealRun) validateReassessment(r Reassessment) error {
	switch {
	case a.outcome != nil && a.outcome.Closed:
		return refuse("decision", "decision: the appeal has been decided")
	case a.deciding:
		return refuse("decision", "decision: another decision is being recorded; try again")
	case a.stage != StageAppealReassessment:
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
func CandidateAppeal(ctx workflow.Context, in AppealInput) (AppealOutcome, error) {
	// The first stage is set before the Update handlers exist: an Update
	// buffered before the first workflow task is validated against it. The
	// parent starts the workflow with this Stage search attribute already.
	first := firstAppealStage(in.Admission.FirstInstance)
	a := &appealRun{in: in, stage: first, stages: []Stage{first}}
	if err := workflow.SetQueryHandler(ctx, QueryAppeal, func() (AppealStatus, error) {
		return AppealStatus{Stage: a.stage, Kind: in.Admission.Kind, Stages: slices.Clone(a.stages)}, nil
	}); err != nil {
		return AppealOutcome{}, fmt.Errorf("set query handler: %w", err)
	}
	uctx := activityOptions(ctx, 5)
	enter := func(ctx workflow.Context, stage Stage) error {
		if a.stage == stage {
			return nil
		}
		if err := workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(string(stage))); err != nil {
			return fmt.Errorf("upsert stage: %w", err)
		}
		a.stage = stage
		a.stages = append(a.stages, stage)
		return nil
	}
	decide := func(ctx workflow.Context, d AppealDecision, r *Reassessment) (AppealOutcome, error) {
		a.deciding = true
		defer func() { a.deciding = false }()
		var out AppealOutcome
		err := workflow.ExecuteActivity(uctx, ActivityDecideAppeal, DecideAppealInput{
			AppealID: in.AppealID, RegistrationID: in.RegistrationID, Admission: in.Admission, Decision: d, Reassessment: r, At: workflow.Now(ctx),
		}).Get(ctx, &out)
		if err != nil {
			return out, fmt.Errorf("record appeal decision: %w", err)
		}
		if err := enter(ctx, out.Stage); err != nil {
			return out, err
		}
		a.outcome = &out
		return out, nil
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAppealDecision, func(ctx workflow.Context, d AppealDecision) (AppealOutcome, error) {
		return decide(ctx, d, nil)
	}, workflow.UpdateHandlerOptions{Validator: a.validateDecision}); err != nil {
		return AppealOutcome{}, fmt.Errorf("set update handler: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateReassessment, func(ctx workflow.Context, r Reassessment) (AppealOutcome, error) {
		return decide(ctx, AppealDecision{Instance: appeals.InstanceReassessment, Decision: appeals.Reassessed, Reasons: r.Reasons, DecidedBy: r.Assessor}, &r)
	}, workflow.UpdateHandlerOptions{Validator: a.validateReassessment}); err != nil {
		return AppealOutcome{}, fmt.Errorf("set update handler: %w", err)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, StageKey.ValueSet(string(first))); err != nil {
		return AppealOutcome{}, fmt.Errorf("upsert stage: %w", err)
	}
	if err := workflow.Await(ctx, func() bool { return a.outcome != nil && a.outcome.Closed && !a.deciding }); err != nil {
		return AppealOutcome{}, err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return AppealOutcome{}, err
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
	closed func(ctx workflow.Context, out AppealOutcome)
	// refusing, when set, gives the reason the workflow takes no appeal
	// any more ("" while it does). It is checked by the Update's
	// validator only, so it never changes a recorded history.
	refusing func() string
}

func validateAppealRequest(r AppealRequest) error {
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
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateLodgeAppeal, func(ctx workflow.Context, req AppealRequest) (AppealRef, error) {
		if err := workflow.Await(ctx, d.ready); err != nil {
			return AppealRef{}, err
		}
		// The appeal's ID follows from the Update's ID, so the same
		// request sent twice is the same appeal.
		id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(d.registrationID+"/appeal/"+workflow.GetCurrentUpdateInfo(ctx).ID)).String()
		ref := AppealRef{AppealID: id, WorkflowID: AppealWorkflowID(id)}
		var adm AppealAdmission
		err := workflow.ExecuteActivity(activityOptions(ctx, 5), ActivityAdmitAppeal, AdmitAppealInput{
			RegistrationID: d.registrationID, AppealID: id, WorkflowID: ref.WorkflowID, Request: req, Now: workflow.Now(ctx),
		}).Get(ctx, &adm)
		if err != nil {
			return ref, err
		}
		ref.Deadline, ref.Late, ref.Stage = adm.Deadline, adm.Late, firstAppealStage(adm.FirstInstance)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            ref.WorkflowID,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				StageKey.ValueSet(string(ref.Stage)),
				AppealKindKey.ValueSet(adm.Kind),
				TestTypeKey.ValueSet(adm.TestType),
			),
		})
		child := workflow.ExecuteChildWorkflow(cctx, AppealWorkflow, AppealInput{AppealID: id, RegistrationID: d.registrationID, Admission: adm})
		if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			var started *temporal.ChildWorkflowExecutionAlreadyStartedError
			if errors.As(err, &started) {
				// Lodged by an earlier run of this workflow: it goes on by itself.
				return ref, nil
			}
			return ref, fmt.Errorf("start appeal workflow: %w", err)
		}
		d.open++
		workflow.Go(ctx, func(ctx workflow.Context) {
			var out AppealOutcome
			err := child.Get(ctx, &out)
			d.open--
			if err == nil && d.closed != nil {
				d.closed(ctx, out)
			}
		})
		return ref, nil
	}, workflow.UpdateHandlerOptions{Validator: func(req AppealRequest) error {
		if d.refusing != nil {
			if why := d.refusing(); why != "" {
				return errors.New(why)
			}
		}
		return validateAppealRequest(req)
	}})
}
