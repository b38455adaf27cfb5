package marking

import (
	"fmt"
	"slices"
	"testing"
)

// TestCheckAnswerKey: a key is checked against the catalogue's version of
// its test without a database, each problem naming its field.
func TestCheckAnswerKey(t *testing.T) {
	cat, err := LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	v, ok := cat.Lookup("citizenship", "2024")
	if !ok {
		t.Fatal("citizenship 2024 not in the catalogue")
	}
	items := func(n, scored int) []Item {
		var out []Item
		for i := range n {
			out = append(out, Item{ID: fmt.Sprintf("q%d", i+1), Correct: "a", Scored: i < scored, Choices: []string{"a", "b", "c"}})
		}
		return out
	}
	good := AnswerKeySpec{FormID: "cit-1", TestType: "citizenship", TestVersion: "2024", Part: "test", Items: items(36, 32)}
	tests := []struct {
		name      string
		edit      func(*AnswerKeySpec)
		version   *TestVersion
		typeKnown bool
		fields    []string
	}{
		{"a good key takes the part's rule", func(*AnswerKeySpec) {}, &v, true, nil},
		{"too few items", func(k *AnswerKeySpec) { k.Items = items(30, 30) }, &v, true, []string{"items", "items"}},
		{"no such part", func(k *AnswerKeySpec) { k.Part = "oral" }, &v, true, []string{"part"}},
		{"no such version", func(k *AnswerKeySpec) { k.TestVersion = "1999" }, nil, true, []string{"test_version"}},
		{"no such test type", func(k *AnswerKeySpec) { k.TestType = "driving" }, nil, false, []string{"test_type"}},
		{"another pass mark", func(k *AnswerKeySpec) { k.Rule = v.Parts["test"].Rule; k.Rule.PassMark++ }, &v, true, []string{"rule.pass_mark"}},
		{"no form", func(k *AnswerKeySpec) { k.FormID = " " }, &v, true, []string{"form_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := good
			tt.edit(&k)
			rule, problems := CheckAnswerKey(k, tt.version, tt.typeKnown)
			var fields []string
			for _, p := range problems {
				fields = append(fields, p.Field)
			}
			if !slices.Equal(fields, tt.fields) {
				t.Errorf("problems %+v, want fields %v", problems, tt.fields)
			}
			if want := v.Parts["test"].Rule; tt.fields == nil && (rule.Kind != want.Kind || rule.PassMark != want.PassMark) {
				t.Errorf("rule %+v, want the part's %+v", rule, want)
			}
		})
	}
}
