package workflows

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

// TestSubjectRequestTimeline: with time skipping, a request waits for the
// identity; case handlers are reminded a week and a day before the due date
// (following an extension); a restriction is lifted only after the person
// was told, a notice period before.
func TestSubjectRequestTimeline(t *testing.T) {
	start := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	due := start.Add(30 * 24 * time.Hour)
	tests := []struct {
		name    string
		kind    string
		extend  *time.Time
		lift    bool
		verify  time.Duration // after the start
		want    []string
		wantRem []time.Time
	}{
		{name: "access, reminded twice", kind: cases.RequestAccess, verify: 35 * 24 * time.Hour, want: []string{"verified", "answered"},
			wantRem: []time.Time{due.Add(-7 * 24 * time.Hour), due.Add(-24 * time.Hour)}},
		{name: "extended: reminders follow the new date", kind: cases.RequestAccess, extend: ptr(due.Add(20 * 24 * time.Hour)), verify: 55 * 24 * time.Hour,
			want:    []string{"extended", "verified", "answered"},
			wantRem: []time.Time{due.Add(13 * 24 * time.Hour), due.Add(19 * 24 * time.Hour)}},
		{name: "restriction lifted after notice", kind: cases.RequestRestriction, lift: true, verify: 35 * 24 * time.Hour,
			want:    []string{"verified", "restricted", "answered", "lifting", "lifted"},
			wantRem: []time.Time{due.Add(-7 * 24 * time.Hour), due.Add(-24 * time.Hour)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetStartTime(start)
			var mu sync.Mutex
			var steps []string
			var reminded, liftingAt, liftedAt []time.Time
			env.RegisterActivityWithOptions(func(_ context.Context, in activities.RequestStepInput) error {
				mu.Lock()
				defer mu.Unlock()
				switch in.Step {
				case "reminded":
					reminded = append(reminded, env.Now())
				case "lifting":
					liftingAt = append(liftingAt, env.Now())
					steps = append(steps, in.Step)
				case "lifted":
					liftedAt = append(liftedAt, env.Now())
					steps = append(steps, in.Step)
				default:
					steps = append(steps, in.Step)
				}
				return nil
			}, activity.RegisterOptions{Name: "SubjectRequestStep"})
			env.RegisterActivityWithOptions(func(context.Context, string) error { return nil }, activity.RegisterOptions{Name: "BuildAccessExport"})
			env.RegisterActivityWithOptions(func(context.Context, string) error { return nil }, activity.RegisterOptions{Name: "RepublishCandidate"})
			accept := func(name string) *testsuite.TestUpdateCallback {
				return &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { t.Errorf("%s refused: %v", name, err) }, OnComplete: func(any, error) {}}
			}
			if tc.extend != nil {
				env.RegisterDelayedCallback(func() {
					env.UpdateWorkflow(cases.UpdateExtendRequest, "x1", &testsuite.TestUpdateCallback{OnAccept: func() { t.Error("an extension past two months was accepted") },
						OnReject: func(error) {}, OnComplete: func(any, error) {}}, cases.Extension{Until: due.AddDate(0, 2, 1), Reason: "too far"})
					env.UpdateWorkflow(cases.UpdateExtendRequest, "x2", accept("extension"), cases.Extension{Until: *tc.extend, Reason: "complex case"})
				}, 24*time.Hour)
			}
			// The identity is confirmed late, after the reminders.
			env.RegisterDelayedCallback(func() {
				env.UpdateWorkflow(cases.UpdateVerifyIdentity, "v1", accept("verify"), cases.IdentityCheck{VerifiedBy: "ch", Evidence: "passport"})
			}, tc.verify)
			if tc.lift {
				env.RegisterDelayedCallback(func() {
					env.UpdateWorkflow(cases.UpdateLiftRestriction, "l1", accept("lift"), cases.RequestDecision{Decision: "lift", Reason: "settled", DecidedBy: "ch"})
				}, 60*24*time.Hour)
			}
			in := cases.SubjectRequestInput{RequestID: "00000000-0000-0000-0000-000000000009", Kind: tc.kind, DueAt: due, MaxDueAt: due.AddDate(0, 2, 0),
				Reminders: []time.Duration{7 * 24 * time.Hour, 24 * time.Hour}, LiftNotice: 72 * time.Hour}
			env.ExecuteWorkflow(SubjectRequest, in)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(steps, tc.want) {
				t.Errorf("steps %v, want %v", steps, tc.want)
			}
			if !slices.EqualFunc(reminded, tc.wantRem, func(a, b time.Time) bool { return a.Equal(b) }) {
				t.Errorf("reminded at %v, want %v", reminded, tc.wantRem)
			}
			if tc.lift && (len(liftingAt) != 1 || len(liftedAt) != 1 || liftedAt[0].Sub(liftingAt[0]) != 72*time.Hour) {
				t.Errorf("told at %v, lifted at %v; want 72h between", liftingAt, liftedAt)
			}
		})
	}
}

// TestSubjectRequestExtendedOnlyWithinTheFirstThirtyDays (T19): the person
// must be told of an extension, and why, within the 30 days after receipt,
// so an extension asked for once the first due date has passed is refused
// naming until; one asked for in time is accepted.
func TestSubjectRequestExtendedOnlyWithinTheFirstThirtyDays(t *testing.T) {
	start := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	due := start.Add(30 * 24 * time.Hour)
	tests := []struct {
		name   string
		at     time.Duration // after receipt
		accept bool
	}{
		{name: "on day 29", at: 29 * 24 * time.Hour, accept: true},
		{name: "an hour before the due date", at: 30*24*time.Hour - time.Hour, accept: true},
		{name: "an hour after the due date", at: 30*24*time.Hour + time.Hour},
		{name: "on day 45", at: 45 * 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetStartTime(start)
			var steps []string
			env.RegisterActivityWithOptions(func(_ context.Context, in activities.RequestStepInput) error {
				steps = append(steps, in.Step)
				return nil
			}, activity.RegisterOptions{Name: "SubjectRequestStep"})
			env.RegisterActivityWithOptions(func(context.Context, string) error { return nil }, activity.RegisterOptions{Name: "BuildAccessExport"})
			var refusal error
			accepted := false
			env.RegisterDelayedCallback(func() {
				env.UpdateWorkflow(cases.UpdateExtendRequest, "x1", &testsuite.TestUpdateCallback{OnAccept: func() { accepted = true },
					OnReject: func(err error) { refusal = err }, OnComplete: func(any, error) {}},
					cases.Extension{Until: due.Add(20 * 24 * time.Hour), Reason: "numerous requests"})
			}, tc.at)
			env.RegisterDelayedCallback(func() {
				env.UpdateWorkflow(cases.UpdateVerifyIdentity, "v1", &testsuite.TestUpdateCallback{OnAccept: func() {},
					OnReject: func(err error) { t.Errorf("verify refused: %v", err) }, OnComplete: func(any, error) {}},
					cases.IdentityCheck{VerifiedBy: "ch", Evidence: "passport"})
			}, 50*24*time.Hour)
			env.ExecuteWorkflow(SubjectRequest, cases.SubjectRequestInput{RequestID: "00000000-0000-0000-0000-000000000009", Kind: cases.RequestAccess,
				DueAt: due, MaxDueAt: due.AddDate(0, 2, 0)})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if accepted != tc.accept {
				t.Fatalf("extension accepted %v, want %v (refusal: %v)", accepted, tc.accept, refusal)
			}
			if !tc.accept && (refusal == nil || !strings.HasPrefix(refusal.Error(), "until: ")) {
				t.Errorf("refusal %v does not name until", refusal)
			}
			if extended := slices.Contains(steps, "extended"); extended != tc.accept {
				t.Errorf("steps %v: extended recorded %v, want %v", steps, extended, tc.accept)
			}
		})
	}
}

// TestObjectionUpheldOnlyWhereItCanStopTheProcessing: an objection may be
// upheld only for purposes whose processing it can stop
// (policy.ObjectionRules); one that names a purpose the law requires is
// rejected, never upheld.
func TestObjectionUpheldOnlyWhereItCanStopTheProcessing(t *testing.T) {
	tests := []struct {
		purposes []string
		decision string
		ok       bool
	}{
		{[]string{"statistics"}, "upheld", true},
		{[]string{"research", "statistics"}, "upheld", true},
		{[]string{"statistics", "arrange_tests"}, "upheld", false},
		{[]string{"appeals"}, "upheld", false},
		{[]string{"appeals"}, "rejected", true},
		{nil, "upheld", false},
	}
	for _, tt := range tests {
		r := &subjectRequest{in: cases.SubjectRequestInput{Kind: cases.RequestObjection, Purposes: tt.purposes}, verified: true}
		err := r.validateDecision(cases.RequestDecision{Decision: tt.decision, Reason: "weighed", DecidedBy: "ch-1"})
		if (err == nil) != tt.ok {
			t.Errorf("%s for %v: %v, want accepted %v", tt.decision, tt.purposes, err, tt.ok)
		}
	}
}

// TestSubjectRequestAnsweredThroughAnOutage: the answer is recorded however
// long the database is down; the request is not lost after a few failed
// attempts (its workflow failing would leave it unanswered for good).
func TestSubjectRequestAnsweredThroughAnOutage(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var mu sync.Mutex
	// More failures than the five attempts the step once had; the test
	// suite stops an unlimited retry policy at ten attempts.
	failures := 9
	answered := false
	env.RegisterActivityWithOptions(func(_ context.Context, in activities.RequestStepInput) error {
		mu.Lock()
		defer mu.Unlock()
		if in.Step == "answered" {
			if failures > 0 {
				failures--
				return temporal.NewApplicationError("database down", "Unavailable")
			}
			answered = true
		}
		return nil
	}, activity.RegisterOptions{Name: "SubjectRequestStep"})
	env.RegisterActivityWithOptions(func(context.Context, string) error { return nil }, activity.RegisterOptions{Name: "BuildAccessExport"})
	due := time.Now().Add(30 * 24 * time.Hour)
	env.ExecuteWorkflow(SubjectRequest, cases.SubjectRequestInput{RequestID: "00000000-0000-0000-0000-00000000000a", Kind: cases.RequestAccess,
		DueAt: due, MaxDueAt: due.AddDate(0, 2, 0), IdentityVerified: true})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("the request's workflow failed: %v", err)
	}
	if !answered {
		t.Fatal("the request was not answered")
	}
}
