package workflows

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
)

// escalationMark is one change of the CheatingEscalated search attribute.
type escalationMark struct {
	at    time.Time
	value bool
}

// TestOpenCheatingCaseHoldsNeitherAddressNorPaymentStatusAndIsEscalated
// runs a lifecycle whose provisional cheating case stays open with time
// skipping: the address and the payment status are deleted on their dates
// while the case is open (the lifecycle never reaches its retention phase),
// and the undecided case is escalated to case handlers after the
// configured time (the default when none is configured) and shown by the
// CheatingEscalated search attribute until it is decided. A case decided in
// time is not escalated.
func TestOpenCheatingCaseHoldsNeitherAddressNorPaymentStatusAndIsEscalated(t *testing.T) {
	start := time.Date(2027, 3, 15, 9, 0, 0, 0, time.UTC)
	address := time.Date(2029, 3, 15, 0, 0, 0, 0, time.UTC)
	payment := time.Date(2030, 3, 15, 0, 0, 0, 0, time.UTC)
	reported := start.Add(time.Hour)
	unheld := []activities.Milestone{{Category: "payment_status", Due: payment}, {Category: "address", Due: address}}
	day := 24 * time.Hour
	tests := []struct {
		name          string
		escalateAfter time.Duration
		// decideAt is when the case is decided (zero: never).
		decideAt time.Time
		checkAt  time.Time
		// wantDeleted are the categories deleted, in order, each at its date.
		wantDeleted []activities.Milestone
		// wantEscalatedAt is when the case is escalated (zero: never).
		wantEscalatedAt time.Time
		// wantMarks are the CheatingEscalated values set, in order.
		wantMarks      []bool
		wantStage      cases.Stage
		wantEscalation bool
	}{
		{
			name: "undecided for years, default escalation time", checkAt: payment.Add(day),
			wantDeleted: []activities.Milestone{{Category: "address", Due: address}, {Category: "payment_status", Due: payment}}, wantEscalatedAt: reported.Add(30 * day),
			wantMarks: []bool{true}, wantStage: cases.StageTested, wantEscalation: true,
		},
		{
			name: "undecided, escalated after the configured week", escalateAfter: 7 * day, checkAt: address.Add(day),
			wantDeleted: []activities.Milestone{{Category: "address", Due: address}}, wantEscalatedAt: reported.Add(7 * day),
			wantMarks: []bool{true}, wantStage: cases.StageTested, wantEscalation: true,
		},
		{
			name: "decided within the time, not escalated", escalateAfter: 7 * day, decideAt: reported.Add(5 * day), checkAt: reported.Add(8 * day),
			wantStage: cases.StageResult,
		},
		{
			name: "decided after its escalation, no longer shown as escalated", escalateAfter: 7 * day, decideAt: reported.Add(10 * day), checkAt: reported.Add(11 * day),
			wantEscalatedAt: reported.Add(7 * day), wantMarks: []bool{true, false}, wantStage: cases.StageResult,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakes(reading)
			f.unheld = unheld
			f.escalateAfter = tt.escalateAfter
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetStartTime(start)
			env.SetWorkflowRunTimeout(10 * 365 * day)
			f.register(env)
			var mu sync.Mutex
			var marks []escalationMark
			env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
				sa, ok := args.Get(0).(temporal.SearchAttributes)
				if !ok {
					t.Errorf("upsert of %T", args.Get(0))
					return
				}
				if v, ok := sa.GetBool(cases.CheatingEscalatedKey); ok {
					mu.Lock()
					marks = append(marks, escalationMark{env.Now(), v})
					mu.Unlock()
				}
			}).Return(nil)
			update := func(name string, arg any) {
				env.UpdateWorkflow(name, uuid.NewString(), &testsuite.TestUpdateCallback{
					OnAccept: func() {}, OnReject: func(err error) { t.Errorf("%s refused: %v", name, err) }, OnComplete: func(any, error) {},
				}, arg)
			}
			env.RegisterDelayedCallback(func() {
				update(cases.UpdateReportDiscrepancy, cases.Discrepancy{Kind: cases.DiscrepancyProvisionalCheating})
			}, reported.Sub(start))
			env.RegisterDelayedCallback(func() { update(cases.UpdateSubmitAnswerSheet, sheet("q1", "q2", "q3")) }, 2*time.Hour)
			if !tt.decideAt.IsZero() {
				env.RegisterDelayedCallback(func() {
					update(cases.UpdateCheatingDecision, cases.CheatingDecision{Decision: cases.CheatingDismissed, Reasons: "no evidence", DecidedBy: "ch-1"})
				}, tt.decideAt.Sub(start))
			}
			var st cases.LifecycleStatus
			env.RegisterDelayedCallback(func() {
				v, err := env.QueryWorkflow(cases.QueryStatus)
				if err != nil {
					t.Fatalf("query: %v", err)
				}
				if err := v.Get(&st); err != nil {
					t.Fatal(err)
				}
				env.CancelWorkflow()
			}, tt.checkAt.Sub(start))
			env.ExecuteWorkflow(CandidateLifecycle, cases.LifecycleInput{RegistrationID: uuid.NewString()})

			if st.Stage != tt.wantStage || st.CheatingEscalated != tt.wantEscalation {
				t.Errorf("status %s, escalated %v; want %s, escalated %v", st.Stage, st.CheatingEscalated, tt.wantStage, tt.wantEscalation)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.deleted) != len(tt.wantDeleted) {
				t.Fatalf("deleted %+v while the case was open, want %v", f.deleted, tt.wantDeleted)
			}
			for i, d := range f.deleted {
				want := tt.wantDeleted[i]
				if d.in.Category != want.Category || !d.in.Due.Equal(want.Due) || d.at.Before(want.Due) || d.at.After(want.Due.Add(time.Minute)) {
					t.Errorf("deletion %d: %s (due %s) at %s; want %s at %s", i, d.in.Category, d.in.Due, d.at, want.Category, want.Due)
				}
			}
			switch {
			case tt.wantEscalatedAt.IsZero() && len(f.escalated) != 0:
				t.Errorf("escalated at %v, want never", f.escalated)
			case !tt.wantEscalatedAt.IsZero() && (len(f.escalated) != 1 || f.escalated[0].Before(tt.wantEscalatedAt) || f.escalated[0].After(tt.wantEscalatedAt.Add(time.Minute))):
				t.Errorf("escalated at %v, want once at %s", f.escalated, tt.wantEscalatedAt)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(marks) != len(tt.wantMarks) {
				t.Fatalf("CheatingEscalated set %+v, want %v", marks, tt.wantMarks)
			}
			for i, m := range marks {
				if m.value != tt.wantMarks[i] || (i == 0 && m.at.Before(tt.wantEscalatedAt)) {
					t.Errorf("CheatingEscalated set to %v at %s, want %v (escalated at %s)", m.value, m.at, tt.wantMarks[i], tt.wantEscalatedAt)
				}
			}
			if f.calls["ReleaseResults"] != 0 && tt.decideAt.IsZero() {
				t.Error("results released while the cheating case was open")
			}
		})
	}
}
