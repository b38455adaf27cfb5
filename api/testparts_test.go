package api

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/examflow/examflow/marking"
)

// TestTestPartsAreTheCatalogues: the API's test types and parts are the
// catalogue's (marking/catalogue.json, test_types), in the order
// registrations have always stored them (domain-facts section 1); every
// part of every test version is among them; a registration's parts are
// stored in that order whatever order the request lists them in; and the
// OpenAPI document names the same test types and parts.
func TestTestPartsAreTheCatalogues(t *testing.T) {
	cat, err := marking.LoadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(testParts, cat.TestParts(), slices.Equal) {
		t.Fatalf("the API's parts %v are not the catalogue's %v", testParts, cat.TestParts())
	}
	stored := map[string][]string{
		"citizenship":     {"test"},
		"social_studies":  {"test"},
		"norwegian_a1_b2": {"reading", "listening", "writing", "oral"},
		"norwegian_c1":    {"listening_writing", "reading_oral"},
	}
	if !maps.EqualFunc(testParts, stored, slices.Equal) {
		t.Fatalf("the parts or their order changed: %v, registrations are stored as %v", testParts, stored)
	}
	for _, v := range cat.Tests {
		for _, part := range v.PartNames() {
			if !slices.Contains(testParts[v.TestType], part) {
				t.Errorf("%s %s has the part %s, which registration does not accept", v.TestType, v.Version, part)
			}
		}
	}

	for testType, parts := range testParts {
		t.Run(testType, func(t *testing.T) {
			body := set(validBody(), "test", map[string]any{"type": testType})
			reversed := slices.Clone(parts)
			slices.Reverse(reversed)
			body = set(body, "test.parts", reversed)
			if slices.Contains(parts, "writing") {
				body = set(body, "test.level_band", "A2-B1")
			}
			data, _ := json.Marshal(body)
			var req RegistrationRequest
			if p := decodeStrictBytes(data, &req); p != nil {
				t.Fatal(p)
			}
			out, errs, _ := req.Validate(ValidationOptions{Now: testNow})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if !slices.Equal(out.TestParts, parts) {
				t.Errorf("asked for %v, stored %v; want the catalogue's order %v", reversed, out.TestParts, parts)
			}
		})
	}

	var doc struct {
		Components struct {
			Schemas struct {
				Test struct {
					Properties struct {
						Type  struct{ Enum []string }
						Parts struct{ Description string }
					}
				} `yaml:"Test"`
			}
		}
	}
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	test := doc.Components.Schemas.Test.Properties
	if types := slices.Sorted(maps.Keys(testParts)); !slices.Equal(slices.Sorted(slices.Values(test.Type.Enum)), types) {
		t.Errorf("openapi.yaml's test types %v, the catalogue's %v", test.Type.Enum, types)
	}
	for testType, parts := range testParts {
		if !strings.Contains(test.Parts.Description, testType) || !strings.Contains(test.Parts.Description, strings.Join(parts, ", ")) {
			t.Errorf("openapi.yaml's test parts do not name %s's parts %v in order: %q", testType, parts, test.Parts.Description)
		}
	}
}
