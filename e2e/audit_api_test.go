package e2e

import (
	"context"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/examflow/examflow/api"
)

// TestPersonalDataAccessIsAudited (T01): a registration made by an
// integration and read by a case handler each leave an audit entry naming
// who, in which role, for what purpose, whose data and which fields; only
// the data-protection officer reads the log, and that read is logged too.
func TestPersonalDataAccessIsAudited(t *testing.T) {
	ctx := context.Background()
	key := func(name, role string) map[string]string {
		secret, _, err := env.store.CreateToken(ctx, name, []string{role}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"Authorization": "Bearer " + secret}
	}
	portal := key("registration-portal", api.RoleIntegration)
	handler := key("ch-audit-1", api.RoleCaseHandler)
	dpo := key("dpo-audit-1", api.RoleDPO)

	body := newPerson(t).reg(t, "citizenship", uniqueCentre(), session)
	reg := do(t, http.MethodPost, "/v1/registrations", "application/json", []byte(mustJSON(body)), portal)
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	regID := reg.Body["registration_id"].(string)
	if a := do(t, http.MethodGet, "/v1/registrations/"+regID, "", nil, handler); a.Status != 200 {
		t.Fatalf("read: %d %s", a.Status, a.Raw)
	}
	if a := do(t, http.MethodGet, "/v1/audit-log?subject_kind=registration&subject_id="+regID, "", nil, handler); a.Status != 403 {
		t.Fatalf("a case handler read the audit log: %d", a.Status)
	}
	log := do(t, http.MethodGet, "/v1/audit-log?subject_kind=registration&subject_id="+regID, "", nil, dpo)
	if log.Status != 200 {
		t.Fatalf("audit log: %d %s", log.Status, log.Raw)
	}
	type entry struct{ who, role, action, op string }
	var got []entry
	for _, x := range log.Body["entries"].([]any) {
		e := x.(map[string]any)
		if e["purpose"] == "" || e["hash"] == "" || len(e["fields"].([]any)) == 0 {
			t.Errorf("incomplete entry %v", e)
		}
		got = append(got, entry{e["who"].(string), e["role"].(string), e["action"].(string), e["operation"].(string)})
	}
	want := []entry{
		{"registration-portal", "integration", "change", "POST /v1/registrations"},
		{"ch-audit-1", "case_handler", "read", "GET /v1/registrations/:id"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audit entries %v, want %v", got, want)
	}
	// The officer's own read is in the log.
	mine := do(t, http.MethodGet, "/v1/audit-log?who=dpo-audit-1", "", nil, dpo)
	if n := len(mine.Body["entries"].([]any)); n < 1 {
		t.Fatalf("the officer's reads are not logged: %s", mine.Raw)
	}
	// Decoding Temporal payloads (the UI's codec server) is a read too.
	if a := do(t, http.MethodPost, "/codec/decode", "application/json", []byte(`{"payloads":[]}`), handler); a.Status != 200 {
		t.Fatalf("codec: %d %s", a.Status, a.Raw)
	}
	codec := do(t, http.MethodGet, "/v1/audit-log?who=ch-audit-1", "", nil, dpo)
	if !slices.ContainsFunc(codec.Body["entries"].([]any), func(x any) bool { return x.(map[string]any)["operation"] == "POST /codec/decode" }) {
		t.Fatalf("the decode is not audited: %s", codec.Raw)
	}
	if a := do(t, http.MethodGet, "/v1/audit-log?subject_id=nope", "", nil, dpo); a.Status != 422 || !slices.Contains(fieldNames(a), "subject_id") {
		t.Fatalf("bad filter: %d %s", a.Status, a.Raw)
	}
}

// TestRecordOfProcessingServedToTheOfficer (T11): the officer reads the
// record of processing the code generates, the same text as the document.
func TestRecordOfProcessingServedToTheOfficer(t *testing.T) {
	dpo := roleKey(t, "dpo-record-1", api.RoleDPO)
	dpo["Accept"] = "text/markdown"
	a := do(t, http.MethodGet, "/v1/record-of-processing", "", nil, dpo)
	doc, err := os.ReadFile("../docs/record-of-processing.md")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != 200 || string(a.Raw) != string(doc) {
		t.Fatalf("record: %d, equal to the document: %v", a.Status, string(a.Raw) == string(doc))
	}
}
