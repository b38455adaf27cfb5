package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
	"github.com/examflow/examflow/worker"
)

// storedCourseRegistration stores a registration as the API does before
// it starts the workflow, and starts none: what is left when Temporal is
// down at registration, or the API dies between commit and start. An
// object is stored under the registration's prefix, as a certificate is.
func storedCourseRegistration(t *testing.T, consentAt time.Time) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	admin := roleKey(t, "ca-reconcile", "course_admin")
	course := uuid.MustParse(createCourse(t, admin, false, false, yesterday()))
	id := uuid.Must(uuid.NewV7())
	if _, _, err := env.store.CreateCourseRegistration(ctx, storage.CourseRegistration{ID: id, CourseID: course,
		Participant: storage.Participant{GivenName: "Kari", FamilyName: "Uten-Flyt-" + uuid.NewString()[:6], Email: "kari." + uuid.NewString()[:6] + "@example.org"},
		ConsentAt:   consentAt, PolicyVersion: policy.CoursePolicyVersion, WorkflowID: "course-registration-" + id.String()}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.objects.PutObject(ctx, storage.CoursePrefix+id.String()+"/certificate.json.sio", bytes.NewReader([]byte("sealed")), 6, "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.temporal.DescribeWorkflowExecution(ctx, "course-registration-"+id.String(), ""); err == nil {
		t.Fatal("a workflow exists; the test proves nothing")
	}
	return id
}

// courseDataLeft counts what is left of a course registration in
// PostgreSQL and MinIO.
func courseDataLeft(t *testing.T, id uuid.UUID) int {
	t.Helper()
	return rowCount(t, `SELECT count(*) FROM course_registrations WHERE id = $1`, id) +
		rowCount(t, `SELECT count(*) FROM course_keys WHERE registration_id = $1`, id) +
		rowCount(t, `SELECT count(*) FROM notification_outbox WHERE course_registration_id = $1`, id) +
		objectsUnder(t, storage.CoursePrefix+id.String()+"/")
}

// TestCourseWithdrawalWithoutAWorkflow (C06, C10): consent is withdrawn
// and everything deleted at once even when the registration has no running
// workflow: never started (Temporal was down), or ended (terminated). The
// answer is the same 200 as with a workflow, the same rows, objects and key
// are deleted, the same deletion record is left, and the withdrawal is in
// the audit log, by staff and through the participant's own link.
func TestCourseWithdrawalWithoutAWorkflow(t *testing.T) {
	ctx := context.Background()
	admin := roleKey(t, "ca-withdraw-direct", "course_admin")
	check := func(t *testing.T, id uuid.UUID, a answer) {
		t.Helper()
		if a.Status != 200 || !strings.Contains(string(a.Raw), "Datatilsynet") || a.Body["deleted_at"] == nil {
			t.Fatalf("withdrawal without a workflow: %d %s", a.Status, a.Raw)
		}
		if n, _ := a.Body["rows_deleted"].(float64); n < 2 {
			t.Errorf("rows_deleted = %v, want the registration and its key at least", a.Body["rows_deleted"])
		}
		if n := courseDataLeft(t, id); n != 0 {
			t.Errorf("%d rows or objects left after the withdrawal", n)
		}
		if n := rowCount(t, `SELECT count(*) FROM course_deletions WHERE registration_id = $1 AND reason = 'consent_withdrawn' AND rows_deleted >= 2`, id); n != 1 {
			t.Errorf("no deletion record")
		}
	}

	t.Run("staff, never started", func(t *testing.T) {
		id := storedCourseRegistration(t, time.Now())
		a := do(t, http.MethodPost, "/v1/course-registrations/"+id.String()+"/withdrawal", "", nil, admin)
		check(t, id, a)
		if n, _ := a.Body["objects_removed"].(float64); n != 1 {
			t.Errorf("objects_removed = %v, want 1", a.Body["objects_removed"])
		}
		recs, err := env.store.AuditLog(ctx, storage.AuditFilter{SubjectKind: storage.SubjectCourseRegistration, SubjectID: id})
		if err != nil {
			t.Fatal(err)
		}
		audited := false
		for _, r := range recs {
			audited = audited || (r.Operation == "POST /v1/course-registrations/:id/withdrawal" && r.Action == storage.AuditChange && r.Who == "ca-withdraw-direct")
		}
		if !audited {
			t.Errorf("the withdrawal is not in the audit log: %+v", recs)
		}
		if again := do(t, http.MethodPost, "/v1/course-registrations/"+id.String()+"/withdrawal", "", nil, admin); again.Status != 404 {
			t.Errorf("a second withdrawal: %d", again.Status)
		}
	})

	t.Run("participant link, never started", func(t *testing.T) {
		id := storedCourseRegistration(t, time.Now())
		reg, err := env.store.GetCourseRegistration(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a := do(t, http.MethodPost, "/v1/course-registrations/"+id.String()+"/self-service-link", "", nil, admin); a.Status != 202 {
			t.Fatalf("fresh link: %d %s", a.Status, a.Raw)
		}
		link := mailedLinks(t, reg.Participant.Email, 1)[0]
		check(t, id, do(t, http.MethodPost, link+"/withdrawal", "", nil, noAuth))
		recs, err := env.store.AuditLog(ctx, storage.AuditFilter{SubjectKind: storage.SubjectCourseRegistration, SubjectID: id})
		if err != nil {
			t.Fatal(err)
		}
		audited := false
		for _, r := range recs {
			audited = audited || (r.Operation == "POST /courses/self-service/:token/withdrawal" && r.Who == "self-service:"+id.String() && r.Role == "data_subject")
		}
		if !audited {
			t.Errorf("the withdrawal through the link is not in the audit log")
		}
	})

	t.Run("staff, workflow terminated", func(t *testing.T) {
		portal := roleKey(t, "course-portal-terminated", "integration")
		course := createCourse(t, admin, false, false, yesterday())
		reg := do(t, http.MethodPost, "/v1/course-registrations", "application/json", []byte(mustJSON(courseBody(course, nil))), portal)
		if reg.Status != 201 {
			t.Fatalf("register: %d %s", reg.Status, reg.Raw)
		}
		id := uuid.MustParse(reg.Body["registration_id"].(string))
		if err := env.temporal.TerminateWorkflow(ctx, "course-registration-"+id.String(), "", "e2e: a lost workflow"); err != nil {
			t.Fatal(err)
		}
		check(t, id, do(t, http.MethodPost, "/v1/course-registrations/"+id.String()+"/withdrawal", "", nil, admin))
	})
	mustAuditIntact(t)
}

// TestCourseReconcilerStartsAndDeletes (C06): the worker's reconciler
// starts the workflow of a course registration stored without one, and
// deletes directly, without a workflow, a registration whose 24 calendar
// months since the consent have passed (the real computation, no
// override): one a minute past its deadline is deleted, one an hour short
// of it is started instead, with that deadline. Several worker replicas
// reconcile at once without errors, and nothing is started or deleted
// twice. The daily reconciliation deletes a registration past its deadline
// whose workflow was started and then lost.
func TestCourseReconcilerStartsAndDeletes(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	if env.deps.CourseRetention != 0 {
		t.Fatalf("the worker runs with a course retention override (%s); the test needs the policy's 24 months", env.deps.CourseRetention)
	}
	fresh := storedCourseRegistration(t, now)
	due := storedCourseRegistration(t, policy.AddCalendarMonths(now, -24).Add(-time.Minute))
	almost := storedCourseRegistration(t, policy.AddCalendarMonths(now, -24).Add(time.Hour))

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = worker.ReconcileOnce(ctx, env.deps, 0)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	for name, id := range map[string]uuid.UUID{"fresh": fresh, "an hour short of 24 months": almost} {
		d, err := env.temporal.DescribeWorkflowExecution(ctx, "course-registration-"+id.String(), "")
		if err != nil {
			t.Errorf("%s: workflow not started: %v", name, err)
			continue
		}
		if d.GetWorkflowExecutionInfo().GetType().GetName() != cases.CourseWorkflow {
			t.Errorf("%s: workflow type %s", name, d.GetWorkflowExecutionInfo().GetType().GetName())
		}
		if n := rowCount(t, `SELECT count(*) FROM course_registrations WHERE id = $1 AND workflow_started_at IS NOT NULL`, id); n != 1 {
			t.Errorf("%s: not marked started", name)
		}
		if n := rowCount(t, `SELECT count(*) FROM course_deletions WHERE registration_id = $1`, id); n != 0 {
			t.Errorf("%s: deleted before its 24 months", name)
		}
	}
	if n := courseDataLeft(t, due); n != 0 {
		t.Errorf("past its 24 months: %d rows or objects left", n)
	}
	if n := rowCount(t, `SELECT count(*) FROM course_deletions WHERE registration_id = $1 AND reason = 'retention_expired' AND objects_removed = 1`, due); n != 1 {
		t.Errorf("past its 24 months: no deletion record")
	}
	if _, err := env.temporal.DescribeWorkflowExecution(ctx, "course-registration-"+due.String(), ""); err == nil {
		t.Errorf("a workflow was started for a registration past its deadline")
	}
	// A registration whose workflow is lost after its start is deleted by
	// the daily reconciliation once past its deadline; one started and
	// short of its deadline is left to its workflow.
	lost := storedCourseRegistration(t, policy.AddCalendarMonths(now, -25))
	if _, err := env.pool.Exec(ctx, `UPDATE course_registrations SET workflow_started_at = now() WHERE id = $1`, lost); err != nil {
		t.Fatal(err)
	}
	res := dailyReconciliation(t)
	if n := courseDataLeft(t, lost); n != 0 {
		t.Errorf("a started registration with its workflow lost, past its deadline: %d rows or objects left", n)
	}
	if n := res.Deleted["course_registration"]; n < 1 {
		t.Errorf("the daily reconciliation reports %d course registrations deleted: %+v", n, res)
	}
	if n := rowCount(t, `SELECT count(*) FROM course_deletions WHERE registration_id = $1 AND reason = 'retention_expired' AND objects_removed = 1`, lost); n != 1 {
		t.Errorf("lost workflow, past its deadline: no deletion record")
	}
	if n := courseDataLeft(t, almost); n == 0 {
		t.Errorf("the daily reconciliation deleted a registration an hour short of its deadline")
	}
	// The workflow of the one an hour short of its deadline deletes it then:
	// the deadline it was started with is the consent plus 24 calendar months.
	eventually(t, 10*time.Second, func() error {
		want := policy.CourseDeletionDue(policy.AddCalendarMonths(now, -24).Add(time.Hour), 0).UTC().Truncate(time.Second)
		q := fmt.Sprintf(`WorkflowId = "course-registration-%s" AND DeletionDue >= "%s" AND DeletionDue < "%s"`, almost,
			want.Format(time.RFC3339), want.Add(time.Second).Format(time.RFC3339))
		if n := countWorkflows(t, q); n != 1 {
			return fmt.Errorf("no workflow with DeletionDue %s", want.Format(time.RFC3339))
		}
		return nil
	})
	// A second pass changes nothing.
	if _, err := worker.ReconcileOnce(ctx, env.deps, 0); err != nil {
		t.Fatal(err)
	}
	dailyReconciliation(t)
	if n := rowCount(t, `SELECT count(*) FROM course_deletions WHERE registration_id = ANY($1)`, []uuid.UUID{due, lost, fresh, almost}); n != 2 {
		t.Errorf("%d deletion records, want 2", n)
	}
}

// dailyReconciliation runs the daily reconciliation workflow, as its
// Schedule does, on the test worker, and returns what it did.
func dailyReconciliation(t *testing.T) activities.ReconcileResult {
	t.Helper()
	ctx := context.Background()
	run, err := env.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e-reconciliation-" + uuid.NewString(), TaskQueue: env.cfg.TaskQueue},
		cases.ReconciliationWorkflow)
	if err != nil {
		t.Fatal(err)
	}
	var res activities.ReconcileResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("daily reconciliation: %v", err)
	}
	return res
}

// TestSubjectRequestReconcilerStartsUnstartedWorkflows (T19): a subject
// request stored while Temporal could not be reached gets its workflow from
// the worker's reconciler, with the due date it was stored with, and is
// answered; several replicas reconciling at once start it once.
func TestSubjectRequestReconcilerStartsUnstartedWorkflows(t *testing.T) {
	ctx := context.Background()
	p := newPerson(t)
	reg := postRegistration(t, p.reg(t, "citizenship", uniqueCentre(), session), "")
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	cand := uuid.MustParse(reg.Body["candidate_id"].(string))
	id := uuid.Must(uuid.NewV7())
	received := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	verified := time.Now()
	req := storage.SubjectRequest{ID: id, CandidateID: cand, Kind: cases.RequestAccess, ReceivedAt: received, DueAt: received.Add(30 * 24 * time.Hour),
		Status: "in_progress", IdentityMethod: "upstream_login", IdentityVerifiedBy: "idporten", IdentityVerifiedAt: &verified,
		WorkflowID: "subject-request-" + id.String()}
	if err := env.store.CreateSubjectRequest(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := env.temporal.DescribeWorkflowExecution(ctx, req.WorkflowID, ""); err == nil {
		t.Fatal("a workflow exists; the test proves nothing")
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := worker.ReconcileOnce(ctx, env.deps, 0); err != nil {
				t.Errorf("reconcile: %v", err)
			}
		}()
	}
	wg.Wait()
	if _, err := env.temporal.DescribeWorkflowExecution(ctx, req.WorkflowID, ""); err != nil {
		t.Fatalf("workflow not started: %v", err)
	}
	if n := rowCount(t, `SELECT count(*) FROM subject_requests WHERE id = $1 AND workflow_started_at IS NOT NULL`, id); n != 1 {
		t.Error("not marked started")
	}
	waitRequest(t, env.api.URL, id.String(), func(b map[string]any) bool { return b["status"] == "answered" && b["export_ready"] == true }, nil)
	v, err := env.temporal.QueryWorkflow(ctx, req.WorkflowID, "", cases.QuerySubjectRequest)
	if err != nil {
		t.Fatal(err)
	}
	var st cases.SubjectRequestStatus
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	if want := received.Add(30 * 24 * time.Hour); !st.DueAt.Equal(want) || st.Kind != cases.RequestAccess {
		t.Errorf("workflow started with due %s, kind %s; want %s, access", st.DueAt, st.Kind, want)
	}
}

// TestParticipantMarksCourseCompletedThroughTheLink (C01, C04): the
// participant marks the course completed through their signed link, as
// the policy lets them ("the type of course you ... mark as completed"):
// the registration records it, the certificate follows, the change is in
// the audit log as the participant's own, and a second mark is refused.
func TestParticipantMarksCourseCompletedThroughTheLink(t *testing.T) {
	ctx := context.Background()
	admin := roleKey(t, "ca-self-complete", "course_admin")
	portal := roleKey(t, "course-portal-self-complete", "integration")
	course := createCourse(t, admin, false, false, yesterday())
	body := courseBody(course, nil)
	reg := do(t, http.MethodPost, "/v1/course-registrations", "application/json", []byte(mustJSON(body)), portal)
	if reg.Status != 201 {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	id := reg.Body["registration_id"].(string)
	rid := uuid.MustParse(id)
	link := mailedLinks(t, body["email"].(string), 1)[0]
	if page := do(t, http.MethodGet, link, "", nil, noAuth); page.Status != 200 || !strings.Contains(string(page.Raw), link+"/completion") {
		t.Fatalf("the self-service page offers no completion: %d %s", page.Status, page.Raw)
	}
	eventually(t, 15*time.Second, func() error {
		if a := do(t, http.MethodPost, link+"/completion", "", nil, noAuth); a.Status != 200 {
			return fmt.Errorf("completion: %d %s", a.Status, a.Raw)
		}
		return nil
	})
	eventually(t, 20*time.Second, func() error {
		if n := rowCount(t, `SELECT count(*) FROM course_registrations WHERE id = $1 AND completed_at IS NOT NULL AND completed_by = 'participant_link'`, rid); n != 1 {
			return fmt.Errorf("completion not recorded")
		}
		if n := objectsUnder(t, "courses/"+id+"/"); n != 1 {
			return fmt.Errorf("%d certificates", n)
		}
		return nil
	})
	if a := do(t, http.MethodPost, link+"/completion", "", nil, noAuth); a.Status != 422 {
		t.Errorf("a second completion: %d %s", a.Status, a.Raw)
	}
	recs, err := env.store.AuditLog(ctx, storage.AuditFilter{SubjectKind: storage.SubjectCourseRegistration, SubjectID: rid})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Operation == "POST /courses/self-service/:token/completion" {
			n++
			if r.Who != "self-service:"+id || r.Role != "data_subject" || r.Action != storage.AuditChange {
				t.Errorf("entry %+v: want who self-service:%s, role data_subject, action change", r, id)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d audit entries for the completion through the link, want 1 (the refused one changes nothing)", n)
	}
	if a := do(t, http.MethodPost, link[:len(link)-3]+"AAA/completion", "", nil, noAuth); a.Status != 404 {
		t.Errorf("forged link: %d", a.Status)
	}
	mustAuditIntact(t)
}
