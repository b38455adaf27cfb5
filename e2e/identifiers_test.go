package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// anotherNationalID is a valid fødselsnummer with p's birth date other
// than p's own.
func anotherNationalID(t *testing.T, p person) string {
	t.Helper()
	born, err := time.Parse(time.DateOnly, p.Born)
	if err != nil {
		t.Fatal(err)
	}
	for {
		nid, ok := identity.WithCheckDigits(born.Format("020106") + fmt.Sprintf("%03d", rand.IntN(500)))
		if ok && nid != p.NationalID {
			return nid
		}
	}
}

// TestCaseHandlerCorrectsAnIdentifier (T18): identifiers are not rectified
// through a subject request but corrected by a case handler with a record:
// the value is checked as at registration and against the date of birth on
// record, a value another candidate holds is refused (merge them instead),
// the old value no longer finds the candidate and the new one does, the
// correction is recorded and audited, and the Diploma Registry gets the
// candidate under the corrected number.
func TestCaseHandlerCorrectsAnIdentifier(t *testing.T) {
	ctx := context.Background()
	rs := startRetentionStack(t, policy.Periods{policy.Address: 24 * time.Hour, policy.PersonalData: 24 * time.Hour})
	ch := roleKey(t, "ch-identifier", "case_handler")
	examiner := roleKey(t, "examiner-identifier", "examiner")
	p := newPerson(t)
	url := takeCitizenship(t, rs, p, uniqueCentre(), nil)
	waitStageAt(t, rs.url, url, "Retained", 30*time.Second)
	cand := doAt(t, rs.url, http.MethodGet, url, "", nil, nil).Body["candidate_id"].(string)
	if pub, ok := publicationOf(rs.sim, cand); !ok || pub.NationalID != p.NationalID {
		t.Fatalf("first publication: %+v", pub)
	}
	other := newPerson(t)
	_, otherCand := mustRegister(t, other.reg(t, "citizenship", uniqueCentre(), session))

	path := "/v1/candidates/" + cand + "/identifiers/national_id"
	correct := func(auth map[string]string, path string, body map[string]any) answer {
		return doAt(t, rs.url, http.MethodPut, path, "application/json", []byte(mustJSON(body)), auth)
	}
	corrected := anotherNationalID(t, p)
	born, _ := time.Parse(time.DateOnly, p.Born)
	otherBorn := anotherNationalID(t, person{Born: born.AddDate(0, 0, 1).Format(time.DateOnly)})
	reason := "the population register's extract shows a typing error"
	for _, tc := range []struct {
		name   string
		path   string
		body   map[string]any
		status int
		field  string
	}{
		{"invalid check digits", path, map[string]any{"value": corrected[:10] + string('0'+(corrected[10]-'0'+1)%10), "reason": reason, "corrected_by": "ch-identifier"}, 422, "value"},
		{"another birth date", path, map[string]any{"value": otherBorn, "reason": reason, "corrected_by": "ch-identifier"}, 422, "value"},
		{"no reason", path, map[string]any{"value": corrected, "corrected_by": "ch-identifier"}, 422, "reason"},
		{"a country with a national identity number", path, map[string]any{"value": corrected, "country": "NO", "reason": reason, "corrected_by": "ch-identifier"}, 422, "country"},
		{"not an identifier", "/v1/candidates/" + cand + "/identifiers/email", map[string]any{"value": "x@example.org", "reason": reason, "corrected_by": "ch-identifier"}, 404, "kind"},
		{"another candidate's number", path, map[string]any{"value": other.NationalID, "reason": reason, "corrected_by": "ch-identifier"}, 409, "value"},
	} {
		a := correct(ch, tc.path, tc.body)
		if a.Status != tc.status || !slices.Contains(fieldNames(a), tc.field) {
			t.Fatalf("%s: %d %s, want %d naming %s", tc.name, a.Status, a.Raw, tc.status, tc.field)
		}
		if tc.status == 409 && a.Body["candidate_id"] != otherCand {
			t.Errorf("%s: the answer names candidate %v, want %s", tc.name, a.Body["candidate_id"], otherCand)
		}
	}
	if a := correct(examiner, path, map[string]any{"value": corrected, "reason": reason, "corrected_by": "examiner-identifier"}); a.Status != http.StatusForbidden {
		t.Fatalf("an examiner corrects an identifier: %d %s", a.Status, a.Raw)
	}
	if n := rowCount(t, `SELECT count(*) FROM identifier_corrections WHERE candidate_id = $1`, uuid.MustParse(cand)); n != 0 {
		t.Fatalf("%d corrections recorded by refused requests", n)
	}
	if id, err := env.store.FindCandidate(ctx, "national_id", p.NationalID); err != nil || id.String() != cand {
		t.Fatalf("the old number finds %s, %v before the correction", id, err)
	}

	a := correct(ch, path, map[string]any{"value": corrected, "reason": reason, "corrected_by": "ch-identifier"})
	if a.Status != http.StatusOK || a.Body["changed"] != true || a.Body["workflow_id"] == nil {
		t.Fatalf("correction: %d %s", a.Status, a.Raw)
	}
	if id, err := env.store.FindCandidate(ctx, "national_id", corrected); err != nil || id.String() != cand {
		t.Errorf("the corrected number finds %s, %v; want the candidate", id, err)
	}
	if _, err := env.store.FindCandidate(ctx, "national_id", p.NationalID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the old number still finds a candidate: %v", err)
	}
	pd, err := env.store.PersonalDataOf(ctx, uuid.MustParse(cand))
	if err != nil || pd.Person.NationalID != corrected {
		t.Errorf("stored number %q, %v", pd.Person.NationalID, err)
	}
	eventually(t, 30*time.Second, func() error {
		if pub, _ := publicationOf(rs.sim, cand); pub.NationalID != corrected {
			return fmt.Errorf("the registry has the candidate under %q", pub.NationalID)
		}
		return nil
	})
	var kind, by string
	if err := env.pool.QueryRow(ctx, `SELECT kind, corrected_by FROM identifier_corrections WHERE candidate_id = $1`, uuid.MustParse(cand)).Scan(&kind, &by); err != nil ||
		kind != "national_id" || by != "ch-identifier" {
		t.Errorf("the record: %s by %s, %v", kind, by, err)
	}
	if n := rowCount(t, `SELECT count(*) FROM audit_log WHERE subject_id = $1 AND operation = 'PUT /v1/candidates/:id/identifiers/:kind' AND who = 'ch-identifier'`,
		uuid.MustParse(cand)); n < 1 {
		t.Errorf("the correction is not in the audit log")
	}
	// The person's access export lists the correction.
	if sd, err := env.store.SubjectDataOf(ctx, uuid.MustParse(cand)); err != nil || len(sd.Tables["identifier_corrections"]) != 1 {
		t.Errorf("the access data holds %d identifier corrections (%v), want 1", len(sd.Tables["identifier_corrections"]), err)
	}
	// The same value again changes nothing and records nothing.
	if a := correct(ch, path, map[string]any{"value": corrected, "reason": reason, "corrected_by": "ch-identifier"}); a.Status != http.StatusOK || a.Body["changed"] != false {
		t.Fatalf("the same value again: %d %s", a.Status, a.Raw)
	}
	if n := rowCount(t, `SELECT count(*) FROM identifier_corrections WHERE candidate_id = $1`, uuid.MustParse(cand)); n != 1 {
		t.Errorf("%d corrections recorded, want 1", n)
	}
}
