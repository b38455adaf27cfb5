package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
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
