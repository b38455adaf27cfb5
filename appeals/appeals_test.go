package appeals

import (
	"errors"
	"testing"
	"time"
)

var rules = Rules{
	FormalErrorWindow: 21 * 24 * time.Hour,
	WritingWindow:     21 * 24 * time.Hour,
	C1Window:          28 * 24 * time.Hour,
	DecisionWindow:    21 * 24 * time.Hour,
	LateLimit:         365 * 24 * time.Hour,
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr(t time.Time) *time.Time { return &t }

var levels = []string{"not_enough_basis", "under_a1", "A1", "A2", "B1", "B2"}

func norwegian() Facts {
	return Facts{TestType: "norwegian_a1_b2", TestDate: day("2026-03-02"), ResultAt: ptr(day("2026-03-20")), Parts: []Part{
		{Name: "reading", Result: "B1", Levels: levels},
		{Name: "writing", Examiner: true, Result: "B1", Levels: levels},
		{Name: "oral", Examiner: true, Result: "B2", Levels: levels},
	}}
}

// TestAdmit covers every kind's rule, its deadline, late appeals with and
// without a case handler's acceptance, and appeals lodged twice.
func TestAdmit(t *testing.T) {
	c1 := Facts{TestType: "norwegian_c1", TestDate: day("2026-03-02"), ResultAt: ptr(day("2026-03-20")), Parts: []Part{
		{Name: "listening_writing", Examiner: true, Result: "not_passed", Levels: []string{"not_passed", "C1"}},
	}}
	citizenship := Facts{TestType: "citizenship", TestDate: day("2026-03-02"), ResultAt: ptr(day("2026-03-05")),
		Parts: []Part{{Name: "test", Result: "failed"}}}
	cheated := citizenship
	cheated.CheatingFinalAt, cheated.QuarantineActive = ptr(day("2026-04-01")), true
	rejected := citizenship
	rejected.ComplaintRejectedAt = ptr(day("2026-03-10"))
	rejected.Lodged = []Lodged{{Kind: FormalError}}
	reassessed := norwegian()
	reassessed.Lodged = []Lodged{{Kind: WritingReassessment, Part: "writing"}}
	untilResult := rules
	untilResult.FormalErrorUntilResult = true

	tests := []struct {
		name      string
		rules     Rules
		facts     Facts
		req       Request
		field     string // refused on this field; "" = admitted
		deadline  string
		late      bool
		firstInst string
	}{
		{"formal error within three weeks of the test", rules, citizenship, Request{Kind: FormalError, ReceivedAt: day("2026-03-23")}, "", "2026-03-24", false, InstanceTestCentre},
		{"formal error late", rules, citizenship, Request{Kind: FormalError, ReceivedAt: day("2026-03-25")}, "received_at", "", false, ""},
		{"formal error late, accepted by a case handler", rules, citizenship, Request{Kind: FormalError, ReceivedAt: day("2026-03-25"), LateAcceptedBy: "ch-1", LateReason: "ill"}, "", "2026-03-24", true, InstanceTestCentre},
		{"late acceptance needs a reason", rules, citizenship, Request{Kind: FormalError, ReceivedAt: day("2026-03-25"), LateAcceptedBy: "ch-1"}, "late_acceptance.reason", "", false, ""},
		{"never more than a year late", rules, citizenship, Request{Kind: FormalError, ReceivedAt: day("2027-03-05"), LateAcceptedBy: "ch-1", LateReason: "x"}, "late_acceptance", "", false, ""},
		{"formal error once the result is known (configured)", untilResult, citizenship, Request{Kind: FormalError, ReceivedAt: day("2026-03-06")}, "received_at", "", false, ""},
		{"formal error about an unknown part", rules, citizenship, Request{Kind: FormalError, Part: "oral", ReceivedAt: day("2026-03-03")}, "part", "", false, ""},
		{"before the test", rules, citizenship, Request{Kind: FormalError, ReceivedAt: day("2026-03-01")}, "received_at", "", false, ""},
		{"writing re-assessment", rules, norwegian(), Request{Kind: WritingReassessment, ReceivedAt: day("2026-04-10")}, "", "2026-04-10", false, InstanceReassessment},
		{"writing re-assessment late", rules, norwegian(), Request{Kind: WritingReassessment, ReceivedAt: day("2026-04-11")}, "received_at", "", false, ""},
		{"reading cannot be appealed", rules, norwegian(), Request{Kind: WritingReassessment, Part: "reading", ReceivedAt: day("2026-03-21")}, "part", "", false, ""},
		{"oral cannot be appealed", rules, norwegian(), Request{Kind: WritingReassessment, Part: "oral", ReceivedAt: day("2026-03-21")}, "part", "", false, ""},
		{"citizenship result cannot be appealed", rules, citizenship, Request{Kind: WritingReassessment, ReceivedAt: day("2026-03-06")}, "kind", "", false, ""},
		{"the re-assessment is final", rules, reassessed, Request{Kind: WritingReassessment, ReceivedAt: day("2026-03-21")}, "kind", "", false, ""},
		{"no result released yet", rules, Facts{TestType: "norwegian_a1_b2", TestDate: day("2026-03-02"), Parts: norwegian().Parts}, Request{Kind: WritingReassessment, ReceivedAt: day("2026-03-03")}, "part", "", false, ""},
		{"C1 appeal within four weeks", rules, c1, Request{Kind: C1Appeal, Part: "listening_writing", ReceivedAt: day("2026-04-16")}, "", "2026-04-17", false, InstanceReassessment},
		{"C1 appeal for an A1-B2 test", rules, norwegian(), Request{Kind: C1Appeal, Part: "writing", ReceivedAt: day("2026-03-21")}, "kind", "", false, ""},
		{"appeal against final cheating", rules, cheated, Request{Kind: DecisionAppeal, Against: AgainstCheating, ReceivedAt: day("2026-04-20")}, "", "2026-04-22", false, InstanceFirstInstance},
		{"appeal against the quarantine", rules, cheated, Request{Kind: DecisionAppeal, Against: AgainstQuarantine, ReceivedAt: day("2026-04-20")}, "", "2026-04-22", false, InstanceFirstInstance},
		{"appeal against cheating late", rules, cheated, Request{Kind: DecisionAppeal, Against: AgainstCheating, ReceivedAt: day("2026-04-23")}, "received_at", "", false, ""},
		{"no cheating decision to appeal", rules, citizenship, Request{Kind: DecisionAppeal, Against: AgainstCheating, ReceivedAt: day("2026-03-06")}, "against", "", false, ""},
		{"appeal against a rejected complaint", rules, rejected, Request{Kind: DecisionAppeal, Against: AgainstComplaintRejection, ReceivedAt: day("2026-03-30")}, "", "2026-03-31", false, InstanceFirstInstance},
		{"a rejected complaint is not lodged again", rules, rejected, Request{Kind: FormalError, ReceivedAt: day("2026-03-12")}, "kind", "", false, ""},
		{"against is required", rules, cheated, Request{Kind: DecisionAppeal, ReceivedAt: day("2026-04-02")}, "against", "", false, ""},
		{"against only for decision appeals", rules, cheated, Request{Kind: FormalError, Against: AgainstCheating, ReceivedAt: day("2026-03-03")}, "against", "", false, ""},
		{"unknown kind", rules, citizenship, Request{Kind: "revision", ReceivedAt: day("2026-03-03")}, "kind", "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Admit(tc.rules, tc.facts, tc.req)
			if tc.field != "" {
				var r *Refusal
				if !errors.As(err, &r) || r.Field != tc.field {
					t.Fatalf("want refusal on %s, got %v", tc.field, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got := a.Deadline.Format(time.DateOnly); got != tc.deadline {
				t.Errorf("deadline %s, want %s", got, tc.deadline)
			}
			if a.Late != tc.late || a.FirstInstance != tc.firstInst {
				t.Errorf("late %v first instance %s, want %v %s", a.Late, a.FirstInstance, tc.late, tc.firstInst)
			}
		})
	}
}

// TestAtLeast orders results on a part's scale, lowest first.
func TestAtLeast(t *testing.T) {
	c1 := []string{"not_passed", "C1"}
	for _, tc := range []struct {
		scale []string
		a, b  string
		want  bool
	}{
		{levels, "B1", "A2", true}, {levels, "B1", "B1", true}, {levels, "A2", "B1", false},
		{c1, "C1", "not_passed", true}, {c1, "not_passed", "C1", false}, {levels, "x", "A1", false},
	} {
		if got := AtLeast(tc.scale, tc.a, tc.b); got != tc.want {
			t.Errorf("AtLeast(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
