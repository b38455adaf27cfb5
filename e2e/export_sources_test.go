package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/examflow/examflow/policy"
)

// accessExport asks for an access export of the person with the national
// ID as a case handler, confirms the identity and returns the export.
func accessExport(t *testing.T, nationalID string) []byte {
	t.Helper()
	ch := roleKey(t, "ch-dsr-src", "case_handler")
	created := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
		"identifier": map[string]any{"kind": "national_id", "value": nationalID}})), ch)
	if created.Status != 201 {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	id := created.Body["request_id"].(string)
	if a := do(t, http.MethodPost, "/v1/subject-requests/"+id+"/identity", "application/json",
		[]byte(`{"verified_by": "ch-dsr-src", "evidence": "passport inspected at the service desk"}`), ch); a.Status != 200 {
		t.Fatalf("verify: %d %s", a.Status, a.Raw)
	}
	waitRequest(t, env.api.URL, id, func(b map[string]any) bool { return b["status"] == "answered" && b["export_ready"] == true }, ch)
	link := do(t, http.MethodPost, "/v1/subject-requests/"+id+"/export-link", "application/json", nil, ch)
	if link.Status != 200 {
		t.Fatalf("link: %d %s", link.Status, link.Raw)
	}
	export := do(t, http.MethodGet, link.Body["url"].(string), "", nil, map[string]string{"Authorization": ""})
	if export.Status != 200 {
		t.Fatalf("export: %d %s", export.Status, export.Raw)
	}
	return export.Raw
}

// TestAccessExportNamesEachSectionsSource (T05, T18): a candidate imported
// from the legacy system with a registration UDI gave, who then registers
// through the registration portal and takes a test, gets an access export
// in which each section names its own sources: identity from the candidate
// and UDI through the portal and the legacy system, answers and results
// from the test system and examflow's automated marking, the sensitive
// data from the legacy system, and nothing for sections with no data. The
// export also says who the controller and the data protection officer are,
// which version of the privacy policy applies and on what legal basis
// results are decided automatically.
func TestAccessExportNamesEachSectionsSource(t *testing.T) {
	p := newPerson(t)
	centre := uniqueCentre()
	legacy := postJSON(t, "/v1/legacy/registrations", legacyBody(t, p, centre, legacySession2021, "2021-03-01",
		map[string]any{"country_of_origin": "ER", "mother_tongue": "tir", "source": "udi"}), "")
	if legacy.Status != http.StatusCreated {
		t.Fatalf("legacy registration: %d %s", legacy.Status, legacy.Raw)
	}
	reg := postRegistration(t, p.reg(t, "citizenship", centre, session), "")
	if reg.Status != http.StatusCreated || reg.Body["candidate_id"] != legacy.Body["candidate_id"] {
		t.Fatalf("registration: %d %s (legacy candidate %v)", reg.Status, reg.Raw, legacy.Body["candidate_id"])
	}
	url := registrationURL(reg)
	if a := submitSheet(t, url, fmt.Sprintf("citizenship-test-%s-%s", centre, session), answersFor(36, 30)); a.Status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", a.Status, a.Raw)
	}
	waitStage(t, url, "Result")

	raw := accessExport(t, p.NationalID)
	var export struct {
		About struct {
			Controller            string `json:"controller"`
			DataProtectionOfficer string `json:"data_protection_officer"`
			PrivacyPolicy         struct {
				Version string `json:"version"`
				Date    string `json:"date"`
			} `json:"privacy_policy"`
			AutomatedDecisions string `json:"automated_decisions"`
		} `json:"about"`
		Sections []struct {
			Category string   `json:"category"`
			Sources  []string `json:"sources"`
		} `json:"sections"`
	}
	if err := json.Unmarshal(raw, &export); err != nil {
		t.Fatal(err)
	}
	sources := map[string][]string{}
	for _, s := range export.Sections {
		if s.Sources == nil {
			t.Errorf("section %q: sources null", s.Category)
		}
		sources[s.Category] = s.Sources
	}
	udi, candidate := "the Directorate of Immigration (UDI)", "the candidate"
	same := func(got, want []string) bool {
		return len(got) == len(want) && !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(got, w) })
	}
	for _, c := range []struct {
		section string
		want    []string
	}{
		{"identity and contact details", []string{udi, policy.SourceLegacySystem, candidate, policy.SourceRegistrationPortal}},
		{"address", []string{udi, policy.SourceLegacySystem, candidate, policy.SourceRegistrationPortal}},
		{"registrations and test days", []string{udi, policy.SourceLegacySystem, candidate, policy.SourceRegistrationPortal, policy.SourceExamflow}},
		{"test answers and results", []string{policy.SourceTestSystem, policy.SourceAutomatedMarking}},
		{"country of origin and mother tongue (registered before 15 February 2022)", []string{policy.SourceLegacySystem}},
		{"cheating", []string{}},
		{"appeals", []string{}},
		{"audio recordings", []string{}},
		{"your requests", []string{candidate, policy.SourceCaseHandler}},
	} {
		if got, ok := sources[c.section]; !ok || !same(got, c.want) {
			t.Errorf("section %q: sources %q, want %q", c.section, got, c.want)
		}
	}
	a := export.About
	if !strings.Contains(a.Controller, "Directorate for Higher Education and Skills") || !strings.Contains(a.DataProtectionOfficer, "Marita Ådnanes Helleland") ||
		a.PrivacyPolicy.Version == "" || a.PrivacyPolicy.Date == "" || !strings.Contains(a.AutomatedDecisions, policy.AutomatedDecisionLegalBasis) {
		t.Errorf("the export says about the processing: %+v", a)
	}
}
