package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/examflow/examflow/storage"
)

var selfServiceLinkRe = regexp.MustCompile(`http://self-service\.example(/courses/self-service/[A-Za-z0-9_-]+)`)

// noAuth sends a request without a token, as a participant's browser does.
var noAuth = map[string]string{"Authorization": ""}

// courseParticipant registers a new participant for a new free course and
// returns the registration ID and the participant's e-mail address.
func courseParticipant(t *testing.T) (id, email string) {
	t.Helper()
	admin := roleKey(t, "ca-self-service", "course_admin")
	portal := roleKey(t, "course-portal-self-service", "integration")
	course := createCourse(t, admin, false, false, time.Now().UTC().AddDate(0, 1, 0).Format(time.DateOnly))
	body := courseBody(course, nil)
	reg := do(t, http.MethodPost, "/v1/course-registrations", "application/json", []byte(mustJSON(body)), portal)
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	return reg.Body["registration_id"].(string), body["email"].(string)
}

// mailedLinks drains the outbox to a mail sink until a message to the
// address carries a self-service link, and returns the links (paths) of
// every such message, oldest first.
func mailedLinks(t *testing.T, email string, want int) []string {
	t.Helper()
	sink := newSMTPSink(t)
	d := notifyDrainer(t, sink, &syncBuffer{}, prometheus.NewRegistry(), nil)
	var links []string
	eventually(t, 20*time.Second, func() error {
		if _, err := d.RunOnce(context.Background()); err != nil {
			return err
		}
		links = nil
		for _, m := range sink.to(email) {
			_, _, body := parseMail(t, m)
			if l := selfServiceLinkRe.FindStringSubmatch(body); l != nil {
				links = append(links, l[1])
			}
		}
		if len(links) < want {
			return fmt.Errorf("%d messages with a link to the participant, want %d", len(links), want)
		}
		return nil
	})
	return links
}

// TestSelfServiceChangesAreAudited (C11, audit): a correction and a
// withdrawal made through a participant's self-service link are in the
// audit log as the participant's own (who is the registration, not a
// name or an address), and the chain stays intact.
func TestSelfServiceChangesAreAudited(t *testing.T) {
	ctx := context.Background()
	id, email := courseParticipant(t)
	rid := uuid.MustParse(id)
	link := mailedLinks(t, email, 1)[0]

	if a := do(t, http.MethodPost, link+"/corrections", "application/json", []byte(`{"given_name": "Per\nBcc"}`), noAuth); a.Status != 422 {
		t.Fatalf("invalid correction: %d %s", a.Status, a.Raw)
	}
	if a := do(t, http.MethodPost, link+"/corrections", "application/json", []byte(`{"family_name": "Nyttnavn"}`), noAuth); a.Status != 200 {
		t.Fatalf("correction: %d %s", a.Status, a.Raw)
	}
	eventually(t, 15*time.Second, func() error {
		if a := do(t, http.MethodPost, link+"/withdrawal", "", nil, noAuth); a.Status != 200 {
			return fmt.Errorf("withdrawal: %d %s", a.Status, a.Raw)
		}
		return nil
	})

	recs, err := env.store.AuditLog(ctx, storage.AuditFilter{SubjectKind: storage.SubjectCourseRegistration, SubjectID: rid})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, r := range recs {
		if !strings.HasPrefix(r.Operation, "POST /courses/self-service/") {
			continue // the registration itself, by the portal
		}
		if r.Who != "self-service:"+id || r.Role != "data_subject" || r.Action != storage.AuditChange {
			t.Errorf("entry %+v: want who self-service:%s, role data_subject, action change", r, id)
		}
		for _, v := range []string{email, "Nyttnavn", "Per"} {
			if strings.Contains(fmt.Sprint(r.Who, r.Fields, r.Operation, r.Purpose), v) {
				t.Errorf("entry %+v carries personal data %q", r, v)
			}
		}
		ops = append(ops, r.Operation)
	}
	want := []string{"POST /courses/self-service/:token/corrections", "POST /courses/self-service/:token/withdrawal"}
	for _, op := range want {
		if !slices.Contains(ops, op) {
			t.Errorf("no audit entry for %s; entries: %v", op, ops)
		}
	}
	if len(ops) != len(want) {
		t.Errorf("%d self-service entries, want %d (a refused correction changes nothing and is not logged): %v", len(ops), len(want), ops)
	}
	mustAuditIntact(t)
}
