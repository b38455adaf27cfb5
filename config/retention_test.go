package config

import (
	"strings"
	"testing"
)

// TestLoadRefusesRetentionLongerThanThePolicy (T13-T17, C06): the retention
// settings may shorten a period, never lengthen one past the policy's
// (policy.Table, policy.CourseTable, counted as 365-day years, the
// shortest a calendar year is); Load refuses a longer one, naming the
// variable, so no process starts keeping data longer than promised.
func TestLoadRefusesRetentionLongerThanThePolicy(t *testing.T) {
	tests := []struct {
		env, value string
		refused    bool
	}{
		{"EXAMFLOW_RETENTION_PERIODS", "address=24h,audio=30s,personal_data=1m", false},
		{"EXAMFLOW_RETENTION_PERIODS", "address=17520h", false},            // 2 x 365 days
		{"EXAMFLOW_RETENTION_PERIODS", "address=17521h", true},             // T14: two years
		{"EXAMFLOW_RETENTION_PERIODS", "audio=8760h", false},               // 365 days
		{"EXAMFLOW_RETENTION_PERIODS", "audio=8761h", true},                // T15: one year
		{"EXAMFLOW_RETENTION_PERIODS", "payment_status=26281h", true},      // T16: three years
		{"EXAMFLOW_RETENTION_PERIODS", "address=1h,cheating=30000h", true}, // T17: three years
		{"EXAMFLOW_RETENTION_PERIODS", "personal_data=175200h", false},     // 20 x 365 days
		{"EXAMFLOW_RETENTION_PERIODS", "personal_data=175201h", true},      // T13: 20 years
		{"EXAMFLOW_RETENTION_PERIODS", "personal_data=1000000h", true},     // T13
		{"EXAMFLOW_COURSE_RETENTION", "48h", false},
		{"EXAMFLOW_COURSE_RETENTION", "17520h", false}, // 2 x 365 days
		{"EXAMFLOW_COURSE_RETENTION", "17521h", true},  // C06: 24 months
		{"EXAMFLOW_COURSE_RETENTION", "-1h", true},     // not a period
		{"EXAMFLOW_AUDIO_EXPIRY_DAYS", "30", false},
		{"EXAMFLOW_AUDIO_EXPIRY_DAYS", "365", false},
		{"EXAMFLOW_AUDIO_EXPIRY_DAYS", "366", true}, // T15: one year
		{"EXAMFLOW_AUDIO_EXPIRY_DAYS", "0", true},   // no expiry at all
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.value, func(t *testing.T) {
			setSecrets(t)
			unset(t, "EXAMFLOW_RETENTION_PERIODS", "EXAMFLOW_COURSE_RETENTION", "EXAMFLOW_AUDIO_EXPIRY_DAYS")
			t.Setenv(tt.env, tt.value)
			_, err := Load()
			switch {
			case tt.refused && err == nil:
				t.Fatalf("Load() started with %s=%s, longer than the policy", tt.env, tt.value)
			case tt.refused && !strings.Contains(err.Error(), tt.env):
				t.Fatalf("the refusal does not name %s: %v", tt.env, err)
			case !tt.refused && err != nil:
				t.Fatalf("Load() = %v, want a start with %s=%s", err, tt.env, tt.value)
			}
		})
	}
}
