package docs

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/examflow/examflow/api"
)

// dailyList is a row of temporal-ui.md's "The case handler's daily lists".
type dailyList struct{ name, query, link string }

// dailyLists reads the table of the case handler's daily lists.
func dailyLists(t *testing.T) []dailyList {
	t.Helper()
	b, err := os.ReadFile("temporal-ui.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []dailyList
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "## ") {
			in = l == "## The case handler's daily lists"
			continue
		}
		if !in || !strings.HasPrefix(l, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), " | ")
		if len(cells) != 3 {
			t.Fatalf("row %q: want 3 cells", l)
		}
		row := dailyList{name: firstCode(cells[0]), query: firstCode(cells[1])}
		if link := strings.TrimSpace(cells[2]); strings.HasPrefix(link, "<") {
			row.link = strings.Trim(link, "<>")
		}
		out = append(out, row)
	}
	if len(out) == 0 {
		t.Fatal("temporal-ui.md has no daily lists")
	}
	return out
}

func firstCode(cell string) string {
	if m := code.FindStringSubmatch(cell); m != nil {
		return m[1]
	}
	return ""
}

// TestDailyListsAreTheAPIs: the daily lists in temporal-ui.md are the
// ones GET /v1/temporal-ui/queries answers, query for query, and each
// fixed link opens the local stack's list of its query.
func TestDailyListsAreTheAPIs(t *testing.T) {
	doc := dailyLists(t)
	apiLists := api.DailyQueries()
	if len(doc) != len(apiLists) {
		t.Fatalf("temporal-ui.md lists %d daily lists, the API %d", len(doc), len(apiLists))
	}
	local := api.TemporalUI{BaseURL: "http://127.0.0.1:8233", Namespace: "default"}
	for i, row := range doc {
		if row.name != apiLists[i].Name || row.query != apiLists[i].Query {
			t.Errorf("row %d: %s %q, the API's is %s %q", i+1, row.name, row.query, apiLists[i].Name, apiLists[i].Query)
		}
		timed := strings.Contains(row.query, "{now")
		switch {
		case timed && row.link != "":
			t.Errorf("%s: a fixed link for a query that needs the current time", row.name)
		case !timed && row.link == "":
			t.Errorf("%s: no link", row.name)
		case !timed:
			u, err := url.Parse(row.link)
			if err != nil {
				t.Fatalf("%s: %v", row.name, err)
			}
			if u.Query().Get("query") != row.query || row.link != local.ListURL(row.query) {
				t.Errorf("%s: the link %q does not open %q on the local stack", row.name, row.link, row.query)
			}
		}
	}
}
