package storage

import (
	"testing"

	"github.com/examflow/examflow/policy"
)

// TestDeletionStatementsCoverThePolicy: every category of the retention
// policy has the statements that delete it, and no statement deletes a
// category the policy does not have.
func TestDeletionStatementsCoverThePolicy(t *testing.T) {
	inPolicy := map[policy.Category]bool{}
	for _, r := range policy.Table {
		inPolicy[r.Category] = true
		if len(categoryDeletes[r.Category]) == 0 {
			t.Errorf("category %s of the policy has no deletion statements", r.Category)
		}
	}
	for c := range categoryDeletes {
		if !inPolicy[c] {
			t.Errorf("deletion statements for %s, which the policy table does not have", c)
		}
	}
}
