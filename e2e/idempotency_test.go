package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// keyed posts body as JSON with the Idempotency-Key and the caller's
// authorization headers (nil: the all-roles test key).
func keyed(t *testing.T, auth map[string]string, path, key string, body any) answer {
	t.Helper()
	h := map[string]string{"Idempotency-Key": key}
	for k, v := range auth {
		h[k] = v
	}
	return do(t, http.MethodPost, path, "application/json", []byte(mustJSON(body)), h)
}

// refusedAsReused reports whether a is the 422 problem of a reused
// Idempotency-Key.
func refusedAsReused(a answer) bool {
	return a.Status == http.StatusUnprocessableEntity && a.Body["type"] == "/problems/idempotency-key-reused" && problemField(a) == "Idempotency-Key"
}

// TestIdempotencyKeyIsBoundToItsRequest (issue 13, item 4): on a route that
// sends a Temporal Update, the same Idempotency-Key with the same request
// is answered again from the first outcome, and with another body, on
// another route or for another registration it is refused with 422 naming
// the header: nothing is sent, nothing changes and nothing is audited (the
// key used to become the Update ID, so the second request was dropped
// while the API answered 2xx). A malformed key is refused too.
func TestIdempotencyKeyIsBoundToItsRequest(t *testing.T) {
	ctx := context.Background()
	centre := uniqueCentre()
	reg := postRegistration(t, newPerson(t).reg(t, "norwegian_a1_b2", centre, session), "")
	other := postRegistration(t, newPerson(t).reg(t, "norwegian_a1_b2", centre, session), "")
	if reg.Status != 201 || other.Status != 201 {
		t.Fatalf("register: %d %s / %d %s", reg.Status, reg.Raw, other.Status, other.Raw)
	}
	url, otherURL := registrationURL(reg), registrationURL(other)
	regID := uuid.MustParse(reg.Body["registration_id"].(string))
	key := "assess-" + uuid.NewString()
	first := map[string]any{"part": "writing", "role": "examiner", "assessor": "e1", "level": "B1"}
	if a := keyed(t, nil, url+"/assessments", key, first); a.Status != http.StatusAccepted {
		t.Fatalf("first assessment: %d %s", a.Status, a.Raw)
	}
	level := func() string {
		var l string
		_ = env.pool.QueryRow(ctx, `SELECT level FROM assessments WHERE registration_id = $1 AND part = 'writing' AND role = 'examiner'`, regID).Scan(&l)
		return l
	}
	eventually(t, 15*time.Second, func() error {
		if l := level(); l != "B1" {
			return fmt.Errorf("level %q, want B1", l)
		}
		return nil
	})

	// The same request again: the first answer, nothing twice.
	if a := keyed(t, nil, url+"/assessments", key, first); a.Status != http.StatusAccepted || a.Body["status"] != "recorded" {
		t.Fatalf("the same request again: %d %s", a.Status, a.Raw)
	}
	auditBefore := rowCount(t, `SELECT count(*) FROM audit_log WHERE subject_id = $1`, regID)
	for _, tc := range []struct {
		name, path string
		body       any
	}{
		{"another body", url + "/assessments", map[string]any{"part": "writing", "role": "examiner", "assessor": "e1", "level": "A2"}},
		{"another route", url + "/discrepancies", map[string]any{"kind": "technical_problem", "part": "writing", "note": "the screen froze"}},
		{"another registration", otherURL + "/assessments", first},
	} {
		if a := keyed(t, nil, tc.path, key, tc.body); !refusedAsReused(a) {
			t.Errorf("%s with the same key: %d %s, want 422 naming Idempotency-Key", tc.name, a.Status, a.Raw)
		}
	}
	if a := keyed(t, nil, url+"/assessments", "two words", first); a.Status != http.StatusUnprocessableEntity || problemField(a) != "Idempotency-Key" {
		t.Errorf("a malformed key: %d %s, want 422 naming Idempotency-Key", a.Status, a.Raw)
	}
	time.Sleep(time.Second) // anything sent would have been stored by now
	if l := level(); l != "B1" {
		t.Errorf("level %q after the refusals, want B1 (the second body was applied)", l)
	}
	if n := rowCount(t, `SELECT count(*) FROM discrepancies WHERE registration_id = $1`, regID); n != 0 {
		t.Errorf("%d discrepancies recorded by a refused request", n)
	}
	if n := rowCount(t, `SELECT count(*) FROM assessments WHERE registration_id = $1`, uuid.MustParse(other.Body["registration_id"].(string))); n != 0 {
		t.Errorf("%d assessments on the other registration", n)
	}
	if n := rowCount(t, `SELECT count(*) FROM audit_log WHERE subject_id = $1`, regID); n != auditBefore {
		t.Errorf("the refusals were audited: %d entries, want %d", n, auditBefore)
	}
}

// TestCourseRegistrationKeysAreScopedByIntegration (issue 13, item 4): two
// integrations that happen to use the same Idempotency-Key get their own
// registrations, not each other's (the key was global, so the second got
// the first's participant); the same integration reusing the key for
// another participant is refused with 422.
func TestCourseRegistrationKeysAreScopedByIntegration(t *testing.T) {
	suffix := uuid.NewString()[:8]
	admin := roleKey(t, "ca-idem-"+suffix, "course_admin")
	portalA := roleKey(t, "portal-a-"+suffix, "integration")
	portalB := roleKey(t, "portal-b-"+suffix, "integration")
	course := createCourse(t, admin, false, false, time.Now().UTC().AddDate(0, 1, 0).Format(time.DateOnly))
	key := "course-" + suffix
	bodyA, bodyB := courseBody(course, nil), courseBody(course, nil)
	a := keyed(t, portalA, "/v1/course-registrations", key, bodyA)
	b := keyed(t, portalB, "/v1/course-registrations", key, bodyB)
	if a.Status != http.StatusCreated || b.Status != http.StatusCreated {
		t.Fatalf("registrations: %d %s / %d %s, want 201 twice", a.Status, a.Raw, b.Status, b.Raw)
	}
	if a.Body["registration_id"] == b.Body["registration_id"] {
		t.Fatalf("the second integration got the first one's registration %v", a.Body["registration_id"])
	}
	for _, tc := range []struct {
		got  answer
		want map[string]any
	}{{a, bodyA}, {b, bodyB}} {
		g := do(t, http.MethodGet, "/v1/course-registrations/"+tc.got.Body["registration_id"].(string), "", nil, admin)
		if p, _ := g.Body["participant"].(map[string]any); p["family_name"] != tc.want["family_name"] {
			t.Fatalf("registration %v holds %v, want %v", tc.got.Body["registration_id"], p["family_name"], tc.want["family_name"])
		}
	}
	again := keyed(t, portalA, "/v1/course-registrations", key, bodyA)
	if again.Status != http.StatusOK || again.Body["registration_id"] != a.Body["registration_id"] {
		t.Fatalf("the same request again: %d %s, want 200 with the first registration", again.Status, again.Raw)
	}
	if r := keyed(t, portalA, "/v1/course-registrations", key, courseBody(course, nil)); !refusedAsReused(r) {
		t.Fatalf("the key for another participant: %d %s, want 422 naming Idempotency-Key", r.Status, r.Raw)
	}
	if n := rowCount(t, `SELECT count(*) FROM course_registrations WHERE course_id = $1`, uuid.MustParse(course)); n != 2 {
		t.Fatalf("%d registrations on the course, want 2", n)
	}
}

// TestSubjectRequestAndDisclosureKeysAreBoundToTheirRequest (issue 13, item
// 4): a subject request or a release sent again with its key and another
// body is refused with 422 (the API answered 201 with the new body while
// nothing new was stored); the same request again gets the same answer.
func TestSubjectRequestAndDisclosureKeysAreBoundToTheirRequest(t *testing.T) {
	suffix := uuid.NewString()[:8]
	ch := roleKey(t, "ch-idem-"+suffix, "case_handler")
	p := newPerson(t)
	reg := postRegistration(t, p.reg(t, "citizenship", uniqueCentre(), session), "")
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	cand := uuid.MustParse(reg.Body["candidate_id"].(string))
	id := map[string]any{"kind": "national_id", "value": p.NationalID}

	key := "sr-" + suffix
	first := keyed(t, ch, "/v1/subject-requests", key, map[string]any{"kind": "access", "identifier": id})
	if first.Status != http.StatusCreated {
		t.Fatalf("subject request: %d %s", first.Status, first.Raw)
	}
	if again := keyed(t, ch, "/v1/subject-requests", key, map[string]any{"kind": "access", "identifier": id}); again.Status != http.StatusCreated ||
		again.Body["request_id"] != first.Body["request_id"] || again.Body["due_at"] != first.Body["due_at"] {
		t.Fatalf("the same request again: %d %s", again.Status, again.Raw)
	}
	if r := keyed(t, ch, "/v1/subject-requests", key, map[string]any{"kind": "objection", "identifier": id, "grounds": "research", "purposes": []string{"research"}}); !refusedAsReused(r) {
		t.Fatalf("the key for another request: %d %s, want 422 naming Idempotency-Key", r.Status, r.Raw)
	}
	if n := rowCount(t, `SELECT count(*) FROM subject_requests WHERE candidate_id = $1`, cand); n != 1 {
		t.Fatalf("%d subject requests, want 1", n)
	}

	path := "/v1/candidates/" + cand.String() + "/disclosures"
	release := map[string]any{"recipient": "udi", "categories": []string{"name", "test results"}, "reference": "UDI-" + suffix}
	key = "release-" + suffix
	if a := keyed(t, ch, path, key, release); a.Status != http.StatusCreated {
		t.Fatalf("release: %d %s", a.Status, a.Raw)
	}
	if a := keyed(t, ch, path, key, release); a.Status != http.StatusCreated {
		t.Fatalf("the same release again: %d %s", a.Status, a.Raw)
	}
	release["reference"] = "UDI-other-" + suffix
	if r := keyed(t, ch, path, key, release); !refusedAsReused(r) {
		t.Fatalf("the key for another release: %d %s, want 422 naming Idempotency-Key", r.Status, r.Raw)
	}
	if n := rowCount(t, `SELECT count(*) FROM disclosures WHERE candidate_id = $1`, cand); n != 1 {
		t.Fatalf("%d disclosures, want 1", n)
	}
	// The release and its replay are one release in the audit log, by the
	// case handler, for the purpose releases to UDI serve.
	if es := mustReleasesAudited(t, cand.String()); len(es) != 1 || !strings.HasPrefix(es[0].Who, "ch-idem-") || es[0].Purpose != "arrange_tests" ||
		strings.Join(es[0].Fields, ",") != "name,test results" {
		t.Fatalf("the release's audit entries: %+v", es)
	}
}
