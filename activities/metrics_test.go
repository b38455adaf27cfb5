package activities

import (
	"context"
	"testing"
	"time"

	"github.com/examflow/examflow/policy"
)

func TestMarkingOutcome(t *testing.T) {
	tests := []struct {
		result string
		held   bool
		want   string
	}{
		{"passed", false, "passed"},
		{"failed", false, "failed"},
		{"not_passed", false, "failed"},
		{"not_enough_basis", false, "not_enough_basis"},
		{"B1", false, "level"},
		{"under_a1", false, "level"},
		{"C1", false, "level"},
		{"passed", true, "held"},
		{"B2", true, "held"},
		{"something new", false, "other"},
	}
	for _, tt := range tests {
		if got := markingOutcome(tt.result, tt.held); got != tt.want {
			t.Errorf("markingOutcome(%q, %v) = %q, want %q", tt.result, tt.held, got, tt.want)
		}
	}
}

func TestOneOfBoundsLabels(t *testing.T) {
	tests := []struct{ in, want string }{
		{"confirm", "confirm"},
		{"annul", "annul"},
		{"01a208d4-3794-7479-8948-1b6bdc416b6a", "other"},
		{"", "other"},
	}
	for _, tt := range tests {
		if got := oneOf(tt.in, "confirm", "correct", "annul"); got != tt.want {
			t.Errorf("oneOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMetricsAreDeclaredOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Metrics() {
		if seen[m.Name] || m.Help == "" || (m.Kind != KindCounter && m.Kind != KindGauge) {
			t.Errorf("metric %+v: repeated, without help or of no kind", m)
		}
		seen[m.Name] = true
		for _, tag := range m.Tags {
			switch tag {
			case "namespace", "client_name", "worker_type", "workflow_type", "activity_type", "task_queue":
				t.Errorf("%s: tag %s is the SDK's", m.Name, tag)
			}
		}
	}
}

func TestCountOutsideAnActivityDoesNothing(t *testing.T) {
	count(context.Background(), MetricPublications, map[string]string{"outcome": PublicationPublished})
}

func TestRetentionCutoffs(t *testing.T) {
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	got := RetentionCutoffs(policy.Periods{policy.Address: time.Hour}, now)
	if len(got) != 5 {
		t.Fatalf("%d cutoffs, want one per category: %v", len(got), got)
	}
	if want := now.Add(-time.Hour); !got["address"].Equal(want) {
		t.Errorf("address cutoff %v, want %v (the configured period)", got["address"], want)
	}
	r, _ := policy.Lookup(policy.PersonalData)
	if want := now.AddDate(-r.Years, 0, 0); !got["personal_data"].Equal(want) {
		t.Errorf("personal_data cutoff %v, want %v (the policy table)", got["personal_data"], want)
	}
}
