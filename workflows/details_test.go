package workflows

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/appeals"
	"github.com/examflow/examflow/cases"
)

// workflowMetadata reads what the Temporal UI shows on a workflow's page:
// the answer to the built-in query __temporal_workflow_metadata (current
// details and the descriptions of the Updates and Queries).
func workflowMetadata(t *testing.T, env *testsuite.TestWorkflowEnvironment) *sdkpb.WorkflowMetadata {
	t.Helper()
	v, err := env.QueryWorkflow("__temporal_workflow_metadata")
	if err != nil {
		t.Fatalf("metadata query: %v", err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatalf("decode metadata: %v", err)
	}
	return &md
}

// detailsProbe reads the current details at a time after the start and
// wants each of the strings in them.
type detailsProbe struct {
	at   time.Duration
	want []string
}

// sendUpdate sends an Update that must be accepted.
func sendUpdate(t *testing.T, env *testsuite.TestWorkflowEnvironment, at time.Duration, name string, arg any) {
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(name, name+at.String(), &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { t.Errorf("%s at %s refused: %v", name, at, err) }, OnComplete: func(any, error) {},
		}, arg)
	}, at)
}

// checkDetails fails unless the details name each wanted string and end
// with the line saying the Temporal UI changes nothing.
func checkDetails(t *testing.T, when, details string, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(details, w) {
			t.Errorf("%s: current details lack %q:\n%s", when, w, details)
		}
	}
	if !strings.HasSuffix(details, uiRefusal) {
		t.Errorf("%s: current details do not end with the refusal line:\n%s", when, details)
	}
}

// TestCurrentDetailsAtEachStage runs every workflow type through its
// stages and reads its current details back the way the Temporal UI does:
// the stage in words, what it waits for, who acts and through which API
// route, and the descriptions of its Updates and Queries.
func TestCurrentDetailsAtEachStage(t *testing.T) {
	start := time.Date(2027, 3, 15, 9, 0, 0, 0, time.UTC)
	registrationID := "00000000-0000-0000-0000-00000000000a"
	tests := []struct {
		name string
		// setup registers the fakes and sends the Updates; run starts the
		// workflow.
		setup  func(t *testing.T, env *testsuite.TestWorkflowEnvironment)
		run    func(env *testsuite.TestWorkflowEnvironment)
		probes []detailsProbe
		// cancelAt cancels a workflow that does not end by itself.
		cancelAt time.Duration
		// final is wanted in the details once the workflow has ended.
		final []string
		// updates and queries must be described.
		updates, queries []string
	}{
		{
			name: "CandidateLifecycle: review and examiners",
			setup: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				f := newFakes(reading, writing)
				f.hold["reading"] = []string{"technical_problem"}
				f.register(env)
				sendUpdate(t, env, time.Minute, cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3"))
				sendUpdate(t, env, 2*time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExaminer, Assessor: "e1", Level: "B1"})
				sendUpdate(t, env, time.Hour, cases.UpdateReviewDecision, cases.ReviewDecision{Part: "reading", Decision: cases.ReviewConfirm, DecidedBy: "ch-1"})
				sendUpdate(t, env, 3*time.Hour, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExternalExaminer, Assessor: "e2", Level: "B1"})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(CandidateLifecycle, cases.LifecycleInput{RegistrationID: registrationID})
			},
			probes: []detailsProbe{
				{30 * time.Second, []string{"**Registered**", "Part `reading`: waits for its answer sheet", "`integration`", "`POST /v1/registrations/{id}/answer-sheets`",
					"Part `writing`: waits for examiner assessments, 0 of 2 in", "`POST /v1/registrations/{id}/assessments`", registrationID}},
				{3 * time.Minute, []string{"**Held for review**", "held for review because a technical problem was reported: a case handler decides the review by 2027-03-25 09:01 UTC", "`case_handler`",
					"`POST /v1/registrations/{id}/review-decisions`", "examiner assessments, 1 of 2 in"}},
				{2 * time.Hour, []string{"**Tested**", "Part `reading`: decided.", "examiner assessments, 1 of 2 in"}},
				{4 * time.Hour, []string{"**Result released**", "Appeal window until 2027-04-05 12:00 UTC", "`appeals` or `case_handler`", "`POST /v1/registrations/{id}/appeals`"}},
			},
			cancelAt: 5 * time.Hour,
			updates: []string{cases.UpdateSubmitAnswerSheet, cases.UpdateReportDiscrepancy, cases.UpdateReviewDecision, cases.UpdateAssessment,
				cases.UpdateSettleAssessment, cases.UpdateCheatingDecision, cases.UpdateReapplyKey, cases.UpdateLodgeAppeal},
			queries: []string{cases.QueryStatus},
		},
		{
			name: "CandidateLifecycle: examiners disagree, cheating reported",
			setup: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				newFakes(writing).register(env)
				sendUpdate(t, env, time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExaminer, Assessor: "e1", Level: "B1"})
				sendUpdate(t, env, 2*time.Minute, cases.UpdateAssessment, cases.Assessment{Part: "writing", Role: cases.RoleExternalExaminer, Assessor: "e2", Level: "A2"})
				sendUpdate(t, env, 3*time.Minute, cases.UpdateReportDiscrepancy, cases.Discrepancy{Kind: cases.DiscrepancyProvisionalCheating})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(CandidateLifecycle, cases.LifecycleInput{RegistrationID: registrationID})
			},
			probes: []detailsProbe{
				{90 * time.Second, []string{"**Tested**", "examiner assessments, 1 of 2 in"}},
				{150 * time.Second, []string{"the examiners disagree", "role `third_examiner`", "`POST /v1/registrations/{id}/settlements`"}},
				{time.Hour, []string{"Provisional cheating reported", "`POST /v1/registrations/{id}/cheating-decisions`"}},
				{31 * 24 * time.Hour, []string{"It is escalated"}},
			},
			cancelAt: 32 * 24 * time.Hour,
		},
		{
			name: "CandidateRetention: milestones, a legal hold, deleted",
			setup: func(_ *testing.T, env *testsuite.TestWorkflowEnvironment) {
				holds := 1
				env.RegisterActivityWithOptions(func(_ context.Context, in activities.LegalHoldInput) (activities.LegalHoldStatus, error) {
					if in.Category == "cheating" && holds > 0 {
						holds--
						return activities.LegalHoldStatus{Held: true, Reason: "open cheating case"}, nil
					}
					return activities.LegalHoldStatus{}, nil
				}, activity.RegisterOptions{Name: "LegalHold"})
				env.RegisterActivityWithOptions(func(context.Context, activities.DeleteCategoryInput) (activities.DeletionResult, error) {
					return activities.DeletionResult{}, nil
				}, activity.RegisterOptions{Name: "DeleteCategory"})
				env.RegisterActivityWithOptions(func(context.Context, string) error { return nil }, activity.RegisterOptions{Name: "DeleteClosedHistories"})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(CandidateRetention, activities.RetentionPlan{RegistrationID: registrationID, HoldRecheck: 7 * 24 * time.Hour,
					Stages: []cases.Stage{cases.StageRegistered, cases.StageResult, cases.StagePublished},
					Milestones: []activities.Milestone{{Category: "personal_data", Due: start.AddDate(20, 0, 0)}, {Category: "address", Due: start.AddDate(2, 0, 0)},
						{Category: "cheating", Due: start.AddDate(3, 0, 0)}}})
			},
			probes: []detailsProbe{
				{time.Hour, []string{"**Retained**", "Next deletion: `address` at 2029-03-15 09:00 UTC", "Then: `cheating` at 2030-03-15 09:00 UTC", "0 categories deleted"}},
				{3*365*24*time.Hour + 2*24*time.Hour, []string{"**Deletion on hold**", "Legal hold on `cheating`", "open cheating case", "Checked again at 2030-03-22 09:00 UTC"}},
				{4 * 365 * 24 * time.Hour, []string{"**Retained**", "Next deletion: `personal_data` at 2047-03-15 09:00 UTC", "2 categories deleted"}},
			},
			final:   []string{"**Deleted**"},
			updates: []string{cases.UpdateLodgeAppeal},
			queries: []string{cases.QueryStatus, cases.QueryRetention},
		},
		{
			name: "CandidateAppeal: first instance, County Governor",
			setup: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				env.RegisterActivityWithOptions(fakeDecideAppeal, activity.RegisterOptions{Name: "DecideAppeal"})
				sendUpdate(t, env, time.Hour, cases.UpdateAppealDecision, cases.AppealDecision{Instance: appeals.InstanceFirstInstance, Decision: appeals.Maintained, Reasons: "r", DecidedBy: "ch"})
				sendUpdate(t, env, 3*time.Hour, cases.UpdateAppealDecision, cases.AppealDecision{Instance: appeals.InstanceCountyGovernor, Decision: appeals.Rejected, Reasons: "r", DecidedBy: "cg"})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(CandidateAppeal, AppealInput{AppealID: "00000000-0000-0000-0000-0000000000a1", RegistrationID: registrationID,
					Admission: activities.AppealAdmission{Kind: "decision_appeal", Against: "cheating", FirstInstance: appeals.InstanceFirstInstance,
						TestType: "citizenship", Deadline: start.AddDate(0, 0, 21)}})
			},
			probes: []detailsProbe{
				{30 * time.Minute, []string{"**Appeal at the first instance**", "instance `first_instance`", "`appeals` or `case_handler`",
					"`POST /v1/registrations/{id}/appeals/{appeal_id}/decisions`", "appeal deadline 2027-04-05 09:00 UTC"}},
				{2 * time.Hour, []string{"**Appeal at the County Governor**", "instance `county_governor`"}},
			},
			final:   []string{"**Appeal rejected**", "Closed"},
			updates: []string{cases.UpdateAppealDecision, cases.UpdateReassessment},
			queries: []string{cases.QueryAppeal},
		},
		{
			name: "CandidateAppeal: re-assessment",
			setup: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				env.RegisterActivityWithOptions(fakeDecideAppeal, activity.RegisterOptions{Name: "DecideAppeal"})
				sendUpdate(t, env, time.Hour, cases.UpdateReassessment, cases.Reassessment{Assessor: "e9", Level: "A2"})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(CandidateAppeal, AppealInput{AppealID: "00000000-0000-0000-0000-0000000000a2", RegistrationID: registrationID,
					Admission: activities.AppealAdmission{Kind: "writing_reassessment", Part: "writing", FirstInstance: appeals.InstanceReassessment,
						Levels: []string{"A1", "A2"}, TestType: "norwegian_a1_b2", Deadline: start}})
			},
			probes: []detailsProbe{
				{30 * time.Minute, []string{"**Appeal: re-assessment**", "part `writing`", "`examiner`", "`POST /v1/registrations/{id}/appeals/{appeal_id}/reassessments`"}},
			},
			final: []string{"**Appeal re-assessed**", "Closed"},
		},
		{
			name: "CourseRegistration: held, completed, surveyed, deleted",
			setup: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				env.RegisterActivityWithOptions(func(context.Context, activities.CourseStepInput) error { return nil }, activity.RegisterOptions{Name: "CourseStep"})
				env.RegisterActivityWithOptions(func(context.Context, string) error { return nil }, activity.RegisterOptions{Name: "IssueCourseCertificate"})
				env.RegisterActivityWithOptions(func(context.Context, activities.CourseNewsInput) error { return nil }, activity.RegisterOptions{Name: "SendCourseNews"})
				env.RegisterActivityWithOptions(func(context.Context, activities.DeleteParticipantInput) (cases.WithdrawalConfirmation, error) {
					return cases.WithdrawalConfirmation{}, nil
				}, activity.RegisterOptions{Name: "DeleteCourseParticipant"})
				sendUpdate(t, env, 9*24*time.Hour, cases.UpdateCompleteCourse, cases.Completion{CompletedBy: "admin-1"})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(CourseRegistrationFlow, cases.CourseInput{RegistrationID: registrationID, CourseType: "exam_preparation",
					EventEnds: start.AddDate(0, 0, 7), DeleteAt: start.AddDate(2, 0, 0), SurveyAfter: 14 * 24 * time.Hour, NewsEvery: 90 * 24 * time.Hour})
			},
			probes: []detailsProbe{
				{time.Hour, []string{"**Course registered**", "The event ends at 2027-03-22 09:00 UTC", "Everything is deleted at 2029-03-15 09:00 UTC",
					"`course_admin` or `integration`", "`POST /v1/course-registrations/{id}/withdrawal`"}},
				{8 * 24 * time.Hour, []string{"**Event held**", "`course_admin`", "`POST /v1/course-registrations/{id}/completion`"}},
				{10 * 24 * time.Hour, []string{"**Course completed**"}},
				{30 * 24 * time.Hour, []string{"**Survey invited**", "News of new `exam_preparation` courses"}},
			},
			final:   []string{"**Course data deleted**"},
			updates: []string{cases.UpdateCompleteCourse, cases.UpdateWithdrawConsent},
			queries: []string{cases.QueryCourse},
		},
		{
			name: "SubjectRequest: objection from identity to answer",
			setup: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				env.RegisterActivityWithOptions(func(context.Context, activities.RequestStepInput) error { return nil }, activity.RegisterOptions{Name: "SubjectRequestStep"})
				sendUpdate(t, env, 2*time.Hour, cases.UpdateVerifyIdentity, cases.IdentityCheck{VerifiedBy: "ch", Evidence: "passport"})
				sendUpdate(t, env, 4*time.Hour, cases.UpdateDecideRequest, cases.RequestDecision{Decision: "rejected", Reason: "required by law", DecidedBy: "ch"})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(SubjectRequest, cases.SubjectRequestInput{RequestID: "00000000-0000-0000-0000-0000000000b1", Kind: cases.RequestObjection,
					Purposes: []string{"arranging"}, DueAt: start.AddDate(0, 0, 30), MaxDueAt: start.AddDate(0, 2, 30)})
			},
			probes: []detailsProbe{
				{time.Hour, []string{"**Awaiting identity**", "kind `objection`", "`case_handler`", "`POST /v1/subject-requests/{id}/identity`", "Due 2027-04-14 09:00 UTC",
					"`POST /v1/subject-requests/{id}/extension`"}},
				{3 * time.Hour, []string{"**Awaiting decision**", "`POST /v1/subject-requests/{id}/decision`"}},
			},
			final:   []string{"**Answered**"},
			updates: []string{cases.UpdateVerifyIdentity, cases.UpdateExtendRequest, cases.UpdateDecideRequest, cases.UpdateLiftRestriction},
			queries: []string{cases.QuerySubjectRequest},
		},
		{
			name: "SubjectRequest: restriction lifted",
			setup: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				env.RegisterActivityWithOptions(func(context.Context, activities.RequestStepInput) error { return nil }, activity.RegisterOptions{Name: "SubjectRequestStep"})
				env.RegisterActivityWithOptions(func(context.Context, string) error { return nil }, activity.RegisterOptions{Name: "RepublishCandidate"})
				sendUpdate(t, env, 3*time.Hour, cases.UpdateLiftRestriction, cases.RequestDecision{Decision: "lift", Reason: "settled", DecidedBy: "ch"})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(SubjectRequest, cases.SubjectRequestInput{RequestID: "00000000-0000-0000-0000-0000000000b2", Kind: cases.RequestRestriction,
					IdentityVerified: true, DueAt: start.AddDate(0, 0, 30), MaxDueAt: start.AddDate(0, 2, 30), LiftNotice: 72 * time.Hour})
			},
			probes: []detailsProbe{
				{2 * time.Hour, []string{"**Restricted**", "`POST /v1/subject-requests/{id}/lift`"}},
				{4 * time.Hour, []string{"**Restricted**", "Being lifted", "the restriction ends at 2027-03-18 12:00 UTC"}},
			},
			final: []string{"**Answered**"},
		},
		{
			name: "SubjectRequest: rectification closed when its person is deleted",
			setup: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				env.RegisterActivityWithOptions(func(context.Context, activities.RequestStepInput) error { return nil }, activity.RegisterOptions{Name: "SubjectRequestStep"})
				sendUpdate(t, env, 2*time.Hour, cases.UpdateCloseRequest, cases.RequestClosure{Reason: cases.ClosureDataDeleted})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(SubjectRequest, cases.SubjectRequestInput{RequestID: "00000000-0000-0000-0000-0000000000b3", Kind: cases.RequestRectification,
					IdentityVerified: true, DueAt: start.AddDate(0, 0, 30), MaxDueAt: start.AddDate(0, 2, 30)})
			},
			probes: []detailsProbe{
				{time.Hour, []string{"**Awaiting decision**", "`POST /v1/subject-requests/{id}/decision`", "Due 2027-04-14 09:00 UTC"}},
			},
			final:   []string{"**Closed, data deleted**", "the final deletion deleted the person's data", "kind `rectification`", "Nothing to act on here."},
			updates: []string{cases.UpdateCloseRequest},
		},
		{
			name: "CandidateMerge",
			setup: func(_ *testing.T, env *testsuite.TestWorkflowEnvironment) {
				env.RegisterActivityWithOptions(func(context.Context, cases.MergeInput) (activities.PublishOutcome, error) {
					return activities.PublishOutcome{}, nil
				}, activity.RegisterOptions{Name: "SettleMergedPublication"})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(CandidateMerge, cases.MergeInput{MergeID: "m-1", SurvivorID: "c-1", MergedID: "c-2"})
			},
			final: []string{"**Settling the Diploma Registry publication**", "Merge `m-1`", "Nothing to act on"},
		},
		{
			name: "IdentifierCorrection",
			setup: func(_ *testing.T, env *testsuite.TestWorkflowEnvironment) {
				env.RegisterActivityWithOptions(func(context.Context, cases.MergeInput) (activities.PublishOutcome, error) {
					return activities.PublishOutcome{}, nil
				}, activity.RegisterOptions{Name: "SettleMergedPublication"})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(IdentifierCorrection, cases.CorrectionInput{CorrectionID: "k-1", CandidateID: "c-1"})
			},
			final: []string{"**Settling the Diploma Registry publication**", "Identifier correction `k-1`"},
		},
		{
			name: "MonthlyStatistics",
			setup: func(_ *testing.T, env *testsuite.TestWorkflowEnvironment) {
				env.RegisterActivityWithOptions(func(context.Context, string) (activities.StatisticsResult, error) {
					return activities.StatisticsResult{}, nil
				}, activity.RegisterOptions{Name: "MaterialiseStatistics"})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(MonthlyStatistics, cases.StatisticsRequest{})
			},
			final: []string{"**Monthly statistics**", "`2027-02`", "`GET /v1/statistics`"},
		},
		{
			name: "RetentionReconciliation",
			setup: func(_ *testing.T, env *testsuite.TestWorkflowEnvironment) {
				env.RegisterActivityWithOptions(func(context.Context) (activities.ReconcileResult, error) {
					return activities.ReconcileResult{}, nil
				}, activity.RegisterOptions{Name: "ReconcileRetention"})
			},
			run: func(env *testsuite.TestWorkflowEnvironment) {
				env.ExecuteWorkflow(RetentionReconciliation)
			},
			final: []string{"**Retention reconciliation**", "past its deletion deadline"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetStartTime(start)
			env.SetWorkflowRunTimeout(30 * 365 * 24 * time.Hour)
			tc.setup(t, env)
			var last *sdkpb.WorkflowMetadata
			for _, p := range tc.probes {
				env.RegisterDelayedCallback(func() {
					last = workflowMetadata(t, env)
					checkDetails(t, "after "+p.at.String(), last.GetCurrentDetails(), p.want)
				}, p.at)
			}
			if tc.cancelAt > 0 {
				env.RegisterDelayedCallback(env.CancelWorkflow, tc.cancelAt)
			}
			tc.run(env)
			if tc.cancelAt == 0 {
				if err := env.GetWorkflowError(); err != nil {
					t.Fatal(err)
				}
				last = workflowMetadata(t, env)
				checkDetails(t, "at the end", last.GetCurrentDetails(), tc.final)
			}
			if last == nil {
				t.Fatal("no metadata read")
			}
			described := map[string]string{}
			for _, d := range append(last.GetDefinition().GetUpdateDefinitions(), last.GetDefinition().GetQueryDefinitions()...) {
				described[d.GetName()] = d.GetDescription()
			}
			for _, name := range append(tc.updates, tc.queries...) {
				if described[name] == "" {
					t.Errorf("%s has no description in the workflow's metadata", name)
				}
			}
		})
	}
}

// TestDetailsHoldNoPersonalData builds the current details of every stage
// of every workflow from states that hold a person's data (an assessor's
// name and the level given, a case handler's reasons, who completed a
// course) and fails if any of it appears: the details go to Temporal's
// history and UI, which must hold IDs, statuses and dates only. The static
// summaries take no person's data at all.
func TestDetailsHoldNoPersonalData(t *testing.T) {
	personal := []string{"Kari Nordmann", "01017012345", "kari@example.no", "Storgata 1", "+4791234567", "B2"}
	for _, text := range everyDetailsText() {
		for _, p := range personal {
			if strings.Contains(text, p) {
				t.Errorf("%q appears in:\n%s", p, text)
			}
		}
	}
}

// TestDetailsNameRealRoutes: every route the details and descriptions name
// is one of the API's routes (api.Routes).
func TestDetailsNameRealRoutes(t *testing.T) {
	routes := map[string][]string{}
	for _, r := range api.Routes() {
		path := regexp.MustCompile(`:([a-z_]+)`).ReplaceAllString(r.Path, "{$1}")
		routes[r.Method+" "+path] = r.Roles
	}
	texts := everyDetailsText()
	for _, d := range handlerDescriptions {
		texts = append(texts, d)
	}
	named := 0
	for _, text := range texts {
		for _, m := range regexp.MustCompile("`((?:GET|POST|PUT) /[^`]+)`").FindAllStringSubmatch(text, -1) {
			named++
			if _, ok := routes[m[1]]; !ok {
				t.Errorf("%q is not an API route; in:\n%s", m[1], text)
			}
		}
	}
	if named < 20 {
		t.Fatalf("only %d routes named; the check would prove little", named)
	}
}

// everyDetailsText is the current details of every stage of every
// workflow, built from states that hold a person's data.
func everyDetailsText() []string {
	at := time.Date(2027, 3, 15, 9, 0, 0, 0, time.UTC)
	decision := &cases.RequestDecision{Decision: "approved", Reason: "new name Kari Nordmann, 01017012345, Storgata 1", DecidedBy: "kari@example.no"}
	assessed := map[string]cases.Assessment{
		cases.RoleExaminer:         {Part: "writing", Role: cases.RoleExaminer, Assessor: "Kari Nordmann", Level: "B2"},
		cases.RoleExternalExaminer: {Part: "writing", Role: cases.RoleExternalExaminer, Assessor: "+4791234567", Level: "B2"},
	}
	var texts []string
	for _, stage := range []cases.Stage{cases.StageRegistered, cases.StageTested, cases.StageUnderReview, cases.StageResult, cases.StageAbsent, cases.StageAnnulled, cases.StagePublished} {
		for _, status := range []string{cases.PartAwaiting, cases.PartAssessing, cases.PartDisputed, cases.PartHeld, cases.PartDecided} {
			l := &lifecycle{in: cases.LifecycleInput{RegistrationID: "00000000-0000-0000-0000-00000000000a"}, trail: stageTrail{stage: stage},
				ctx: &activities.RegistrationContext{}, cheated: true, status: cases.LifecycleStatus{CheatingEscalated: true},
				parts: []*partRun{{info: writing, status: status, reasons: []string{"Kari Nordmann"}, reviewDue: at, assessments: assessed}}}
			texts = append(texts, lifecycleDetails(l, at, 1))
		}
	}
	for _, stage := range []cases.Stage{cases.StageRetained, cases.StageDeletionOnHold, cases.StageDeleted} {
		texts = append(texts, retentionDetails("00000000-0000-0000-0000-00000000000a", RetentionStatus{Stage: stage, Hold: "open cheating case",
			Pending: []activities.Milestone{{Category: "address", Due: at}}}, at))
	}
	for stage := range appealHeadings {
		a := &appealRun{in: AppealInput{AppealID: "a-1", RegistrationID: "r-1", Admission: activities.AppealAdmission{Kind: "writing_reassessment", Part: "writing", Levels: []string{"B2"}}},
			trail: stageTrail{stage: stage}, outcome: &cases.AppealOutcome{Status: appeals.Upheld, Closed: stage == cases.StageAppealUpheld}}
		texts = append(texts, appealDetails(a))
	}
	for stage := range courseHeadings {
		r := &courseRegistration{in: cases.CourseInput{RegistrationID: "c-1", CourseType: "exam_preparation", NewsEvery: time.Hour},
			trail: stageTrail{stage: stage}, completed: &cases.Completion{CompletedBy: "Kari Nordmann"}}
		texts = append(texts, courseDetails(r))
	}
	for stage := range requestHeadings {
		for _, answered := range []bool{false, true} {
			r := &subjectRequest{in: cases.SubjectRequestInput{RequestID: "s-1", Kind: cases.RequestRestriction, Purposes: []string{"arranging"}},
				trail: stageTrail{stage: stage}, decision: decision, lift: decision, answered: answered}
			texts = append(texts, requestDetails(r, at))
		}
	}
	texts = append(texts, mergeDetails("Merge", "m-1"), statisticsDetails("2027-02"), reconciliationDetails())
	return append(texts, cases.LifecycleSummary("citizenship", "OSLO-VO", at), cases.AppealSummary("writing_reassessment", "writing", "norwegian_a1_b2"))
}
