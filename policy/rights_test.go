package policy

import (
	"slices"
	"testing"
)

// TestObjectionRulesCoverThePurposes: every purpose of the state-test
// process has a rule, and no rule names another.
func TestObjectionRulesCoverThePurposes(t *testing.T) {
	var ids []string
	for _, p := range stateTests().Purposes {
		ids = append(ids, p.ID)
	}
	if got := ObjectionPurposes(); !slices.Equal(got, ids) {
		t.Fatalf("objection rules for %v, want the process's purposes %v", got, ids)
	}
	for _, r := range ObjectionRules() {
		if r.Effect == "" {
			t.Errorf("%s: no effect stated", r.Purpose)
		}
	}
	for _, p := range StatisticsObjections {
		if !CanUpholdObjection([]string{p}) {
			t.Errorf("%s leaves the person out of statistics but cannot be upheld", p)
		}
	}
}

func TestCanUpholdObjection(t *testing.T) {
	tests := []struct {
		purposes []string
		want     bool
	}{
		{[]string{"statistics"}, true},
		{[]string{"statistics", "research"}, true},
		{[]string{"research", "arrange_tests"}, false},
		{[]string{"appeals"}, false},
		{[]string{"marketing"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := CanUpholdObjection(tt.purposes); got != tt.want {
			t.Errorf("CanUpholdObjection(%v) = %v, want %v", tt.purposes, got, tt.want)
		}
	}
}
