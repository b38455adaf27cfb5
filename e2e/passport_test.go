package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
)

// passportOnly is p's social studies registration identified by a
// passport alone (the citizenship test needs a fødselsnummer).
func passportOnly(t *testing.T, p person, centre, date, number, country string) map[string]any {
	t.Helper()
	body := p.reg(t, "social_studies", centre, date)
	person := body["person"].(map[string]any)
	delete(person, "national_id")
	person["passport_number"] = number
	if country != "" {
		person["passport_country"] = country
	}
	return body
}

// possibleDuplicates lists the open flags of a case handler's queue that
// name the candidate.
func possibleDuplicates(t *testing.T, ch map[string]string, candidateID string) []map[string]any {
	t.Helper()
	a := do(t, http.MethodGet, "/v1/possible-duplicates", "", nil, ch)
	if a.Status != 200 {
		t.Fatalf("possible duplicates: %d %s", a.Status, a.Raw)
	}
	var out []map[string]any
	list, _ := a.Body["possible_duplicates"].([]any)
	for _, x := range list {
		f := x.(map[string]any)
		if f["candidate_id"] == candidateID || f["other_candidate_id"] == candidateID {
			out = append(out, f)
		}
	}
	return out
}

// TestPassportMatchingNeedsTheIssuingCountry: a passport number is unique
// only within its issuing country, so registration matches a candidate by
// passport only on number and country. Two people with the same number from
// different countries are two candidates, and the weak match (same number,
// another or no country) is put before a case handler as a possible
// duplicate, never merged silently; the case handler dismisses it or merges.
// The same number and country is the same candidate, and a subject request
// finds each person by number and country.
func TestPassportMatchingNeedsTheIssuingCountry(t *testing.T) {
	ch := roleKey(t, "ch-passport", "case_handler")
	centre := uniqueCentre()
	number := fmt.Sprintf("P%08d", rand.IntN(100_000_000))
	anna, bo := newPerson(t), newPerson(t)

	_, a := mustRegister(t, passportOnly(t, anna, centre, session, number, "SE"))
	_, b := mustRegister(t, passportOnly(t, bo, centre, session, number, "DK"))
	if a == b {
		t.Fatalf("two people with passport %s from different countries were fused into candidate %s", number, a)
	}
	flags := possibleDuplicates(t, ch, b)
	if len(flags) != 1 || flags[0]["candidate_id"] != b || flags[0]["other_candidate_id"] != a || flags[0]["reason"] == "" {
		t.Fatalf("possible duplicates of %s: %v", b, flags)
	}
	// The same number and country is the same person (written differently).
	_, again := mustRegister(t, passportOnly(t, anna, centre, "2027-04-12", " "+number[:3]+" "+number[3:], "se"))
	if again != a {
		t.Fatalf("same passport number and country: candidate %s, want %s", again, a)
	}
	if flags := possibleDuplicates(t, ch, a); len(flags) != 1 {
		t.Fatalf("a strong match raised a flag: %v", flags)
	}
	// A passport without its issuing country is refused.
	noCountry := postRegistration(t, passportOnly(t, newPerson(t), centre, session, number, ""), "")
	if noCountry.Status != 422 || !slices.Contains(fieldNames(noCountry), "person.passport_country") {
		t.Fatalf("passport without country: %d %s", noCountry.Status, noCountry.Raw)
	}

	// The case handler finds Anna and Bo are two people: the flag goes.
	if d := postJSON(t, "/v1/possible-duplicates/"+flags[0]["id"].(string)+"/dismissal", map[string]any{"reason": "different dates of birth"}, ""); d.Status != 200 {
		t.Fatalf("dismissal: %d %s", d.Status, d.Raw)
	}
	if flags := possibleDuplicates(t, ch, b); len(flags) != 0 {
		t.Fatalf("dismissed flag still listed: %v", flags)
	}
	// A third registration with the number, from a third country, is flagged
	// again; this time it is Anna with a new passport, and a merge clears
	// the flag.
	_, c := mustRegister(t, passportOnly(t, anna, centre, "2027-05-10", number, "FI"))
	if c == a || c == b {
		t.Fatalf("third country matched candidate %s", c)
	}
	if flags := possibleDuplicates(t, ch, c); len(flags) != 1 || flags[0]["other_candidate_id"] != a {
		t.Fatalf("possible duplicates of %s: %v", c, flags)
	}
	if m := merge(t, a, c); m.Status != 200 {
		t.Fatalf("merge: %d %s", m.Status, m.Raw)
	}
	if flags := possibleDuplicates(t, ch, c); len(flags) != 0 {
		t.Fatalf("flag left after the merge: %v", flags)
	}

	// A subject request finds each person by number and country.
	for country, want := range map[string]string{"SE": a, "DK": b, "FI": a} {
		r := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
			"identifier": map[string]any{"kind": "passport_number", "value": number, "country": country}})), ch)
		if r.Status != 201 || r.Body["candidate_id"] != want {
			t.Errorf("request by passport from %s: %d %s, want candidate %s", country, r.Status, r.Raw, want)
		}
	}
	r := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
		"identifier": map[string]any{"kind": "passport_number", "value": number}})), ch)
	if r.Status != 422 || !slices.Contains(fieldNames(r), "identifier.country") {
		t.Errorf("request by passport without country: %d %s", r.Status, r.Raw)
	}
}
