// Package deploy_test checks the Prometheus and Grafana files under deploy/
// against the code: every metric an alert or a dashboard panel queries must
// be one examflow (or the Temporal SDK) exports.
package deploy_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/notify"
	"github.com/examflow/examflow/process"
	"github.com/examflow/examflow/storage"
	"github.com/examflow/examflow/worker"
)

// exported are the metric families a process exports.
type exported map[string]bool

// describedNames returns the names of the metric families registered in reg.
func describedNames(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	ch := make(chan *prometheus.Desc)
	go func() {
		reg.Describe(ch)
		close(ch)
	}()
	var names []string
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		names = append(names, m[1])
	}
	return names
}

// examflowMetrics registers everything the API and the worker processes
// register (cmd/examflow/serve.go) on registries of their own, and returns
// the metric names: the API's HTTP and registration metrics and its overdue
// request gauge; the worker's domain metrics (registered up front on the
// Temporal SDK bridge), state gauges and notification counters. No database
// is needed: nothing is collected.
func examflowMetrics(t *testing.T) exported {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := storage.NewStore(nil, nil)
	apiReg := prometheus.NewRegistry()
	api.New(api.Deps{Registry: apiReg, Store: store, Logger: quiet})
	workerReg := process.NewRegistry()
	_, closeMetrics := process.MetricsHandler(workerReg, quiet)
	t.Cleanup(closeMetrics)
	workerReg.MustRegister(worker.NewStateCollector(store, worker.StateOptions{}))
	// The drainer registers its counters on first use; without a store it
	// stops right after.
	_, _ = (&notify.Drainer{Registerer: workerReg, Logger: quiet}).RunOnce(context.Background())

	out := exported{}
	for _, reg := range []*prometheus.Registry{apiReg, workerReg} {
		for _, n := range describedNames(t, reg) {
			if strings.HasPrefix(n, "examflow_") {
				out[n] = true
			}
		}
	}
	return out
}

// temporalSDKMetrics reads the metric names the Temporal Go SDK in go.mod
// defines (internal/common/metrics), as the tally bridge exports them:
// counters get "_total", timers "_seconds".
func temporalSDKMetrics(t *testing.T) exported {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	if err != nil {
		t.Fatalf("locate the Temporal SDK: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "common", "metrics", "constants.go"))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	base := regexp.MustCompile(`^\s*(\w+)\s*=\s*"(temporal_)"`)
	derived := regexp.MustCompile(`^\s*(\w+)\s*=\s*(\w+)\s*\+\s*"([a-z0-9_]+)"`)
	names := exported{}
	for line := range strings.SplitSeq(string(src), "\n") {
		if m := base.FindStringSubmatch(line); m != nil {
			values[m[1]] = m[2]
		} else if m := derived.FindStringSubmatch(line); m != nil {
			if prefix, ok := values[m[2]]; ok {
				values[m[1]] = prefix + m[3]
				for _, suffix := range []string{"", "_total", "_seconds"} {
					names[prefix+m[3]+suffix] = true
				}
			}
		}
	}
	if len(names) < 3*20 || !names["temporal_workflow_task_execution_latency_seconds"] {
		t.Fatalf("read %d names from the SDK's constants; its layout changed?", len(names))
	}
	return names
}

var (
	stringLiteral = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	identifier    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	histogramPart = regexp.MustCompile(`^(.+)_(bucket|sum|count)$`)
)

// metricNames returns the examflow_* and temporal_* metrics a PromQL
// expression selects, and "up".
func metricNames(expr string) []string {
	expr = stringLiteral.ReplaceAllString(expr, `""`)
	var out []string
	for _, id := range identifier.FindAllString(expr, -1) {
		if strings.HasPrefix(id, "examflow_") || strings.HasPrefix(id, "temporal_") || id == "up" {
			out = append(out, id)
		}
	}
	return out
}

// known reports whether name (a series name, so possibly a histogram's
// _bucket, _sum or _count) is exported.
func (e exported) known(name string) bool {
	if e[name] || name == "up" {
		return true
	}
	if m := histogramPart.FindStringSubmatch(name); m != nil && !strings.HasSuffix(m[1], "_total") {
		return e[m[1]]
	}
	return false
}

// family is the metric family of a series name.
func (e exported) family(name string) string {
	if m := histogramPart.FindStringSubmatch(name); m != nil && !e[name] && e[m[1]] {
		return m[1]
	}
	return name
}

// balanced is a cheap syntax check of a PromQL expression.
func balanced(expr string) bool {
	expr = stringLiteral.ReplaceAllString(expr, `""`)
	depth := map[rune]int{}
	pairs := map[rune]rune{')': '(', '}': '{', ']': '['}
	for _, r := range expr {
		switch r {
		case '(', '{', '[':
			depth[r]++
		case ')', '}', ']':
			depth[pairs[r]]--
			if depth[pairs[r]] < 0 {
				return false
			}
		}
	}
	return depth['('] == 0 && depth['{'] == 0 && depth['['] == 0 && strings.Count(expr, `"`)%2 == 0
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		ScrapeTimeout      string `yaml:"scrape_timeout"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// promDuration parses a Prometheus duration as the files use them.
func promDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		return time.Duration(d) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

func envDefault(field string) string {
	f, _ := reflect.TypeFor[config.Config]().FieldByName(field)
	return f.Tag.Get("envDefault")
}

func TestPrometheusConfig(t *testing.T) {
	var c promConfig
	readYAML(t, filepath.Join("prometheus", "prometheus.yml"), &c)
	for _, d := range []string{c.Global.ScrapeInterval, c.Global.ScrapeTimeout, c.Global.EvaluationInterval} {
		if _, err := promDuration(d); err != nil {
			t.Errorf("global duration %q: %v", d, err)
		}
	}
	for _, f := range c.RuleFiles {
		if _, err := os.Stat(filepath.Join("prometheus", f)); err != nil {
			t.Errorf("rule file %s: %v", f, err)
		}
	}
	if !slices.Contains(c.RuleFiles, "alerts.yml") {
		t.Errorf("rule_files = %v, want alerts.yml", c.RuleFiles)
	}
	// The local stack's addresses: the config defaults, and the Temporal dev
	// server's metrics port that `examflow dev` asks for (frontend + 2000).
	temporalPort, _ := strconv.Atoi(envDefault("TemporalAddress")[strings.LastIndex(envDefault("TemporalAddress"), ":")+1:])
	want := map[string]string{
		"examflow-api":    envDefault("APIAddr"),
		"examflow-worker": envDefault("WorkerAddr"),
		"temporal":        "127.0.0.1:" + strconv.Itoa(temporalPort+2000),
	}
	seen := map[string]bool{}
	for _, sc := range c.ScrapeConfigs {
		if seen[sc.JobName] {
			t.Errorf("job %s twice", sc.JobName)
		}
		seen[sc.JobName] = true
		if sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q", sc.JobName, sc.MetricsPath)
		}
		if w, ok := want[sc.JobName]; ok && (len(sc.StaticConfigs) != 1 || !slices.Contains(sc.StaticConfigs[0].Targets, w)) {
			t.Errorf("job %s: targets %v, want %s", sc.JobName, sc.StaticConfigs, w)
		}
	}
	for job := range want {
		if !seen[job] {
			t.Errorf("no scrape job %s", job)
		}
	}
}

func TestAlertRulesUseExportedMetrics(t *testing.T) {
	known := examflowMetrics(t)
	for n := range temporalSDKMetrics(t) {
		known[n] = true
	}
	var rf ruleFile
	readYAML(t, filepath.Join("prometheus", "alerts.yml"), &rf)
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: a name and rules needed", g.Name)
		}
		for _, r := range g.Rules {
			if r.Alert == "" || alerts[r.Alert] {
				t.Errorf("group %s: alert name %q empty or repeated", g.Name, r.Alert)
			}
			alerts[r.Alert] = true
			if r.For != "" {
				if _, err := promDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
				}
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary and description needed", r.Alert)
			}
			names := metricNames(r.Expr)
			if len(names) == 0 || !balanced(r.Expr) {
				t.Errorf("%s: expression %q selects no examflow metric or is unbalanced", r.Alert, r.Expr)
			}
			for _, n := range names {
				if !known.known(n) {
					t.Errorf("%s: %s is not a metric examflow exports", r.Alert, n)
				}
			}
		}
	}
	// The alerts the operations guide promises.
	for _, a := range []string{"ExamflowDeletionOverdue", "ExamflowDataRequestDueSoon", "ExamflowDataRequestOverdue", "ExamflowReviewBacklog", "ExamflowReviewOverdue"} {
		if !alerts[a] {
			t.Errorf("no alert %s", a)
		}
	}
}

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		GridPos struct{ H, W, X, Y int } `json:"gridPos"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestDashboardUsesExportedMetrics(t *testing.T) {
	ours := examflowMetrics(t)
	known := exported{}
	for n := range ours {
		known[n] = true
	}
	for n := range temporalSDKMetrics(t) {
		known[n] = true
	}
	raw, err := os.ReadFile(filepath.Join("grafana", "examflow-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q", d.UID, d.Title)
	}
	if len(d.Templating.List) == 0 || d.Templating.List[0].Name != "datasource" || d.Templating.List[0].Query != "prometheus" {
		t.Errorf("the dashboard needs a Prometheus datasource variable named datasource: %+v", d.Templating.List)
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
			t.Errorf("panel %q: grid position %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("panel %d: a title and queries needed", p.ID)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if refs[q.RefID] {
				t.Errorf("panel %q: refId %s twice", p.Title, q.RefID)
			}
			refs[q.RefID] = true
			names := metricNames(q.Expr)
			if len(names) == 0 || !balanced(q.Expr) {
				t.Errorf("panel %q: query %q selects no metric or is unbalanced", p.Title, q.Expr)
			}
			for _, n := range names {
				if !known.known(n) {
					t.Errorf("panel %q: %s is not a metric examflow or the Temporal SDK exports", p.Title, n)
				}
				used[known.family(n)] = true
			}
		}
	}
	// Every examflow metric is on the dashboard.
	for n := range ours {
		if !used[n] {
			t.Errorf("no panel shows %s", n)
		}
	}
}

// TestMetricNameCheckCatchesTypos: the check above fails for a metric that
// does not exist.
func TestMetricNameCheckCatchesTypos(t *testing.T) {
	known := examflowMetrics(t)
	for n := range temporalSDKMetrics(t) {
		known[n] = true
	}
	tests := []struct {
		expr string
		ok   bool
	}{
		{`max by (category) (examflow_deletions_overdue) > 0`, true},
		{`histogram_quantile(0.99, sum by (le, route) (rate(examflow_http_request_duration_seconds_bucket[5m])))`, true},
		{`sum(rate(examflow_marking_outcomes_total{outcome="held"}[1h]))`, true},
		{`rate(temporal_workflow_task_execution_failed_total[5m])`, true},
		{`max(examflow_deletion_overdue)`, false},
		{`sum(rate(examflow_marking_outcomes[1h]))`, false},
		{`rate(examflow_registrations_total_count[5m])`, false},
		{`rate(temporal_workflow_task_latency_seconds_bucket[5m])`, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			ok := true
			for _, n := range metricNames(tt.expr) {
				ok = ok && known.known(n)
			}
			if ok != tt.ok {
				t.Errorf("known = %v, want %v", ok, tt.ok)
			}
		})
	}
}
