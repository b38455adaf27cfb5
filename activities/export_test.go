package activities

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// rows encodes table rows as the export's queries return them.
func rows(t *testing.T, objs ...map[string]any) []json.RawMessage {
	t.Helper()
	out := make([]json.RawMessage, len(objs))
	for i, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// TestExportSectionsHaveTheirOwnSources (T05): each section of an access
// export names where its data came from, worked out from the rows it
// holds: the person or the authority a registration names, through the
// registration portal or the legacy system; the test system for answers
// and recordings; examflow's automated marking, examiners and case
// handlers for the decisions they made; each appeal instance for its
// decision. A section with no data names no source.
func TestExportSectionsHaveTheirOwnSources(t *testing.T) {
	candidate, imdi := "the candidate", "the Directorate of Integration and Diversity (IMDi)"
	portal, legacy, testSystem := policy.SourceRegistrationPortal, policy.SourceLegacySystem, policy.SourceTestSystem
	caseHandler, examiner, marking, examflow := policy.SourceCaseHandler, policy.SourceExaminer, policy.SourceAutomatedMarking, policy.SourceExamflow
	full := storage.SubjectData{
		CandidateID: uuid.New(),
		Address:     &storage.Address{},
		Sensitive:   &storage.Sensitive{},
		Merged:      true,
		Tables: map[string][]json.RawMessage{
			"registrations": rows(t, map[string]any{"source": "candidate", "original_registration_date": nil},
				map[string]any{"source": "imdi", "original_registration_date": "2021-05-01"}),
			"stages":           rows(t, map[string]any{"stage": "Registered"}),
			"answer_sheets":    rows(t, map[string]any{"source": "test_centre"}),
			"results":          rows(t, map[string]any{"decided_by": "automated"}, map[string]any{"decided_by": "examiners"}, map[string]any{"decided_by": "case_handler"}),
			"assessments":      rows(t, map[string]any{"source": "examiner"}),
			"reviews":          rows(t, map[string]any{"decided_by": "ch-1"}),
			"discrepancies":    rows(t, map[string]any{"source": "test_centre"}),
			"cheating":         rows(t, map[string]any{"decided_by": "ch-1"}),
			"appeals":          rows(t, map[string]any{"kind": "decision_appeal"}),
			"appeal_decisions": rows(t, map[string]any{"instance": "first_instance"}, map[string]any{"instance": "county_governor"}),
			"audio_recordings": rows(t, map[string]any{"part": "oral"}),
			"notifications":    rows(t, map[string]any{"kind": "result_ready"}),
			"subject_requests": rows(t, map[string]any{"kind": "access"}),
		},
	}
	tests := []struct {
		name string
		data storage.SubjectData
		want map[string][]string
	}{
		{"every kind of source", full, map[string][]string{
			"identity and contact details": {candidate, portal, imdi, legacy, caseHandler},
			"address":                      {candidate, portal, imdi, legacy, caseHandler},
			"registrations and test days":  {candidate, portal, imdi, legacy, examflow},
			"test answers and results":     {testSystem, marking, examiner, caseHandler},
			"discrepancies":                {"municipalities and test centres"},
			"cheating":                     {caseHandler},
			"appeals":                      {candidate, caseHandler, "the County Governor (final appeal instance)"},
			"audio recordings":             {testSystem},
			"notices sent to you":          {examflow},
			"your requests":                {candidate, caseHandler},
			"country of origin and mother tongue (registered before 15 February 2022)": {legacy},
		}},
		{"a registration through the portal, nothing more yet", storage.SubjectData{
			CandidateID: uuid.New(), Address: &storage.Address{},
			Tables: map[string][]json.RawMessage{"registrations": rows(t, map[string]any{"source": "candidate"})},
		}, map[string][]string{
			"identity and contact details": {candidate, portal},
			"address":                      {candidate, portal},
			"registrations and test days":  {candidate, portal},
			"test answers and results":     {},
			"discrepancies":                {},
			"cheating":                     {},
			"appeals":                      {},
			"audio recordings":             {},
			"notices sent to you":          {},
			"your requests":                {},
		}},
		{"an identifier corrected by a case handler", storage.SubjectData{
			CandidateID: uuid.New(), Address: &storage.Address{},
			Tables: map[string][]json.RawMessage{"registrations": rows(t, map[string]any{"source": "candidate"}),
				"identifier_corrections": rows(t, map[string]any{"kind": "national_id", "corrected_by": "ch-1"})},
		}, map[string][]string{
			"identity and contact details": {candidate, portal, caseHandler},
			"address":                      {candidate, portal},
			"registrations and test days":  {candidate, portal},
			"test answers and results":     {},
			"discrepancies":                {},
			"cheating":                     {},
			"appeals":                      {},
			"audio recordings":             {},
			"notices sent to you":          {},
			"your requests":                {},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := buildExport(storage.SubjectRequest{ID: uuid.New()}, tt.data, time.Now())
			got := map[string][]string{}
			for _, s := range e.Sections {
				got[s.Category] = s.Sources
				if s.Sources == nil {
					t.Errorf("%s: sources null, want a list", s.Category)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("sections %v, want %v", got, tt.want)
			}
			for cat, want := range tt.want {
				if !slices.Equal(got[cat], want) {
					t.Errorf("%s: sources %q, want %q", cat, got[cat], want)
				}
			}
		})
	}
}
