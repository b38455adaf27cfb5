package storage

import (
	"slices"
	"testing"
	"time"
)

func cell(language string, n, passed int) StatCell {
	return StatCell{Month: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), TestType: "citizenship", TestCentre: "OSLO-1",
		Language: language, Part: "test", N: n, Passed: passed}
}

// TestSuppress: a cell under the threshold k (never under five) shows no
// numbers; a cell under 2k shows n only; a larger cell where fewer than k
// passed or fewer than k failed (everyone passed or everyone failed
// included) shows its passed count as a band of k values, never exactly, so
// no cell tells anyone's result; other cells show n, passed and the pass
// rate. No total is ever published, so a suppressed cell cannot be
// recovered by subtracting the published cells from a total.
func TestSuppress(t *testing.T) {
	type want struct {
		suppressed bool
		n, passed  int
		rate       float64
		coarsened  bool
		lo, hi     int
	}
	suppressed := want{suppressed: true}
	band := func(n, lo, hi int) want { return want{n: n, coarsened: true, lo: lo, hi: hi} }
	exact := func(n, passed int, rate float64) want {
		return want{n: n, passed: passed, rate: rate, lo: passed, hi: passed}
	}
	tests := []struct {
		name    string
		minCell int
		in      []StatCell
		want    []want
	}{
		{"five shows n only", 5, []StatCell{cell("nynorsk", 5, 4)}, []want{band(5, 0, 5)}},
		{"nine, all passed, shows n only", 5, []StatCell{cell("nynorsk", 9, 9)}, []want{band(9, 0, 9)}},
		{"nine, some passed, shows n only too", 5, []StatCell{cell("nynorsk", 9, 5)}, []want{band(9, 0, 9)}},
		{"everyone passed", 5, []StatCell{cell("nynorsk", 12, 12)}, []want{band(12, 8, 12)}},
		{"everyone failed", 5, []StatCell{cell("nynorsk", 12, 0)}, []want{band(12, 0, 4)}},
		{"four failed: the same band as none", 5, []StatCell{cell("nynorsk", 20, 16)}, []want{band(20, 16, 20)}},
		{"four passed: the same band as none", 5, []StatCell{cell("nynorsk", 20, 4)}, []want{band(20, 0, 4)}},
		{"five of each way is exact", 5, []StatCell{cell("nynorsk", 20, 15), cell("bokmal", 10, 5)},
			[]want{exact(20, 15, 0.75), exact(10, 5, 0.5)}},
		{"four is suppressed", 5, []StatCell{cell("nynorsk", 4, 4)}, []want{suppressed}},
		{"one is suppressed", 5, []StatCell{cell("nynorsk", 1, 0)}, []want{suppressed}},
		{"suppressed when materialised stays suppressed", 5, []StatCell{{Month: cell("", 0, 0).Month, TestType: "citizenship",
			TestCentre: "OSLO-1", Language: "en", Part: "test", Suppressed: true}}, []want{suppressed}},
		{"a raised threshold suppresses and coarsens more", 10, []StatCell{cell("nynorsk", 9, 9), cell("bokmal", 10, 7),
			cell("en", 25, 25), cell("ti", 25, 15)},
			[]want{suppressed, band(10, 0, 10), band(25, 16, 25), exact(25, 15, 0.6)}},
		{"a threshold under five counts as five", 2, []StatCell{cell("nynorsk", 3, 3), cell("bokmal", 12, 12)}, []want{suppressed, band(12, 8, 12)}},
		{"no threshold counts as five", 0, []StatCell{cell("nynorsk", 4, 1), cell("bokmal", 10, 5)},
			[]want{suppressed, exact(10, 5, 0.5)}},
		{"inconsistent numbers are not shown", 5, []StatCell{cell("nynorsk", 6, 7)}, []want{suppressed}},
		// The subtraction case: a total over the languages (13) minus the
		// published bokmål cell (10) would give the suppressed nynorsk
		// cell (3, all passed). The total is a margin (its language is
		// empty), so it is never published: what remains sums to 10.
		{"a total that would reveal a suppressed cell is not published", 5,
			[]StatCell{cell("nynorsk", 3, 3), cell("bokmal", 10, 5), cell("", 13, 8)},
			[]want{suppressed, exact(10, 5, 0.5)}},
		{"margins over any dimension are dropped", 5, []StatCell{
			{TestType: "citizenship", TestCentre: "OSLO-1", Language: "bokmal", Part: "test", N: 50, Passed: 40},
			{Month: cell("", 0, 0).Month, TestCentre: "OSLO-1", Language: "bokmal", Part: "test", N: 50, Passed: 40},
			{Month: cell("", 0, 0).Month, TestType: "citizenship", Language: "bokmal", Part: "test", N: 50, Passed: 40},
			{Month: cell("", 0, 0).Month, TestType: "citizenship", TestCentre: "OSLO-1", Language: "bokmal", N: 50, Passed: 40},
		}, []want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Suppress(tt.in, tt.minCell)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d cells, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Suppressed != w.suppressed || g.N != w.n || g.Passed != w.passed || g.PassRate != w.rate ||
					g.Coarsened != w.coarsened || g.PassedMin != w.lo || g.PassedMax != w.hi {
					t.Errorf("cell %d = %+v, want %+v", i, g, w)
				}
				// A shown band never pins a result: it holds at least k
				// values, one of them the everyone-passed or -failed count.
				if g.Coarsened && g.PassedMax-g.PassedMin+1 < min(EffectiveMinCell(tt.minCell), g.N+1) {
					t.Errorf("cell %d: band [%d, %d] is narrower than the threshold", i, g.PassedMin, g.PassedMax)
				}
				if g.Language == "" || g.TestType == "" || g.TestCentre == "" || g.Part == "" || g.Month.IsZero() {
					t.Errorf("cell %d is a margin: %+v", i, g)
				}
			}
			// Whatever is published, the published numbers of a group add
			// up to the published cells only: subtracting them from any
			// published cell never yields a suppressed cell's count.
			if !slices.ContainsFunc(got, func(c StatCell) bool { return c.Suppressed }) {
				return
			}
			for i, total := range got {
				if total.Suppressed {
					continue
				}
				rest := 0
				for j, o := range got {
					if j != i && !o.Suppressed {
						rest += o.N
					}
				}
				if left := total.N - rest; left > 0 && left < EffectiveMinCell(tt.minCell) {
					t.Errorf("published cell %+v minus the others (%d) leaves %d: a suppressed cell could be recovered", total, rest, left)
				}
			}
		})
	}
}

// TestPasses: what counts as passed for each test type.
func TestPasses(t *testing.T) {
	tests := []struct {
		testType, result string
		want             bool
	}{
		{"citizenship", "passed", true},
		{"citizenship", "failed", false},
		{"social_studies", "passed", true},
		{"social_studies", "not_enough_basis", false},
		{"norwegian_a1_b2", "B1", true},
		{"norwegian_a1_b2", "B2", true},
		{"norwegian_a1_b2", "A2", false},
		{"norwegian_a1_b2", "under_a1", false},
		{"norwegian_a1_b2", "not_enough_basis", false},
		{"norwegian_c1", "C1", true},
		{"norwegian_c1", "not_passed", false},
		{"unknown", "passed", false},
	}
	for _, tt := range tests {
		if got := Passes(tt.testType, tt.result); got != tt.want {
			t.Errorf("Passes(%q, %q) = %v, want %v", tt.testType, tt.result, got, tt.want)
		}
	}
}

// TestMonthStart: any moment of a month gives its first day in UTC.
func TestMonthStart(t *testing.T) {
	oslo := time.FixedZone("CET", 3600)
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC), "2026-03-01"},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "2026-01-01"},
		{time.Date(2026, 2, 15, 12, 0, 0, 0, oslo), "2026-02-01"},
	}
	for _, tt := range tests {
		if got := MonthStart(tt.in); got.Format(time.DateOnly) != tt.want || got.Location() != time.UTC {
			t.Errorf("MonthStart(%s) = %s, want %s UTC", tt.in, got, tt.want)
		}
	}
}
