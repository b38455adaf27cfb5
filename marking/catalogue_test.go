package marking

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEmbeddedCatalogue(t *testing.T) {
	c, err := LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		testType, version, part string
		items, scored           int
		rule                    Rule
	}{
		{"citizenship", "2024", "test", 36, 32, Rule{Kind: RulePassMark, PassMark: 24}},
		{"social_studies", "2022", "test", 38, 34, Rule{Kind: RulePassMark, PassMark: 26}},
		{"social_studies", "2013", "test", 38, 38, Rule{Kind: RulePassMark, PassMark: 29}},
	}
	for _, tt := range tests {
		v, ok := c.Lookup(tt.testType, tt.version)
		if !ok {
			t.Fatalf("%s %s missing", tt.testType, tt.version)
		}
		p, ok := v.Part(tt.part)
		if !ok || !p.Automated() || p.Items != tt.items || p.ScoredItems != tt.scored || !reflect.DeepEqual(p.Rule, tt.rule) {
			t.Errorf("%s %s %s = %+v, want automated, %d items, %d scored, rule %+v", tt.testType, tt.version, tt.part, p, tt.items, tt.scored, tt.rule)
		}
	}

	nor, ok := c.Lookup("norwegian_a1_b2", "2024")
	if !ok {
		t.Fatal("norwegian_a1_b2 2024 missing")
	}
	if got := nor.PartNames(); !reflect.DeepEqual(got, []string{"listening", "oral", "reading", "writing"}) {
		t.Errorf("norwegian_a1_b2 parts = %v", got)
	}
	for _, name := range []string{"reading", "listening"} {
		p, _ := nor.Part(name)
		if !p.Automated() || p.Rule.Kind != RuleLevels || len(p.Rule.Bands) == 0 || p.Rule.MinAnswered <= 0 {
			t.Errorf("%s = %+v, want automated with level bands and a minimum", name, p)
		}
		if !strings.Contains(p.Provisional, "PLACEHOLDER") {
			t.Errorf("%s: the unpublished cut points must be marked as placeholders", name)
		}
	}
	for _, name := range []string{"writing", "oral"} {
		if p, _ := nor.Part(name); p.Automated() || p.Marking != MarkingExaminer {
			t.Errorf("%s = %+v, want examiner marking", name, p)
		}
	}
	if w, _ := nor.Part("writing"); !w.CappedAtBand {
		t.Error("writing must be capped at the registered band")
	}
	if o, _ := nor.Part("oral"); o.CappedAtBand {
		t.Error("oral is not capped")
	}

	c1, ok := c.Lookup("norwegian_c1", "2024")
	if !ok {
		t.Fatal("norwegian_c1 2024 missing")
	}
	if got := c1.PartNames(); !reflect.DeepEqual(got, []string{"listening_writing", "reading_oral"}) {
		t.Errorf("norwegian_c1 parts = %v", got)
	}
	for _, name := range c1.PartNames() {
		if p, _ := c1.Part(name); p.Automated() || !reflect.DeepEqual(p.Results, []string{ResultNotPassed, LevelC1}) {
			t.Errorf("C1 %s = %+v, want examiner marking with C1 / not_passed", name, p)
		}
	}
	if _, ok := nor.Part("test"); ok {
		t.Error("norwegian_a1_b2 has no part named test")
	}
}

func TestCatalogueVersion(t *testing.T) {
	c, err := LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	tests := []struct {
		testType string
		on       time.Time
		want     string // version; "" = ErrNoTestVersion
	}{
		{"social_studies", time.Date(2022, 11, 30, 12, 0, 0, 0, time.UTC), "2013"},
		{"social_studies", time.Date(2022, 12, 1, 0, 0, 0, 0, time.UTC), "2022"},
		{"social_studies", time.Date(2022, 12, 1, 0, 30, 0, 0, oslo), "2022"}, // 23:30 UTC the day before
		{"social_studies", time.Date(2013, 9, 1, 0, 0, 0, 0, time.UTC), "2013"},
		{"social_studies", time.Date(2013, 8, 31, 0, 0, 0, 0, time.UTC), ""},
		{"social_studies", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), "2022"},
		{"citizenship", time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC), "2024"},
		{"citizenship", time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC), ""},
		{"norwegian_a1_b2", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), "2024"},
		{"norwegian_c1", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), "2024"},
		{"driving", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), ""},
	}
	for _, tt := range tests {
		t.Run(tt.testType+" "+tt.on.String(), func(t *testing.T) {
			v, err := c.Version(tt.testType, tt.on)
			if tt.want == "" {
				if !errors.Is(err, ErrNoTestVersion) {
					t.Fatalf("got %+v, %v; want ErrNoTestVersion", v, err)
				}
				return
			}
			if err != nil || v.Version != tt.want || v.TestType != tt.testType {
				t.Fatalf("got %s %s, %v; want version %s", v.TestType, v.Version, err, tt.want)
			}
		})
	}
}

func TestCatalogueRoundTrip(t *testing.T) {
	c, err := LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseCatalogue(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !reflect.DeepEqual(c, again) {
		t.Fatalf("round trip changed the catalogue:\n%+v\n%+v", c, again)
	}
	if strings.Contains(string(data), `"valid_to":null`) || strings.Contains(string(data), `"rule":{"kind":""`) {
		t.Fatalf("zero fields are not omitted: %s", data)
	}
}

func TestParseCatalogueRefuses(t *testing.T) {
	const good = `{"test_type": "citizenship", "version": "v", "valid_from": "2024-01-01", "parts": {"test": {"marking": "automated", "items": 36, "scored_items": 32, "rule": {"kind": "pass_mark", "pass_mark": 24}}}}`
	const citizenship = `{"test_type": "citizenship", "parts": ["test"]}`
	catalogue := func(types, tests string) []byte {
		if types == "" {
			types = citizenship
		}
		return []byte(`{"test_types": [` + types + `], "tests": [` + tests + `]}`)
	}
	if _, err := ParseCatalogue(catalogue("", good)); err != nil {
		t.Fatalf("good catalogue refused: %v", err)
	}
	tests := []struct {
		name, tests, want string
	}{
		{"no tests", ``, "tests: the catalogue has no tests"},
		{"unknown field", `{"test_type": "x", "version": "1", "valid_from": "2024-01-01", "parts": {"p": {"marking": "examiner", "passmark": 3}}}`, "unknown field"},
		{"bad date", `{"test_type": "x", "version": "1", "valid_from": "01.01.2024", "parts": {"p": {"marking": "examiner"}}}`, "parse date"},
		{"no valid_from", `{"test_type": "x", "version": "1", "parts": {"p": {"marking": "examiner"}}}`, "tests[0].valid_from: missing"},
		{"ends before it starts", `{"test_type": "x", "version": "1", "valid_from": "2024-01-01", "valid_to": "2023-01-01", "parts": {"p": {"marking": "examiner"}}}`, "tests[0].valid_to: before valid_from"},
		{"duplicate", good + `,` + good, "tests[1].version: duplicate of tests[0]"},
		{"overlap", `{"test_type": "citizenship", "version": "old", "valid_from": "2020-01-01", "valid_to": "2024-01-01", "parts": {"p": {"marking": "examiner"}}},` + good, "tests[1].valid_from: overlaps tests[0]"},
		{"no parts", `{"test_type": "x", "version": "1", "valid_from": "2024-01-01"}`, "tests[0].parts: the test has no parts"},
		{"unknown marking", `{"test_type": "x", "version": "1", "valid_from": "2024-01-01", "parts": {"p": {"marking": "ai"}}}`, `tests[0].parts.p.marking: unknown marking "ai"`},
		{"examiner with a rule", `{"test_type": "x", "version": "1", "valid_from": "2024-01-01", "parts": {"p": {"marking": "examiner", "rule": {"kind": "pass_mark", "pass_mark": 3}}}}`, "tests[0].parts.p: an examiner-marked part has no items or rule"},
		{"pass mark out of reach", `{"test_type": "x", "version": "1", "valid_from": "2024-01-01", "parts": {"p": {"marking": "automated", "items": 36, "scored_items": 20, "rule": {"kind": "pass_mark", "pass_mark": 24}}}}`, "tests[0].parts.p.rule.pass_mark: 24 is above the maximum score 20"},
		{"more scored than items", `{"test_type": "x", "version": "1", "valid_from": "2024-01-01", "parts": {"p": {"marking": "automated", "items": 30, "scored_items": 32, "rule": {"kind": "pass_mark", "pass_mark": 24}}}}`, "tests[0].parts.p.scored_items"},
		{"automated without a rule", `{"test_type": "x", "version": "1", "valid_from": "2024-01-01", "parts": {"p": {"marking": "automated"}}}`, "tests[0].parts.p.rule.kind: missing"},
		{"bands descending", `{"test_type": "x", "version": "1", "valid_from": "2024-01-01", "parts": {"p": {"marking": "automated", "rule": {"kind": "levels", "bands": [{"min_score": 9, "level": "A2"}, {"min_score": 5, "level": "B1"}]}}}}`, "tests[0].parts.p.rule.bands[1].min_score"},
		{"unknown result", `{"test_type": "x", "version": "1", "valid_from": "2024-01-01", "parts": {"p": {"marking": "examiner", "results": ["A1", "A3"]}}}`, `tests[0].parts.p.results[1]: unknown result "A3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCatalogue(catalogue("", tt.tests))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	// The test types must agree with the versions.
	typeTests := []struct {
		name, tests, want string
		// types are the catalogue's test types; empty: citizenship's.
		types string
	}{
		{name: "no test types", tests: good, types: " ", want: "test_types: the catalogue lists no test types"},
		{name: "a version of a test type not listed", tests: good, types: `{"test_type": "social_studies", "parts": ["test"]}`,
			want: "tests[0].test_type: citizenship is not in test_types"},
		{name: "a version's part not listed", tests: `{"test_type": "citizenship", "version": "v", "valid_from": "2024-01-01", "parts": {"test": {"marking": "examiner"}, "oral": {"marking": "examiner"}}}`,
			want: "tests[0].parts.oral: not among the parts of citizenship in test_types[0]"},
		{name: "a listed part no version has", tests: good, types: `{"test_type": "citizenship", "parts": ["test", "oral"]}`,
			want: "test_types[0].parts[1]: no version of citizenship has the part oral"},
		{name: "a part listed twice", tests: good, types: `{"test_type": "citizenship", "parts": ["test", "test"]}`,
			want: "test_types[0].parts[1]: test is listed twice"},
		{name: "a test type listed twice", tests: good, types: citizenship + `,` + citizenship,
			want: "test_types[1].test_type: duplicate of test_types[0]"},
		{name: "a test type without parts", tests: good, types: citizenship + `, {"test_type": "social_studies", "parts": []}`,
			want: "test_types[1].parts: the test type has no parts"},
	}
	for _, tt := range typeTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCatalogue(catalogue(tt.types, tt.tests))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDateJSON(t *testing.T) {
	var d Date
	if err := json.Unmarshal([]byte(`"2022-11-30"`), &d); err != nil || d != NewDate(2022, 11, 30) {
		t.Fatalf("got %v, %v", d, err)
	}
	if b, _ := json.Marshal(d); string(b) != `"2022-11-30"` {
		t.Fatalf("marshal = %s", b)
	}
	if err := json.Unmarshal([]byte(`null`), &d); err != nil || !d.IsZero() {
		t.Fatalf("null: got %v, %v", d, err)
	}
	for _, bad := range []string{`""`, `"2022-13-01"`, `"2022-11-30T00:00:00Z"`, `20221130`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s accepted as a date", bad)
		}
	}
}
