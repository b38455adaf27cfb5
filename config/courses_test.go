package config

import (
	"strings"
	"testing"

	"github.com/examflow/examflow/policy"
)

// TestCoursePolicyVersionFollowsThePolicyInForce (C03): a registration
// consents to the course policy in force, updated 11 February 2025, so the
// version recorded with each consent is that date's "2025-02-11" by default;
// it can be configured to a later update, and Load refuses a version older
// than the policy in force, or one that is not a date, naming the variable.
func TestCoursePolicyVersionFollowsThePolicyInForce(t *testing.T) {
	tests := []struct {
		value   string
		set     bool
		want    string
		refused bool
	}{
		{set: false, want: "2025-02-11"},
		{value: "2025-02-11", set: true, want: "2025-02-11"},
		{value: "2026-09-01", set: true, want: "2026-09-01"}, // a later update of the policy
		{value: "2024-01", set: true, refused: true},         // the old default: before the policy in force
		{value: "2025-02-10", set: true, refused: true},
		{value: "2020-12-31", set: true, refused: true},
		{value: "11/02/2025", set: true, refused: true}, // the policy page's own notation: ambiguous
		{value: "2025-2-11", set: true, refused: true},
		{value: "latest", set: true, refused: true},
	}
	for _, tt := range tests {
		name := tt.value
		if !tt.set {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			setSecrets(t)
			unset(t, "EXAMFLOW_COURSE_POLICY_VERSION")
			if tt.set {
				t.Setenv("EXAMFLOW_COURSE_POLICY_VERSION", tt.value)
			}
			c, err := Load()
			switch {
			case tt.refused && err == nil:
				t.Fatalf("Load() started with EXAMFLOW_COURSE_POLICY_VERSION=%q, older than the policy in force (%s) or not a date", tt.value, policy.CoursePolicyVersion)
			case tt.refused && !strings.Contains(err.Error(), "EXAMFLOW_COURSE_POLICY_VERSION"):
				t.Fatalf("the refusal does not name EXAMFLOW_COURSE_POLICY_VERSION: %v", err)
			case !tt.refused && err != nil:
				t.Fatalf("Load() = %v", err)
			case !tt.refused && c.Courses.PolicyVersion != tt.want:
				t.Fatalf("policy version %q, want %q", c.Courses.PolicyVersion, tt.want)
			}
		})
	}
}
