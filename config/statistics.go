package config

import (
	"fmt"
	"strconv"
	"strings"
)

// StatisticsMinCellFloor is the smallest count a statistics cell may show
// (C05: statistics are anonymous). It is the default suppression threshold;
// the threshold can be raised, never lowered. The statistics table refuses
// smaller counts too (storage/migrations/00016_statistics.sql).
const StatisticsMinCellFloor = 5

// Statistics configures the anonymous statistics (docs/statistics.md).
type Statistics struct {
	// MinCell is the suppression threshold: a cell counting fewer results
	// is published without its numbers. At least StatisticsMinCellFloor.
	MinCell MinCell `env:"EXAMFLOW_STATISTICS_MIN_CELL" envDefault:"5"`
}

// MinCell is a suppression threshold read from the environment; a value
// under StatisticsMinCellFloor is refused when the configuration is loaded.
type MinCell int

// UnmarshalText parses a threshold and refuses one under the floor.
func (m *MinCell) UnmarshalText(text []byte) error {
	n, err := strconv.Atoi(strings.TrimSpace(string(text)))
	if err != nil {
		return fmt.Errorf("EXAMFLOW_STATISTICS_MIN_CELL must be a whole number, got %q", text)
	}
	if n < StatisticsMinCellFloor {
		return fmt.Errorf("EXAMFLOW_STATISTICS_MIN_CELL must be at least %d (anonymous statistics), got %d", StatisticsMinCellFloor, n)
	}
	*m = MinCell(n)
	return nil
}
