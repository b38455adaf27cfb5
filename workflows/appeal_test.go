package workflows

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/appeals"
	"github.com/examflow/examflow/cases"
)

// fakeDecideAppeal answers a decision the way the DecideAppeal activity
// does: the first instance's "maintained" goes on to the County Governor;
// everything else closes the appeal. An upheld formal-error complaint
// annuls the whole test.
func fakeDecideAppeal(_ context.Context, in activities.DecideAppealInput) (cases.AppealOutcome, error) {
	switch in.Decision.Decision {
	case appeals.Maintained:
		return cases.AppealOutcome{Status: "county_governor", Stage: cases.StageAppealCountyGovernor}, nil
	case appeals.Upheld:
		out := cases.AppealOutcome{Status: appeals.Upheld, Closed: true, Stage: cases.StageAppealUpheld}
		if in.Admission.Kind == string(appeals.FormalError) {
			out.ResultsChanged, out.AnnulledAll = true, true
		}
		return out, nil
	case appeals.Reassessed:
		return cases.AppealOutcome{Status: appeals.Reassessed, Closed: true, Stage: cases.StageAppealReassessed, ResultsChanged: true}, nil
	}
	return cases.AppealOutcome{Status: appeals.Rejected, Closed: true, Stage: cases.StageAppealRejected}, nil
}

func registerAppealFakes(env *testsuite.TestWorkflowEnvironment, adm activities.AppealAdmission) {
	env.RegisterWorkflowWithOptions(CandidateAppeal, workflow.RegisterOptions{Name: cases.AppealWorkflow})
	env.RegisterActivityWithOptions(func(_ context.Context, _ activities.AdmitAppealInput) (activities.AppealAdmission, error) {
		return adm, nil
	}, activity.RegisterOptions{Name: "AdmitAppeal"})
	env.RegisterActivityWithOptions(fakeDecideAppeal, activity.RegisterOptions{Name: "DecideAppeal"})
}

type appealStep struct {
	update string
	arg    any
	refuse bool // the validator must refuse it
}

// TestAppealRoutes walks each kind of appeal through its instances: the
// stage after each decision, decisions from the wrong instance refused, and
// the outcome the parent receives.
func TestAppealRoutes(t *testing.T) {
	decision := func(instance, d string) cases.AppealDecision {
		return cases.AppealDecision{Instance: instance, Decision: d, Reasons: "reasons", DecidedBy: "ch-1"}
	}
	tests := []struct {
		name   string
		adm    activities.AppealAdmission
		steps  []appealStep
		stages []cases.Stage
		status string
	}{
		{"formal error upheld by the test centre", activities.AppealAdmission{Kind: "formal_error", FirstInstance: appeals.InstanceTestCentre}, []appealStep{
			{cases.UpdateAppealDecision, decision(appeals.InstanceCountyGovernor, appeals.Upheld), true},
			{cases.UpdateAppealDecision, decision(appeals.InstanceTestCentre, appeals.Maintained), true},
			{cases.UpdateReassessment, cases.Reassessment{Assessor: "e9", Level: "A1"}, true},
			{cases.UpdateAppealDecision, decision(appeals.InstanceTestCentre, appeals.Upheld), false},
		}, []cases.Stage{cases.StageAppealAtTestCentre, cases.StageAppealUpheld}, appeals.Upheld},
		{"appeal against cheating to the County Governor", activities.AppealAdmission{Kind: "decision_appeal", Against: "cheating", FirstInstance: appeals.InstanceFirstInstance}, []appealStep{
			{cases.UpdateAppealDecision, decision(appeals.InstanceCountyGovernor, appeals.Rejected), true},
			{cases.UpdateAppealDecision, decision(appeals.InstanceFirstInstance, appeals.Rejected), true},
			{cases.UpdateAppealDecision, decision(appeals.InstanceFirstInstance, appeals.Maintained), false},
			{cases.UpdateAppealDecision, decision(appeals.InstanceFirstInstance, appeals.Upheld), true},
			{cases.UpdateAppealDecision, cases.AppealDecision{Instance: appeals.InstanceCountyGovernor, Decision: appeals.Rejected}, true},
			{cases.UpdateAppealDecision, decision(appeals.InstanceCountyGovernor, appeals.Rejected), false},
		}, []cases.Stage{cases.StageAppealFirstInstance, cases.StageAppealCountyGovernor, cases.StageAppealRejected}, appeals.Rejected},
		{"first instance upholds", activities.AppealAdmission{Kind: "decision_appeal", Against: "quarantine", FirstInstance: appeals.InstanceFirstInstance}, []appealStep{
			{cases.UpdateAppealDecision, decision(appeals.InstanceFirstInstance, appeals.Upheld), false},
		}, []cases.Stage{cases.StageAppealFirstInstance, cases.StageAppealUpheld}, appeals.Upheld},
		{"writing re-assessment", activities.AppealAdmission{Kind: "writing_reassessment", Part: "writing", FirstInstance: appeals.InstanceReassessment, Levels: []string{"A1", "A2", "B1"}}, []appealStep{
			{cases.UpdateAppealDecision, decision(appeals.InstanceTestCentre, appeals.Upheld), true},
			{cases.UpdateReassessment, cases.Reassessment{Assessor: "e9", Level: "C1"}, true},
			{cases.UpdateReassessment, cases.Reassessment{Level: "A2"}, true},
			{cases.UpdateReassessment, cases.Reassessment{Assessor: "e9", Level: "A2"}, false},
		}, []cases.Stage{cases.StageAppealReassessment, cases.StageAppealReassessed}, appeals.Reassessed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterActivityWithOptions(fakeDecideAppeal, activity.RegisterOptions{Name: "DecideAppeal"})
			for i, st := range tc.steps {
				env.RegisterDelayedCallback(func() {
					env.UpdateWorkflow(st.update, uuid.NewString(), &testsuite.TestUpdateCallback{
						OnAccept: func() {
							if st.refuse {
								t.Errorf("step %d (%+v) accepted, want refused", i, st.arg)
							}
						},
						OnReject: func(err error) {
							if !st.refuse {
								t.Errorf("step %d refused: %v", i, err)
							}
						},
						OnComplete: func(any, error) {},
					}, st.arg)
				}, time.Duration(i+1)*time.Hour)
			}
			env.ExecuteWorkflow(CandidateAppeal, AppealInput{AppealID: uuid.NewString(), RegistrationID: uuid.NewString(), Admission: tc.adm})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var out cases.AppealOutcome
			if err := env.GetWorkflowResult(&out); err != nil {
				t.Fatal(err)
			}
			v, err := env.QueryWorkflow(cases.QueryAppeal)
			if err != nil {
				t.Fatal(err)
			}
			var st cases.AppealStatus
			if err := v.Get(&st); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(st.Stages, tc.stages) || out.Status != tc.status || !out.Closed {
				t.Fatalf("stages %v outcome %+v; want %v and %s", st.Stages, out, tc.stages, tc.status)
			}
		})
	}
}

// TestOpenAppealKeepsTheResultFromBecomingFinal: an appeal lodged in the
// appeal window keeps the lifecycle from publishing and continuing into
// retention past the window, until the appeal's own workflow is decided;
// an upheld formal-error complaint then annuls the result, and only then
// is the publication made (a withdrawal, as nothing stands).
func TestOpenAppealKeepsTheResultFromBecomingFinal(t *testing.T) {
	f := newFakes(reading)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f.register(env)
	registerAppealFakes(env, activities.AppealAdmission{Kind: "formal_error", FirstInstance: appeals.InstanceTestCentre, TestType: "citizenship"})
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(cases.UpdateSubmitAnswerSheet, "u1", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { t.Error(err) }, OnComplete: func(any, error) {}}, sheet("q1", "q2", "q3"))
	}, time.Minute)
	var ref cases.AppealRef
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(cases.UpdateLodgeAppeal, "appeal-1", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { t.Error(err) },
			OnComplete: func(v any, err error) {
				if err != nil {
					t.Error(err)
					return
				}
				switch r := v.(type) {
				case cases.AppealRef:
					ref = r
				case *cases.AppealRef:
					ref = *r
				default:
					t.Errorf("lodge-appeal returned %T", v)
				}
			}}, cases.AppealRequest{Kind: "formal_error"})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		if ref.WorkflowID == "" || ref.Stage != cases.StageAppealAtTestCentre {
			t.Errorf("appeal ref %+v", ref)
		}
		if f.count("PlanRetention") != 0 || f.count("PublishResults") != 0 {
			t.Error("the result became final while an appeal was open")
		}
		err := env.UpdateWorkflowByID(ref.WorkflowID, cases.UpdateAppealDecision, "d1", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { t.Error(err) },
			OnComplete: func(any, error) {}}, cases.AppealDecision{Instance: appeals.InstanceTestCentre, Decision: appeals.Upheld, Reasons: "the machine froze", DecidedBy: "tc-1"})
		if err != nil {
			t.Error(err)
		}
	}, 40*24*time.Hour)
	env.ExecuteWorkflow(CandidateLifecycle, cases.LifecycleInput{RegistrationID: uuid.NewString()})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var plan activities.RetentionPlan
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &plan); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plan.Stages, []cases.Stage{cases.StageRegistered, cases.StageResult, cases.StageAnnulled, cases.StagePublished}) {
		t.Fatalf("stages %v", plan.Stages)
	}
	if f.count("PublishResults") != 1 {
		t.Fatalf("published %d times, want once", f.count("PublishResults"))
	}
}

// TestRetentionTakesALateAppealAndRepublishes: an appeal lodged after the
// lifecycle continued into retention (accepted late) runs as its own
// workflow there too; when it changes a result the publication follows at
// once, and the final deletion waits for it.
func TestRetentionTakesALateAppealAndRepublishes(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	start := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	registerAppealFakes(env, activities.AppealAdmission{Kind: "writing_reassessment", Part: "writing", FirstInstance: appeals.InstanceReassessment, Levels: []string{"A1", "A2", "B1"}, Late: true})
	var published []time.Time
	env.RegisterActivityWithOptions(func(_ context.Context, _ string) (activities.PublishOutcome, error) {
		published = append(published, env.Now())
		return activities.PublishOutcome{Published: true}, nil
	}, activity.RegisterOptions{Name: "PublishResults"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ activities.LegalHoldInput) (activities.LegalHoldStatus, error) {
		return activities.LegalHoldStatus{}, nil
	}, activity.RegisterOptions{Name: "LegalHold"})
	var deletedAt time.Time
	env.RegisterActivityWithOptions(func(_ context.Context, _ activities.DeleteCategoryInput) (activities.DeletionResult, error) {
		deletedAt = env.Now()
		return activities.DeletionResult{}, nil
	}, activity.RegisterOptions{Name: "DeleteCategory"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ string) error { return nil }, activity.RegisterOptions{Name: "DeleteClosedHistories"})

	var ref cases.AppealRef
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(cases.UpdateLodgeAppeal, "late-1", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { t.Error(err) },
			OnComplete: func(v any, err error) {
				if err != nil {
					t.Error(err)
					return
				}
				ref = v.(cases.AppealRef)
			}}, cases.AppealRequest{Kind: "writing_reassessment", LateAcceptance: &cases.LateAcceptance{AcceptedBy: "ch-1", Reason: "ill"}})
	}, time.Hour)
	env.RegisterDelayedCallback(func() {
		if err := env.UpdateWorkflowByID(ref.WorkflowID, cases.UpdateReassessment, "r1", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { t.Error(err) },
			OnComplete: func(any, error) {}}, cases.Reassessment{Assessor: "e9", Level: "A1"}); err != nil {
			t.Error(err)
		}
	}, 10*24*time.Hour)
	env.ExecuteWorkflow(CandidateRetention, activities.RetentionPlan{RegistrationID: "00000000-0000-0000-0000-000000000001",
		Milestones: []activities.Milestone{{Category: "personal_data", Due: start.Add(5 * 24 * time.Hour)}}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !ref.Late || len(published) != 1 || published[0].Before(start.Add(10*24*time.Hour)) {
		t.Fatalf("appeal %+v; published at %v, want once after the re-assessment", ref, published)
	}
	// The fake legal hold never holds, so the deletion ran on time; the
	// workflow itself ended only after the appeal and its publication.
	if deletedAt.IsZero() {
		t.Fatal("the milestone was not deleted")
	}
}
