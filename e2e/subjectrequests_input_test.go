package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// requestsOf counts the subject requests filed about a candidate.
func requestsOf(t *testing.T, candidateID string) int {
	t.Helper()
	var n int
	if err := env.pool.QueryRow(context.Background(), `SELECT count(*) FROM subject_requests WHERE candidate_id = $1`, candidateID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRectifiedValuesAreValidatedLikeRegistration (T18): a rectification
// carries a name, e-mail or phone that goes to the Diploma Registry and
// into e-mails, so it passes the same checks as at registration: no
// newlines or control characters, a plain e-mail address, a phone number.
// A bad value is a 422 naming the field, and no request is filed.
func TestRectifiedValuesAreValidatedLikeRegistration(t *testing.T) {
	ch := roleKey(t, "ch-rectify-input", "case_handler")
	p := newPerson(t)
	reg := postRegistration(t, p.reg(t, "citizenship", uniqueCentre(), session), "")
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	cand := reg.Body["candidate_id"].(string)
	for _, tc := range []struct {
		name, field, value string
	}{
		{"newline in a name", "family_name", p.Family + "\nHansen"},
		{"control character in a name", "given_name", "Ola\x07"},
		{"header injection in an e-mail", "email", "ola@example.org\r\nBcc: someone@example.org"},
		{"not an e-mail address", "email", "Ola Nordmann <ola@example.org>"},
		{"letters in a phone number", "phone", "call me"},
		{"newline in a phone number", "phone", "+47 400\n00 000"},
		{"name too long", "given_name", strings.Repeat("a", 201)},
		{"a date of birth that is not a date", "date_of_birth", "12.04.1985"},
		{"a date of birth in the future", "date_of_birth", "2999-01-01"},
		{"a date of birth the national identity number contradicts", "date_of_birth", bornDayAfter(t, p)},
		{"an unknown gender", "gender", "other"},
		{"an unknown written form", "written_form", "latin"},
		{"a country that is not a code", "address.country", "Norway"},
		{"newline in a street", "address.street", "Eksempelveien 7\nBcc"},
		{"an identifier", "national_id", p.NationalID},
		{"a field no registration has", "favourite_colour", "blue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "rectification",
				"identifier": map[string]any{"kind": "national_id", "value": p.NationalID}, "rectification": map[string]any{tc.field: tc.value}})), ch)
			if a.Status != 422 || !slices.Contains(fieldNames(a), "rectification."+tc.field) {
				t.Fatalf("want 422 naming rectification.%s, got %d %s", tc.field, a.Status, a.Raw)
			}
			if n := requestsOf(t, cand); n != 0 {
				t.Fatalf("%d requests filed after a refusal", n)
			}
		})
	}

	// A good value is stored as registration would store it: trimmed.
	a := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "rectification",
		"identifier":    map[string]any{"kind": "national_id", "value": p.NationalID},
		"rectification": map[string]any{"family_name": "  " + p.Family + "-Hansen ", "email": " new@example.org"}})), ch)
	if a.Status != 201 {
		t.Fatalf("valid rectification: %d %s", a.Status, a.Raw)
	}
	got := do(t, http.MethodGet, "/v1/subject-requests/"+a.Body["request_id"].(string), "", nil, ch)
	rect, _ := got.Body["rectification"].(map[string]any)
	if rect["family_name"] != p.Family+"-Hansen" || rect["email"] != "new@example.org" {
		t.Fatalf("stored rectification %v", rect)
	}
}

// TestSubjectRequestFindsTheCandidateWhateverTheFormatting: a person's
// request names the identifier as the person writes it; the lookup
// normalises it as registration does (spaces, hyphens, letter case), so a
// number written "DDMMYY IIIKK" or a passport number in lower case finds
// the candidate registered with the plain form.
func TestSubjectRequestFindsTheCandidateWhateverTheFormatting(t *testing.T) {
	ch := roleKey(t, "ch-lookup-format", "case_handler")
	p := newPerson(t)
	passport := fmt.Sprintf("PA%07d", rand.IntN(10_000_000))
	body := p.reg(t, "citizenship", uniqueCentre(), session)
	body["person"].(map[string]any)["passport_number"] = passport
	body["person"].(map[string]any)["passport_country"] = "NO"
	reg := postRegistration(t, body, "")
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	cand := reg.Body["candidate_id"].(string)
	nid := p.NationalID
	for _, tc := range []struct{ kind, value string }{
		{"national_id", nid},
		{"national_id", " " + nid[:6] + " " + nid[6:] + " "},
		{"national_id", nid[:6] + "-" + nid[6:]},
		{"national_id", nid[:6] + " " + nid[6:9] + " " + nid[9:]},
		{"passport_number", strings.ToLower(passport)},
		{"passport_number", passport[:2] + " " + passport[2:]},
	} {
		t.Run(tc.kind+" "+tc.value, func(t *testing.T) {
			identifier := map[string]any{"kind": tc.kind, "value": tc.value}
			if tc.kind == "passport_number" {
				identifier["country"] = "no"
			}
			a := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
				"identifier": identifier})), ch)
			if a.Status != 201 || a.Body["candidate_id"] != cand {
				t.Fatalf("want 201 for candidate %s, got %d %s", cand, a.Status, a.Raw)
			}
		})
	}
	// A number that is not the person's still finds nobody.
	a := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
		"identifier": map[string]any{"kind": "passport_number", "value": passport + "9", "country": "NO"}})), ch)
	if a.Status != 404 {
		t.Fatalf("unknown passport: %d %s", a.Status, a.Raw)
	}
}

// bornDayAfter is the day after p's date of birth.
func bornDayAfter(t *testing.T, p person) string {
	t.Helper()
	born, err := time.Parse(time.DateOnly, p.Born)
	if err != nil {
		t.Fatal(err)
	}
	return born.AddDate(0, 0, 1).Format(time.DateOnly)
}

// TestRectificationCoversEveryFieldTheCandidateGave (T18): a rectification
// corrects every field the candidate gives at registration, not only name
// and contact details: date of birth, gender, written form and the parts of
// the address (kept with the time it was recorded, so the correction does
// not extend its retention). A corrected date of birth that the national
// identity number on record contradicts is refused when the decision is
// applied, with the reason, and changes nothing.
func TestRectificationCoversEveryFieldTheCandidateGave(t *testing.T) {
	ctx := context.Background()
	portal := roleKey(t, "min-side-rectify", "integration")
	ch := roleKey(t, "ch-rectify-all", "case_handler")
	centre := uniqueCentre()

	rectify := func(identifier map[string]any, fields map[string]any) map[string]any {
		t.Helper()
		created := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "rectification",
			"identifier": identifier, "identity_asserted": map[string]any{"provider": "idporten"}, "rectification": fields})), portal)
		if created.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", created.Status, created.Raw)
		}
		id := created.Body["request_id"].(string)
		eventually(t, 20*time.Second, func() error {
			a := do(t, http.MethodPost, "/v1/subject-requests/"+id+"/decision", "application/json",
				[]byte(`{"decision": "approved", "reason": "documented by the person", "decided_by": "ch-rectify-all"}`), ch)
			if a.Status != http.StatusOK {
				return fmt.Errorf("decision: %d %s", a.Status, a.Raw)
			}
			return nil
		})
		return waitRequest(t, env.api.URL, id, func(b map[string]any) bool { return b["answered_at"] != nil }, ch)
	}

	// A candidate known by a DUF number alone: its date of birth is
	// corrected with the rest.
	p := newPerson(t)
	duf := newDUF()
	body := withDUFOnly(p.reg(t, "social_studies", centre, session), duf)
	body["person"].(map[string]any)["gender"] = "female"
	body["person"].(map[string]any)["written_form"] = "bokmal"
	_, cand := mustRegister(t, body)
	candID := uuid.MustParse(cand)
	var recorded time.Time
	if err := env.pool.QueryRow(ctx, `SELECT recorded_at FROM candidate_addresses WHERE candidate_id = $1`, candID).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	newBorn := bornDayAfter(t, p)
	got := rectify(map[string]any{"kind": "duf_number", "value": duf}, map[string]any{"date_of_birth": newBorn, "gender": "male",
		"written_form": "nynorsk", "address.postal_code": " 0150 ", "address.city": "Oslo sentrum"})
	if got["status"] != "answered" || got["outcome"] != "approved" {
		t.Fatalf("the request: %v", got)
	}
	pd, err := env.store.PersonalDataOf(ctx, candID)
	if err != nil {
		t.Fatal(err)
	}
	if pd.Person.DateOfBirth.Format(time.DateOnly) != newBorn || pd.Person.Gender != "male" {
		t.Errorf("stored date of birth %s and gender %q, want %s and male", pd.Person.DateOfBirth.Format(time.DateOnly), pd.Person.Gender, newBorn)
	}
	if a := pd.Address; a == nil || a.PostalCode != "0150" || a.City != "Oslo sentrum" || a.Street != "Eksempelveien 7" || a.Country != "NO" {
		t.Errorf("stored address %+v, want the postal code and city corrected and the rest kept", pd.Address)
	}
	var after time.Time
	if err := env.pool.QueryRow(ctx, `SELECT recorded_at FROM candidate_addresses WHERE candidate_id = $1`, candID).Scan(&after); err != nil || !after.Equal(recorded) {
		t.Errorf("the address's recorded time %s (%v), want %s kept", after, err, recorded)
	}
	if n := rowCount(t, `SELECT count(*) FROM registrations WHERE candidate_id = $1 AND written_form = 'nynorsk'`, candID); n != 1 {
		t.Errorf("%d registrations with the corrected written form, want 1", n)
	}

	// A candidate with a national identity number, whose request names the
	// DUF number: the API cannot compare, the decision's application does.
	q := newPerson(t)
	qduf := newDUF()
	qbody := q.reg(t, "social_studies", centre, session)
	qbody["person"].(map[string]any)["duf_number"] = qduf
	_, qcand := mustRegister(t, qbody)
	got = rectify(map[string]any{"kind": "duf_number", "value": qduf}, map[string]any{"date_of_birth": bornDayAfter(t, q), "given_name": "Changed"})
	if got["status"] != "refused" || got["outcome"] != "refused" || !strings.Contains(fmt.Sprint(got["outcome_reason"]), "national identity number") {
		t.Fatalf("a date of birth the national identity number contradicts: %v, want refused with the reason", got)
	}
	qpd, err := env.store.PersonalDataOf(ctx, uuid.MustParse(qcand))
	if err != nil {
		t.Fatal(err)
	}
	if qpd.Person.DateOfBirth.Format(time.DateOnly) != q.Born || qpd.Person.GivenName != q.Given {
		t.Errorf("a refused rectification changed the record: born %s, given name %q", qpd.Person.DateOfBirth.Format(time.DateOnly), qpd.Person.GivenName)
	}
}
