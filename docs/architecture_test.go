// Package docs holds the tests that keep the documentation true to the
// code.
package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/examflow/examflow/"

// section returns the lines of architecture.md under the heading.
func section(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "## ") {
			in = l == "## "+heading
			continue
		}
		if in {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		t.Fatalf("architecture.md has no section %q", heading)
	}
	return out
}

var code = regexp.MustCompile("`([^`]+)`")

// TestArchitectureWalkNamesRealFunctions: every file the walk names exists
// and declares every function the walk names in it.
func TestArchitectureWalkNamesRealFunctions(t *testing.T) {
	steps := 0
	files := map[string]bool{}
	for _, l := range section(t, "The walk of one registration") {
		cells := strings.Split(l, "|")
		if len(cells) != 6 || !regexp.MustCompile(`^\s*\d+\s*$`).MatchString(cells[1]) {
			continue
		}
		steps++
		file := code.FindStringSubmatch(cells[3])
		if file == nil {
			t.Errorf("step %s names no file", strings.TrimSpace(cells[1]))
			continue
		}
		files[file[1]] = true
		src, err := os.ReadFile(filepath.Join("..", file[1]))
		if err != nil {
			t.Errorf("step %s: %v", strings.TrimSpace(cells[1]), err)
			continue
		}
		for _, fn := range code.FindAllStringSubmatch(cells[4], -1) {
			decl := regexp.MustCompile(`(?m)^func (\([^)]*\) )?` + regexp.QuoteMeta(fn[1]) + `[\[(]`)
			if !decl.Match(src) {
				t.Errorf("step %s: %s declares no function %s", strings.TrimSpace(cells[1]), file[1], fn[1])
			}
		}
	}
	if steps == 0 {
		t.Fatal("the walk has no steps")
	}
	// Issue: a newcomer follows one registration from HTTP to its deletion
	// in six files or fewer.
	if len(files) > 6 {
		t.Errorf("the walk opens %d files, more than six", len(files))
	}
}

// TestPackageDirection: no package imports a package the rules of
// architecture.md forbid it.
func TestPackageDirection(t *testing.T) {
	rules := 0
	for _, l := range section(t, "Packages and their direction") {
		cells := strings.Split(l, "|")
		if len(cells) != 4 {
			continue
		}
		pkg := code.FindStringSubmatch(cells[1])
		if pkg == nil {
			continue
		}
		rules++
		out, err := exec.Command("go", "list", "-deps", "../"+pkg[1]).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg[1], err)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[strings.TrimPrefix(d, module)] = true
		}
		for _, forbidden := range code.FindAllStringSubmatch(cells[2], -1) {
			if deps[forbidden[1]] {
				t.Errorf("%s depends on %s, which architecture.md forbids", pkg[1], forbidden[1])
			}
		}
	}
	if rules == 0 {
		t.Fatal("architecture.md states no rules")
	}
}
