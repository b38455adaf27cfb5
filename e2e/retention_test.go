package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/deploy/devstack"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/process"
	"github.com/examflow/examflow/registry"
	"github.com/examflow/examflow/worker"
	"github.com/examflow/examflow/workflows"
)

// retentionStack is a second worker and API on their own task queue, with
// the appeal window and every retention period shortened to seconds.
type retentionStack struct {
	url string
	sim *registry.Simulator
	// queue is the task queue its worker polls.
	queue string
}

// Options change the stack's worker settings, e.g. the appeal deadlines.
func startRetentionStack(t *testing.T, periods policy.Periods, options ...func(*worker.Deps)) retentionStack {
	t.Helper()
	queue := "examflow-retention-" + uuid.NewString()[:8]
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	td := env.cfg.TestDay
	td.FinalAfter = 2 * time.Second
	td.HoldRecheck = time.Second
	sim, regClient, _ := newRegistry()
	deps := worker.Deps{Client: env.temporal, Store: env.store, TaskQueue: queue, Logger: quiet, Catalogue: env.catalogue,
		TestDay: td, Namespace: env.cfg.TemporalNamespace, RetentionPeriods: periods, Objects: env.objects, Registry: regClient}
	// The Norwegian tests' appeal windows count towards the final result:
	// shortened like the rest.
	deps.Appeals = config.DefaultAppeals()
	deps.Appeals.WritingWindow, deps.Appeals.C1Window = td.FinalAfter, td.FinalAfter
	for _, o := range options {
		o(&deps)
	}
	w := worker.New(deps)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	codec, _ := process.CodecFor(env.cfg)
	srv := httptest.NewServer(api.New(api.Deps{Store: env.store, Tokens: env.store, Temporal: env.temporal, TaskQueue: queue, Logger: quiet,
		Registry: process.NewRegistry(), Catalogue: env.catalogue, Codec: codec.DisplayCodec(), Objects: env.objects, AudioMaxBytes: 1 << 20,
		Ready: func(ctx context.Context) error { return process.Ready(ctx, env.store, env.temporal) }}))
	t.Cleanup(srv.Close)
	return retentionStack{url: srv.URL, sim: sim, queue: queue}
}

// registerPaid registers a new fictional candidate with a paid fee for
// today's citizenship session (date) at a fresh test centre, through the
// stack's API, and returns the registration and workflow IDs.
func (rs retentionStack) registerPaid(t *testing.T, date string) (regID, wfID string) {
	t.Helper()
	centre := uniqueCentre()
	sessionFor(t, "citizenship", centre, date)
	body := newPerson(t).registration("citizenship", centre, date)
	body["payment_status"] = "paid"
	a := doAt(t, rs.url, http.MethodPost, "/v1/registrations", "application/json", []byte(mustJSON(body)), nil)
	if a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	return a.Body["registration_id"].(string), a.Body["workflow_id"].(string)
}

// TestRetentionDeletesEachCategoryOnTime: with periods shortened to seconds,
// a registration's address goes at its milestone while its results stay; a
// legal hold postpones the final deletion and says so; the final deletion
// removes the registration and the candidate, leaves a deletion record
// without personal data, deletes the closed lifecycle history, and a scan
// of a database dump and of Temporal finds none of the subject's data.
func TestRetentionDeletesEachCategoryOnTime(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	today := now.Format(time.DateOnly)
	sinceMidnight := now.Sub(now.Truncate(24 * time.Hour))
	// Periods run from the test date (today, midnight UTC): shift them so the
	// milestones fall a few seconds from now.
	periods := policy.Periods{
		policy.Address:      sinceMidnight + 12*time.Second,
		policy.PersonalData: sinceMidnight + 24*time.Second,
	}
	rs := startRetentionStack(t, periods)

	centre := uniqueCentre()
	sessionFor(t, "citizenship", centre, today)
	p := newPerson(t)
	a := doAt(t, rs.url, http.MethodPost, "/v1/registrations", "application/json", []byte(mustJSON(p.registration("citizenship", centre, today))), nil)
	if a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	regID := a.Body["registration_id"].(string)
	candID := a.Body["candidate_id"].(string)
	wfID := a.Body["workflow_id"].(string)
	url := "/v1/registrations/" + regID
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, today)
	if s := doAt(t, rs.url, http.MethodPost, url+"/answer-sheets", "application/json", []byte(mustJSON(map[string]any{
		"part": "test", "form_id": form, "key_version": 1, "submitted_at": now.Format(time.RFC3339), "answers": answersFor(36, 30)})), nil); s.Status != 202 {
		t.Fatalf("submit: %d %s", s.Status, s.Raw)
	}
	desc, err := env.temporal.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	lifecycleRun := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()

	// The appeal window passes: the retention phase begins.
	eventually(t, 20*time.Second, func() error {
		g := doAt(t, rs.url, http.MethodGet, url, "", nil, nil)
		if g.Body["stage"] != "Retained" {
			return fmt.Errorf("stage %v", g.Body["stage"])
		}
		return nil
	})
	eventually(t, 10*time.Second, func() error {
		if n := countWorkflows(t, fmt.Sprintf(`WorkflowId=%q AND Stage="Retained" AND DeletionDue IS NOT NULL`, wfID)); n != 1 {
			return fmt.Errorf("DeletionDue search found %d", n)
		}
		return nil
	})

	// Address milestone: the address is gone, the results are not.
	eventually(t, 30*time.Second, func() error {
		if n := rowCount(t, `SELECT count(*) FROM candidate_addresses WHERE candidate_id = $1`, candID); n != 0 {
			v, _ := env.temporal.QueryWorkflow(ctx, wfID, "", cases.QueryRetention)
			var st workflows.RetentionStatus
			if v != nil {
				_ = v.Get(&st)
			}
			d, _ := env.store.Deletions(ctx, uuid.MustParse(regID))
			desc, _ := env.temporal.DescribeWorkflowExecution(ctx, wfID, "")
			return fmt.Errorf("address still there (retention %+v, deletions %+v, pending %v)", st, d, desc.GetPendingActivities())
		}
		return nil
	})
	if n := rowCount(t, `SELECT count(*) FROM results WHERE registration_id = $1`, regID); n != 1 {
		t.Fatalf("results = %d after the address milestone, want 1", n)
	}

	// At rest the subject's identity and contact details are sealed: a dump
	// of the database holds none of them in plaintext even now.
	assertDumpLacks(t, p, "")
	if n := rowCount(t, `SELECT count(*) FROM subject_keys WHERE candidate_id = $1`, candID); n != 1 {
		t.Fatal("the subject has no data key")
	}
	// Open a cheating case now (a legal hold) to see the final deletion wait.
	if _, err := env.pool.Exec(ctx, `INSERT INTO discrepancies (id, registration_id, kind) VALUES ($1, $2, 'provisional_cheating')`, uuid.New(), regID); err != nil {
		t.Fatal(err)
	}

	// The final milestone comes while the case is open: it waits and says why.
	eventually(t, 30*time.Second, func() error {
		g := doAt(t, rs.url, http.MethodGet, url, "", nil, nil)
		if g.Body["stage"] != string(cases.StageDeletionOnHold) {
			return fmt.Errorf("stage %v", g.Body["stage"])
		}
		return nil
	})
	v, err := env.temporal.QueryWorkflow(ctx, wfID, "", cases.QueryRetention)
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.RetentionStatus
	if err := v.Get(&st); err != nil || st.Hold != "open cheating case" {
		t.Fatalf("retention status %+v, %v", st, err)
	}
	if n := rowCount(t, `SELECT count(*) FROM registrations WHERE id = $1`, regID); n != 1 {
		t.Fatal("deleted despite the legal hold")
	}
	// The case is dismissed; the deletion goes ahead.
	if _, err := env.pool.Exec(ctx, `INSERT INTO cheating_decisions (id, registration_id, candidate_id, test_type, decision, reasons, decided_by, decided_at)
		VALUES ($1, $2, $3, 'citizenship', 'dismissed', 'no evidence', 'ch-1', now())`, uuid.New(), regID, candID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		resp, err := env.temporal.DescribeWorkflowExecution(ctx, wfID, "")
		if err != nil {
			return err
		}
		if resp.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			return fmt.Errorf("retention run is %s", resp.GetWorkflowExecutionInfo().GetStatus())
		}
		return nil
	})
	for table, q := range map[string]string{
		"registrations": `SELECT count(*) FROM registrations WHERE id = $1`,
		"results":       `SELECT count(*) FROM results WHERE registration_id = $1`,
		"answer_sheets": `SELECT count(*) FROM answer_sheets WHERE registration_id = $1`,
	} {
		if n := rowCount(t, q, regID); n != 0 {
			t.Errorf("%s still has %d rows", table, n)
		}
	}
	if n := rowCount(t, `SELECT count(*) FROM candidates WHERE id = $1`, candID); n != 0 {
		t.Fatal("the candidate is still there after the final deletion")
	}
	deletions, err := env.store.Deletions(ctx, uuid.MustParse(regID))
	if err != nil || len(deletions) != 2 || !deletions[1].SubjectDeleted {
		t.Fatalf("deletion records = %+v, %v", deletions, err)
	}
	// The closed lifecycle history is gone (Temporal deletes asynchronously).
	eventually(t, 20*time.Second, func() error {
		if _, err := env.temporal.DescribeWorkflowExecution(ctx, wfID, lifecycleRun); err == nil {
			return fmt.Errorf("the lifecycle run's history still exists")
		}
		return nil
	})

	// The subject's key is destroyed: copies of its sealed rows in old
	// backups can no longer be opened.
	if n := rowCount(t, `SELECT count(*) FROM subject_keys WHERE candidate_id = $1`, candID); n != 0 {
		t.Fatal("the subject's data key survived the final deletion")
	}
	// No trace of the subject in a dump of the database, in MinIO or in Temporal.
	assertDumpLacks(t, p, regID)
	for obj := range env.objects.Client().ListObjects(ctx, env.objects.Bucket(), minioList("")) {
		o, err := env.objects.Client().GetObject(ctx, env.objects.Bucket(), obj.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{p.Given, p.Family, p.NationalID, p.Email} {
			if strings.Contains(string(data), secret) {
				t.Fatalf("MinIO object %s holds %q", obj.Key, secret)
			}
		}
	}
	resp, err := env.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: env.cfg.TemporalNamespace, Query: fmt.Sprintf("WorkflowId=%q", wfID)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range resp.GetExecutions() {
		iter := env.temporal.GetWorkflowHistory(ctx, wfID, e.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{p.Given, p.Family, p.NationalID, p.Email} {
				if strings.Contains(ev.String(), secret) {
					t.Fatalf("Temporal history holds %q", secret)
				}
			}
		}
	}
}

// TestReconciliationDeletesWhenWorkflowLost: a registration whose workflow
// was terminated is still deleted once past its deadline, by the daily
// reconciliation; the Schedule that runs it exists and runs.
func TestReconciliationDeletesWhenWorkflowLost(t *testing.T) {
	ctx := context.Background()
	// A social studies test sat in 2014, whose workflow is lost.
	const old = "2014-01-10"
	centre := uniqueCentre()
	p := newPerson(t)
	a := postRegistration(t, p.reg(t, "social_studies", centre, old), "")
	if a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	regID := uuid.MustParse(a.Body["registration_id"].(string))
	if err := env.temporal.TerminateWorkflow(ctx, a.Body["workflow_id"].(string), "", "lost, for the test"); err != nil {
		t.Fatal(err)
	}
	// Shorten the 20 years so that 2014 is past them and nothing later is.
	cutoff := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	acts := &activitiesRetention{periods: policy.Periods{
		policy.PersonalData: time.Since(cutoff), policy.Address: time.Since(cutoff), policy.Cheating: time.Since(cutoff)}}
	// The lifecycle may have deleted the 2014 address itself before it was
	// lost (a category no case needs goes on its date while the lifecycle
	// runs); the reconciliation deletes whatever is left. Either way the
	// registration ends with one deletion record per category it held.
	res := acts.reconcile(t)
	if res.Deleted["personal_data"] < 1 {
		t.Fatalf("reconciliation = %+v", res)
	}
	if n := rowCount(t, `SELECT count(*) FROM deletion_records WHERE registration_id = $1 AND category = 'address'`, regID); n != 1 {
		t.Fatalf("%d address deletion records, want 1", n)
	}
	if n := rowCount(t, `SELECT count(*) FROM registrations WHERE id = $1`, regID); n != 0 {
		t.Fatal("the lost registration was not deleted")
	}
	if n := rowCount(t, `SELECT count(*) FROM candidates WHERE id = $1`, a.Body["candidate_id"]); n != 0 {
		t.Fatal("the candidate was not deleted")
	}
	if n := rowCount(t, `SELECT count(*) FROM deletion_records WHERE registration_id = $1`, regID); n != 2 {
		t.Fatalf("%d deletion records, want 2", n)
	}
	// A second run finds nothing of it left.
	if again := acts.reconcile(t); again.Deleted["personal_data"] != 0 {
		t.Fatalf("second run deleted again: %+v", again)
	}

	// The daily Schedule exists; triggered, it runs the reconciliation.
	h := env.temporal.ScheduleClient().GetHandle(ctx, cases.ReconciliationScheduleID)
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatalf("schedule: %v", err)
	}
	before := len(desc.Info.RecentActions)
	if err := process.EnsureSchedules(ctx, env.temporal, env.cfg.TaskQueue, time.Hour); err != nil {
		t.Fatalf("creating the schedule again: %v", err)
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		d, err := h.Describe(ctx)
		if err != nil {
			return err
		}
		if len(d.Info.RecentActions) <= before {
			return fmt.Errorf("no run yet")
		}
		run := d.Info.RecentActions[len(d.Info.RecentActions)-1].StartWorkflowResult
		var out activities.ReconcileResult
		return env.temporal.GetWorkflow(ctx, run.WorkflowID, run.FirstExecutionRunID).Get(ctx, &out)
	})
}

// activitiesRetention runs the reconciliation activity with its own periods.
type activitiesRetention struct{ periods policy.Periods }

func (a *activitiesRetention) reconcile(t *testing.T) activities.ReconcileResult {
	t.Helper()
	acts := &activities.Retention{Store: env.store, Objects: env.objects, Temporal: env.temporal, Namespace: env.cfg.TemporalNamespace,
		Periods: a.periods, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var s testsuite.WorkflowTestSuite
	aenv := s.NewTestActivityEnvironment()
	aenv.RegisterActivity(acts.ReconcileRetention)
	v, err := aenv.ExecuteActivity(acts.ReconcileRetention)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	var res activities.ReconcileResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// assertDumpLacks dumps the database and fails if it holds p's name,
// identity number or e-mail in plaintext; mustHave proves the dump is real.
func assertDumpLacks(t *testing.T, p person, mustHave string) {
	t.Helper()
	bin, err := devstack.PostgresBinDir()
	if err != nil {
		t.Fatal(err)
	}
	dump, err := exec.Command(filepath.Join(bin, "pg_dump"), "--data-only", env.stack.DatabaseURL()).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	for _, secret := range []string{p.Given, p.Family, p.NationalID, p.Email} {
		if strings.Contains(string(dump), secret) {
			t.Fatalf("the database dump holds %q in plaintext", secret)
		}
	}
	if mustHave != "" && !strings.Contains(string(dump), mustHave) {
		t.Fatalf("the dump lacks %s; the scan would prove nothing", mustHave)
	}
	if !strings.Contains(string(dump), "candidate_number_seq") {
		t.Fatal("the dump looks empty; the scan would prove nothing")
	}
}

// TestCheatingAndPaymentStatusDeletedAtTheirMilestones (T17, T16): the
// decisions on cheating and the quarantine they set go three years (here
// seconds) after the decision, the payment status three years after the
// test, while the registration stays.
func TestCheatingAndPaymentStatusDeletedAtTheirMilestones(t *testing.T) {
	now := time.Now().UTC()
	today := now.Format(time.DateOnly)
	long := now.Sub(now.Truncate(24*time.Hour)) + time.Hour
	rs := startRetentionStack(t, policy.Periods{policy.Cheating: 10 * time.Second, policy.PaymentStatus: long - time.Hour + 10*time.Second,
		policy.Address: long, policy.PersonalData: long})
	regID, _ := rs.registerPaid(t, today)
	url := "/v1/registrations/" + regID
	if d := doAt(t, rs.url, http.MethodPost, url+"/discrepancies", "application/json", []byte(`{"kind": "provisional_cheating"}`), nil); d.Status != 202 {
		t.Fatalf("provisional: %d %s", d.Status, d.Raw)
	}
	if d := doAt(t, rs.url, http.MethodPost, url+"/cheating-decisions", "application/json",
		[]byte(`{"decision": "final", "reasons": "phone in use", "decided_by": "ch-1"}`), nil); d.Status != 200 {
		t.Fatalf("final: %d %s", d.Status, d.Raw)
	}
	if n := rowCount(t, `SELECT count(*) FROM quarantines q JOIN cheating_decisions d ON d.id = q.decision_id WHERE d.registration_id = $1`, regID); n != 1 {
		t.Fatalf("%d quarantines", n)
	}
	eventually(t, 40*time.Second, func() error {
		if n := rowCount(t, `SELECT count(*) FROM cheating_decisions WHERE registration_id = $1`, regID); n != 0 {
			return fmt.Errorf("%d cheating decisions left", n)
		}
		return nil
	})
	if n := rowCount(t, `SELECT count(*) FROM discrepancies WHERE registration_id = $1 AND kind = 'provisional_cheating'`, regID); n != 0 {
		t.Fatal("the provisional report is still there")
	}
	if n := rowCount(t, `SELECT count(*) FROM registrations WHERE id = $1`, regID); n != 1 {
		t.Fatal("the registration went with the cheating decisions")
	}
	// The payment status goes at its own milestone (T16).
	eventually(t, 20*time.Second, func() error {
		if n := rowCount(t, `SELECT count(*) FROM registrations WHERE id = $1 AND payment_status IS NOT NULL`, regID); n != 0 {
			return fmt.Errorf("payment status still there")
		}
		return nil
	})
	if n := rowCount(t, `SELECT count(*) FROM deletion_records WHERE registration_id = $1 AND category IN ('cheating', 'payment_status')`, regID); n != 2 {
		t.Fatalf("%d deletion records for cheating and payment status, want 2", n)
	}
}
