package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/deploy/devstack"
)

// The README's shell examples that call the running service are marked
// runnable with an HTML comment on the line before their ```sh fence:
//
//	<!-- example: run, expect 201 201 201 -->
//
// "expect" lists the HTTP statuses the block's curl calls answer, in order
// (leave it out for a block that makes no HTTP call). TestReadmeExamples runs
// the marked blocks in README order, in one bash session (so a later block
// sees the variables an earlier one set, as a reader's shell does), with
// `set -euo pipefail`, in a folder laid out as the repository after `make
// run`: .dev/tokens.env holds EXAMFLOW_URL (this test stack's API) and one
// fresh API key per role as EXAMFLOW_TOKEN_<ROLE>, and .tools/bin holds the
// pinned tools. A shell block that calls the API without a marker fails the
// test, so every such example is run.

// readmeExample is one runnable shell block of the README.
type readmeExample struct {
	line   int    // the line of its opening fence
	script string // its lines, without the fence and the list indentation
	expect []int  // the HTTP statuses its curl calls answer, in order
}

var (
	exampleMarker = regexp.MustCompile(`^<!-- example: run(?:, expect ((?:[1-5][0-9]{2} ?)+))? -->$`)
	// callsTheService is what a shell block that talks to the running
	// service contains.
	callsTheService = regexp.MustCompile(`\bcurl\b|EXAMFLOW_URL|127\.0\.0\.1:8080|temporal workflow`)
)

// readmeExamples reads the marked shell blocks of the README at path.
func readmeExamples(t *testing.T, path string) []readmeExample {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var out []readmeExample
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if m := exampleMarker.FindStringSubmatch(trimmed); m != nil {
			if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "```sh" {
				t.Fatalf("README.md:%d: an example marker not followed by a ```sh block", i+1)
			}
			continue
		}
		if strings.HasPrefix(trimmed, "<!-- example") {
			t.Fatalf("README.md:%d: malformed example marker %q (want <!-- example: run, expect 200 201 -->)", i+1, trimmed)
		}
		if !strings.HasPrefix(trimmed, "```") {
			continue
		}
		// A fence opens here: read its block up to the closing fence.
		open, lang := i, strings.TrimPrefix(trimmed, "```")
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			l := lines[i]
			body = append(body, l[min(indent, len(l)-len(strings.TrimLeft(l, " "))):])
		}
		if i == len(lines) {
			t.Fatalf("README.md:%d: a code block that never closes", open+1)
		}
		var marker []string
		if open > 0 {
			marker = exampleMarker.FindStringSubmatch(strings.TrimSpace(lines[open-1]))
		}
		script := strings.Join(body, "\n") + "\n"
		if marker == nil {
			if lang == "sh" && callsTheService.MatchString(script) {
				t.Errorf("README.md:%d: a shell example that calls the service has no <!-- example: run --> marker, so nothing checks it", open+1)
			}
			continue
		}
		ex := readmeExample{line: open + 1, script: script}
		for _, f := range strings.Fields(marker[1]) {
			code, _ := strconv.Atoi(f)
			ex.expect = append(ex.expect, code)
		}
		out = append(out, ex)
	}
	return out
}

// TestReadmeExamples: the README's examples work as written against a
// running stack, with the API keys and address `make run` writes to
// .dev/tokens.env; each exits 0 and its requests answer the statuses the
// README documents. An example that sends no token answers 401, which
// curl --fail-with-body turns into a failed command.
func TestReadmeExamples(t *testing.T) {
	examples := readmeExamples(t, "../README.md")
	if len(examples) == 0 {
		t.Fatal("README.md has no runnable examples")
	}

	// The repository as `make run` leaves it: .dev/tokens.env and the tools.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".dev"), 0o700); err != nil {
		t.Fatal(err)
	}
	tokens := "# as make run writes it, for this test stack\nEXAMFLOW_URL=" + env.api.URL + "\n"
	for _, role := range api.Roles() {
		key := strings.TrimPrefix(roleKey(t, "readme-"+role, role)["Authorization"], "Bearer ")
		tokens += "EXAMFLOW_TOKEN_" + strings.ToUpper(role) + "=" + key + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, ".dev", "tokens.env"), []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	tools, err := filepath.Abs(env.stack.Config().ToolsDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".tools"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !clusterMode() {
		if err := os.Symlink(tools, filepath.Join(dir, ".tools", "bin")); err != nil {
			t.Fatal(err)
		}
	} else {
		// The cluster's frontend serves TLS with the test CA, which the
		// Temporal CLI takes only as flags: its .tools/bin/temporal adds
		// them, the other tools are the real ones.
		bin := filepath.Join(dir, ".tools", "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(tools)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "temporal" {
				if err := os.Symlink(filepath.Join(tools, e.Name()), filepath.Join(bin, e.Name())); err != nil {
					t.Fatal(err)
				}
			}
		}
		wrapper := fmt.Sprintf("#!/bin/sh\nexec %q \"$@\" --tls --tls-ca-path %q --tls-server-name %q\n",
			filepath.Join(tools, "temporal"), env.stack.TemporalCAFile(), devstack.TemporalServerName)
		if err := os.WriteFile(filepath.Join(bin, "temporal"), []byte(wrapper), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// curl reports each answer's status on stderr, in line with the
	// output, through a .curlrc of the test's own (the README's commands
	// stay as written).
	curlHome := filepath.Join(dir, "curl")
	if err := os.MkdirAll(curlHome, 0o700); err != nil {
		t.Fatal(err)
	}
	const statusTag = "readme-test-http"
	if err := os.WriteFile(filepath.Join(curlHome, ".curlrc"),
		[]byte(`write-out = "%{stderr}\n`+statusTag+` %{http_code} %{method} %{url_effective}\n"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// One shell session, every block in README order, each announced.
	const blockTag = "readme-test-block"
	var script strings.Builder
	for i, ex := range examples {
		fmt.Fprintf(&script, "printf '\\n%s %d\\n' >&2\n%s", blockTag, i, ex.script)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "CURL_HOME=" + curlHome, "LANG=C.UTF-8",
		"TEMPORAL_ADDRESS=" + env.stack.TemporalAddress(), "TEMPORAL_NAMESPACE=" + env.cfg.TemporalNamespace}
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output // one pipe: the order as printed
	runErr := cmd.Run()

	// Each block's output and the statuses its requests answered.
	got := make([][]int, len(examples))
	outs := make([]strings.Builder, len(examples))
	block := -1
	sc := bufio.NewScanner(bytes.NewReader(output.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if n, ok := strings.CutPrefix(l, blockTag+" "); ok {
			block, _ = strconv.Atoi(n)
			continue
		}
		if block < 0 {
			continue
		}
		outs[block].WriteString(l + "\n")
		if f := strings.Fields(l); len(f) >= 2 && f[0] == statusTag {
			code, _ := strconv.Atoi(f[1])
			got[block] = append(got[block], code)
		}
	}
	if runErr != nil {
		if block < 0 {
			t.Fatalf("the README's examples did not start: %v\n%s", runErr, output.String())
		}
		t.Fatalf("README.md:%d: the example failed (%v):\n%s", examples[block].line, runErr, outs[block].String())
	}
	for i, ex := range examples {
		if !slices.Equal(got[i], ex.expect) {
			t.Errorf("README.md:%d: the example's requests answered %v, the README says %v:\n%s", ex.line, got[i], ex.expect, outs[i].String())
		}
	}
	if testing.Verbose() {
		t.Logf("README examples:\n%s", output.String())
	}
}
