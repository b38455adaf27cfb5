package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/examflow/examflow/api"
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

// mailedLinks drains the outbox to a new mail sink until want messages to
// the address carry a self-service link, and returns the links (paths) of
// the messages it delivered, oldest first.
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

// clock is a settable time for an API under test.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// courseAPI serves the API with its own clock and the default course link
// lifetime.
func courseAPI(t *testing.T, clk *clock) string {
	t.Helper()
	key, _ := env.cfg.LookupKey()
	srv := httptest.NewServer(api.New(api.Deps{
		Store: env.store, Temporal: env.temporal, TaskQueue: env.cfg.TaskQueue, Catalogue: env.catalogue, Tokens: env.store,
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Validation: api.ValidationOptions{Now: clk.now},
		Courses: api.CourseOptions{PolicyVersion: "2025-02-11", SurveyAfter: time.Hour, PublicURL: "http://self-service.example", LinkKey: key},
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCourseLinkExpiresAndCanBeRenewed (C10, C11): a self-service link
// works for EXAMFLOW_COURSE_LINK_TTL (30 days by default), then says it has
// expired and changes nothing; from the expired link the participant asks
// for a fresh one, which is mailed to the address on file (asking twice
// sends one, a forged link gets nothing) and works. The outbox never holds
// a link in the clear, and keeps nothing of it once the mail is sent.
func TestCourseLinkExpiresAndCanBeRenewed(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	base := courseAPI(t, clk)
	admin := roleKey(t, "ca-link-ttl", "course_admin")
	portal := roleKey(t, "course-portal-link-ttl", "integration")
	course := createCourse(t, admin, false, false, time.Now().UTC().AddDate(0, 3, 0).Format(time.DateOnly))
	body := courseBody(course, nil)
	reg := doAt(t, base, http.MethodPost, "/v1/course-registrations", "application/json", []byte(mustJSON(body)), portal)
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	id, email := reg.Body["registration_id"].(string), body["email"].(string)
	rid := uuid.MustParse(id)
	// Queued, the confirmation holds no link in the clear.
	var payload string
	if err := env.pool.QueryRow(ctx, `SELECT payload::text FROM notification_outbox WHERE course_registration_id = $1`, rid).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(payload, "self-service") {
		t.Fatalf("queued confirmation holds the link in the clear: %s", payload)
	}
	link := mailedLinks(t, email, 1)[0]
	token := link[strings.LastIndex(link, "/")+1:]
	if n := rowCount(t, `SELECT count(*) FROM notification_outbox o WHERE course_registration_id = $1 AND sent_at IS NOT NULL
		AND (to_jsonb(o)::text LIKE '%' || $2 || '%' OR to_jsonb(o)::text LIKE '%sealed_secrets": "%')`, rid, token); n != 0 {
		t.Fatalf("%d sent notifications still hold the link or its sealed form", n)
	}

	if page := doAt(t, base, http.MethodGet, link, "", nil, noAuth); page.Status != 200 {
		t.Fatalf("fresh link: %d", page.Status)
	}
	clk.advance(31 * 24 * time.Hour)
	page := doAt(t, base, http.MethodGet, link, "", nil, noAuth)
	if page.Status != http.StatusGone || !strings.Contains(string(page.Raw), link+"/renewal") {
		t.Fatalf("expired link page: %d %s", page.Status, page.Raw)
	}
	w := doAt(t, base, http.MethodPost, link+"/withdrawal", "", nil, noAuth)
	if w.Status != http.StatusGone || !strings.Contains(fmt.Sprint(w.Body["detail"]), "renewal") {
		t.Fatalf("withdrawal through an expired link: %d %s", w.Status, w.Raw)
	}
	if a := doAt(t, base, http.MethodGet, "/v1/course-registrations/"+id, "", nil, admin); a.Status != 200 {
		t.Fatalf("the registration after an expired withdrawal: %d", a.Status)
	}
	// A link issued before links expired (the signed registration ID alone)
	// is authentic but expired: it changes nothing and offers a fresh one.
	key, _ := env.cfg.LookupKey()
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("examflow course self-service\x00"))
	mac.Write(rid[:])
	old := "/courses/self-service/" + base64.RawURLEncoding.EncodeToString(append(rid[:], mac.Sum(nil)...))
	if a := doAt(t, base, http.MethodPost, old+"/corrections", "application/json", []byte(`{"given_name": "Gammel"}`), noAuth); a.Status != http.StatusGone {
		t.Fatalf("correction through a link from before links expired: %d %s", a.Status, a.Raw)
	}
	if page := doAt(t, base, http.MethodGet, old, "", nil, noAuth); page.Status != http.StatusGone || !strings.Contains(string(page.Raw), old+"/renewal") {
		t.Fatalf("page of a link from before links expired: %d %s", page.Status, page.Raw)
	}

	// Asking twice sends one link; a forged token is not an oracle.
	var answers []string
	for range 2 {
		a := doAt(t, base, http.MethodPost, link+"/renewal", "", nil, noAuth)
		if a.Status != http.StatusAccepted {
			t.Fatalf("renewal: %d %s", a.Status, a.Raw)
		}
		answers = append(answers, string(a.Raw))
	}
	if answers[0] != answers[1] {
		t.Errorf("renewal answers differ: %s / %s", answers[0], answers[1])
	}
	forged := link[:len(link)-4] + "AAAA"
	if a := doAt(t, base, http.MethodPost, forged+"/renewal", "", nil, noAuth); a.Status != 404 {
		t.Errorf("renewal of a forged link: %d %s", a.Status, a.Raw)
	}
	links := mailedLinks(t, email, 1)
	if len(links) != 1 || links[0] == link {
		t.Fatalf("links mailed: %v", links)
	}
	if a := doAt(t, base, http.MethodPost, links[0]+"/corrections", "application/json", []byte(`{"given_name": "Pål"}`), noAuth); a.Status != 200 {
		t.Fatalf("correction through the renewed link: %d %s", a.Status, a.Raw)
	}
	// Staff can send a participant who lost the link a fresh one, to the
	// address on file; today's link is sent already, so nothing more goes.
	if a := doAt(t, base, http.MethodPost, "/v1/course-registrations/"+id+"/self-service-link", "", nil, portal); a.Status != 403 {
		t.Errorf("the portal sending a link: %d", a.Status)
	}
	if a := doAt(t, base, http.MethodPost, "/v1/course-registrations/"+id+"/self-service-link", "", nil, admin); a.Status != http.StatusAccepted {
		t.Errorf("course_admin sending a link: %d %s", a.Status, a.Raw)
	}
	if n := rowCount(t, `SELECT count(*) FROM notification_outbox WHERE course_registration_id = $1`, rid); n != 2 {
		t.Errorf("%d notifications, want the confirmation and one renewal", n)
	}
	if n := rowCount(t, `SELECT count(*) FROM notification_outbox o WHERE course_registration_id = $1
		AND (to_jsonb(o)::text LIKE '%self-service%' OR to_jsonb(o)::text LIKE '%sealed_secrets": "%')`, rid); n != 0 {
		t.Fatalf("%d sent notifications still hold a link or its sealed form", n)
	}
}
