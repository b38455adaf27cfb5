package deploy_test

// The tests here read docker-compose.yml, which nothing here runs (CI has
// no Docker): they keep it in step with the code, the Makefile's pinned
// Temporal versions, the cluster tests' Temporal settings and the
// documentation, so that it still starts when someone runs it.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"
	"go.yaml.in/yaml/v3"

	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/deploy/devstack"
)

// composePath is docker-compose.yml, from this package's folder.
const composePath = "../docker-compose.yml"

// composeOnlyVariables are the variables docker-compose.yml takes from the
// environment (or .env) that no examflow process reads: the password of
// Temporal's own PostgreSQL role.
var composeOnlyVariables = []string{"TEMPORAL_POSTGRES_PASSWORD"}

// The conditions of a long-syntax depends_on entry.
const (
	started   = "service_started"
	healthy   = "service_healthy"
	completed = "service_completed_successfully"
)

// composeFile is the part of docker-compose.yml the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

// composeService is one service. Environment and depends_on are read in
// their short (list) and long (map) forms alike.
type composeService struct {
	Image       string         `yaml:"image"`
	Environment envMap         `yaml:"environment"`
	DependsOn   dependsOn      `yaml:"depends_on"`
	Volumes     []volumeMount  `yaml:"volumes"`
	Healthcheck map[string]any `yaml:"healthcheck"`
}

// envMap is a service's environment, by name.
type envMap map[string]string

// UnmarshalYAML reads `NAME: value` maps and `- NAME=value` lists.
func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	*e = envMap{}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			(*e)[k] = v
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment is neither a map nor a list", n.Line)
	}
	return nil
}

// dependsOn is a service's dependencies and the condition of each.
type dependsOn map[string]string

// UnmarshalYAML reads the long form (`name: {condition: …}`) and the short
// form (`- name`, which means service_started).
func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			c := v.Condition
			if c == "" {
				c = started
			}
			(*d)[k] = c
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, k := range l {
			(*d)[k] = started
		}
	default:
		return fmt.Errorf("line %d: depends_on is neither a map nor a list", n.Line)
	}
	return nil
}

// volumeMount is one entry of a service's volumes.
type volumeMount struct {
	Source, Target string
	ReadOnly       bool
}

// UnmarshalYAML reads the short form (`source:target[:ro]`) and the long
// form (`{type, source, target, read_only}`).
func (v *volumeMount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		parts := strings.Split(n.Value, ":")
		switch len(parts) {
		case 1:
			v.Target = parts[0]
		case 2, 3:
			v.Source, v.Target = parts[0], parts[1]
			v.ReadOnly = len(parts) == 3 && strings.Contains(parts[2], "ro")
		default:
			return fmt.Errorf("line %d: volume %q", n.Line, n.Value)
		}
		return nil
	}
	var long struct {
		Source   string `yaml:"source"`
		Target   string `yaml:"target"`
		ReadOnly bool   `yaml:"read_only"`
	}
	if err := n.Decode(&long); err != nil {
		return err
	}
	v.Source, v.Target, v.ReadOnly = long.Source, long.Target, long.ReadOnly
	return nil
}

// loadCompose reads docker-compose.yml, its anchors resolved.
func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s has no services", composePath)
	}
	return c
}

// service returns the named service, failing the test if there is none.
func (c composeFile) service(t *testing.T, name string) composeService {
	t.Helper()
	s, ok := c.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q", name)
	}
	return s
}

// configVariables are the names of the variables config.Load reads.
func configVariables(t *testing.T) map[string]bool {
	t.Helper()
	params, err := env.GetFieldParams(&config.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range params {
		out[p.Key] = true
	}
	if !out["EXAMFLOW_TEMPORAL_ADDRESS"] || !out["EXAMFLOW_DATABASE_URL"] {
		t.Fatalf("config.Config reads neither EXAMFLOW_TEMPORAL_ADDRESS nor EXAMFLOW_DATABASE_URL (%d names): is the walk right?", len(out))
	}
	return out
}

// makeVariable returns the value of a `NAME := value` line of the Makefile,
// without a leading "v".
func makeVariable(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*:?=\s*v?(\S+)\s*$`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("Makefile sets no %s", name)
	}
	return string(m[1])
}

// Every EXAMFLOW_* variable docker-compose.yml sets, or takes from the
// environment, is one config.Load reads: a misspelt name would be ignored
// and its setting silently left at the default. The examflow services get
// what they cannot start without.
func TestComposeEnvironmentIsReadByConfig(t *testing.T) {
	c := loadCompose(t)
	read := configVariables(t)

	t.Run("service environments", func(t *testing.T) {
		for name, s := range c.Services {
			for k := range s.Environment {
				if strings.HasPrefix(k, "EXAMFLOW_") && !read[k] {
					t.Errorf("service %s sets %s, which config.Load does not read", name, k)
				}
			}
		}
	})

	t.Run("variables from the environment", func(t *testing.T) {
		raw, err := os.ReadFile(composePath)
		if err != nil {
			t.Fatal(err)
		}
		ref := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)
		seen := 0
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			// $$ is a literal dollar for the container's shell.
			line = strings.ReplaceAll(line, "$$", "")
			for _, m := range ref.FindAllStringSubmatch(line, -1) {
				seen++
				v := m[1]
				if !read[v] && !slices.Contains(composeOnlyVariables, v) {
					t.Errorf("docker-compose.yml takes %s from the environment, which config.Load does not read and which is not a compose-only variable", v)
				}
			}
		}
		if seen == 0 {
			t.Error("docker-compose.yml takes no variable from the environment; where are the secrets?")
		}
	})

	tests := []struct {
		service string
		needs   []string
	}{
		{"migrate", []string{"EXAMFLOW_DATABASE_URL", "EXAMFLOW_TEMPORAL_ADDRESS", "EXAMFLOW_TEMPORAL_NAMESPACE", "EXAMFLOW_TEMPORAL_TLS", "EXAMFLOW_TEMPORAL_TLS_CA", "EXAMFLOW_MINIO_ENDPOINT", "EXAMFLOW_MASTER_KEY"}},
		{"worker", []string{"EXAMFLOW_DATABASE_URL", "EXAMFLOW_TEMPORAL_ADDRESS", "EXAMFLOW_TEMPORAL_NAMESPACE", "EXAMFLOW_TEMPORAL_TLS", "EXAMFLOW_TEMPORAL_TLS_CA", "EXAMFLOW_PAYLOAD_KEY", "EXAMFLOW_WORKER_ADDR"}},
		{"api", []string{"EXAMFLOW_DATABASE_URL", "EXAMFLOW_TEMPORAL_ADDRESS", "EXAMFLOW_TEMPORAL_NAMESPACE", "EXAMFLOW_TEMPORAL_TLS", "EXAMFLOW_TEMPORAL_TLS_CA", "EXAMFLOW_LINK_KEY", "EXAMFLOW_API_ADDR"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			s := c.service(t, tt.service)
			for _, v := range tt.needs {
				if _, ok := s.Environment[v]; !ok {
					t.Errorf("service %s does not set %s", tt.service, v)
				}
			}
			// The CA file the service is told to trust is in a volume it mounts.
			if ca := s.Environment["EXAMFLOW_TEMPORAL_TLS_CA"]; ca != "" && !mounts(s, ca) {
				t.Errorf("service %s: EXAMFLOW_TEMPORAL_TLS_CA=%s is in no volume it mounts", tt.service, ca)
			}
		})
	}
}

// mounts reports whether path lies in one of the service's volumes.
func mounts(s composeService, path string) bool {
	for _, v := range s.Volumes {
		if path == v.Target || strings.HasPrefix(path, strings.TrimSuffix(v.Target, "/")+"/") {
			return true
		}
	}
	return false
}

// Temporal runs from the server image with a schema job, never from the
// auto-setup image (deprecated for anything but local trials), at the
// versions the Makefile pins for the cluster tests.
func TestComposeTemporalImages(t *testing.T) {
	c := loadCompose(t)
	server := makeVariable(t, "TEMPORAL_SERVER_VERSION")
	ui := makeVariable(t, "UI_SERVER_VERSION")
	want := map[string]string{
		"temporalio/server":      server,
		"temporalio/admin-tools": server,
		"temporalio/ui":          ui,
	}
	used := map[string]bool{}
	for name, s := range c.Services {
		repo, tag, _ := strings.Cut(s.Image, ":")
		if strings.Contains(repo, "auto-setup") {
			t.Errorf("service %s uses %s: use temporalio/server with a schema job", name, s.Image)
			continue
		}
		if !strings.HasPrefix(repo, "temporalio/") {
			continue
		}
		v, ok := want[repo]
		if !ok {
			t.Errorf("service %s uses %s, which this test does not know to pin", name, s.Image)
			continue
		}
		used[repo] = true
		if tag != v {
			t.Errorf("service %s uses %s, want tag %s (the Makefile's version)", name, s.Image, v)
		}
	}
	for repo := range want {
		if !used[repo] {
			t.Errorf("no service uses %s", repo)
		}
	}
}

// The services start in the order a Temporal cluster is set up: Temporal's
// role and databases, then the schemas, then the server, then the namespace,
// then examflow's migrate job (which registers the search attributes), then
// the worker and the API.
func TestComposeStartOrder(t *testing.T) {
	c := loadCompose(t)
	tests := []struct {
		service, after, condition string
	}{
		{"temporal-db", "postgres", healthy},
		{"temporal-schema", "temporal-db", completed},
		{"temporal", "temporal-schema", completed},
		{"temporal", "temporal-tls", completed},
		{"temporal-namespace", "temporal", healthy},
		{"temporal-ui", "temporal", healthy},
		{"migrate", "postgres", healthy},
		{"migrate", "minio", healthy},
		{"migrate", "temporal-namespace", completed},
		{"worker", "migrate", completed},
		{"api", "migrate", completed},
	}
	for _, tt := range tests {
		t.Run(tt.service+" after "+tt.after, func(t *testing.T) {
			s := c.service(t, tt.service)
			got, ok := s.DependsOn[tt.after]
			if !ok {
				t.Fatalf("service %s does not depend on %s", tt.service, tt.after)
			}
			if got != tt.condition {
				t.Errorf("service %s depends on %s with condition %s, want %s", tt.service, tt.after, got, tt.condition)
			}
		})
	}

	t.Run("dependencies exist, wait for a health check that exists, and form no cycle", func(t *testing.T) {
		for name, s := range c.Services {
			for dep, cond := range s.DependsOn {
				d, ok := c.Services[dep]
				if !ok {
					t.Errorf("service %s depends on %s, which does not exist", name, dep)
					continue
				}
				if cond == healthy && d.Healthcheck == nil {
					t.Errorf("service %s waits for %s to be healthy, which has no health check", name, dep)
				}
			}
		}
		state := map[string]int{} // 1 visiting, 2 done
		var visit func(string, []string)
		visit = func(n string, path []string) {
			switch state[n] {
			case 1:
				t.Errorf("depends_on cycle: %s", strings.Join(append(path, n), " -> "))
				return
			case 2:
				return
			}
			state[n] = 1
			for dep := range c.Services[n].DependsOn {
				visit(dep, append(path, n))
			}
			state[n] = 2
		}
		for n := range c.Services {
			visit(n, nil)
		}
	})
}

// retentionInDocs returns the namespace retention docs/deployment.md
// recommends, as in "**30 days (`720h`)**".
func retentionInDocs(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("\\*\\*\\d+ days \\(`(\\d+h)`\\)\\*\\*").FindSubmatch(raw)
	if m == nil {
		t.Fatal("docs/deployment.md names no retention period like **30 days (`720h`)**")
	}
	return string(m[1])
}

// Temporal in docker-compose.yml is set up as the cluster tests set it up
// (deploy/devstack/cluster.go): its own role owning its own two databases,
// the postgres12 plugin, the TLS frontend that examflow and the UI trust by
// the stack's CA, and the namespace examflow uses made with the retention
// docs/deployment.md recommends.
func TestComposeTemporalMatchesClusterTests(t *testing.T) {
	c := loadCompose(t)
	namespace := c.service(t, "migrate").Environment["EXAMFLOW_TEMPORAL_NAMESPACE"]
	tests := []struct {
		service, variable, want string
	}{
		{"temporal-db", "TEMPORAL_ROLE", devstack.TemporalRole},
		{"temporal-db", "DBNAME", devstack.TemporalDatabase},
		{"temporal-db", "VISIBILITY_DBNAME", devstack.TemporalVisibilityDatabase},
		{"temporal-schema", "SQL_PLUGIN", "postgres12"},
		{"temporal-schema", "SQL_USER", devstack.TemporalRole},
		{"temporal-schema", "DBNAME", devstack.TemporalDatabase},
		{"temporal-schema", "VISIBILITY_DBNAME", devstack.TemporalVisibilityDatabase},
		{"temporal", "DB", "postgres12"},
		{"temporal", "POSTGRES_USER", devstack.TemporalRole},
		{"temporal", "DBNAME", devstack.TemporalDatabase},
		{"temporal", "VISIBILITY_DBNAME", devstack.TemporalVisibilityDatabase},
		{"temporal", "TEMPORAL_TLS_REQUIRE_CLIENT_AUTH", "false"},
		{"temporal-namespace", "NAMESPACE", namespace},
		{"temporal-namespace", "RETENTION", retentionInDocs(t)},
		{"temporal-ui", "TEMPORAL_DEFAULT_NAMESPACE", namespace},
		{"temporal-ui", "TEMPORAL_DISABLE_WRITE_ACTIONS", "true"},
		{"temporal-ui", "TEMPORAL_TLS_ENABLE_HOST_VERIFICATION", "true"},
		{"migrate", "EXAMFLOW_TEMPORAL_TLS", "true"},
		{"worker", "EXAMFLOW_TEMPORAL_TLS", "true"},
		{"api", "EXAMFLOW_TEMPORAL_TLS", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.service+" "+tt.variable, func(t *testing.T) {
			got, ok := c.service(t, tt.service).Environment[tt.variable]
			if !ok {
				t.Fatalf("service %s does not set %s", tt.service, tt.variable)
			}
			if tt.want == "" {
				t.Fatalf("no value to compare %s with", tt.variable)
			}
			if got != tt.want {
				t.Errorf("service %s: %s=%q, want %q", tt.service, tt.variable, got, tt.want)
			}
		})
	}

	// Every file a Temporal service is told to read is in a volume it mounts.
	files := []struct{ service, variable string }{
		{"temporal", "TEMPORAL_TLS_FRONTEND_CERT"},
		{"temporal", "TEMPORAL_TLS_FRONTEND_KEY"},
		{"temporal", "TEMPORAL_TLS_SERVER_CERT"},
		{"temporal", "TEMPORAL_TLS_SERVER_KEY"},
		{"temporal", "TEMPORAL_TLS_SERVER_CA_CERT"},
		{"temporal", "DYNAMIC_CONFIG_FILE_PATH"},
		{"temporal-namespace", "TLS_CA"},
		{"temporal-ui", "TEMPORAL_TLS_CA"},
	}
	for _, f := range files {
		t.Run(f.service+" "+f.variable+" is mounted", func(t *testing.T) {
			s := c.service(t, f.service)
			path := s.Environment[f.variable]
			if path == "" {
				t.Fatalf("service %s does not set %s", f.service, f.variable)
			}
			if !mounts(s, path) {
				t.Errorf("service %s: %s=%s is in no volume it mounts", f.service, f.variable, path)
			}
		})
	}
}

// Every file docker-compose.yml mounts from the repository exists, and every
// shell script among them parses.
func TestComposeMountedFiles(t *testing.T) {
	c := loadCompose(t)
	n := 0
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			if !strings.HasPrefix(v.Source, "./") {
				continue
			}
			n++
			path := filepath.Join("..", v.Source)
			if _, err := os.Stat(path); err != nil {
				t.Errorf("service %s mounts %s: %v", name, v.Source, err)
				continue
			}
			if !v.ReadOnly {
				t.Errorf("service %s mounts %s writable; mount the repository's files read-only", name, v.Source)
			}
			if strings.HasSuffix(path, ".sh") {
				if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
					t.Errorf("%s does not parse: %v: %s", v.Source, err, out)
				}
			}
		}
	}
	if n == 0 {
		t.Error("docker-compose.yml mounts no file of the repository; is the dynamic config not mounted?")
	}
}

// The services docs/deployment.md lists under "Docker Compose" are the
// services of docker-compose.yml, no more and no fewer.
func TestComposeServicesInDocs(t *testing.T) {
	c := loadCompose(t)
	raw, err := os.ReadFile("../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Docker Compose\n")
	if !ok {
		t.Fatal(`docs/deployment.md has no "## Docker Compose" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|")
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		documented[m[1]] = true
	}
	for name := range documented {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("docs/deployment.md lists the service %s, which docker-compose.yml does not have", name)
		}
	}
	for name := range c.Services {
		if !documented[name] {
			t.Errorf("docker-compose.yml has the service %s, which docs/deployment.md does not list", name)
		}
	}
}
