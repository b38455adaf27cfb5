package storage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/policy"
)

// Anonymous statistics (T01 "statistics", C05 "anonymously"); the rules are
// in docs/statistics.md.
//
// A cell counts the standing results (not superseded, not annulled) of one
// part of one test type at one test centre, in one month (of the session
// date) and one language, of registrations whose result has been released.
// Cells are leaves: no totals or margins are stored or published, so a
// suppressed cell cannot be recovered by subtracting the published cells
// from a published total.

// UnspecifiedLanguage is the language of a cell whose registrations name
// neither a test language nor a written form.
const UnspecifiedLanguage = "unspecified"

// releasedStages are the stages of a registration whose result has been
// released to the candidate (as in ReleasedResults).
var releasedStages = []string{"Result", "Published", "Retained", "DeletionOnHold"}

// StatCell is one cell of the anonymous statistics.
type StatCell struct {
	// Month is the first day of the month of the session date (UTC).
	Month      time.Time
	TestType   string
	TestCentre string
	// Language is the registration's test language (social studies), else
	// its written form (bokmal, nynorsk), else UnspecifiedLanguage.
	Language string
	Part     string
	// N counts the results, Passed those that pass (Passes); PassRate is
	// Passed/N. All three are zero when Suppressed.
	N        int
	Passed   int
	PassRate float64
	// Suppressed: the cell counts fewer results than the threshold, so its
	// numbers are not shown.
	Suppressed bool
	// Coarsened: N is shown, but Passed only as the band PassedMin to
	// PassedMax (Band); Passed and PassRate are zero. Otherwise both bounds
	// are Passed.
	Coarsened            bool
	PassedMin, PassedMax int
	ComputedAt           time.Time
}

// StatFilter selects statistics cells; a zero field selects all.
type StatFilter struct {
	TestType   string
	TestCentre string
	// From and To are months, both included (any day of the month).
	From, To time.Time
	// MinCell is the suppression threshold; a value under
	// config.StatisticsMinCellFloor (0 included) counts as the floor.
	MinCell int
}

// Passes reports whether a standing result of a test type counts as passed
// in the statistics: "passed" for the citizenship and social studies tests,
// B1 or higher for a part of the Norwegian test A1–B2, C1 for the Norwegian
// test C1. not_enough_basis and every other result count as not passed.
func Passes(testType, result string) bool {
	switch testType {
	case "citizenship", "social_studies":
		return result == marking.ResultPassed
	case "norwegian_a1_b2":
		levels := marking.Levels()
		i := slices.Index(levels, result)
		return i >= slices.Index(levels, marking.LevelB1)
	case "norwegian_c1":
		return result == marking.LevelC1
	}
	return false
}

// StatisticsTestTypes lists the test types the statistics know, sorted.
func StatisticsTestTypes() []string {
	return []string{"citizenship", "norwegian_a1_b2", "norwegian_c1", "social_studies"}
}

// MonthStart returns the first day of t's month, in UTC.
func MonthStart(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// MaterialiseStatistics recomputes the statistics cells of one month (any
// day of it) from the standing results of released registrations whose
// session date falls in it, and returns how many cells it wrote. It replaces
// the month's cells in one transaction, so it is idempotent and a reader
// never sees half a month. A cell under config.StatisticsMinCellFloor is
// stored without its numbers. Registrations deleted by retention are no
// longer counted, so an old month should not be recomputed
// (docs/statistics.md).
func (s *Store) MaterialiseStatistics(ctx context.Context, month time.Time) (int, error) {
	from := MonthStart(month)
	to := from.AddDate(0, 1, 0)
	type key struct{ testType, centre, language, part string }
	type count struct{ n, passed int }
	var written int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Two runs for the same month (a retried activity and a manual run)
		// take turns.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('statistics:' || $1::text, 0))`, from.Format(time.DateOnly)); err != nil {
			return fmt.Errorf("lock statistics month: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM statistics_cells WHERE month = $1`, from); err != nil {
			return fmt.Errorf("delete statistics month: %w", err)
		}
		rows, err := tx.Query(ctx, `
			WITH latest AS (
				SELECT DISTINCT ON (res.registration_id, res.part)
					r.test_type, r.test_centre,
					COALESCE(NULLIF(r.language, ''), NULLIF(r.written_form, ''), $4) AS language,
					res.part, res.result, res.annulled_at
				FROM results res JOIN registrations r ON r.id = res.registration_id
				WHERE r.session_date >= $1 AND r.session_date < $2 AND r.stage = ANY($3)
					AND res.superseded_by IS NULL
					-- An upheld objection to statistics or research (T18).
					AND NOT EXISTS (SELECT 1 FROM processing_objections o
						WHERE o.candidate_id = r.candidate_id AND o.purpose = ANY($5))
				ORDER BY res.registration_id, res.part, res.decided_at DESC, res.id DESC
			)
			SELECT test_type, test_centre, language, part, result, count(*)
			FROM latest WHERE annulled_at IS NULL
			GROUP BY test_type, test_centre, language, part, result`,
			from, to, releasedStages, UnspecifiedLanguage, policy.StatisticsObjections)
		if err != nil {
			return fmt.Errorf("aggregate results: %w", err)
		}
		counts := map[key]*count{}
		var k key
		var result string
		var n int
		_, err = pgx.ForEachRow(rows, []any{&k.testType, &k.centre, &k.language, &k.part, &result, &n}, func() error {
			c := counts[k]
			if c == nil {
				c = &count{}
				counts[k] = c
			}
			c.n += n
			if Passes(k.testType, result) {
				c.passed += n
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("aggregate results: %w", err)
		}
		keys := make([]key, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b key) int {
			return cmp.Or(cmp.Compare(a.testType, b.testType), cmp.Compare(a.centre, b.centre),
				cmp.Compare(a.language, b.language), cmp.Compare(a.part, b.part))
		})
		now := time.Now().UTC()
		copyRows := make([][]any, 0, len(keys))
		for _, k := range keys {
			c := counts[k]
			var shownN, shownPassed *int // NULL: too few to store
			if c.n >= config.StatisticsMinCellFloor {
				shownN, shownPassed = &c.n, &c.passed
			}
			copyRows = append(copyRows, []any{from, k.testType, k.centre, k.language, k.part, shownN, shownPassed, now})
		}
		written, err = copyCells(ctx, tx, copyRows)
		return err
	})
	if err != nil {
		return 0, classify(fmt.Errorf("materialise statistics for %s: %w", from.Format("2006-01"), err))
	}
	return written, nil
}

func copyCells(ctx context.Context, tx pgx.Tx, rows [][]any) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"statistics_cells"},
		[]string{"month", "test_type", "test_centre", "language", "part", "n", "passed", "computed_at"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return 0, fmt.Errorf("insert statistics cells: %w", err)
	}
	return int(n), nil
}

// Statistics reads the materialised cells the filter selects, ordered by
// month, test type, test centre, language and part, with the suppression
// rule applied (Suppress).
func (s *Store) Statistics(ctx context.Context, f StatFilter) ([]StatCell, error) {
	var from, to *time.Time
	if !f.From.IsZero() {
		m := MonthStart(f.From)
		from = &m
	}
	if !f.To.IsZero() {
		m := MonthStart(f.To)
		to = &m
	}
	rows, err := s.pool.Query(ctx, `SELECT month, test_type, test_centre, language, part, n, passed, computed_at
		FROM statistics_cells
		WHERE ($1 = '' OR test_type = $1) AND ($2 = '' OR test_centre = $2)
			AND ($3::date IS NULL OR month >= $3) AND ($4::date IS NULL OR month <= $4)
		ORDER BY month, test_type, test_centre, language, part`,
		f.TestType, f.TestCentre, from, to)
	if err != nil {
		return nil, classify(fmt.Errorf("read statistics: %w", err))
	}
	cells, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (StatCell, error) {
		var c StatCell
		var n, passed *int
		if err := row.Scan(&c.Month, &c.TestType, &c.TestCentre, &c.Language, &c.Part, &n, &passed, &c.ComputedAt); err != nil {
			return c, err
		}
		if n == nil || passed == nil {
			c.Suppressed = true
		} else {
			c.N, c.Passed = *n, *passed
		}
		return c, nil
	})
	if err != nil {
		return nil, classify(fmt.Errorf("read statistics: %w", err))
	}
	return Suppress(cells, f.MinCell), nil
}

// EffectiveMinCell is the suppression threshold applied for a configured
// one: never under config.StatisticsMinCellFloor.
func EffectiveMinCell(minCell int) int {
	return max(minCell, config.StatisticsMinCellFloor)
}

// Band is what a cell of n results, passed of them passing (or n
// registrations, passed of them completed), may show of passed with the
// threshold k = EffectiveMinCell(minCell), once n is at least k: exact
// reports whether passed itself may be shown, else passed is shown only as
// lo to hi. A cell where everyone passed or everyone failed would tell each
// person's result, so:
//
//   - under 2k: no band narrower than 0 to n (every such cell, so showing
//     it says nothing about the cell);
//   - fewer than k passed: 0 to k-1; fewer than k failed: n-k+1 to n (fixed
//     bands of k values, each holding the all-failed or all-passed count,
//     disjoint since n >= 2k);
//   - otherwise exact.
func Band(n, passed, minCell int) (lo, hi int, exact bool) {
	k := EffectiveMinCell(minCell)
	switch {
	case n < 2*k:
		return 0, n, false
	case passed < k:
		return 0, k - 1, false
	case n-passed < k:
		return n - k + 1, n, false
	}
	return passed, passed, true
}

// Suppress applies the small-cell rule to cells and returns what may be
// published. A cell counting fewer than minCell results (a minCell under
// config.StatisticsMinCellFloor counts as the floor), or already suppressed,
// loses its count, passed count and pass rate and is marked Suppressed. A
// cell whose passed count would tell anyone's result (Band) keeps its count
// and shows passed only as a band: Coarsened. Only leaf cells are
// published: a margin or total (a cell with an empty dimension) is dropped,
// since subtracting the other cells from it would recover a suppressed one.
// The pass rate of every exact cell is set.
func Suppress(cells []StatCell, minCell int) []StatCell {
	minCell = EffectiveMinCell(minCell)
	out := make([]StatCell, 0, len(cells))
	for _, c := range cells {
		if c.Month.IsZero() || c.TestType == "" || c.TestCentre == "" || c.Language == "" || c.Part == "" {
			continue
		}
		c.Coarsened, c.PassedMin, c.PassedMax = false, 0, 0
		if c.Suppressed || c.N < minCell || c.Passed < 0 || c.Passed > c.N {
			c.N, c.Passed, c.PassRate, c.Suppressed = 0, 0, 0, true
		} else if lo, hi, exact := Band(c.N, c.Passed, minCell); !exact {
			c.Passed, c.PassRate, c.Coarsened, c.PassedMin, c.PassedMax = 0, 0, true, lo, hi
		} else {
			c.PassRate = float64(c.Passed) / float64(c.N)
			c.PassedMin, c.PassedMax = c.Passed, c.Passed
		}
		out = append(out, c)
	}
	return out
}
