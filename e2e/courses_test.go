package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/process"
)

func createCourse(t *testing.T, admin map[string]string, paid, profile bool, date string) string {
	t.Helper()
	a := do(t, http.MethodPost, "/v1/courses", "application/json", []byte(mustJSON(map[string]any{"title": "Tollkurs " + uuid.NewString()[:6],
		"course_type": "customs_basics", "event_date": date, "paid": paid, "profile_questions": profile})), admin)
	if a.Status != 201 {
		t.Fatalf("course: %d %s", a.Status, a.Raw)
	}
	return a.Body["id"].(string)
}

func courseBody(courseID string, extra map[string]any) map[string]any {
	b := map[string]any{"course_id": courseID, "given_name": "Per", "family_name": "Deltaker-" + uuid.NewString()[:6], "email": "per." + uuid.NewString()[:6] + "@example.org"}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// TestCourseRegistrationTakesOnlyWhatThePolicyLists (C01, C02, C03, C07):
// a paid course needs invoice details with a valid organisation number;
// an unexpected field, profile answers where the course asks none, and
// invoice details for a free course are refused and store nothing; a valid
// registration records consent with its time and policy version; only
// course_admin sees the participants.
func TestCourseRegistrationTakesOnlyWhatThePolicyLists(t *testing.T) {
	admin := roleKey(t, "ca-1", "course_admin")
	portal := roleKey(t, "course-portal", "integration")
	paid := createCourse(t, admin, true, false, "2027-05-10")
	free := createCourse(t, admin, false, true, "2027-05-11")
	invoice := func(org string) map[string]any {
		return map[string]any{"address": map[string]any{"street": "Tollbugata 1", "postal_code": "0152", "city": "Oslo", "country": "NO"},
			"organisation_number": org, "email": "faktura@example.org"}
	}
	before := rowCount(t, `SELECT count(*) FROM course_registrations`)
	for name, tc := range map[string]struct {
		body   map[string]any
		status int
		field  string
	}{
		"bad organisation number":     {courseBody(paid, map[string]any{"invoice": invoice("974760674")}), 422, "invoice.organisation_number"},
		"paid without invoice":        {courseBody(paid, nil), 422, "invoice"},
		"invoice for a free course":   {courseBody(free, map[string]any{"invoice": invoice("974760673")}), 422, "invoice"},
		"profile where none is asked": {courseBody(paid, map[string]any{"invoice": invoice("974760673"), "profile": map[string]any{"company": "X"}}), 422, "profile"},
		"an unexpected field":         {courseBody(free, map[string]any{"national_id": "12048510092"}), 400, "national_id"},
		"an unexpected invoice field": {courseBody(paid, map[string]any{"invoice": map[string]any{"organisation_number": "974760673", "employer": "Y"}}), 400, "invoice.employer"},
	} {
		a := do(t, http.MethodPost, "/v1/course-registrations", "application/json", []byte(mustJSON(tc.body)), portal)
		if a.Status != tc.status || !slices.Contains(fieldNames(a), tc.field) {
			t.Errorf("%s: %d %s, want %d naming %s", name, a.Status, a.Raw, tc.status, tc.field)
		}
	}
	if n := rowCount(t, `SELECT count(*) FROM course_registrations`); n != before {
		t.Fatalf("refused registrations stored %d rows", n-before)
	}
	ok := do(t, http.MethodPost, "/v1/course-registrations", "application/json", []byte(mustJSON(courseBody(paid, map[string]any{"invoice": invoice("974 760 673")}))), portal)
	if ok.Status != 201 {
		t.Fatalf("paid registration: %d %s", ok.Status, ok.Raw)
	}
	consent := ok.Body["consent"].(map[string]any)
	if consent["policy_version"] != "2025-02-11" || consent["given_at"] == "" {
		t.Fatalf("consent: %v", consent)
	}
	withProfile := do(t, http.MethodPost, "/v1/course-registrations", "application/json", []byte(mustJSON(courseBody(free,
		map[string]any{"profile": map[string]any{"education_level": "bachelor", "years_in_position": 4, "company": "Eksempel AS"}}))), portal)
	if withProfile.Status != 201 {
		t.Fatalf("registration with profile: %d %s", withProfile.Status, withProfile.Raw)
	}
	// Nothing readable is stored in plain text.
	if n := rowCount(t, `SELECT count(*) FROM course_registrations WHERE position(convert_to('Tollbugata', 'UTF8') in sealed) > 0`); n != 0 {
		t.Fatal("invoice details stored in plain text")
	}
	path := "/v1/courses/" + paid + "/participants"
	for _, role := range []string{"case_handler", "dpo", "integration", "statistics"} {
		if a := do(t, http.MethodGet, path, "", nil, roleKey(t, "x-"+role, role)); a.Status != 403 {
			t.Errorf("%s read the participant list: %d", role, a.Status)
		}
	}
	list := do(t, http.MethodGet, path, "", nil, admin)
	ps := list.Body["participants"].([]any)
	if list.Status != 200 || len(ps) != 1 || ps[0].(map[string]any)["participant"].(map[string]any)["invoice"].(map[string]any)["organisation_number"] != "974760673" {
		t.Fatalf("participants: %d %s", list.Status, list.Raw)
	}
}

// TestCourseCompletionSurveyAndWithdrawal (C04, C06, C10, C11): completion
// issues a certificate (in MinIO, encrypted) and the survey invitation
// follows; the participant corrects their e-mail and then withdraws
// consent through their signed link: everything in PostgreSQL and MinIO is
// gone at once, the key with it, and the workflow ends.
func TestCourseCompletionSurveyAndWithdrawal(t *testing.T) {
	ctx := context.Background()
	admin := roleKey(t, "ca-2", "course_admin")
	portal := roleKey(t, "course-portal-2", "integration")
	course := createCourse(t, admin, false, false, yesterday())
	reg := do(t, http.MethodPost, "/v1/course-registrations", "application/json", []byte(mustJSON(courseBody(course, nil))), portal)
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	id := reg.Body["registration_id"].(string)
	rid := uuid.MustParse(id)
	eventually(t, 15*time.Second, func() error {
		a := do(t, http.MethodPost, "/v1/course-registrations/"+id+"/completion", "application/json", []byte(`{"completed_by": "ca-2"}`), admin)
		if a.Status != 200 {
			return fmt.Errorf("completion: %d %s", a.Status, a.Raw)
		}
		return nil
	})
	eventually(t, 20*time.Second, func() error {
		if n := rowCount(t, `SELECT count(*) FROM notification_outbox WHERE course_registration_id = $1 AND kind = 'course_survey'`, rid); n != 1 {
			return fmt.Errorf("%d survey invitations", n)
		}
		if n := objectsUnder(t, "courses/"+id+"/"); n != 1 {
			return fmt.Errorf("%d objects", n)
		}
		return nil
	})
	// The invitation is sent: the outbox drainer delivers it to the participant.
	sink := newSMTPSink(t)
	d := notifyDrainer(t, sink, &syncBuffer{}, prometheus.NewRegistry(), nil)
	participant := do(t, http.MethodGet, "/v1/course-registrations/"+id, "", nil, admin).Body["participant"].(map[string]any)
	eventually(t, 20*time.Second, func() error {
		if _, err := d.RunOnce(ctx); err != nil {
			return err
		}
		for _, m := range sink.to(participant["email"].(string)) {
			if strings.Contains(string(m.Data), "How was the course?") || strings.Contains(string(m.Data), "Hva syntes du") {
				return nil
			}
		}
		return fmt.Errorf("no survey invitation delivered")
	})
	eventually(t, 10*time.Second, func() error {
		if n := countWorkflows(t, fmt.Sprintf(`WorkflowId = "course-registration-%s" AND Stage = "SurveyInvited" AND CourseType = "customs_basics"`, id)); n != 1 {
			return fmt.Errorf("stage SurveyInvited not visible in Temporal")
		}
		return nil
	})
	// The registration confirmation carries the signed self-service link.
	var selfPath string
	for _, m := range sink.to(participant["email"].(string)) {
		if _, _, body := parseMail(t, m); selfServiceLinkRe.MatchString(body) {
			selfPath = selfServiceLinkRe.FindStringSubmatch(body)[1]
		}
	}
	if selfPath == "" {
		t.Fatal("no self-service link was mailed")
	}
	if page := do(t, http.MethodGet, selfPath, "", nil, map[string]string{"Authorization": ""}); page.Status != 200 || !strings.Contains(string(page.Raw), "Datatilsynet") {
		t.Fatalf("self-service page: %d", page.Status)
	}
	if a := do(t, http.MethodPost, selfPath+"/corrections", "application/json", []byte(`{"email": "per.ny@example.org"}`), map[string]string{"Authorization": ""}); a.Status != 200 {
		t.Fatalf("correction: %d %s", a.Status, a.Raw)
	}
	if got := do(t, http.MethodGet, "/v1/course-registrations/"+id, "", nil, admin); got.Body["participant"].(map[string]any)["email"] != "per.ny@example.org" {
		t.Fatalf("after correction: %s", got.Raw)
	}
	if forged := do(t, http.MethodPost, selfPath[:len(selfPath)-3]+"AAA/withdrawal", "", nil, map[string]string{"Authorization": ""}); forged.Status != 404 {
		t.Fatalf("forged link: %d", forged.Status)
	}
	start := time.Now()
	w := do(t, http.MethodPost, selfPath+"/withdrawal", "", nil, map[string]string{"Authorization": ""})
	if w.Status != 200 || !strings.Contains(string(w.Raw), "Datatilsynet") {
		t.Fatalf("withdrawal: %d %s", w.Status, w.Raw)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("withdrawal took %s", d)
	}
	for table, q := range map[string]string{
		"course_registrations": `SELECT count(*) FROM course_registrations WHERE id = $1`,
		"course_keys":          `SELECT count(*) FROM course_keys WHERE registration_id = $1`,
		"notification_outbox":  `SELECT count(*) FROM notification_outbox WHERE course_registration_id = $1`,
	} {
		if n := rowCount(t, q, rid); n != 0 {
			t.Errorf("%d rows left in %s", n, table)
		}
	}
	if n := objectsUnder(t, "courses/"+id+"/"); n != 0 {
		t.Errorf("%d objects left in MinIO", n)
	}
	if n := rowCount(t, `SELECT count(*) FROM course_deletions WHERE registration_id = $1 AND reason = 'consent_withdrawn'`, rid); n != 1 {
		t.Error("no deletion record")
	}
	if a := do(t, http.MethodGet, "/v1/course-registrations/"+id, "", nil, admin); a.Status != 404 {
		t.Errorf("after withdrawal: %d", a.Status)
	}
	if again := do(t, http.MethodPost, selfPath+"/withdrawal", "", nil, map[string]string{"Authorization": ""}); again.Status != 404 {
		t.Errorf("the link after withdrawal: %d", again.Status)
	}
	eventually(t, 15*time.Second, func() error {
		if n := countWorkflows(t, fmt.Sprintf(`WorkflowId = "course-registration-%s" AND Stage = "ConsentWithdrawn" AND ExecutionStatus = "Completed"`, id)); n != 1 {
			return fmt.Errorf("workflow not ended as ConsentWithdrawn")
		}
		return nil
	})
}

// TestCourseDataDeletedAfterRetention (C06): with the 24 months shortened
// to seconds, a registration is deleted at its deadline, key and all.
func TestCourseDataDeletedAfterRetention(t *testing.T) {
	admin := roleKey(t, "ca-3", "course_admin")
	portal := roleKey(t, "course-portal-3", "integration")
	course := createCourse(t, admin, false, false, yesterday())
	key, _ := env.cfg.LinkKey()
	srv := httptest.NewServer(api.New(api.Deps{Store: env.store, Tokens: env.store, Temporal: env.temporal, TaskQueue: env.cfg.TaskQueue,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: process.NewRegistry(),
		Courses: api.CourseOptions{PolicyVersion: "2025-02-11", Retention: 4 * time.Second, SurveyAfter: time.Hour, PublicURL: "http://x", LinkKey: key}}))
	defer srv.Close()
	reg := doAt(t, srv.URL, http.MethodPost, "/v1/course-registrations", "application/json", []byte(mustJSON(courseBody(course, nil))), portal)
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	rid := uuid.MustParse(reg.Body["registration_id"].(string))
	if n := rowCount(t, `SELECT count(*) FROM course_keys WHERE registration_id = $1`, rid); n != 1 {
		t.Fatal("no data key")
	}
	eventually(t, 30*time.Second, func() error {
		if n := rowCount(t, `SELECT count(*) FROM course_deletions WHERE registration_id = $1 AND reason = 'retention_expired'`, rid); n != 1 {
			return fmt.Errorf("not deleted yet")
		}
		return nil
	})
	if n := rowCount(t, `SELECT count(*) FROM course_registrations WHERE id = $1`, rid) + rowCount(t, `SELECT count(*) FROM course_keys WHERE registration_id = $1`, rid); n != 0 {
		t.Fatalf("%d rows left", n)
	}
}

// TestCourseStatisticsAreAnonymous (C05, C08): a month's course cells count
// registrations and completions per course type; a cell of three shows no
// numbers; a cell of five, where nobody completed, shows its registrations
// but its completions only as the band 0 to 5 (an exact 0 or 5 would tell
// whether each participant completed); the configured minimum cell
// (EXAMFLOW_STATISTICS_MIN_CELL, here 6) is honoured when the cells are
// materialised and when they are served.
func TestCourseStatisticsAreAnonymous(t *testing.T) {
	admin := roleKey(t, "ca-4", "course_admin")
	portal := roleKey(t, "course-portal-4", "integration")
	stats := roleKey(t, "stat-4", "statistics")
	month := time.Now().UTC().AddDate(0, -2, 0)
	date := time.Date(month.Year(), month.Month(), 14, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	small := fmt.Sprintf("small_%d", time.Now().UnixNano()%1e9)
	large := fmt.Sprintf("large_%d", time.Now().UnixNano()%1e9)
	for kind, n := range map[string]int{small: 3, large: 5} {
		a := do(t, http.MethodPost, "/v1/courses", "application/json", []byte(mustJSON(map[string]any{"title": "Kurs " + kind,
			"course_type": kind, "event_date": date, "paid": false, "profile_questions": false})), admin)
		if a.Status != 201 {
			t.Fatalf("course: %d %s", a.Status, a.Raw)
		}
		for range n {
			if r := do(t, http.MethodPost, "/v1/course-registrations", "application/json", []byte(mustJSON(courseBody(a.Body["id"].(string), nil))), portal); r.Status != 201 {
				t.Fatalf("register: %d %s", r.Status, r.Raw)
			}
		}
	}
	if _, err := env.store.MaterialiseCourseStatistics(context.Background(), month, 5); err != nil {
		t.Fatal(err)
	}
	got := do(t, http.MethodGet, "/v1/statistics/courses", "", nil, stats)
	cells := map[string]map[string]any{}
	for _, x := range got.Body["cells"].([]any) {
		c := x.(map[string]any)
		cells[c["course_type"].(string)] = c
	}
	if c := cells[small]; c == nil || c["suppressed"] != true || c["registered"] != nil {
		t.Fatalf("cell of three: %v", c)
	}
	if c := cells[large]; c == nil || c["suppressed"] != false || c["coarsened"] != true || c["registered"] != float64(5) ||
		c["completed"] != nil || fmt.Sprint(c["completed_range"]) != "[0 5]" {
		t.Fatalf("cell of five: %v", c)
	}
	// A raised minimum cell: the API serves the cell of five without numbers.
	raised := httptest.NewServer(api.New(api.Deps{Store: env.store, Tokens: env.store, Temporal: env.temporal, TaskQueue: env.cfg.TaskQueue,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: process.NewRegistry(), StatisticsMinCell: 6}))
	defer raised.Close()
	for _, x := range doAt(t, raised.URL, http.MethodGet, "/v1/statistics/courses", "", nil, stats).Body["cells"].([]any) {
		if c := x.(map[string]any); c["course_type"] == large && (c["suppressed"] != true || c["registered"] != nil) {
			t.Fatalf("cell of five served under a minimum of six: %v", c)
		}
	}
	// And the monthly activity materialises with the configured minimum.
	if _, err := (&activities.Statistics{Store: env.store, MinCell: 6}).MaterialiseStatistics(context.Background(), month.Format("2006-01")); err != nil {
		t.Fatal(err)
	}
	if n := rowCount(t, `SELECT count(*) FROM course_statistics_cells WHERE course_type = $1 AND suppressed AND registered IS NULL`, large); n != 1 {
		t.Fatalf("the cell of five materialised under a minimum of six: %d suppressed rows", n)
	}
	if a := do(t, http.MethodGet, "/v1/statistics/courses", "", nil, admin); a.Status != 403 {
		t.Fatalf("course_admin read statistics: %d", a.Status)
	}
}
