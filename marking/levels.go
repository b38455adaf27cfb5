package marking

import (
	"slices"
	"time"
)

// bandTops is the highest writing level of each registered level band.
var bandTops = map[string]string{
	"A1-A2": LevelA2,
	"A2-B1": LevelB1,
	"B1-B2": LevelB2,
}

// CapWriting caps a writing level at the top of the registered level band
// ("A1-A2" caps at A2, "A2-B1" at B1, "B1-B2" at B2): a writing candidate
// cannot score above the registered level. Oral is not capped, so do not call
// it for oral. Results that are not levels above the cap (under_a1,
// not_enough_basis, a lower level) and an unknown band leave level unchanged.
func CapWriting(level, band string) string {
	top, ok := bandTops[band]
	if !ok {
		return level
	}
	rank := slices.Index(levels, level)
	if rank > slices.Index(levels, top) {
		return top
	}
	return level
}

// LevelRank orders results for "latest and best": higher is better. It
// compares results of the same part: passed > failed; C1 > not_passed;
// C1 > B2 > B1 > A2 > A1 > under_a1; not_enough_basis is the lowest known
// result (0). An unknown result ranks -1.
func LevelRank(result string) int {
	switch result {
	case ResultNotEnoughBasis:
		return 0
	case ResultFailed, ResultNotPassed:
		return 1
	case ResultPassed:
		return 2
	}
	if i := slices.Index(levels, result); i >= 0 {
		return 1 + i // under_a1 = 1 ... C1 = 6
	}
	return -1
}

// PartResult is one decided result of one part for one candidate. Callers
// leave out results that were annulled (a formal-error complaint upheld) or
// deleted (final cheating).
type PartResult struct {
	Part      string    `json:"part"`
	Result    string    `json:"result"`
	DecidedAt time.Time `json:"decided_at"`
}

// LatestAndBest returns, per part, the best result; among equally good
// results the latest (the certificate's "siste og beste"). Of results equal
// in rank and time, the one later in the slice wins. Results LevelRank does
// not know are ignored.
func LatestAndBest(results []PartResult) map[string]PartResult {
	best := map[string]PartResult{}
	for _, r := range results {
		rank := LevelRank(r.Result)
		if rank < 0 {
			continue
		}
		cur, ok := best[r.Part]
		if !ok {
			best[r.Part] = r
			continue
		}
		curRank := LevelRank(cur.Result)
		if rank > curRank || (rank == curRank && !r.DecidedAt.Before(cur.DecidedAt)) {
			best[r.Part] = r
		}
	}
	return best
}
