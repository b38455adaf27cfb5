package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/policy"
)

// TestPublicationToTheDiplomaRegistry (T09, T08): when a result is final it
// is published under the candidate's key with the latest and best result per
// part, recorded as a disclosure; a later final result republishes under the
// same key; a candidate with only a D number is never published.
func TestPublicationToTheDiplomaRegistry(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	today := now.Format(time.DateOnly)
	long := now.Sub(now.Truncate(24*time.Hour)) + time.Hour
	rs := startRetentionStack(t, policy.Periods{policy.Address: long, policy.PersonalData: long})
	centre := uniqueCentre()
	sessionFor(t, "citizenship", centre, today)
	sessionFor(t, "social_studies", centre, today)

	take := func(body map[string]any, testType string, correct, items int) string {
		t.Helper()
		a := doAt(t, rs.url, http.MethodPost, "/v1/registrations", "application/json", []byte(mustJSON(body)), nil)
		if a.Status != 201 {
			t.Fatalf("register: %d %s", a.Status, a.Raw)
		}
		url := "/v1/registrations/" + a.Body["registration_id"].(string)
		form := fmt.Sprintf("%s-test-%s-%s", testType, centre, today)
		if s := doAt(t, rs.url, http.MethodPost, url+"/answer-sheets", "application/json", []byte(mustJSON(map[string]any{
			"part": "test", "form_id": form, "key_version": 1, "submitted_at": now.Format(time.RFC3339), "answers": answersFor(items, correct)})), nil); s.Status != 202 {
			t.Fatalf("submit: %d %s", s.Status, s.Raw)
		}
		eventually(t, 30*time.Second, func() error {
			g := doAt(t, rs.url, http.MethodGet, url, "", nil, nil)
			if g.Body["stage"] != "Retained" {
				return fmt.Errorf("stage %v", g.Body["stage"])
			}
			return nil
		})
		return a.Body["candidate_id"].(string)
	}

	p := newPerson(t)
	cand := take(p.registration("citizenship", centre, today), "citizenship", 30, 36)
	pubs := rs.sim.Publications()
	if len(pubs) != 1 || pubs[0].Key != "candidate-"+cand || pubs[0].NationalID != p.NationalID ||
		len(pubs[0].Results) != 1 || pubs[0].Results[0].Result != "passed" {
		t.Fatalf("publications = %+v", pubs)
	}
	ds, err := env.store.Disclosures(ctx, uuid.MustParse(cand))
	if err != nil || len(ds) != 1 || ds[0].Recipient == "" || ds[0].LegalBasis == "" || ds[0].Reference != pubs[0].Key {
		t.Fatalf("disclosures = %+v, %v", ds, err)
	}
	if es := mustReleasesAudited(t, cand); len(es) != 1 || es[0].Purpose != "arrange_tests" || es[0].Operation != "publish to sikt" {
		t.Fatalf("the publication's audit entries: %+v", es)
	}

	// A second final result republishes under the same key.
	take(p.registration("social_studies", centre, today), "social_studies", 30, 38)
	pubs = rs.sim.Publications()
	if len(pubs) != 1 || len(pubs[0].Results) != 2 {
		t.Fatalf("after the second result: %+v", pubs)
	}
	if es := mustReleasesAudited(t, cand); len(es) != 2 {
		t.Fatalf("the publications' audit entries: %+v", es)
	}

	// A candidate with only a D number is never published.
	q := newPerson(t)
	born, _ := time.Parse(time.DateOnly, q.Born)
	var d string
	for i := 100; d == ""; i++ {
		d, _ = identity.WithCheckDigits(fmt.Sprintf("%02d%s%03d", born.Day()+40, born.Format("0106"), i)) // D number: day + 40
	}
	q.NationalID = d
	qCand := take(q.registration("social_studies", centre, today), "social_studies", 30, 38)
	for _, pub := range rs.sim.Publications() {
		if pub.Key == "candidate-"+qCand || pub.NationalID == d {
			t.Fatalf("a D-number-only candidate was published: %+v", pub)
		}
	}
	if ds, _ := env.store.Disclosures(ctx, uuid.MustParse(qCand)); len(ds) != 0 {
		t.Fatalf("disclosures for the D-number candidate: %+v", ds)
	}
}
