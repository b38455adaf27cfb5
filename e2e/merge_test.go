package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/examflow/examflow/storage"
)

func merge(t *testing.T, survivor, duplicate string) answer {
	t.Helper()
	return postJSON(t, "/v1/candidates/"+survivor+"/merge", map[string]any{
		"duplicate_id": duplicate, "reason": "same person: DUF number and fødselsnummer linked by UDI", "decided_by": "case-handler-17",
	}, "")
}

func candidateRegistrations(t *testing.T, id string) []string {
	t.Helper()
	g := do(t, http.MethodGet, "/v1/candidates/"+id, "", nil, nil)
	if g.Status != http.StatusOK {
		t.Fatalf("GET candidate %s: %d %s", id, g.Status, g.Raw)
	}
	var ids []string
	regs, _ := g.Body["registrations"].([]any)
	for _, r := range regs {
		ids = append(ids, r.(map[string]any)["registration_id"].(string))
	}
	slices.Sort(ids)
	return ids
}

func TestMergeMovesRegistrationsIdentifiersAndData(t *testing.T) {
	ctx := context.Background()
	// A: a fødselsnummer, no address. B: another name, a DUF number only,
	// an address and a gender, registered for another test on another date.
	a, b := newPerson(t), newPerson(t)
	duf := newDUF()
	bodyA := a.reg(t, "citizenship", uniqueCentre(), session)
	delete(bodyA["person"].(map[string]any), "address")
	regA, candA := mustRegister(t, bodyA)
	bodyB := withDUFOnly(b.reg(t, "social_studies", uniqueCentre(), "2027-04-20"), duf)
	bodyB["person"].(map[string]any)["gender"] = "female"
	regB, candB := mustRegister(t, bodyB)
	if candA == candB {
		t.Fatal("A and B are one candidate before the merge")
	}

	// Rows of other tables that refer to B follow B to A: its sensitive
	// data from a legacy registration, a (settled) notification.
	if err := env.store.RecordSensitive(ctx, uuid.MustParse(candB), storage.Sensitive{MotherTongue: "tir",
		OriginalDate: time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	outboxID := uuid.NewString()
	if _, err := env.pool.Exec(ctx, `INSERT INTO notification_outbox (id, dedupe_key, candidate_id, kind, purpose, failed_at) VALUES ($1, $2, $3, 'e2e-merge', 'test', now())`,
		outboxID, "e2e-merge-"+outboxID, candB); err != nil {
		t.Fatal(err)
	}

	m := merge(t, candA, candB)
	if m.Status != http.StatusOK {
		t.Fatalf("merge: %d %s", m.Status, m.Raw)
	}
	if m.Body["candidate_id"] != candA || m.Body["merged_id"] != candB ||
		m.Body["registrations_moved"] != float64(1) || m.Body["identifiers_moved"] != float64(1) {
		t.Fatalf("merge answer = %s", m.Raw)
	}

	// A has both registrations; the answer holds no other personal data.
	want := []string{regA, regB}
	slices.Sort(want)
	if got := candidateRegistrations(t, candA); !slices.Equal(got, want) {
		t.Fatalf("A's registrations = %v, want %v", got, want)
	}
	g := do(t, http.MethodGet, "/v1/candidates/"+candA, "", nil, nil)
	for _, secret := range []string{a.Given, a.Family, a.NationalID, a.Email, b.Given, duf} {
		if strings.Contains(string(g.Raw), secret) {
			t.Fatalf("GET candidate shows personal data %q: %s", secret, g.Raw)
		}
	}
	if regs := g.Body["registrations"].([]any); regs[0].(map[string]any)["stage"] == "" || regs[0].(map[string]any)["test_type"] == "" {
		t.Fatalf("registrations = %v", regs)
	}

	// B is gone and points at A.
	gb := do(t, http.MethodGet, "/v1/candidates/"+candB, "", nil, nil)
	if gb.Status != http.StatusNotFound || gb.Body["merged_into"] != candA {
		t.Fatalf("GET B: %d %s", gb.Status, gb.Raw)
	}
	// B's registration kept its ID and workflow and now belongs to A.
	gr := do(t, http.MethodGet, "/v1/registrations/"+regB, "", nil, nil)
	if gr.Status != http.StatusOK || gr.Body["candidate_id"] != candA || gr.Body["workflow_id"] != "registration-"+regB {
		t.Fatalf("GET B's registration: %d %s", gr.Status, gr.Raw)
	}

	// A's empty fields and missing address were filled from B.
	pdA, err := env.store.PersonalDataOf(ctx, uuid.MustParse(candA))
	if err != nil {
		t.Fatal(err)
	}
	gotDUF, gender, nid := pdA.Person.DUFNumber, pdA.Person.Gender, pdA.Person.NationalID
	if gotDUF != duf || gender != "female" || nid != a.NationalID {
		t.Fatalf("A after merge: duf %q gender %q national_id kept %v", gotDUF, gender, nid == a.NationalID)
	}
	var n int
	if err := env.pool.QueryRow(ctx, `SELECT count(*) FROM candidate_addresses WHERE candidate_id = $1`, candA).Scan(&n); err != nil || n != 1 {
		t.Fatalf("A's address rows = %d, %v", n, err)
	}
	var outboxOwner string
	if pdA.Sensitive == nil || pdA.Sensitive.MotherTongue != "tir" || pdA.Address == nil {
		t.Fatalf("A's sensitive data and address after the merge: %+v %+v", pdA.Sensitive, pdA.Address)
	}
	if err := env.pool.QueryRow(ctx, `SELECT candidate_id::text FROM notification_outbox WHERE id = $1`, outboxID).Scan(&outboxOwner); err != nil || outboxOwner != candA {
		t.Fatalf("B's notification belongs to %q (%v), want A", outboxOwner, err)
	}
	var reason, decidedBy string
	if err := env.pool.QueryRow(ctx, `SELECT reason, decided_by FROM candidate_merges WHERE survivor_id = $1 AND merged_id = $2`, candA, candB).Scan(&reason, &decidedBy); err != nil {
		t.Fatalf("merge row: %v", err)
	}
	if decidedBy != "case-handler-17" || !strings.HasPrefix(reason, "same person") {
		t.Fatalf("merge row = %q %q", reason, decidedBy)
	}
	for _, table := range []string{"candidates WHERE id", "candidate_identifiers WHERE candidate_id", "registrations WHERE candidate_id"} {
		if err := env.pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` = $1`, candB).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s = B: %d rows, %v", table, n, err)
		}
	}

	// A new registration with B's DUF number finds A.
	bodyB2 := withDUFOnly(b.reg(t, "social_studies", uniqueCentre(), "2027-05-25"), duf)
	if _, cand := mustRegister(t, bodyB2); cand != candA {
		t.Fatalf("a registration with B's DUF number found candidate %s, want A %s", cand, candA)
	}

	// Sending the same merge again answers the recorded result.
	again := merge(t, candA, candB)
	if again.Status != http.StatusOK || again.Body["registrations_moved"] != float64(1) || again.Body["merged_at"] != m.Body["merged_at"] {
		t.Fatalf("merge again: %d %s", again.Status, again.Raw)
	}
	if logs := env.apiLogs.String(); strings.Contains(logs, "linked by UDI") || strings.Contains(logs, duf) {
		t.Fatal("API logs contain the merge reason or an identifier")
	}
}

func TestMergeConflictChangesNothing(t *testing.T) {
	ctx := context.Background()
	// C and D are one person registered twice for the same test and date.
	centre, date := uniqueCentre(), "2027-06-14"
	_, candC := mustRegister(t, newPerson(t).reg(t, "social_studies", centre, date))
	regD, candD := mustRegister(t, withDUFOnly(newPerson(t).reg(t, "social_studies", centre, date), newDUF()))
	// E and F have different national identity numbers.
	_, candE := mustRegister(t, newPerson(t).reg(t, "citizenship", uniqueCentre(), session))
	_, candF := mustRegister(t, newPerson(t).reg(t, "social_studies", uniqueCentre(), date))

	tables := []string{"candidates", "candidate_identifiers", "candidate_addresses", "registrations", "candidate_merges"}
	before := map[string]int{}
	for _, table := range tables {
		before[table] = countRows(t, table)
	}
	tests := []struct {
		name                string
		survivor, duplicate string
		wantRegistrations   int
	}{
		{"same test and date", candC, candD, 1},
		{"different national ids", candE, candF, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := merge(t, tt.survivor, tt.duplicate)
			if a.Status != http.StatusConflict || !slices.Equal(fieldNames(a), []string{"duplicate_id"}) {
				t.Fatalf("merge: %d %s", a.Status, a.Raw)
			}
			if a.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("Content-Type = %q", a.Header.Get("Content-Type"))
			}
			regs, _ := a.Body["conflicting_registrations"].([]any)
			if len(regs) != tt.wantRegistrations {
				t.Fatalf("conflicting_registrations = %v", a.Body["conflicting_registrations"])
			}
			if tt.wantRegistrations > 0 && regs[0].(map[string]any)["duplicate_registration_id"] != regD {
				t.Fatalf("conflicting_registrations = %v", regs)
			}
		})
	}
	for _, table := range tables {
		if n := countRows(t, table); n != before[table] {
			t.Errorf("%s has %d rows, had %d", table, n, before[table])
		}
	}
	var owner string
	if err := env.pool.QueryRow(ctx, `SELECT candidate_id::text FROM registrations WHERE id = $1`, regD).Scan(&owner); err != nil || owner != candD {
		t.Fatalf("D's registration belongs to %s (%v), want D", owner, err)
	}
	for _, id := range []string{candC, candD, candE, candF} {
		if regs := candidateRegistrations(t, id); len(regs) != 1 {
			t.Fatalf("candidate %s has registrations %v", id, regs)
		}
	}
}

func TestMergeRefusesBadRequests(t *testing.T) {
	_, cand := mustRegister(t, newPerson(t).reg(t, "citizenship", uniqueCentre(), session))
	_, other := mustRegister(t, newPerson(t).reg(t, "citizenship", uniqueCentre(), session))
	missing := uuid.NewString()
	full := map[string]any{"duplicate_id": other, "reason": "same person", "decided_by": "case-handler-17"}
	without := func(field string) map[string]any {
		m := map[string]any{}
		for k, v := range full {
			if k != field {
				m[k] = v
			}
		}
		return m
	}
	with := func(field string, value any) map[string]any {
		m := without(field)
		m[field] = value
		return m
	}
	tests := []struct {
		name       string
		survivor   string
		body       map[string]any
		wantStatus int
		wantFields []string
	}{
		{"merge into itself", cand, with("duplicate_id", cand), 422, []string{"duplicate_id"}},
		{"no reason", cand, without("reason"), 422, []string{"reason"}},
		{"blank decided_by", cand, with("decided_by", "  "), 422, []string{"decided_by"}},
		{"nothing", cand, map[string]any{}, 422, []string{"duplicate_id", "reason", "decided_by"}},
		{"duplicate_id not a UUID", cand, with("duplicate_id", "B"), 422, []string{"duplicate_id"}},
		{"unknown field", cand, with("national_id", "x"), 400, []string{"national_id"}},
		{"path id not a UUID", "x", full, 400, []string{"id"}},
		{"no such survivor", missing, full, 404, []string{"id"}},
		{"no such duplicate", cand, with("duplicate_id", missing), 404, []string{"duplicate_id"}},
	}
	before := countRows(t, "candidate_merges")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := postJSON(t, "/v1/candidates/"+tt.survivor+"/merge", tt.body, "")
			if a.Status != tt.wantStatus || !slices.Equal(fieldNames(a), tt.wantFields) {
				t.Fatalf("status %d fields %v, want %d %v: %s", a.Status, fieldNames(a), tt.wantStatus, tt.wantFields, a.Raw)
			}
		})
	}
	if n := countRows(t, "candidate_merges"); n != before {
		t.Fatalf("candidate_merges went from %d to %d", before, n)
	}
	for path, want := range map[string]int{"/v1/candidates/x": 400, "/v1/candidates/" + missing: 404} {
		if g := do(t, http.MethodGet, path, "", nil, nil); g.Status != want {
			t.Fatalf("GET %s: %d %s", path, g.Status, g.Raw)
		}
	}
}
