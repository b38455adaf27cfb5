package marking

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Marking modes of a part.
const (
	// MarkingAutomated parts are machine-marked against an answer key.
	MarkingAutomated = "automated"
	// MarkingExaminer parts are assessed by examiners (raters).
	MarkingExaminer = "examiner"
)

// ErrNoTestVersion: the catalogue has no version of that test valid on that
// date (or no such test).
var ErrNoTestVersion = errors.New("no test version")

//go:embed catalogue.json
var catalogueJSON []byte

// Catalogue is the list of test types with their parts in order, and of
// test versions with their parts and rules.
type Catalogue struct {
	// Note says where the numbers come from and which are placeholders.
	Note string `json:"note,omitempty"`
	// TestTypes are the tests a candidate registers for, each with its
	// parts in their defined order: the order a registration's parts are
	// stored in and the API's table of parts (TestParts).
	TestTypes []TestType    `json:"test_types"`
	Tests     []TestVersion `json:"tests"`
}

// TestType is a test and its parts, in their defined order. Every version
// of the test has parts among these, and each of these is a part of some
// version (Check).
type TestType struct {
	TestType string   `json:"test_type"`
	Parts    []string `json:"parts"`
}

// TestParts returns each test type's parts in their defined order.
func (c Catalogue) TestParts() map[string][]string {
	out := make(map[string][]string, len(c.TestTypes))
	for _, t := range c.TestTypes {
		out[t.TestType] = slices.Clone(t.Parts)
	}
	return out
}

// TestVersion is one version of a test, valid from ValidFrom to ValidTo
// (inclusive; zero ValidTo: still valid).
type TestVersion struct {
	TestType  string             `json:"test_type"`
	Version   string             `json:"version"`
	ValidFrom Date               `json:"valid_from"`
	ValidTo   Date               `json:"valid_to,omitzero"`
	Note      string             `json:"note,omitempty"`
	Parts     map[string]PartDef `json:"parts"`
}

// PartDef is how one part of a test version is marked.
type PartDef struct {
	// Marking is MarkingAutomated or MarkingExaminer.
	Marking string `json:"marking"`
	// Items and ScoredItems are the number of items on every form of an
	// automated part and how many of them count; both 0 for adaptive parts,
	// whose forms differ in length.
	Items       int `json:"items,omitempty"`
	ScoredItems int `json:"scored_items,omitempty"`
	// Rule is the automated part's rule; answer keys copy it (levels keys
	// may carry their own form's bands).
	Rule Rule `json:"rule,omitzero"`
	// Results lists the results the part can have, lowest first.
	Results []string `json:"results,omitempty"`
	// CappedAtBand: the result cannot be above the registered level band
	// (Norwegian writing; see CapWriting).
	CappedAtBand bool `json:"capped_at_band,omitempty"`
	// Provisional, when set, says which numbers of the rule are placeholders
	// still to be confirmed, and why.
	Provisional string `json:"provisional,omitempty"`
}

// Automated reports whether the part is machine-marked against an answer key.
func (p PartDef) Automated() bool { return p.Marking == MarkingAutomated }

// Part returns the named part of the test version.
func (v TestVersion) Part(name string) (PartDef, bool) {
	p, ok := v.Parts[name]
	return p, ok
}

// PartNames returns the names of the version's parts, sorted.
func (v TestVersion) PartNames() []string {
	names := make([]string, 0, len(v.Parts))
	for n := range v.Parts {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ValidOn reports whether the version is valid on the calendar date of on
// (in on's own location).
func (v TestVersion) ValidOn(on time.Time) bool {
	d := DateOf(on)
	return !d.Before(v.ValidFrom) && (v.ValidTo.IsZero() || !v.ValidTo.Before(d))
}

// LoadCatalogue parses and checks the embedded catalogue (catalogue.json).
func LoadCatalogue() (Catalogue, error) {
	return ParseCatalogue(catalogueJSON)
}

// ParseCatalogue parses a catalogue in the JSON form of catalogue.json,
// refusing unknown fields, and checks it (see Catalogue.Check).
func ParseCatalogue(data []byte) (Catalogue, error) {
	var c Catalogue
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Catalogue{}, fmt.Errorf("parse catalogue: %w", err)
	}
	if problems := c.Check(); len(problems) > 0 {
		return Catalogue{}, fmt.Errorf("invalid catalogue: %s", joinProblems(problems))
	}
	return c, nil
}

// Check reports what is wrong with the catalogue: missing names or dates,
// duplicate or overlapping versions of a test, unknown marking modes or
// results, and automated parts whose counts or rule do not hold together.
// Fields are JSON paths such as "tests[2].parts.test.rule.pass_mark".
func (c Catalogue) Check() []FieldProblem {
	var problems []FieldProblem
	add := func(field, format string, args ...any) {
		problems = append(problems, FieldProblem{field, fmt.Sprintf(format, args...)})
	}
	if len(c.Tests) == 0 {
		add("tests", "the catalogue has no tests")
	}
	problems = append(problems, c.testTypeProblems()...)
	seen := map[[2]string]int{}
	for i, v := range c.Tests {
		at := fmt.Sprintf("tests[%d]", i)
		if v.TestType == "" {
			add(at+".test_type", "missing")
		}
		if v.Version == "" {
			add(at+".version", "missing")
		}
		if j, dup := seen[[2]string{v.TestType, v.Version}]; dup {
			add(at+".version", "duplicate of tests[%d]", j)
		} else {
			seen[[2]string{v.TestType, v.Version}] = i
		}
		if v.ValidFrom.IsZero() {
			add(at+".valid_from", "missing")
		}
		if !v.ValidTo.IsZero() && v.ValidTo.Before(v.ValidFrom) {
			add(at+".valid_to", "before valid_from")
		}
		for j, w := range c.Tests[:i] {
			if w.TestType == v.TestType && w.Version != v.Version && overlap(v, w) {
				add(at+".valid_from", "overlaps tests[%d] (%s %s)", j, w.TestType, w.Version)
			}
		}
		if len(v.Parts) == 0 {
			add(at+".parts", "the test has no parts")
		}
		for _, name := range v.PartNames() {
			problems = append(problems, partProblems(at+".parts."+name, v.Parts[name])...)
		}
	}
	return problems
}

// testTypeProblems checks the test types against the versions: each test
// type once, its parts once each; every version's test type listed, with
// parts among its parts; every listed part a part of some version.
func (c Catalogue) testTypeProblems() []FieldProblem {
	var problems []FieldProblem
	add := func(field, format string, args ...any) {
		problems = append(problems, FieldProblem{field, fmt.Sprintf(format, args...)})
	}
	if len(c.TestTypes) == 0 {
		add("test_types", "the catalogue lists no test types")
	}
	listed := map[string]int{}
	for i, t := range c.TestTypes {
		at := fmt.Sprintf("test_types[%d]", i)
		if t.TestType == "" {
			add(at+".test_type", "missing")
		} else if j, dup := listed[t.TestType]; dup {
			add(at+".test_type", "duplicate of test_types[%d]", j)
			continue
		}
		listed[t.TestType] = i
		if len(t.Parts) == 0 {
			add(at+".parts", "the test type has no parts")
		}
		for k, part := range t.Parts {
			if slices.Index(t.Parts, part) < k {
				add(fmt.Sprintf("%s.parts[%d]", at, k), "%s is listed twice", part)
				continue
			}
			inSome := slices.ContainsFunc(c.Tests, func(v TestVersion) bool {
				_, ok := v.Parts[part]
				return v.TestType == t.TestType && ok
			})
			if !inSome {
				add(fmt.Sprintf("%s.parts[%d]", at, k), "no version of %s has the part %s", t.TestType, part)
			}
		}
	}
	for i, v := range c.Tests {
		j, ok := listed[v.TestType]
		if !ok {
			if v.TestType != "" {
				add(fmt.Sprintf("tests[%d].test_type", i), "%s is not in test_types", v.TestType)
			}
			continue
		}
		for _, name := range v.PartNames() {
			if !slices.Contains(c.TestTypes[j].Parts, name) {
				add(fmt.Sprintf("tests[%d].parts.%s", i, name), "not among the parts of %s in test_types[%d]", v.TestType, j)
			}
		}
	}
	return problems
}

func partProblems(at string, p PartDef) []FieldProblem {
	var problems []FieldProblem
	add := func(field, format string, args ...any) {
		problems = append(problems, FieldProblem{field, fmt.Sprintf(format, args...)})
	}
	for k, r := range p.Results {
		if LevelRank(r) < 0 {
			add(fmt.Sprintf("%s.results[%d]", at, k), "unknown result %q", r)
		}
	}
	switch p.Marking {
	case MarkingAutomated:
		switch {
		case p.Items < 0 || p.ScoredItems < 0:
			add(at+".items", "counts must not be negative")
		case p.ScoredItems > p.Items:
			add(at+".scored_items", "%d is more than the %d items", p.ScoredItems, p.Items)
		case p.Items > 0 && p.ScoredItems == 0:
			add(at+".scored_items", "missing")
		}
		maxScore := -1 // adaptive: unknown
		if p.Items > 0 {
			maxScore = p.ScoredItems
		}
		for _, rp := range ruleProblems(p.Rule, maxScore) {
			add(at+"."+rp.Field, "%s", rp.Problem)
		}
	case MarkingExaminer:
		if p.Items != 0 || p.ScoredItems != 0 || p.Rule.Kind != "" {
			add(at, "an examiner-marked part has no items or rule")
		}
	case "":
		add(at+".marking", "missing; want %s or %s", MarkingAutomated, MarkingExaminer)
	default:
		add(at+".marking", "unknown marking %q; want %s or %s", p.Marking, MarkingAutomated, MarkingExaminer)
	}
	return problems
}

// overlap reports whether two versions are valid on a common date.
func overlap(a, b TestVersion) bool {
	endsBefore := func(x, y TestVersion) bool { return !x.ValidTo.IsZero() && x.ValidTo.Before(y.ValidFrom) }
	return !endsBefore(a, b) && !endsBefore(b, a)
}

// Version returns the version of testType valid on the calendar date of on
// (in on's own location). The error wraps ErrNoTestVersion when there is none.
func (c Catalogue) Version(testType string, on time.Time) (TestVersion, error) {
	for _, v := range c.Tests {
		if v.TestType == testType && v.ValidOn(on) {
			return v, nil
		}
	}
	return TestVersion{}, fmt.Errorf("%w: %s on %s", ErrNoTestVersion, testType, DateOf(on))
}

// Lookup returns a version of a test by its name.
func (c Catalogue) Lookup(testType, version string) (TestVersion, bool) {
	for _, v := range c.Tests {
		if v.TestType == testType && v.Version == version {
			return v, true
		}
	}
	return TestVersion{}, false
}

// Date is a calendar date, "2006-01-02" in JSON. The zero Date is "no date".
type Date struct{ t time.Time }

// NewDate returns the date y-m-d.
func NewDate(y int, m time.Month, d int) Date { return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

// DateOf returns the calendar date of t in t's own location.
func DateOf(t time.Time) Date { return NewDate(t.Date()) }

// ParseDate parses "2006-01-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("parse date %q: %w", s, err)
	}
	return Date{t}, nil
}

// Time returns midnight UTC of the date (the zero time for the zero Date).
func (d Date) Time() time.Time { return d.t }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d.t.IsZero() }

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.t.Before(e.t) }

// String returns "2006-01-02", or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.t.Format(time.DateOnly)
}

// MarshalJSON encodes "2006-01-02", or null for the zero Date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

// UnmarshalJSON decodes "2006-01-02" or null.
func (d *Date) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("date: %w", err)
	}
	if strings.TrimSpace(s) != s || s == "" {
		return fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
