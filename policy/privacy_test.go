package policy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPrivacyTableNamesRealTests: every test docs/privacy.md names as
// proof of a promise exists, so the traceability table cannot point at a
// test that was renamed or removed.
func TestPrivacyTableNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile("../docs/privacy.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile("`([a-z0-9]+)\\.(Test[A-Za-z0-9_]+)`").FindAllStringSubmatch(string(doc), -1)
	if len(names) < 20 {
		t.Fatalf("found only %d test names in docs/privacy.md", len(names))
	}
	sources := map[string]string{}
	for _, n := range names {
		pkg, test := n[1], n[2]
		if pkg == "package" {
			continue // the table's legend
		}
		if _, ok := sources[pkg]; !ok {
			files, _ := filepath.Glob(filepath.Join("..", pkg, "*_test.go"))
			var all strings.Builder
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				all.Write(b)
			}
			sources[pkg] = all.String()
		}
		if !strings.Contains(sources[pkg], "func "+test+"(") {
			t.Errorf("docs/privacy.md names %s.%s, which does not exist", pkg, test)
		}
	}
}
