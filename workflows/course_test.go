package workflows

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

// TestCourseRegistrationFlow: with time skipping, a completed participant
// gets the survey invitation after the delay and news while consent
// stands, and everything is deleted 24 months after registration; a
// withdrawal deletes everything at once and ends the workflow.
func TestCourseRegistrationFlow(t *testing.T) {
	start := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		withdrawAt time.Duration
		wantSteps  []string
		wantStages []cases.Stage
		wantReason string
		wantDelete time.Duration // after start
	}{
		{"completed, surveyed, deleted after 24 months", 0,
			[]string{"event_held", "completed", "certificate", "survey"},
			[]cases.Stage{cases.StageCourseRegistered, cases.StageEventHeld, cases.StageCourseCompleted, cases.StageSurveyInvited, cases.StageCourseDeleted},
			cases.CourseReasonRetentionEnded, start.AddDate(2, 0, 0).Sub(start)},
		{"consent withdrawn after the course", 40 * 24 * time.Hour,
			[]string{"event_held", "completed", "certificate", "survey"},
			[]cases.Stage{cases.StageCourseRegistered, cases.StageEventHeld, cases.StageCourseCompleted, cases.StageSurveyInvited, cases.StageConsentWithdrawn},
			cases.CourseReasonWithdrawn, 40 * 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetStartTime(start)
			var mu sync.Mutex
			var steps, reasons []string
			var news int
			var deletedAt time.Time
			env.RegisterActivityWithOptions(func(_ context.Context, in activities.CourseStepInput) error {
				mu.Lock()
				defer mu.Unlock()
				steps = append(steps, in.Step)
				return nil
			}, activity.RegisterOptions{Name: "CourseStep"})
			env.RegisterActivityWithOptions(func(context.Context, string) error {
				mu.Lock()
				defer mu.Unlock()
				steps = append(steps, "certificate")
				return nil
			}, activity.RegisterOptions{Name: "IssueCourseCertificate"})
			env.RegisterActivityWithOptions(func(context.Context, activities.CourseNewsInput) error {
				mu.Lock()
				defer mu.Unlock()
				news++
				return nil
			}, activity.RegisterOptions{Name: "SendCourseNews"})
			env.RegisterActivityWithOptions(func(_ context.Context, in activities.DeleteParticipantInput) (cases.WithdrawalConfirmation, error) {
				mu.Lock()
				defer mu.Unlock()
				reasons = append(reasons, in.Reason)
				deletedAt = env.Now()
				return cases.WithdrawalConfirmation{DeletedAt: env.Now(), RowsDeleted: 3}, nil
			}, activity.RegisterOptions{Name: "DeleteCourseParticipant"})
			env.RegisterDelayedCallback(func() {
				env.UpdateWorkflow(cases.UpdateCompleteCourse, "early", &testsuite.TestUpdateCallback{OnAccept: func() { t.Error("completed before the event") },
					OnReject: func(error) {}, OnComplete: func(any, error) {}}, cases.Completion{CompletedBy: "ca-1"})
			}, time.Hour)
			env.RegisterDelayedCallback(func() {
				env.UpdateWorkflow(cases.UpdateCompleteCourse, "c1", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { t.Error(err) },
					OnComplete: func(any, error) {}}, cases.Completion{CompletedBy: "ca-1"})
			}, 10*24*time.Hour)
			if tc.withdrawAt > 0 {
				env.RegisterDelayedCallback(func() {
					env.UpdateWorkflow(cases.UpdateWithdrawConsent, "w1", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { t.Error(err) },
						OnComplete: func(v any, err error) {
							if err != nil {
								t.Error(err)
							}
						}}, cases.Withdrawal{Via: "participant_link"})
				}, tc.withdrawAt)
			}
			env.ExecuteWorkflow(CourseRegistrationFlow, cases.CourseInput{RegistrationID: "00000000-0000-0000-0000-000000000007", CourseType: "customs_basics",
				EventEnds: start.Add(7 * 24 * time.Hour), DeleteAt: start.AddDate(2, 0, 0), SurveyAfter: 24 * time.Hour, NewsEvery: 30 * 24 * time.Hour})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			v, err := env.QueryWorkflow(cases.QueryCourse)
			if err != nil {
				t.Fatal(err)
			}
			var st cases.CourseStatus
			_ = v.Get(&st)
			if !slices.Equal(steps, tc.wantSteps) || !slices.Equal(st.Stages, tc.wantStages) || !slices.Equal(reasons, []string{tc.wantReason}) {
				t.Fatalf("steps %v stages %v deletions %v", steps, st.Stages, reasons)
			}
			if got := deletedAt.Sub(start); got != tc.wantDelete {
				t.Errorf("deleted %s after registration, want %s", got, tc.wantDelete)
			}
			if tc.withdrawAt == 0 && news < 20 {
				t.Errorf("%d news checks in two years, want about 23", news)
			}
		})
	}
}
