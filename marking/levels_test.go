package marking

import (
	"reflect"
	"testing"
	"time"
)

func TestCapWriting(t *testing.T) {
	tests := []struct {
		level, band, want string
	}{
		{LevelB2, "A1-A2", LevelA2},
		{LevelB1, "A1-A2", LevelA2},
		{LevelA2, "A1-A2", LevelA2},
		{LevelA1, "A1-A2", LevelA1},
		{LevelB2, "A2-B1", LevelB1},
		{LevelB1, "A2-B1", LevelB1},
		{LevelA1, "A2-B1", LevelA1},
		{LevelB2, "B1-B2", LevelB2},
		{LevelA2, "B1-B2", LevelA2},
		{LevelC1, "B1-B2", LevelB2},
		{LevelUnderA1, "A2-B1", LevelUnderA1},
		{ResultNotEnoughBasis, "A1-A2", ResultNotEnoughBasis},
		{LevelB2, "", LevelB2},
		{LevelB2, "C1", LevelB2},
	}
	for _, tt := range tests {
		t.Run(tt.level+" in "+tt.band, func(t *testing.T) {
			if got := CapWriting(tt.level, tt.band); got != tt.want {
				t.Fatalf("CapWriting(%q, %q) = %q, want %q", tt.level, tt.band, got, tt.want)
			}
		})
	}
}

func TestLevelRank(t *testing.T) {
	// Each list is worst to best.
	orders := [][]string{
		{ResultNotEnoughBasis, LevelUnderA1, LevelA1, LevelA2, LevelB1, LevelB2, LevelC1},
		{ResultNotEnoughBasis, ResultFailed, ResultPassed},
		{ResultNotEnoughBasis, ResultNotPassed, LevelC1},
	}
	for _, order := range orders {
		for i := 1; i < len(order); i++ {
			if LevelRank(order[i-1]) >= LevelRank(order[i]) {
				t.Errorf("LevelRank(%q) = %d, not below LevelRank(%q) = %d", order[i-1], LevelRank(order[i-1]), order[i], LevelRank(order[i]))
			}
		}
	}
	if LevelRank(ResultNotEnoughBasis) != 0 {
		t.Errorf("not_enough_basis ranks %d, want 0 (the lowest)", LevelRank(ResultNotEnoughBasis))
	}
	for _, r := range []string{"", "b1", "excellent"} {
		if LevelRank(r) != -1 {
			t.Errorf("LevelRank(%q) = %d, want -1", r, LevelRank(r))
		}
	}
}

func TestLatestAndBest(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2025, 3, d, 12, 0, 0, 0, time.UTC) }
	tests := []struct {
		name    string
		results []PartResult
		want    map[string]PartResult
	}{
		{"none", nil, map[string]PartResult{}},
		{"the better of two", []PartResult{
			{"oral", LevelB1, day(1)}, {"oral", LevelA2, day(9)},
		}, map[string]PartResult{"oral": {"oral", LevelB1, day(1)}}},
		{"the later of two equal", []PartResult{
			{"reading", LevelB1, day(9)}, {"reading", LevelB1, day(1)},
		}, map[string]PartResult{"reading": {"reading", LevelB1, day(9)}}},
		{"per part", []PartResult{
			{"reading", LevelA2, day(1)}, {"listening", LevelUnderA1, day(1)}, {"reading", LevelB2, day(5)},
			{"listening", ResultNotEnoughBasis, day(5)}, {"writing", ResultNotEnoughBasis, day(2)},
		}, map[string]PartResult{
			"reading":   {"reading", LevelB2, day(5)},
			"listening": {"listening", LevelUnderA1, day(1)},
			"writing":   {"writing", ResultNotEnoughBasis, day(2)},
		}},
		{"a pass beats a later fail", []PartResult{
			{"test", ResultPassed, day(1)}, {"test", ResultFailed, day(20)},
		}, map[string]PartResult{"test": {"test", ResultPassed, day(1)}}},
		{"the latest of fails", []PartResult{
			{"test", ResultFailed, day(1)}, {"test", ResultFailed, day(20)}, {"test", ResultNotEnoughBasis, day(25)},
		}, map[string]PartResult{"test": {"test", ResultFailed, day(20)}}},
		{"C1 beats not passed", []PartResult{
			{"reading_oral", ResultNotPassed, day(20)}, {"reading_oral", LevelC1, day(1)},
		}, map[string]PartResult{"reading_oral": {"reading_oral", LevelC1, day(1)}}},
		{"unknown results are ignored", []PartResult{
			{"oral", "excellent", day(20)}, {"oral", LevelA1, day(1)}, {"writing", "?", day(1)},
		}, map[string]PartResult{"oral": {"oral", LevelA1, day(1)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LatestAndBest(tt.results); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
