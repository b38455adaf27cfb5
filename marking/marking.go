// Package marking scores machine-marked test parts against versioned answer
// keys and applies each test version's rule: a pass mark (citizenship and
// social studies tests) or level bands (Norwegian reading and listening).
// It also holds the rules on levels that the certificate needs: the writing
// cap at the registered level band and "latest and best" per part.
//
// The package is pure and deterministic: no I/O, no clock, no randomness and
// no map-order dependence, so a Temporal activity or workflow can call it and
// a replay gives the same answer. The domain rules are in
// ../shared/domain-facts.md sections 1, 6 and 7.
package marking

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Rule kinds.
const (
	// RulePassMark passes a candidate with at least PassMark correct answers
	// on the scored items.
	RulePassMark = "pass_mark"
	// RuleLevels gives the level of the highest band whose MinScore the
	// score reaches.
	RuleLevels = "levels"
)

// Results of a test part besides the levels.
const (
	ResultPassed         = "passed"
	ResultFailed         = "failed"
	ResultNotEnoughBasis = "not_enough_basis"
	// ResultNotPassed is the C1 test's result below C1 ("Ikke bestått").
	ResultNotPassed = "not_passed"
)

// Levels, lowest first.
const (
	LevelUnderA1 = "under_a1"
	LevelA1      = "A1"
	LevelA2      = "A2"
	LevelB1      = "B1"
	LevelB2      = "B2"
	LevelC1      = "C1"
)

// levels lists the levels in order; a band may use any but under_a1.
var levels = []string{LevelUnderA1, LevelA1, LevelA2, LevelB1, LevelB2, LevelC1}

// Levels returns the levels in order, lowest ("under_a1") first.
func Levels() []string { return slices.Clone(levels) }

// Errors that Mark wraps, so a caller can tell a broken key or rule (which no
// retry will fix) from other failures.
var (
	// ErrInvalidKey: the answer key's items cannot be marked (an item without
	// an ID or a correct answer, a duplicate ID).
	ErrInvalidKey = errors.New("invalid answer key")
	// ErrInvalidRule: the rule cannot be applied (unknown kind, no bands,
	// bands not ascending, a pass mark below 1).
	ErrInvalidRule = errors.New("invalid marking rule")
)

// Item is one item of an answer key: its correct option and whether it
// counts. Pilot items (Scored false) are answered like the others but never
// count towards the score.
type Item struct {
	ID      string   `json:"id"`
	Correct string   `json:"correct"`
	Scored  bool     `json:"scored"`
	Choices []string `json:"choices"`
}

// Band is one level band: a score of at least MinScore gives Level.
type Band struct {
	MinScore int    `json:"min_score"`
	Level    string `json:"level"`
}

// Rule turns a score into a result.
type Rule struct {
	// Kind is RulePassMark or RuleLevels.
	Kind string `json:"kind"`
	// PassMark is the least score that passes (pass_mark only).
	PassMark int `json:"pass_mark,omitempty"`
	// Bands are ascending by MinScore; a score below the first band gives
	// "under_a1" (levels only).
	Bands []Band `json:"bands,omitempty"`
	// MinAnswered: with fewer answered scored items the result is
	// not_enough_basis (levels only; 0 means no minimum).
	MinAnswered int `json:"min_answered,omitempty"`
}

// Answers is an answer sheet: item ID -> chosen option; "" means no answer.
type Answers map[string]string

// ItemOutcome is how one item was answered. Correct is reported for pilot
// items too (for item statistics), but only Scored items count.
type ItemOutcome struct {
	ID      string `json:"id"`
	Given   string `json:"given"`
	Correct bool   `json:"correct"`
	Scored  bool   `json:"scored"`
}

// Outcome is the marking of one answer sheet.
type Outcome struct {
	// Score is the number of correct answers on scored items; MaxScore the
	// number of scored items; Answered the number of scored items answered.
	Score    int `json:"score"`
	MaxScore int `json:"max_score"`
	Answered int `json:"answered"`
	// Result is passed/failed, a level, or not_enough_basis.
	Result string `json:"result"`
	// Items are in key order.
	Items []ItemOutcome `json:"items"`
}

// SheetProblem is one thing wrong with an answer sheet, e.g. {"q7", "unknown
// item"}, {"q3", "missing"}, {"q2", "choice not among the item's options"}.
type SheetProblem struct {
	Item    string `json:"item,omitempty"`
	Problem string `json:"problem"`
}

// Sheet problems.
const (
	ProblemUnknownItem = "unknown item"
	ProblemMissing     = "missing"
	ProblemBadChoice   = "choice not among the item's options"
)

// FieldProblem is one thing wrong with an answer key or a catalogue entry,
// named by its JSON path, e.g. {"items[3].correct", "missing"}.
type FieldProblem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// CheckSheet reports what makes an answer sheet incomplete or malformed
// against a key: items not in the key, key items missing from the sheet (an
// item present with "" is unanswered, not missing), and choices not among the
// item's Choices (when Choices is set). Problems come in key order, then the
// unknown items sorted by ID. It returns nil for a sound sheet.
func CheckSheet(items []Item, answers Answers) []SheetProblem {
	var problems []SheetProblem
	known := make(map[string]bool, len(items))
	for _, it := range items {
		known[it.ID] = true
		given, ok := answers[it.ID]
		switch {
		case !ok:
			problems = append(problems, SheetProblem{Item: it.ID, Problem: ProblemMissing})
		case given != "" && len(it.Choices) > 0 && !slices.Contains(it.Choices, given):
			problems = append(problems, SheetProblem{Item: it.ID, Problem: ProblemBadChoice})
		}
	}
	var unknown []string
	for id := range answers {
		if !known[id] {
			unknown = append(unknown, id)
		}
	}
	slices.Sort(unknown)
	for _, id := range unknown {
		problems = append(problems, SheetProblem{Item: id, Problem: ProblemUnknownItem})
	}
	return problems
}

// Mark scores a sheet: one point per correct answer on scored items (pilot
// items, Scored=false, never count), then applies the rule. Answers to items
// not in the key are ignored, and a choice not among an item's options is
// simply wrong; use CheckSheet first to refuse such sheets. It returns an
// error wrapping ErrInvalidRule for a rule it cannot apply (unknown kind,
// bands not ascending, no bands for levels, a pass mark below 1) and
// ErrInvalidKey for items it cannot mark (no ID, duplicate ID, no correct
// answer).
func Mark(items []Item, rule Rule, answers Answers) (Outcome, error) {
	var errs []error
	if p := itemProblems(items); len(p) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidKey, joinProblems(p)))
	}
	if p := ruleProblems(rule, -1); len(p) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidRule, joinProblems(p)))
	}
	if len(errs) > 0 {
		return Outcome{}, errors.Join(errs...)
	}

	out := Outcome{Items: make([]ItemOutcome, 0, len(items))}
	for _, it := range items {
		given := answers[it.ID]
		correct := given != "" && given == it.Correct
		out.Items = append(out.Items, ItemOutcome{ID: it.ID, Given: given, Correct: correct, Scored: it.Scored})
		if !it.Scored {
			continue
		}
		out.MaxScore++
		if given != "" {
			out.Answered++
		}
		if correct {
			out.Score++
		}
	}

	out.Result = Decide(rule, out.Score, out.Answered)
	return out, nil
}

// CheckKey reports what is wrong with an answer key on its own: no items, no
// scored item, an item without an ID or a correct answer, duplicate IDs,
// empty or duplicate choices, fewer than two choices, a correct answer not
// among the choices, and a rule that cannot be applied or cannot be reached
// with the key's scored items (a pass mark, band or minimum above the
// maximum score). Fields are JSON paths: "items[3].correct",
// "rule.bands[1].min_score". It returns nil for a sound key.
func CheckKey(items []Item, rule Rule) []FieldProblem {
	var problems []FieldProblem
	if len(items) == 0 {
		problems = append(problems, FieldProblem{"items", "the key has no items"})
	}
	problems = append(problems, itemProblems(items)...)
	scored := 0
	for i, it := range items {
		if it.Scored {
			scored++
		}
		if len(it.Choices) == 0 {
			continue
		}
		if len(it.Choices) < 2 {
			problems = append(problems, FieldProblem{fmt.Sprintf("items[%d].choices", i), "an item needs at least two choices"})
		}
		seen := map[string]bool{}
		for k, c := range it.Choices {
			switch {
			case c == "":
				problems = append(problems, FieldProblem{fmt.Sprintf("items[%d].choices[%d]", i, k), "empty choice"})
			case seen[c]:
				problems = append(problems, FieldProblem{fmt.Sprintf("items[%d].choices[%d]", i, k), "duplicate choice"})
			}
			seen[c] = true
		}
		if it.Correct != "" && !seen[it.Correct] {
			problems = append(problems, FieldProblem{fmt.Sprintf("items[%d].correct", i), "not among the item's choices"})
		}
	}
	if len(items) > 0 && scored == 0 {
		problems = append(problems, FieldProblem{"items", "no item is scored"})
	}
	return append(problems, ruleProblems(rule, scored)...)
}

// itemProblems finds what makes items unmarkable.
func itemProblems(items []Item) []FieldProblem {
	var problems []FieldProblem
	first := make(map[string]int, len(items))
	for i, it := range items {
		if it.ID == "" {
			problems = append(problems, FieldProblem{fmt.Sprintf("items[%d].id", i), "missing"})
		} else if j, dup := first[it.ID]; dup {
			problems = append(problems, FieldProblem{fmt.Sprintf("items[%d].id", i), fmt.Sprintf("duplicate of items[%d].id", j)})
		} else {
			first[it.ID] = i
		}
		if it.Correct == "" {
			problems = append(problems, FieldProblem{fmt.Sprintf("items[%d].correct", i), "missing"})
		}
	}
	return problems
}

// CheckRule reports what makes a rule unusable. With maxScore >= 0 it also
// reports a pass mark, band or minimum that cannot be reached with that many
// scored items; a negative maxScore (unknown, e.g. an adaptive part) skips
// those checks. Fields are JSON paths under "rule".
func CheckRule(rule Rule, maxScore int) []FieldProblem { return ruleProblems(rule, maxScore) }

func ruleProblems(r Rule, maxScore int) []FieldProblem {
	var problems []FieldProblem
	add := func(field, format string, args ...any) {
		problems = append(problems, FieldProblem{field, fmt.Sprintf(format, args...)})
	}
	switch r.Kind {
	case "":
		add("rule.kind", "missing; want %s or %s", RulePassMark, RuleLevels)
	case RulePassMark:
		if r.PassMark < 1 {
			add("rule.pass_mark", "must be at least 1")
		} else if maxScore >= 0 && r.PassMark > maxScore {
			add("rule.pass_mark", "%d is above the maximum score %d", r.PassMark, maxScore)
		}
		if len(r.Bands) > 0 {
			add("rule.bands", "applies only to the %s rule", RuleLevels)
		}
		if r.MinAnswered != 0 {
			add("rule.min_answered", "applies only to the %s rule", RuleLevels)
		}
	case RuleLevels:
		if r.PassMark != 0 {
			add("rule.pass_mark", "applies only to the %s rule", RulePassMark)
		}
		if len(r.Bands) == 0 {
			add("rule.bands", "the %s rule needs at least one band", RuleLevels)
		}
		for i, b := range r.Bands {
			rank := slices.Index(levels, b.Level)
			if rank < 1 {
				add(fmt.Sprintf("rule.bands[%d].level", i), "unknown level %q; want one of %s", b.Level, strings.Join(levels[1:], ", "))
			}
			switch {
			case b.MinScore < 0:
				add(fmt.Sprintf("rule.bands[%d].min_score", i), "must not be negative")
			case maxScore >= 0 && b.MinScore > maxScore:
				add(fmt.Sprintf("rule.bands[%d].min_score", i), "%d is above the maximum score %d, so %s cannot be reached", b.MinScore, maxScore, b.Level)
			}
			if i == 0 {
				continue
			}
			prev := r.Bands[i-1]
			if b.MinScore <= prev.MinScore {
				add(fmt.Sprintf("rule.bands[%d].min_score", i), "must be above the previous band's (%d): bands ascend", prev.MinScore)
			}
			if prevRank := slices.Index(levels, prev.Level); rank >= 1 && prevRank >= 1 && rank <= prevRank {
				add(fmt.Sprintf("rule.bands[%d].level", i), "must be above the previous band's (%s): bands ascend", prev.Level)
			}
		}
		switch {
		case r.MinAnswered < 0:
			add("rule.min_answered", "must not be negative")
		case maxScore >= 0 && r.MinAnswered > maxScore:
			add("rule.min_answered", "%d is above the number of scored items %d", r.MinAnswered, maxScore)
		}
	default:
		add("rule.kind", "unknown rule kind %q; want %s or %s", r.Kind, RulePassMark, RuleLevels)
	}
	return problems
}

func joinProblems(problems []FieldProblem) string {
	parts := make([]string, len(problems))
	for i, p := range problems {
		parts[i] = p.Field + ": " + p.Problem
	}
	return strings.Join(parts, "; ")
}

// AnswerKeySpec is an answer key as an author gives it.
type AnswerKeySpec struct {
	FormID      string
	TestType    string
	TestVersion string
	Part        string
	Items       []Item
	// Rule is the rule to mark with; the zero Rule takes the part's rule.
	Rule Rule
}

// CheckAnswerKey checks an answer key against the catalogue's version of
// its test (nil when the catalogue has no such version; typeKnown says
// whether it has the test type at all) and returns the rule to store with
// the key and the problems, each naming its field. A key's part must be
// automated; its rule must be the part's kind, with the part's pass mark (a
// levels rule may carry the form's own bands); its items must be as many,
// and as many scored, as the part has.
func CheckAnswerKey(k AnswerKeySpec, version *TestVersion, typeKnown bool) (Rule, []FieldProblem) {
	var problems []FieldProblem
	add := func(field, format string, args ...any) {
		problems = append(problems, FieldProblem{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	for _, f := range []struct{ name, value string }{
		{"form_id", k.FormID}, {"test_type", k.TestType}, {"test_version", k.TestVersion}, {"part", k.Part},
	} {
		if strings.TrimSpace(f.value) == "" {
			add(f.name, "missing")
		}
	}
	if len(k.FormID) > 200 {
		add("form_id", "longer than 200 characters")
	}
	if k.TestType == "" || k.TestVersion == "" {
		return k.Rule, append(problems, itemsOnly(k.Items, k.Rule)...)
	}
	if version == nil {
		if typeKnown {
			add("test_version", "%s has no version %q", k.TestType, k.TestVersion)
		} else {
			add("test_type", "unknown test type %q", k.TestType)
		}
		return k.Rule, append(problems, itemsOnly(k.Items, k.Rule)...)
	}

	name := k.TestType + " " + k.TestVersion
	part, ok := version.Part(k.Part)
	switch {
	case k.Part == "":
	case !ok:
		add("part", "%s has no part %q; its parts are %s", name, k.Part, strings.Join(version.PartNames(), ", "))
	case !part.Automated():
		add("part", "%s part %s is marked by examiners and has no answer key", name, k.Part)
	}
	if !ok || !part.Automated() {
		return k.Rule, append(problems, itemsOnly(k.Items, k.Rule)...)
	}

	rule := k.Rule
	switch {
	case rule.Kind == "":
		rule = part.Rule
	case rule.Kind != part.Rule.Kind:
		add("rule.kind", "must be %s, the rule of %s part %s", part.Rule.Kind, name, k.Part)
	case rule.Kind == RulePassMark && rule.PassMark != part.Rule.PassMark:
		add("rule.pass_mark", "must be %d, the pass mark of %s", part.Rule.PassMark, name)
	}
	if part.Items > 0 {
		scored := 0
		for _, it := range k.Items {
			if it.Scored {
				scored++
			}
		}
		if len(k.Items) != part.Items {
			add("items", "has %d items; %s has %d", len(k.Items), name, part.Items)
		}
		if scored != part.ScoredItems {
			add("items", "has %d scored items; %s has %d scored and %d pilot items", scored, name, part.ScoredItems, part.Items-part.ScoredItems)
		}
	}
	return rule, append(problems, CheckKey(k.Items, rule)...)
}

// itemsOnly checks a key whose part is unknown: its items, and its rule only
// when one was given (a zero rule would have come from the part).
func itemsOnly(items []Item, rule Rule) []FieldProblem {
	problems := CheckKey(items, rule)
	if rule.Kind != "" {
		return problems
	}
	return slices.DeleteFunc(problems, func(p FieldProblem) bool { return strings.HasPrefix(p.Field, "rule.") })
}
