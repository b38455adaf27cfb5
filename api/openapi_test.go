package api

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/converter"
	"go.yaml.in/yaml/v3"

	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/storage"
)

// Every route the server has is in the OpenAPI document with its method, and
// the document names no route the server lacks.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	objects, err := storage.NewObjects(config.MinIO{Endpoint: "127.0.0.1:1", Bucket: "unused"})
	if err != nil {
		t.Fatal(err)
	}
	engine := New(Deps{Registry: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Codec: converter.NewZlibCodec(converter.ZlibCodecOptions{}), Objects: objects})
	served := map[string]bool{}
	for _, r := range engine.Routes() {
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		key := strings.ToLower(r.Method) + " " + path
		served[key] = true
		ops, ok := doc.Paths[path]
		if !ok {
			t.Errorf("route %s %s is not in openapi.yaml", r.Method, path)
			continue
		}
		op, ok := ops[strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("route %s %s: method not in openapi.yaml", r.Method, path)
			continue
		}
		if _, ok := op["responses"]; !ok {
			t.Errorf("route %s %s has no responses in openapi.yaml", r.Method, path)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			if !served[method+" "+path] {
				t.Errorf("openapi.yaml documents %s %s, which the server does not serve", method, path)
			}
		}
	}
}

// Every protected operation in openapi.yaml lists exactly the roles the
// router enforces (x-roles) and documents 401 and 403.
func TestOpenAPIStatesEachRoutesRoles(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Roles     []string       `yaml:"x-roles"`
			Responses map[string]any `yaml:"responses"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range Routes() {
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		op := doc.Paths[path][strings.ToLower(r.Method)]
		got, want := slices.Sorted(slices.Values(op.Roles)), slices.Sorted(slices.Values(r.Roles))
		if !slices.Equal(got, want) {
			t.Errorf("%s %s: x-roles %v, the router enforces %v", r.Method, path, got, want)
		}
		for _, code := range []string{"401", "403"} {
			if _, ok := op.Responses[code]; !ok {
				t.Errorf("%s %s documents no %s", r.Method, path, code)
			}
		}
	}
}
