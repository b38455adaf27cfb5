package workflows

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
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

// TestSubjectRequestClosedWhenItsPersonIsDeleted: whatever a request waits
// for when the final deletion deletes its person (the identity, a
// decision, a restriction's lift, the notice before a lift), the deletion's
// close-request Update ends it at once in RequestClosedDataDeleted, with
// ReviewPending false and ReviewDue unset (off the case handlers' lists),
// and nothing more is recorded or sent: no reminder, no lift, no
// republication. A second closure (a retried deletion) is accepted; one
// with another reason is refused.
func TestSubjectRequestClosedWhenItsPersonIsDeleted(t *testing.T) {
	start := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	due := start.Add(30 * 24 * time.Hour)
	day := 24 * time.Hour
	tests := []struct {
		name     string
		kind     string
		verified bool
		verify   time.Duration // a case handler confirms the identity then; zero: never
		lift     time.Duration // a case handler lifts the restriction then; zero: never
		closeAt  time.Duration
		from     cases.Stage // the stage the closure finds
		want     []string    // the steps recorded
	}{
		{name: "objection awaiting identity", kind: cases.RequestObjection, closeAt: 2 * day, from: cases.StageAwaitingIdentity},
		{name: "rectification awaiting a decision, overdue", kind: cases.RequestRectification, verify: time.Hour, closeAt: 40 * day,
			from: cases.StageAwaitingDecision, want: []string{"verified", "reminded", "reminded"}},
		{name: "restriction in force", kind: cases.RequestRestriction, verified: true, closeAt: 40 * day, from: cases.StageRestricted,
			want: []string{"restricted", "answered"}},
		{name: "restriction being lifted, within the notice", kind: cases.RequestRestriction, verified: true, lift: 40 * day, closeAt: 40*day + time.Hour,
			from: cases.StageRestricted, want: []string{"restricted", "answered", "lifting"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetStartTime(start)
			var mu sync.Mutex
			var steps []string
			env.RegisterActivityWithOptions(func(_ context.Context, in activities.RequestStepInput) error {
				mu.Lock()
				defer mu.Unlock()
				steps = append(steps, in.Step)
				return nil
			}, activity.RegisterOptions{Name: "SubjectRequestStep"})
			republished := 0
			env.RegisterActivityWithOptions(func(context.Context, string) error { republished++; return nil }, activity.RegisterOptions{Name: "RepublishCandidate"})
			// The last upsert: the Stage, ReviewPending and ReviewDue the
			// visibility store keeps once the workflow has ended.
			var stage, pending string
			var dueSet bool
			var closedAt time.Time
			env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
				sa := args.Get(0).(temporal.SearchAttributes)
				if v, ok := sa.GetKeyword(cases.StageKey); ok {
					stage = v
					if v == string(cases.StageRequestClosedDataDeleted) {
						closedAt = env.Now()
					}
				}
				if v, ok := sa.GetBool(cases.ReviewPendingKey); ok {
					pending = strconv.FormatBool(v)
				}
				// An unset key is in the upsert with no value, which only
				// its printed form shows.
				if sa.ContainsKey(cases.ReviewDueKey) {
					dueSet = true
				} else if strings.Contains(fmt.Sprintf("%+v", sa), "name:"+cases.ReviewDueKey.GetName()+" ") {
					dueSet = false
				}
			}).Return(nil)
			update := func(name string, arg any, accept bool) func() {
				return func() {
					env.UpdateWorkflow(name, uuid.NewString(), &testsuite.TestUpdateCallback{OnAccept: func() {
						if !accept {
							t.Errorf("%s %v accepted", name, arg)
						}
					}, OnReject: func(err error) {
						if accept {
							t.Errorf("%s refused: %v", name, err)
						}
					}, OnComplete: func(any, error) {}}, arg)
				}
			}
			if tc.verify > 0 {
				env.RegisterDelayedCallback(update(cases.UpdateVerifyIdentity, cases.IdentityCheck{VerifiedBy: "ch", Evidence: "passport"}, true), tc.verify)
			}
			if tc.lift > 0 {
				env.RegisterDelayedCallback(update(cases.UpdateLiftRestriction, cases.RequestDecision{Decision: "lift", Reason: "settled", DecidedBy: "ch"}, true), tc.lift)
			}
			env.RegisterDelayedCallback(func() {
				v, err := env.QueryWorkflow(cases.QuerySubjectRequest)
				var st cases.SubjectRequestStatus
				if err == nil {
					err = v.Get(&st)
				}
				if err != nil || st.Stage != tc.from {
					t.Errorf("before the closure: %+v %v, want stage %s", st, err, tc.from)
				}
				update(cases.UpdateCloseRequest, cases.RequestClosure{Reason: "the person asked"}, false)()
				update(cases.UpdateCloseRequest, cases.RequestClosure{Reason: cases.ClosureDataDeleted}, true)()
				update(cases.UpdateCloseRequest, cases.RequestClosure{Reason: cases.ClosureDataDeleted}, true)()
			}, tc.closeAt)
			env.ExecuteWorkflow(SubjectRequest, cases.SubjectRequestInput{RequestID: "00000000-0000-0000-0000-00000000000c", Kind: tc.kind,
				Purposes: []string{"research"}, IdentityVerified: tc.verified, DueAt: due, MaxDueAt: due.AddDate(0, 2, 0),
				Reminders: []time.Duration{7 * day, day}, LiftNotice: 72 * time.Hour})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(steps, tc.want) {
				t.Errorf("steps %v, want %v", steps, tc.want)
			}
			if republished != 0 {
				t.Errorf("republished %d times after the person was deleted", republished)
			}
			if stage != string(cases.StageRequestClosedDataDeleted) || pending != "false" || dueSet {
				t.Errorf("last shown: Stage %s, ReviewPending %s, ReviewDue set %v; want %s, false, unset", stage, pending, dueSet, cases.StageRequestClosedDataDeleted)
			}
			if !closedAt.Equal(start.Add(tc.closeAt)) {
				t.Errorf("closed at %s, want at once (%s)", closedAt, start.Add(tc.closeAt))
			}
			v, err := env.QueryWorkflow(cases.QuerySubjectRequest)
			var st cases.SubjectRequestStatus
			if err == nil {
				err = v.Get(&st)
			}
			if err != nil || st.Stage != cases.StageRequestClosedDataDeleted || st.Stages[len(st.Stages)-2] != tc.from {
				t.Errorf("status %+v %v, want %s after %s", st, err, cases.StageRequestClosedDataDeleted, tc.from)
			}
		})
	}
}
