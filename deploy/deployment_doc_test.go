package deploy

import (
	"fmt"
	"os"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/examflow/examflow/cases"
)

// TestDeploymentDocCountsSearchAttributes: docs/deployment.md says how many
// custom search attributes examflow registers and how many of SQL
// visibility's fixed columns of each type they take; the counts follow
// cases.SearchAttributes.
func TestDeploymentDocCountsSearchAttributes(t *testing.T) {
	data, err := os.ReadFile("../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(data)), " ")
	count := map[enumspb.IndexedValueType]int{}
	for _, typ := range cases.SearchAttributes() {
		count[typ]++
	}
	words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen"}
	total := len(cases.SearchAttributes())
	if total >= len(words) {
		t.Fatalf("%d search attributes: extend the words", total)
	}
	for _, want := range []string{
		fmt.Sprintf("registers examflow's %s custom search attributes", words[total]),
		fmt.Sprintf("examflow uses %d of its 10 Keyword, %d of its 3 Datetime and %d of its 3 Bool columns",
			count[enumspb.INDEXED_VALUE_TYPE_KEYWORD], count[enumspb.INDEXED_VALUE_TYPE_DATETIME], count[enumspb.INDEXED_VALUE_TYPE_BOOL]),
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/deployment.md does not say %q", want)
		}
	}
	if other := total - count[enumspb.INDEXED_VALUE_TYPE_KEYWORD] - count[enumspb.INDEXED_VALUE_TYPE_DATETIME] - count[enumspb.INDEXED_VALUE_TYPE_BOOL]; other != 0 {
		t.Errorf("%d search attributes of another type: docs/deployment.md names Keyword, Datetime and Bool only", other)
	}
}
