package marking

import "fmt"

// FictionalKey is an answer key for a fictional session of an automated
// part, as the demo, the end-to-end tests and the benchmarks create them:
// items q01..qNN with choices a, b and c, the correct answer always "a"; the
// part's first ScoredItems items count and the rest are pilots. An adaptive
// part (no fixed length) gets 30 items, all scored. Never a real key.
func FictionalKey(def PartDef) []Item {
	n, scored := def.Items, def.ScoredItems
	if n == 0 {
		n, scored = 30, 30
	}
	items := make([]Item, n)
	for i := range items {
		items[i] = Item{ID: fmt.Sprintf("q%02d", i+1), Correct: "a", Scored: i < scored, Choices: []string{"a", "b", "c"}}
	}
	return items
}
