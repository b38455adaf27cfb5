package config

import (
	"testing"

	"github.com/caarlos0/env/v11"
)

// TestStatisticsMinCell: the suppression threshold defaults to five and can
// be raised, never lowered.
func TestStatisticsMinCell(t *testing.T) {
	tests := []struct {
		name    string
		value   *string
		want    MinCell
		wantErr bool
	}{
		{"default", nil, 5, false},
		{"five", statValue("5"), 5, false},
		{"raised", statValue("10"), 10, false},
		{"lowered", statValue("4"), 0, true},
		{"zero", statValue("0"), 0, true},
		{"not a number", statValue("five"), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			if tt.value != nil {
				vars["EXAMFLOW_STATISTICS_MIN_CELL"] = *tt.value
			}
			s, err := env.ParseAsWithOptions[Statistics](env.Options{Environment: vars})
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && s.MinCell != tt.want {
				t.Fatalf("MinCell = %d, want %d", s.MinCell, tt.want)
			}
		})
	}
}

func statValue(s string) *string { return &s }
