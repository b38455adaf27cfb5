package workflows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

// fakeActivities stands in for the activities: it records every call and
// answers as a test tells it to.
type fakeActivities struct {
	mu        sync.Mutex
	calls     map[string]int
	stages    []cases.Stage
	hold      map[string][]string // part -> reasons MarkPart reports
	decisions []activities.DecideReviewInput
	decided   []activities.DecideAssessedPartInput
	parts     []activities.PartInfo
	cheating  []activities.DecideCheatingInput
	failStage int // fail RecordStage this many times first
	// failReview fails OpenReview this many times first.
	failReview int
	// unheld are the milestones PlanUnheldDeletions returns.
	unheld []activities.Milestone
	// deleted and escalated record DeleteCategory and
	// EscalateCheatingCase calls, at the test environment's clock.
	deleted   []deletionCall
	escalated []time.Time
	// escalateAfter is the RegistrationContext's CheatingEscalateAfter.
	escalateAfter time.Duration
}

// deletionCall is one DeleteCategory call and when it ran.
type deletionCall struct {
	in activities.DeleteCategoryInput
	at time.Time
}

func newFakes(parts ...activities.PartInfo) *fakeActivities {
	return &fakeActivities{calls: map[string]int{}, hold: map[string][]string{}, parts: parts}
}

func (f *fakeActivities) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func (f *fakeActivities) register(env *testsuite.TestWorkflowEnvironment) {
	rec := func(name string) {
		f.mu.Lock()
		f.calls[name]++
		f.mu.Unlock()
	}
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.RecordStageInput) error {
		rec("RecordStage")
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.failStage > 0 {
			f.failStage--
			return temporal.NewApplicationError("database down", "Unavailable")
		}
		f.stages = append(f.stages, in.Stage)
		return nil
	}, activity.RegisterOptions{Name: "RecordStage"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ string) (activities.RegistrationContext, error) {
		rec("LoadRegistration")
		f.mu.Lock()
		defer f.mu.Unlock()
		return activities.RegistrationContext{TestType: "norwegian_a1_b2", Parts: f.parts, ReviewDue: 240 * time.Hour, ReviewReminder: 120 * time.Hour,
			QuarantineDefault: 365 * 24 * time.Hour, FinalAfter: 21 * 24 * time.Hour, CheatingEscalateAfter: f.escalateAfter}, nil
	}, activity.RegisterOptions{Name: "LoadRegistration"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ activities.StoreAnswerSheetInput) error {
		rec("StoreAnswerSheet")
		return nil
	}, activity.RegisterOptions{Name: "StoreAnswerSheet"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ activities.RecordDiscrepancyInput) error {
		rec("RecordDiscrepancy")
		return nil
	}, activity.RegisterOptions{Name: "RecordDiscrepancy"})
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.MarkPartInput) (activities.MarkOutcome, error) {
		rec("MarkPart")
		f.mu.Lock()
		defer f.mu.Unlock()
		reasons := f.hold[in.Part]
		return activities.MarkOutcome{ResultID: uuid.NewString(), Hold: len(reasons) > 0, Reasons: reasons}, nil
	}, activity.RegisterOptions{Name: "MarkPart"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ activities.OpenReviewInput) (activities.ReviewRef, error) {
		rec("OpenReview")
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.failReview > 0 {
			f.failReview--
			return activities.ReviewRef{}, temporal.NewApplicationError("database down", "Unavailable")
		}
		return activities.ReviewRef{ReviewID: uuid.NewString()}, nil
	}, activity.RegisterOptions{Name: "OpenReview"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ activities.ReviewRef) error {
		rec("RemindReview")
		return nil
	}, activity.RegisterOptions{Name: "RemindReview"})
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.DecideReviewInput) error {
		rec("DecideReview")
		f.mu.Lock()
		f.decisions = append(f.decisions, in)
		f.mu.Unlock()
		return nil
	}, activity.RegisterOptions{Name: "DecideReview"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ activities.StoreAssessmentInput) error {
		rec("StoreAssessment")
		return nil
	}, activity.RegisterOptions{Name: "StoreAssessment"})
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.DecideAssessedPartInput) error {
		rec("DecideAssessedPart")
		f.mu.Lock()
		f.decided = append(f.decided, in)
		f.mu.Unlock()
		return nil
	}, activity.RegisterOptions{Name: "DecideAssessedPart"})
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.DecideCheatingInput) error {
		rec("DecideCheating")
		f.mu.Lock()
		f.cheating = append(f.cheating, in)
		f.mu.Unlock()
		return nil
	}, activity.RegisterOptions{Name: "DecideCheating"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ activities.ReapplyKeyInput) error {
		rec("ReapplyKey")
		return nil
	}, activity.RegisterOptions{Name: "ReapplyKey"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ string) (activities.PublishOutcome, error) {
		rec("PublishResults")
		return activities.PublishOutcome{Published: true, Parts: 1}, nil
	}, activity.RegisterOptions{Name: "PublishResults"})
	env.RegisterActivityWithOptions(func(_ context.Context, id string) (activities.RetentionPlan, error) {
		rec("PlanRetention")
		return activities.RetentionPlan{RegistrationID: id, Milestones: []activities.Milestone{{Category: "personal_data", Due: time.Date(2047, 3, 15, 0, 0, 0, 0, time.UTC)}}}, nil
	}, activity.RegisterOptions{Name: "PlanRetention"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ string) ([]activities.Milestone, error) {
		rec("PlanUnheldDeletions")
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Clone(f.unheld), nil
	}, activity.RegisterOptions{Name: "PlanUnheldDeletions"})
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.DeleteCategoryInput) (activities.DeletionResult, error) {
		rec("DeleteCategory")
		f.mu.Lock()
		defer f.mu.Unlock()
		f.deleted = append(f.deleted, deletionCall{in: in, at: env.Now()})
		return activities.DeletionResult{RowsDeleted: 1}, nil
	}, activity.RegisterOptions{Name: "DeleteCategory"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ activities.EscalateCheatingCaseInput) (bool, error) {
		rec("EscalateCheatingCase")
		f.mu.Lock()
		defer f.mu.Unlock()
		f.escalated = append(f.escalated, env.Now())
		return true, nil
	}, activity.RegisterOptions{Name: "EscalateCheatingCase"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ activities.ReleaseResultsInput) error {
		rec("ReleaseResults")
		return nil
	}, activity.RegisterOptions{Name: "ReleaseResults"})
}

var (
	reading = activities.PartInfo{Name: "reading", Automated: true, FormID: "form-r", ItemIDs: []string{"q1", "q2", "q3"}}
	writing = activities.PartInfo{Name: "writing", Levels: []string{"under_a1", "A1", "A2", "B1", "B2"}}
)

func sheet(items ...string) cases.AnswerSheet {
	s := cases.AnswerSheet{Part: "reading", FormID: "form-r", KeyVersion: 1, SubmittedAt: time.Date(2027, 3, 15, 10, 0, 0, 0, time.UTC)}
	for _, it := range items {
		s.Answers = append(s.Answers, cases.AnswerItem{Item: it, Choice: "a"})
	}
	return s
}

// step is one event sent to the workflow at a time, with whether the Update
// must be accepted.
type step struct {
	at     time.Duration
	update string
	arg    any
	accept bool
}

// run executes the lifecycle with the steps and returns the final status.
func run(t *testing.T, f *fakeActivities, steps []step) (cases.LifecycleStatus, *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f.register(env)
	for i, st := range steps {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(st.update, uuid.NewString(), &testsuite.TestUpdateCallback{
				OnAccept: func() {
					if !st.accept {
						t.Errorf("step %d (%s %+v) accepted, want refused", i, st.update, st.arg)
					}
				},
				OnReject: func(err error) {
					if st.accept {
						t.Errorf("step %d (%s %+v) refused: %v", i, st.update, st.arg, err)
					}
				},
				OnComplete: func(any, error) {},
			}, st.arg)
		}, st.at)
	}
	var status cases.LifecycleStatus
	last := time.Duration(0)
	if len(steps) > 0 {
		last = steps[len(steps)-1].at
	}
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(cases.QueryStatus)
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		if err := v.Get(&status); err != nil {
			t.Fatal(err)
		}
		env.CancelWorkflow()
	}, last+time.Hour)
	env.ExecuteWorkflow(CandidateLifecycle, cases.LifecycleInput{RegistrationID: uuid.NewString()})
	return status, env
}

func partStatus(st cases.LifecycleStatus, name string) string {
	for _, p := range st.Parts {
		if p.Name == name {
			return p.Status
		}
	}
	return ""
}

func TestLifecycleBranches(t *testing.T) {
	score := 2
	tests := []struct {
		name       string
		parts      []activities.PartInfo
		hold       map[string][]string
		steps      []step
		wantStage  cases.Stage
		wantStages []cases.Stage
		wantParts  map[string]string
		wantCalls  map[string]int
		checkFakes func(t *testing.T, f *fakeActivities)
		failReview int
	}{
		{
			name: "automated pass releases the result", parts: []activities.PartInfo{reading},
			steps:      []step{{time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"), true}},
			wantStage:  cases.StageResult,
			wantStages: []cases.Stage{cases.StageRegistered, cases.StageResult},
			wantParts:  map[string]string{"reading": cases.PartDecided},
			wantCalls:  map[string]int{"MarkPart": 1, "ReleaseResults": 1, "OpenReview": 0},
		},
		{
			name: "second submission, foreign items and wrong form are refused", parts: []activities.PartInfo{reading, writing},
			steps: []step{
				{time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q9"), false},
				{2 * time.Minute, cases.UpdateSubmitAnswerSheet, cases.AnswerSheet{Part: "reading", FormID: "other", KeyVersion: 1, SubmittedAt: time.Now(), Answers: []cases.AnswerItem{{Item: "q1", Choice: "a"}}}, false},
				{3 * time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q1"), false},
				{4 * time.Minute, cases.UpdateSubmitAnswerSheet, cases.AnswerSheet{Part: "writing", FormID: "x", KeyVersion: 1, SubmittedAt: time.Now(), Answers: []cases.AnswerItem{{Item: "q1", Choice: "a"}}}, false},
				{5 * time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2"), true},
				{6 * time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"), false},
			},
			wantStage: cases.StageTested,
			wantParts: map[string]string{"reading": cases.PartDecided, "writing": cases.PartAwaiting},
			wantCalls: map[string]int{"StoreAnswerSheet": 1, "MarkPart": 1, "ReleaseResults": 0},
		},
		{
			name: "suspected fault holds the result until a case handler corrects it", parts: []activities.PartInfo{reading},
			hold: map[string][]string{"reading": {"technical_problem"}},
			steps: []step{
				{time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"), true},
				{time.Hour, cases.UpdateReviewDecision, cases.ReviewDecision{Part: "reading", Decision: cases.ReviewCorrect, CorrectedScore: &score, DecidedBy: "ch-1"}, false}, // no reason
				{200 * time.Hour, cases.UpdateReviewDecision, cases.ReviewDecision{Part: "reading", Decision: cases.ReviewCorrect, CorrectedScore: &score, Reason: "key error on q2", DecidedBy: "ch-1"}, true},
			},
			wantStage:  cases.StageResult,
			wantStages: []cases.Stage{cases.StageRegistered, cases.StageUnderReview, cases.StageResult},
			wantCalls:  map[string]int{"OpenReview": 1, "RemindReview": 1, "DecideReview": 1, "ReleaseResults": 1},
			checkFakes: func(t *testing.T, f *fakeActivities) {
				if len(f.decisions) != 1 || f.decisions[0].Decision.Decision != cases.ReviewCorrect || *f.decisions[0].Decision.CorrectedScore != 2 {
					t.Fatalf("decisions = %+v", f.decisions)
				}
			},
		},
		{
			name: "annulled after review", parts: []activities.PartInfo{reading},
			hold: map[string][]string{"reading": {"outside_session_window"}},
			steps: []step{
				{time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"), true},
				{time.Hour, cases.UpdateReviewDecision, cases.ReviewDecision{Part: "reading", Decision: cases.ReviewAnnul, Reason: "new test offered", DecidedBy: "ch-1"}, true},
			},
			wantStage: cases.StageAnnulled,
			wantParts: map[string]string{"reading": cases.PartAnnulled},
			wantCalls: map[string]int{"ReleaseResults": 0, "RemindReview": 0},
		},
		{
			name: "technical problem reported after marking holds the unreleased result", parts: []activities.PartInfo{reading, writing},
			steps: []step{
				{time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"), true},
				{2 * time.Minute, cases.UpdateReportDiscrepancy, cases.Discrepancy{Kind: cases.DiscrepancyTechnicalProblem, Part: "reading"}, true},
			},
			wantStage: cases.StageUnderReview,
			wantParts: map[string]string{"reading": cases.PartHeld, "writing": cases.PartAwaiting},
			wantCalls: map[string]int{"RecordDiscrepancy": 1, "OpenReview": 1},
		},
		{
			// T04: a review that fails to open is retried until it opens;
			// the result is never released in the meantime.
			name: "technical problem holds the result even while the review fails to open", parts: []activities.PartInfo{reading, writing},
			failReview: 8,
			steps: []step{
				{time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"), true},
				{2 * time.Minute, cases.UpdateReportDiscrepancy, cases.Discrepancy{Kind: cases.DiscrepancyTechnicalProblem, Part: "reading"}, true},
			},
			wantStage: cases.StageUnderReview,
			wantParts: map[string]string{"reading": cases.PartHeld},
			wantCalls: map[string]int{"OpenReview": 9, "ReleaseResults": 0},
		},
		{
			name: "examiners agree", parts: []activities.PartInfo{writing},
			steps: []step{
				{time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExaminer, Assessor: "e1", Level: "B1"}, true},
				{2 * time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExaminer, Assessor: "e3", Level: "B1"}, false},         // role twice
				{3 * time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExternalExaminer, Assessor: "e1", Level: "B1"}, false}, // same person
				{4 * time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExternalExaminer, Assessor: "e2", Level: "C2"}, false}, // no such level
				{5 * time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExternalExaminer, Assessor: "e2", Level: "B1"}, true},
			},
			wantStage: cases.StageResult,
			wantCalls: map[string]int{"DecideAssessedPart": 1, "MarkPart": 0},
			checkFakes: func(t *testing.T, f *fakeActivities) {
				if len(f.decided) != 1 || f.decided[0].Level != "B1" || f.decided[0].DecidedBy != "examiners" {
					t.Fatalf("decided = %+v", f.decided)
				}
			},
		},
		{
			name: "examiners disagree and a third examiner settles", parts: []activities.PartInfo{writing},
			steps: []step{
				{time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleThirdExaminer, Assessor: "e3", Level: "B1"}, false}, // not disputed yet
				{2 * time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExaminer, Assessor: "e1", Level: "B1"}, true},
				{3 * time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExternalExaminer, Assessor: "e2", Level: "A2"}, true},
				{4 * time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleThirdExaminer, Assessor: "e1", Level: "B1"}, false}, // assessed before
				{5 * time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleThirdExaminer, Assessor: "e3", Level: "A2"}, true},
			},
			wantStage: cases.StageResult,
			checkFakes: func(t *testing.T, f *fakeActivities) {
				if len(f.decided) != 1 || f.decided[0].Level != "A2" {
					t.Fatalf("decided = %+v", f.decided)
				}
			},
		},
		{
			name: "examiners disagree and a case handler settles", parts: []activities.PartInfo{writing},
			steps: []step{
				{time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExaminer, Assessor: "e1", Level: "B2"}, true},
				{2 * time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExternalExaminer, Assessor: "e2", Level: "A2"}, true},
				{3 * time.Minute, cases.UpdateSettleAssessment, cases.Settlement{Part: "writing", Level: "B1", DecidedBy: "ch-1"}, false}, // no reason
				{4 * time.Minute, cases.UpdateSettleAssessment, cases.Settlement{Part: "writing", Level: "B1", Reason: "read both", DecidedBy: "ch-1"}, true},
			},
			wantStage: cases.StageResult,
			checkFakes: func(t *testing.T, f *fakeActivities) {
				if len(f.decided) != 1 || f.decided[0].Level != "B1" || f.decided[0].DecidedBy != "case_handler" {
					t.Fatalf("decided = %+v", f.decided)
				}
			},
		},
		{
			name: "did not attend", parts: []activities.PartInfo{reading, writing},
			steps:     []step{{time.Minute, cases.UpdateReportDiscrepancy, cases.Discrepancy{Kind: cases.DiscrepancyDidNotAttend}, true}},
			wantStage: cases.StageAbsent,
			wantCalls: map[string]int{"ReleaseResults": 0},
		},
		{
			name: "provisional cheating holds the release", parts: []activities.PartInfo{reading},
			steps: []step{
				{time.Minute, cases.UpdateReportDiscrepancy, cases.Discrepancy{Kind: cases.DiscrepancyProvisionalCheating}, true},
				{2 * time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"), true},
			},
			wantStage: cases.StageTested,
			wantParts: map[string]string{"reading": cases.PartDecided},
			wantCalls: map[string]int{"ReleaseResults": 0},
		},
		{
			name: "final cheating annuls every part and sets a one-year quarantine", parts: []activities.PartInfo{reading, writing},
			steps: []step{
				{time.Minute, cases.UpdateReportDiscrepancy, cases.Discrepancy{Kind: cases.DiscrepancyProvisionalCheating, Part: "writing"}, true},
				{2 * time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"), true},
				{3 * time.Minute, cases.UpdateCheatingDecision, cases.CheatingDecision{Decision: cases.CheatingFinal, DecidedBy: "ch-1"}, false}, // no reasons
				{4 * time.Minute, cases.UpdateCheatingDecision, cases.CheatingDecision{Decision: cases.CheatingFinal, Reasons: "phone", DecidedBy: "ch-1"}, true},
				{5 * time.Minute, cases.UpdateCheatingDecision, cases.CheatingDecision{Decision: cases.CheatingDismissed, Reasons: "x", DecidedBy: "ch-1"}, false}, // decided
			},
			wantStage: cases.StageAnnulled,
			wantParts: map[string]string{"reading": cases.PartAnnulled, "writing": cases.PartAnnulled},
			wantCalls: map[string]int{"DecideCheating": 1, "ReleaseResults": 0},
			checkFakes: func(t *testing.T, f *fakeActivities) {
				q := f.cheating[0].Decision.QuarantineUntil
				if q == nil || q.Sub(f.cheating[0].DecidedAt) != 365*24*time.Hour {
					t.Fatalf("quarantine = %v", q)
				}
			},
		},
		{
			name: "dismissed cheating case releases the result", parts: []activities.PartInfo{reading},
			steps: []step{
				{time.Minute, cases.UpdateCheatingDecision, cases.CheatingDecision{Decision: cases.CheatingDismissed, Reasons: "x", DecidedBy: "ch-1"}, false}, // nothing reported
				{2 * time.Minute, cases.UpdateReportDiscrepancy, cases.Discrepancy{Kind: cases.DiscrepancyProvisionalCheating}, true},
				{3 * time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"), true},
				{4 * time.Minute, cases.UpdateCheatingDecision, cases.CheatingDecision{Decision: cases.CheatingDismissed, Reasons: "no evidence", DecidedBy: "ch-1"}, true},
			},
			wantStage: cases.StageResult,
			wantCalls: map[string]int{"DecideCheating": 1, "ReleaseResults": 1},
		},
		{
			name: "final cheating found after the result", parts: []activities.PartInfo{reading},
			steps: []step{
				{time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"), true},
				{2 * time.Minute, cases.UpdateCheatingDecision, cases.CheatingDecision{Decision: cases.CheatingFinal, Reasons: "copied", DecidedBy: "ch-1",
					QuarantineUntil: ptr(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))}, false}, // quarantine in the past
				{3 * time.Minute, cases.UpdateCheatingDecision, cases.CheatingDecision{Decision: cases.CheatingFinal, Reasons: "copied", DecidedBy: "ch-1"}, true},
			},
			wantStage:  cases.StageAnnulled,
			wantStages: []cases.Stage{cases.StageRegistered, cases.StageResult, cases.StageAnnulled},
		},
		{
			name: "corrected key re-applied only to a decided part", parts: []activities.PartInfo{reading},
			steps: []step{
				{time.Minute, cases.UpdateReapplyKey, cases.ReapplyKey{Part: "reading", FormID: "form-r", KeyVersion: 2}, false}, // nothing marked
				{2 * time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"), true},
				{3 * time.Minute, cases.UpdateReapplyKey, cases.ReapplyKey{Part: "reading", FormID: "other", KeyVersion: 2}, false},
				{4 * time.Minute, cases.UpdateReapplyKey, cases.ReapplyKey{Part: "reading", FormID: "form-r", KeyVersion: 2}, true},
			},
			wantStage: cases.StageResult,
			wantCalls: map[string]int{"ReapplyKey": 1, "ReleaseResults": 1},
		},
		{
			name: "unknown discrepancy kind refused", parts: []activities.PartInfo{reading},
			steps:     []step{{time.Minute, cases.UpdateReportDiscrepancy, cases.Discrepancy{Kind: "late"}, false}},
			wantStage: cases.StageRegistered,
			wantCalls: map[string]int{"RecordDiscrepancy": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakes(tt.parts...)
			if tt.hold != nil {
				f.hold = tt.hold
			}
			f.failReview = tt.failReview
			st, _ := run(t, f, tt.steps)
			if st.Stage != tt.wantStage {
				t.Fatalf("stage = %s (%v), want %s", st.Stage, st.Stages, tt.wantStage)
			}
			if tt.wantStages != nil && !slices.Equal(st.Stages, tt.wantStages) {
				t.Fatalf("stages = %v, want %v", st.Stages, tt.wantStages)
			}
			if !slices.Equal(f.stages, st.Stages) {
				t.Fatalf("stages recorded in PostgreSQL %v, query %v", f.stages, st.Stages)
			}
			for part, want := range tt.wantParts {
				if got := partStatus(st, part); got != want {
					t.Fatalf("part %s = %s, want %s", part, got, want)
				}
			}
			for name, want := range tt.wantCalls {
				if got := f.count(name); got != want {
					t.Fatalf("%s ran %d times, want %d", name, got, want)
				}
			}
			if tt.checkFakes != nil {
				tt.checkFakes(t, f)
			}
		})
	}
}

func TestLifecycleReviewSearchAttributes(t *testing.T) {
	f := newFakes(reading)
	f.hold["reading"] = []string{"pass_rate_deviation"}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f.register(env)
	var sawPending bool
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(cases.UpdateSubmitAnswerSheet, "u1", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { t.Error(err) }, OnComplete: func(any, error) {}}, sheet("q1"))
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		v, _ := env.QueryWorkflow(cases.QueryStatus)
		var st cases.LifecycleStatus
		_ = v.Get(&st)
		if len(st.Parts) == 1 && st.Parts[0].Status == cases.PartHeld && st.Parts[0].ReviewDue != nil {
			sawPending = true
			want := st.Parts[0].ReviewDue.Sub(st.Since)
			if want < 239*time.Hour || want > 241*time.Hour {
				t.Errorf("review due %s after holding, want 240h", want)
			}
		}
		env.CancelWorkflow()
	}, time.Hour)
	env.ExecuteWorkflow(CandidateLifecycle, cases.LifecycleInput{RegistrationID: uuid.NewString()})
	if !sawPending {
		t.Fatal("the held part showed no review deadline")
	}
}

func TestLifecycleRejectsInputThatIsNotAUUID(t *testing.T) {
	tests := []struct{ name, id string }{
		{"empty", ""},
		{"a name", "Kari Nordmann"},
		{"an identity number", "12048510092"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.ExecuteWorkflow(CandidateLifecycle, cases.LifecycleInput{RegistrationID: tt.id})
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow should end at once")
			}
			err := env.GetWorkflowError()
			var appErr *temporal.ApplicationError
			if err == nil || !errors.As(err, &appErr) || appErr.Type() != "InvalidInput" || !appErr.NonRetryable() {
				t.Fatalf("error = %v, want non-retryable InvalidInput", err)
			}
		})
	}
}

func TestLifecycleRetriesRecordStage(t *testing.T) {
	f := newFakes(reading)
	f.failStage = 2
	st, _ := run(t, f, nil)
	if st.Stage != cases.StageRegistered || f.count("RecordStage") != 3 {
		t.Fatalf("stage %s after %d RecordStage calls; want Registered after 3 (two failures)", st.Stage, f.count("RecordStage"))
	}
}

// The workflow input must stay free of personal data: only the UUID.
func TestLifecycleInputCarriesOnlyTheRegistrationID(t *testing.T) {
	p, err := converter.GetDefaultDataConverter().ToPayload(cases.LifecycleInput{RegistrationID: "00000000-0000-0000-0000-000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(p.GetData()), `{"registration_id":"00000000-0000-0000-0000-000000000001"}`; got != want {
		t.Fatalf("payload = %s, want %s", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

// After the appeal window the lifecycle continues as new into its retention
// phase, carrying only the plan (IDs and dates) and its stage history.
func TestLifecycleContinuesIntoRetention(t *testing.T) {
	f := newFakes(reading)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f.register(env)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(cases.UpdateSubmitAnswerSheet, "u1", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { t.Error(err) }, OnComplete: func(any, error) {}}, sheet("q1", "q2", "q3"))
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		if f.count("PlanRetention") != 0 {
			t.Error("retention planned before the appeal window ended")
		}
	}, 20*24*time.Hour)
	env.ExecuteWorkflow(CandidateLifecycle, cases.LifecycleInput{RegistrationID: uuid.NewString()})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	if can.WorkflowType.Name != cases.RetentionWorkflow {
		t.Fatalf("continued as %s, want %s", can.WorkflowType.Name, cases.RetentionWorkflow)
	}
	var plan activities.RetentionPlan
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &plan); err != nil {
		t.Fatal(err)
	}
	if f.count("PublishResults") != 1 {
		t.Fatalf("published %d times, want once", f.count("PublishResults"))
	}
	if len(plan.Milestones) != 1 || !slices.Equal(plan.Stages, []cases.Stage{cases.StageRegistered, cases.StageResult, cases.StagePublished}) {
		t.Fatalf("plan = %+v", plan)
	}
}

// TestRetentionWalksTwentyYears runs the retention phase of a registration
// tested on 15 March 2027 through its milestones with time skipping:
// address after 2 years, cheating decisions 3 years after the decision (the
// first attempt held by an open case, so it waits), everything else after 20
// years, then the closed histories.
func TestRetentionWalksTwentyYears(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	start := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	env.SetWorkflowRunTimeout(30 * 365 * 24 * time.Hour)

	var mu sync.Mutex
	var deleted []string
	var deletedAt []time.Time
	holds := 1
	var historiesDeleted time.Time
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.LegalHoldInput) (activities.LegalHoldStatus, error) {
		mu.Lock()
		defer mu.Unlock()
		if in.Category == "cheating" && holds > 0 {
			holds--
			return activities.LegalHoldStatus{Held: true, Reason: "open cheating case"}, nil
		}
		return activities.LegalHoldStatus{}, nil
	}, activity.RegisterOptions{Name: "LegalHold"})
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.DeleteCategoryInput) (activities.DeletionResult, error) {
		mu.Lock()
		defer mu.Unlock()
		deleted = append(deleted, in.Category)
		deletedAt = append(deletedAt, env.Now())
		return activities.DeletionResult{RowsDeleted: 1, SubjectDeleted: in.Category == "personal_data"}, nil
	}, activity.RegisterOptions{Name: "DeleteCategory"})
	env.RegisterActivityWithOptions(func(_ context.Context, _ string) error {
		historiesDeleted = env.Now()
		return nil
	}, activity.RegisterOptions{Name: "DeleteClosedHistories"})

	address := time.Date(2029, 3, 15, 0, 0, 0, 0, time.UTC)
	cheating := time.Date(2030, 4, 1, 0, 0, 0, 0, time.UTC)
	final := time.Date(2047, 3, 15, 0, 0, 0, 0, time.UTC)
	plan := activities.RetentionPlan{RegistrationID: "00000000-0000-0000-0000-000000000001", HoldRecheck: 7 * 24 * time.Hour,
		Stages:     []cases.Stage{cases.StageRegistered, cases.StageResult},
		Milestones: []activities.Milestone{{Category: "personal_data", Due: final}, {Category: "address", Due: address}, {Category: "cheating", Due: cheating}}}

	// Between the milestones, the query shows what is done and pending.
	checks := []struct {
		at          time.Time
		wantStage   cases.Stage
		wantDone    int
		wantPending int
	}{
		{address.Add(-time.Hour), cases.StageRetained, 0, 3},
		{address.Add(time.Hour), cases.StageRetained, 1, 2},
		{cheating.Add(time.Hour), cases.StageDeletionOnHold, 1, 2},
		{cheating.Add(8 * 24 * time.Hour), cases.StageRetained, 2, 1},
		{final.Add(-time.Hour), cases.StageRetained, 2, 1},
	}
	for _, c := range checks {
		env.RegisterDelayedCallback(func() {
			v, err := env.QueryWorkflow(cases.QueryRetention)
			if err != nil {
				t.Errorf("query at %s: %v", c.at, err)
				return
			}
			var st RetentionStatus
			_ = v.Get(&st)
			if st.Stage != c.wantStage || len(st.Done) != c.wantDone || len(st.Pending) != c.wantPending {
				t.Errorf("at %s: %+v, want %s with %d done and %d pending", c.at.Format(time.DateOnly), st, c.wantStage, c.wantDone, c.wantPending)
			}
			if c.wantStage == cases.StageDeletionOnHold && st.Hold == "" {
				t.Errorf("at %s the hold does not say why", c.at)
			}
		}, c.at.Sub(start))
	}
	env.ExecuteWorkflow(CandidateRetention, plan)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deleted, []string{"address", "cheating", "personal_data"}) {
		t.Fatalf("deleted %v", deleted)
	}
	wantAt := []time.Time{address, cheating.Add(7 * 24 * time.Hour), final}
	for i, at := range deletedAt {
		if at.Before(wantAt[i]) || at.After(wantAt[i].Add(time.Hour)) {
			t.Errorf("%s deleted at %s, want %s", deleted[i], at, wantAt[i])
		}
	}
	if historiesDeleted.Before(final) {
		t.Fatalf("histories deleted at %s, before the final deletion", historiesDeleted)
	}
}

// TestNoAppealOnceTheFinalDeletionHasBegun: while the final deletion runs
// (held by nothing, so no appeal is open), an appeal lodged in the
// retention phase is refused with the reason, and nothing is admitted;
// the deletion and the history deletion go on.
func TestNoAppealOnceTheFinalDeletionHasBegun(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	start := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	final := start.Add(24 * time.Hour)
	env.RegisterActivityWithOptions(func(context.Context, activities.LegalHoldInput) (activities.LegalHoldStatus, error) {
		return activities.LegalHoldStatus{}, nil
	},
		activity.RegisterOptions{Name: "LegalHold"})
	env.RegisterActivityWithOptions(func(context.Context, activities.DeleteCategoryInput) (activities.DeletionResult, error) {
		return activities.DeletionResult{}, nil
	},
		activity.RegisterOptions{Name: "DeleteCategory"})
	env.RegisterActivityWithOptions(func(context.Context, string) error { return nil }, activity.RegisterOptions{Name: "DeleteClosedHistories"})
	env.RegisterActivityWithOptions(func(context.Context, activities.AdmitAppealInput) (activities.AppealAdmission, error) {
		t.Error("an appeal was admitted during the final deletion")
		return activities.AppealAdmission{}, nil
	}, activity.RegisterOptions{Name: "AdmitAppeal"})
	// The final deletion takes an hour of the workflow's clock.
	env.OnActivity("DeleteCategory", mock.Anything, mock.Anything).After(time.Hour).Return(activities.DeletionResult{RowsDeleted: 9, SubjectDeleted: true}, nil)

	var refused, historiesDeleted bool
	env.OnActivity("DeleteClosedHistories", mock.Anything, mock.Anything).Return(func(context.Context, string) error {
		historiesDeleted = true
		return nil
	})
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(cases.UpdateLodgeAppeal, "late-appeal", &testsuite.TestUpdateCallback{
			OnAccept: func() { t.Error("an appeal was accepted during the final deletion") },
			OnReject: func(err error) {
				refused = true
				if !strings.Contains(err.Error(), "being deleted") {
					t.Errorf("refused with %q, want the reason", err)
				}
			},
			OnComplete: func(any, error) {},
		}, cases.AppealRequest{Kind: "decision_appeal", Against: "cheating", Grounds: "late grounds"})
	}, final.Add(30*time.Minute).Sub(start))
	plan := activities.RetentionPlan{RegistrationID: "00000000-0000-0000-0000-000000000002", HoldRecheck: time.Hour,
		Milestones: []activities.Milestone{{Category: "personal_data", Due: final}}}
	env.ExecuteWorkflow(CandidateRetention, plan)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !refused {
		t.Error("the appeal lodged during the final deletion was not refused")
	}
	if !historiesDeleted {
		t.Error("the closed histories were not deleted")
	}
}
