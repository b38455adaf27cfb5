package marking

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// testKey is a key of n three-option items q01..qNN whose correct answers
// rotate a, b, c; the items at the (1-based) positions in pilot are unscored.
func testKey(n int, pilot ...int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i] = Item{
			ID:      fmt.Sprintf("q%02d", i+1),
			Correct: string(rune('a' + i%3)),
			Scored:  !slices.Contains(pilot, i+1),
			Choices: []string{"a", "b", "c"},
		}
	}
	return items
}

// wrong is an option that is not the item's correct answer.
func wrong(it Item) string {
	if it.Correct == "a" {
		return "b"
	}
	return "a"
}

// testSheet answers the first right scored items correctly and the other
// scored items wrongly (blank after answered scored items in all); pilot items
// are answered correctly when pilotRight.
func testSheet(items []Item, right, answered int, pilotRight bool) Answers {
	a := Answers{}
	n := 0
	for _, it := range items {
		switch {
		case !it.Scored && pilotRight:
			a[it.ID] = it.Correct
		case !it.Scored:
			a[it.ID] = wrong(it)
		case n < right:
			a[it.ID] = it.Correct
			n++
		case n < answered:
			a[it.ID] = wrong(it)
			n++
		default:
			a[it.ID] = ""
		}
	}
	return a
}

var (
	citizenshipRule      = Rule{Kind: RulePassMark, PassMark: 24}
	socialStudiesRule    = Rule{Kind: RulePassMark, PassMark: 26}
	socialStudiesOldRule = Rule{Kind: RulePassMark, PassMark: 29}
	levelsRule           = Rule{Kind: RuleLevels, MinAnswered: 5, Bands: []Band{
		{MinScore: 8, Level: LevelA1}, {MinScore: 14, Level: LevelA2}, {MinScore: 20, Level: LevelB1}, {MinScore: 27, Level: LevelB2},
	}}
)

func TestMark(t *testing.T) {
	citizenship := testKey(36, 9, 18, 27, 36) // 32 scored, 4 pilot
	socialStudies := testKey(38, 5, 15, 25, 35)
	socialStudiesOld := testKey(38)
	reading := testKey(37, 1, 2) // 35 scored

	tests := []struct {
		name      string
		items     []Item
		rule      Rule
		answers   Answers
		wantScore int
		wantMax   int
		wantAns   int
		want      string
	}{
		{"citizenship 24 of 32 passes", citizenship, citizenshipRule, testSheet(citizenship, 24, 32, false), 24, 32, 32, ResultPassed},
		{"citizenship 23 of 32 fails", citizenship, citizenshipRule, testSheet(citizenship, 23, 32, false), 23, 32, 32, ResultFailed},
		{"citizenship 23 plus 4 correct pilot items still fails", citizenship, citizenshipRule, testSheet(citizenship, 23, 32, true), 23, 32, 32, ResultFailed},
		{"citizenship all correct", citizenship, citizenshipRule, testSheet(citizenship, 32, 32, true), 32, 32, 32, ResultPassed},
		{"citizenship 24 correct, the rest blank", citizenship, citizenshipRule, testSheet(citizenship, 24, 24, false), 24, 32, 24, ResultPassed},
		{"citizenship blank sheet", citizenship, citizenshipRule, testSheet(citizenship, 0, 0, false), 0, 32, 0, ResultFailed},
		{"citizenship no answers at all", citizenship, citizenshipRule, Answers{}, 0, 32, 0, ResultFailed},
		{"social studies 26 of 34 passes", socialStudies, socialStudiesRule, testSheet(socialStudies, 26, 34, false), 26, 34, 34, ResultPassed},
		{"social studies 25 of 34 fails", socialStudies, socialStudiesRule, testSheet(socialStudies, 25, 34, true), 25, 34, 34, ResultFailed},
		{"old social studies 29 of 38 passes", socialStudiesOld, socialStudiesOldRule, testSheet(socialStudiesOld, 29, 38, false), 29, 38, 38, ResultPassed},
		{"old social studies 28 of 38 fails", socialStudiesOld, socialStudiesOldRule, testSheet(socialStudiesOld, 28, 38, false), 28, 38, 38, ResultFailed},
		{"28 passes the current social studies test", socialStudies, socialStudiesRule, testSheet(socialStudies, 28, 34, false), 28, 34, 34, ResultPassed},
		{"levels below the first band", reading, levelsRule, testSheet(reading, 7, 35, true), 7, 35, 35, LevelUnderA1},
		{"levels A1 at the cut", reading, levelsRule, testSheet(reading, 8, 35, false), 8, 35, 35, LevelA1},
		{"levels A2 just below B1", reading, levelsRule, testSheet(reading, 19, 35, false), 19, 35, 35, LevelA2},
		{"levels B1 at the cut", reading, levelsRule, testSheet(reading, 20, 35, false), 20, 35, 35, LevelB1},
		{"levels B2 all correct", reading, levelsRule, testSheet(reading, 35, 35, false), 35, 35, 35, LevelB2},
		{"levels too few answered", reading, levelsRule, testSheet(reading, 4, 4, true), 4, 35, 4, ResultNotEnoughBasis},
		{"levels just enough answered", reading, levelsRule, testSheet(reading, 5, 5, false), 5, 35, 5, LevelUnderA1},
		{"levels no minimum", reading, Rule{Kind: RuleLevels, Bands: []Band{{MinScore: 0, Level: LevelA1}}}, Answers{}, 0, 35, 0, LevelA1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Mark(tt.items, tt.rule, tt.answers)
			if err != nil {
				t.Fatal(err)
			}
			if got.Score != tt.wantScore || got.MaxScore != tt.wantMax || got.Answered != tt.wantAns || got.Result != tt.want {
				t.Fatalf("got score %d/%d answered %d result %q, want %d/%d answered %d result %q",
					got.Score, got.MaxScore, got.Answered, got.Result, tt.wantScore, tt.wantMax, tt.wantAns, tt.want)
			}
			if len(got.Items) != len(tt.items) {
				t.Fatalf("%d item outcomes, want %d", len(got.Items), len(tt.items))
			}
			for i, io := range got.Items {
				it := tt.items[i]
				if io.ID != it.ID || io.Scored != it.Scored || io.Given != tt.answers[it.ID] || io.Correct != (tt.answers[it.ID] == it.Correct) {
					t.Fatalf("item %d = %+v for key %+v and answer %q", i, io, it, tt.answers[it.ID])
				}
			}
		})
	}
}

func TestMarkIgnoresUnknownItemsAndBadChoices(t *testing.T) {
	items := testKey(3)
	got, err := Mark(items, Rule{Kind: RulePassMark, PassMark: 1}, Answers{"q01": "a", "q02": "z", "q99": "a"})
	if err != nil {
		t.Fatal(err)
	}
	want := Outcome{Score: 1, MaxScore: 3, Answered: 2, Result: ResultPassed, Items: []ItemOutcome{
		{ID: "q01", Given: "a", Correct: true, Scored: true},
		{ID: "q02", Given: "z", Scored: true},
		{ID: "q03", Scored: true},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestMarkErrors(t *testing.T) {
	items := testKey(5)
	tests := []struct {
		name  string
		items []Item
		rule  Rule
		want  error
	}{
		{"no kind", items, Rule{}, ErrInvalidRule},
		{"unknown kind", items, Rule{Kind: "percent", PassMark: 3}, ErrInvalidRule},
		{"pass mark zero", items, Rule{Kind: RulePassMark}, ErrInvalidRule},
		{"pass mark negative", items, Rule{Kind: RulePassMark, PassMark: -1}, ErrInvalidRule},
		{"pass mark with bands", items, Rule{Kind: RulePassMark, PassMark: 3, Bands: []Band{{1, LevelA1}}}, ErrInvalidRule},
		{"levels without bands", items, Rule{Kind: RuleLevels}, ErrInvalidRule},
		{"levels with a pass mark", items, Rule{Kind: RuleLevels, PassMark: 3, Bands: []Band{{1, LevelA1}}}, ErrInvalidRule},
		{"bands not ascending by score", items, Rule{Kind: RuleLevels, Bands: []Band{{3, LevelA1}, {2, LevelA2}}}, ErrInvalidRule},
		{"bands with equal scores", items, Rule{Kind: RuleLevels, Bands: []Band{{2, LevelA1}, {2, LevelA2}}}, ErrInvalidRule},
		{"bands not ascending by level", items, Rule{Kind: RuleLevels, Bands: []Band{{1, LevelA2}, {2, LevelA1}}}, ErrInvalidRule},
		{"band with an unknown level", items, Rule{Kind: RuleLevels, Bands: []Band{{1, "A3"}}}, ErrInvalidRule},
		{"band at under_a1", items, Rule{Kind: RuleLevels, Bands: []Band{{1, LevelUnderA1}}}, ErrInvalidRule},
		{"negative band", items, Rule{Kind: RuleLevels, Bands: []Band{{-1, LevelA1}}}, ErrInvalidRule},
		{"negative min answered", items, Rule{Kind: RuleLevels, MinAnswered: -1, Bands: []Band{{1, LevelA1}}}, ErrInvalidRule},
		{"duplicate item", append(testKey(2), Item{ID: "q01", Correct: "a", Scored: true}), Rule{Kind: RulePassMark, PassMark: 1}, ErrInvalidKey},
		{"item without ID", []Item{{Correct: "a", Scored: true}}, Rule{Kind: RulePassMark, PassMark: 1}, ErrInvalidKey},
		{"item without correct answer", []Item{{ID: "q1", Scored: true}}, Rule{Kind: RulePassMark, PassMark: 1}, ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Mark(tt.items, tt.rule, Answers{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckSheet(t *testing.T) {
	items := testKey(4)
	items[3].Choices = nil // a free item: any answer is well formed
	tests := []struct {
		name    string
		answers Answers
		want    []SheetProblem
	}{
		{"complete", Answers{"q01": "a", "q02": "c", "q03": "c", "q04": "anything"}, nil},
		{"blank answers are not missing", Answers{"q01": "", "q02": "", "q03": "", "q04": ""}, nil},
		{"missing item", Answers{"q01": "a", "q02": "b", "q04": "x"}, []SheetProblem{{"q03", ProblemMissing}}},
		{"unknown item", Answers{"q01": "a", "q02": "b", "q03": "c", "q04": "x", "q7": "a"}, []SheetProblem{{"q7", ProblemUnknownItem}}},
		{"choice not among options", Answers{"q01": "a", "q02": "d", "q03": "c", "q04": "x"}, []SheetProblem{{"q02", ProblemBadChoice}}},
		{"several, key order then unknown sorted", Answers{"q02": "A", "q04": "x", "z9": "a", "q99": "b"}, []SheetProblem{
			{"q01", ProblemMissing}, {"q02", ProblemBadChoice}, {"q03", ProblemMissing}, {"q99", ProblemUnknownItem}, {"z9", ProblemUnknownItem},
		}},
		{"empty sheet", nil, []SheetProblem{{"q01", ProblemMissing}, {"q02", ProblemMissing}, {"q03", ProblemMissing}, {"q04", ProblemMissing}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckSheet(items, tt.answers); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		name  string
		items []Item
		rule  Rule
		want  []string // fields with problems
	}{
		{"citizenship key", testKey(36, 9, 18, 27, 36), citizenshipRule, nil},
		{"levels key", testKey(37, 1, 2), levelsRule, nil},
		{"no items", nil, citizenshipRule, []string{"items", "rule.pass_mark"}},
		{"no scored item", testKey(3, 1, 2, 3), Rule{Kind: RulePassMark, PassMark: 1}, []string{"items", "rule.pass_mark"}},
		{"pass mark above the maximum", testKey(23), citizenshipRule, []string{"rule.pass_mark"}},
		{"band out of reach", testKey(20), levelsRule, []string{"rule.bands[3].min_score"}},
		{"bad items", []Item{
			{ID: "q1", Correct: "d", Scored: true, Choices: []string{"a", "b", "c"}},
			{ID: "q1", Correct: "a", Scored: true, Choices: []string{"a", "a", ""}},
			{ID: "", Correct: "", Scored: true, Choices: []string{"a"}},
		}, Rule{Kind: RulePassMark, PassMark: 1}, []string{
			"items[1].id", "items[2].id", "items[2].correct", "items[0].correct",
			"items[1].choices[1]", "items[1].choices[2]", "items[2].choices",
		}},
		{"bad rule", testKey(3), Rule{Kind: "levels", Bands: []Band{{2, "B1"}, {1, "A1"}}}, []string{"rule.bands[1].min_score", "rule.bands[1].level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range CheckKey(tt.items, tt.rule) {
				if p.Problem == "" {
					t.Errorf("%s: empty problem", p.Field)
				}
				got = append(got, p.Field)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("fields %v, want %v (%v)", got, tt.want, CheckKey(tt.items, tt.rule))
			}
		})
	}
}

// TestFictionalKey: a fixed-length part gets its items, the first
// ScoredItems scored; an adaptive part gets 30 scored items; the key is
// valid for Mark, and an all-"a" sheet scores every scored item.
func TestFictionalKey(t *testing.T) {
	for _, tt := range []struct {
		name          string
		def           PartDef
		items, scored int
	}{
		{"fixed length with pilots", PartDef{Marking: MarkingAutomated, Items: 36, ScoredItems: 32}, 36, 32},
		{"adaptive", PartDef{Marking: MarkingAutomated}, 30, 30},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := FictionalKey(tt.def)
			answers := Answers{}
			scored := 0
			for _, it := range key {
				answers[it.ID] = "a"
				if it.Scored {
					scored++
				}
			}
			if len(key) != tt.items || scored != tt.scored || key[0].ID != "q01" {
				t.Fatalf("%d items, %d scored, first %q; want %d, %d, q01", len(key), scored, key[0].ID, tt.items, tt.scored)
			}
			out, err := Mark(key, Rule{Kind: RulePassMark, PassMark: 1}, answers)
			if err != nil {
				t.Fatal(err)
			}
			if out.Score != tt.scored {
				t.Errorf("all-a sheet scores %d, want %d", out.Score, tt.scored)
			}
		})
	}
}
