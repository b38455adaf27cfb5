package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/process"
	"github.com/examflow/examflow/worker"
	"github.com/examflow/examflow/workflows"
)

// Recorded histories for the replay tests (workflows/replay_test.go,
// docs/workflow-versioning.md). TestRecordHistories runs only with
// EXAMFLOW_RECORD_HISTORIES=1 (`make histories`).
const (
	historiesDir = "../workflows/testdata/histories"
	// historyKeyID and historyKeyHex are the payload key the recorded
	// histories are encrypted with: a public test key ("examflow public
	// replay test key!"), used nowhere else, which the replay test holds
	// too. It is not the development key of config's defaults, so a
	// recording does not depend on EXAMFLOW_PAYLOAD_KEY, and no real key
	// ever seals a committed history.
	historyKeyID  = "replay-test"
	historyKeyHex = "6578616d666c6f77207075626c6963207265706c61792074657374206b657921"
	// recorderIdentity replaces the worker and client identities (process
	// ID and host name) in recorded events; replay does not read them.
	recorderIdentity = "examflow-history-recorder"
)

// historyRecorder is the recording's own stack on the e2e stack's servers:
// a Temporal client whose codec has the history key only, a worker and an
// API on a private task queue (the retention path starts another with
// periods of seconds), and what has been written.
type historyRecorder struct {
	client client.Client
	// long is the API of the queue with the policy's retention periods.
	long, longQueue string
	// testDay is the stacks' test-day configuration: timers of seconds.
	testDay config.TestDay

	mu      sync.Mutex
	secrets []string
	written map[string]recordedHistory
}

type recordedHistory struct {
	workflowType string
	events       int
	bytes        int
}

// TestRecordHistories drives every workflow type through its main paths on
// a stack of its own, with timers shortened to seconds, and writes each
// run's history to workflows/testdata/histories/<WorkflowType>-<path>.json,
// replacing files of the same name. Payloads stay encrypted with the
// public history key; identities are replaced; nothing else is changed.
func TestRecordHistories(t *testing.T) {
	if os.Getenv("EXAMFLOW_RECORD_HISTORIES") != "1" {
		t.Skip("records workflow histories only with EXAMFLOW_RECORD_HISTORIES=1 (make histories)")
	}
	if err := os.MkdirAll(historiesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rec := newHistoryRecorder(t)
	paths := []struct {
		name string
		run  func(*testing.T, *historyRecorder)
	}{
		{"lifecycle pass into retention", recordLifecyclePass},
		{"lifecycle review", recordLifecycleReview},
		{"lifecycle examiners", recordLifecycleExaminers},
		{"lifecycle cheating and County Governor appeal", recordCheatingAppeal},
		{"lifecycle cheating escalated", recordCheatingEscalated},
		{"retention deletions with a hold", recordRetentionDeletions},
		{"subject request access", recordAccessRequest},
		{"subject request restriction", recordRestriction},
		{"subject request objection", recordObjection},
		{"subject request closed when its person is deleted", recordRequestClosedDataDeleted},
		{"course completed", recordCourseCompleted},
		{"course withdrawn", recordCourseWithdrawn},
		{"statistics", recordStatistics},
		{"reconciliation", recordReconciliation},
		{"merge", recordMerge},
		{"identifier correction", recordCorrection},
	}
	// EXAMFLOW_RECORD_ONLY records the paths whose names it matches (a
	// regular expression), for a workflow type added later; the others'
	// files stay as they are.
	var only *regexp.Regexp
	if expr := os.Getenv("EXAMFLOW_RECORD_ONLY"); expr != "" {
		only = regexp.MustCompile(expr)
	}
	t.Run("paths", func(t *testing.T) {
		for _, p := range paths {
			if only != nil && !only.MatchString(p.name) {
				continue
			}
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				p.run(t, rec)
			})
		}
	})
	if t.Failed() {
		return
	}
	if only != nil {
		return // the files not recorded now hold the other types
	}
	// Every registered workflow type has a history.
	seen := map[string]bool{}
	names := make([]string, 0, len(rec.written))
	for name, h := range rec.written {
		seen[h.workflowType] = true
		names = append(names, name)
	}
	for _, wf := range registeredWorkflows() {
		if !seen[wf] {
			t.Errorf("no history recorded for workflow type %s", wf)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		h := rec.written[name]
		t.Logf("%-45s %4d events %7d bytes", name+".json", h.events, h.bytes)
	}
}

func newHistoryRecorder(t *testing.T) *historyRecorder {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := env.cfg
	cfg.PayloadKeyHex, cfg.PayloadKeyID, cfg.PayloadOldKeys = historyKeyHex, historyKeyID, nil
	c, err := process.Dial(cfg, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	rec := &historyRecorder{client: c, written: map[string]recordedHistory{}}

	rec.testDay = env.cfg.TestDay
	rec.testDay.FinalAfter = 6 * time.Second
	rec.testDay.HoldRecheck = time.Second
	rec.testDay.ReviewReminder = time.Second
	rec.longQueue = "examflow-histories-" + uuid.NewString()[:8]
	rec.long = rec.startStack(t, rec.longQueue, rec.testDay, nil)
	return rec
}

// startStack starts a worker on queue, registered as in production, and an
// API that starts its workflows there; it returns the API's URL.
func (r *historyRecorder) startStack(t *testing.T, queue string, td config.TestDay, periods policy.Periods) string {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, regClient, _ := newRegistry()
	deps := worker.Deps{Client: r.client, Store: env.store, TaskQueue: queue, Logger: quiet, Catalogue: env.catalogue,
		TestDay: td, Namespace: env.cfg.TemporalNamespace, RetentionPeriods: periods, Objects: env.objects, Registry: regClient}
	deps.Appeals = config.DefaultAppeals()
	deps.Appeals.WritingWindow, deps.Appeals.C1Window = td.FinalAfter, td.FinalAfter
	w := worker.New(deps)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	key, _ := env.cfg.LinkKey()
	srv := httptest.NewServer(api.New(api.Deps{Store: env.store, Tokens: env.store, Temporal: r.client, TaskQueue: queue, Logger: quiet,
		Registry: process.NewRegistry(), Catalogue: env.catalogue, Objects: env.objects, AudioMaxBytes: 1 << 20, ExportLinkKey: key,
		Ready:           func(ctx context.Context) error { return process.Ready(ctx, env.store, r.client) },
		SubjectRequests: api.SubjectRequestOptions{Reminders: []time.Duration{168 * time.Hour, 24 * time.Hour}, LiftNotice: time.Second, ExportLinkTTL: time.Minute},
		Courses: api.CourseOptions{PolicyVersion: "2025-02-11", SurveyAfter: time.Second, NewsEvery: 2 * time.Second, Retention: 10 * time.Second,
			PublicURL: "http://self-service.example", LinkKey: key},
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// secret notes plaintext that no recorded history may contain.
func (r *historyRecorder) secret(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		if v != "" {
			r.secrets = append(r.secrets, v)
		}
	}
}

func (r *historyRecorder) person(t *testing.T) person {
	t.Helper()
	p := newPerson(t)
	r.secret(p.Given, p.Family, p.NationalID, p.Email)
	return p
}

// recordedRegistration is a registration for today's session at a fresh
// test centre.
type recordedRegistration struct {
	base, url, wfID, testType, centre, date string
}

// register registers p for today's testType on the API at base.
func (r *historyRecorder) register(t *testing.T, base string, p person, testType string) recordedRegistration {
	t.Helper()
	reg := recordedRegistration{base: base, testType: testType, centre: uniqueCentre(), date: time.Now().UTC().Format(time.DateOnly)}
	a := postAt(t, base, "/v1/registrations", p.reg(t, testType, reg.centre, reg.date), "")
	if a.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	reg.url, reg.wfID = registrationURL(a), a.Body["workflow_id"].(string)
	return reg
}

// submit posts an answer sheet for part with the first correct of items
// answered right.
func (g recordedRegistration) submit(t *testing.T, part string, items, correct int) {
	t.Helper()
	form := fmt.Sprintf("%s-%s-%s-%s", g.testType, part, g.centre, g.date)
	if s := postAt(t, g.base, g.url+"/answer-sheets", map[string]any{"part": part, "form_id": form, "key_version": 1,
		"submitted_at": time.Now().UTC().Format(time.RFC3339), "answers": answersFor(items, correct)}, ""); s.Status != http.StatusAccepted {
		t.Fatalf("submit %s: %d %s", part, s.Status, s.Raw)
	}
}

// post sends body to the registration's sub-route path and wants status.
func (g recordedRegistration) post(t *testing.T, path string, body any, want int) answer {
	t.Helper()
	a := postAt(t, g.base, g.url+path, body, "")
	if a.Status != want {
		t.Fatalf("POST %s: %d %s, want %d", path, a.Status, a.Raw, want)
	}
	return a
}

func (r *historyRecorder) currentRun(t *testing.T, wfID string) string {
	t.Helper()
	d, err := r.client.DescribeWorkflowExecution(context.Background(), wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	return d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

// waitClosed waits until the run has closed with the status want.
func (r *historyRecorder) waitClosed(t *testing.T, wfID, runID string, want enumspb.WorkflowExecutionStatus, within time.Duration) {
	t.Helper()
	eventually(t, within, func() error {
		d, err := r.client.DescribeWorkflowExecution(context.Background(), wfID, runID)
		if err != nil {
			return err
		}
		if got := d.GetWorkflowExecutionInfo().GetStatus(); got != want {
			return fmt.Errorf("%s is %s, want %s", wfID, got, want)
		}
		return nil
	})
}

func (r *historyRecorder) events(t *testing.T, wfID, runID string) []*historypb.HistoryEvent {
	t.Helper()
	var out []*historypb.HistoryEvent
	iter := r.client.GetWorkflowHistory(context.Background(), wfID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// waitLastEvent waits until the run's history ends with an event of type
// want: a running run is recorded while it waits, not mid-task.
func (r *historyRecorder) waitLastEvent(t *testing.T, wfID, runID string, want enumspb.EventType) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		evs := r.events(t, wfID, runID)
		if len(evs) == 0 || evs[len(evs)-1].GetEventType() != want {
			return fmt.Errorf("%s does not end with %s yet", wfID, want)
		}
		return nil
	})
}

// has reports whether the run's history holds an event of type typ (and,
// for scheduled activities, of activity type activityType).
func (r *historyRecorder) has(t *testing.T, wfID, runID string, typ enumspb.EventType, activityType string) bool {
	t.Helper()
	for _, ev := range r.events(t, wfID, runID) {
		if ev.GetEventType() != typ {
			continue
		}
		if activityType == "" || ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == activityType {
			return true
		}
	}
	return false
}

// query runs a query on the workflow's current run and decodes its answer.
func (r *historyRecorder) query(t *testing.T, wfID, name string, out any) error {
	t.Helper()
	v, err := r.client.QueryWorkflow(context.Background(), wfID, "", name)
	if err != nil {
		return err
	}
	return v.Get(out)
}

// save writes the run's history as name.json, after checking that its
// payloads are sealed with the history key and that it holds none of the
// recording's personal data in plaintext.
func (r *historyRecorder) save(t *testing.T, name, wfID, runID string) {
	t.Helper()
	events := r.events(t, wfID, runID)
	if len(events) == 0 {
		t.Fatalf("%s: empty history", name)
	}
	typ := events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
	if !strings.HasPrefix(name, typ+"-") {
		t.Fatalf("%s: the history is of workflow type %s; name it %s-<path>", name, typ, typ)
	}
	h := &historypb.History{Events: events}
	setIdentities(h.ProtoReflect(), recorderIdentity)
	if err := checkSealed(h); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	raw, err := protojson.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	r.mu.Lock()
	secrets := slices.Clone(r.secrets)
	r.mu.Unlock()
	for _, s := range secrets {
		if bytes.Contains(out.Bytes(), []byte(s)) {
			t.Fatalf("%s: the history holds %q in plaintext", name, s)
		}
	}
	if err := os.WriteFile(filepath.Join(historiesDir, name+".json"), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.written[name] = recordedHistory{workflowType: typ, events: len(events), bytes: out.Len()}
	r.mu.Unlock()
}

// checkSealed fails unless every payload but the search attributes (which
// hold status values and codes only) is encrypted with the history key.
func checkSealed(h *historypb.History) error {
	n := 0
	err := proxy.VisitPayloads(context.Background(), h, proxy.VisitPayloadsOptions{SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			for _, p := range ps {
				n++
				md := p.GetMetadata()
				if string(md["encoding"]) != "binary/encrypted" || string(md["encryption-key-id"]) != historyKeyID {
					return nil, fmt.Errorf("a payload is not sealed with the history key (encoding %q, key %q)", md["encoding"], md["encryption-key-id"])
				}
			}
			return ps, nil
		}})
	if err == nil && n == 0 {
		err = fmt.Errorf("no payloads at all: the check proves nothing")
	}
	return err
}

// setIdentities replaces every identity field (worker and client
// identities: process ID and host name) anywhere in m.
func setIdentities(m protoreflect.Message, identity string) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Name() == "identity" && fd.Kind() == protoreflect.StringKind && !fd.IsList():
			m.Set(fd, protoreflect.ValueOfString(identity))
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				setIdentities(v.List().Get(i).Message(), identity)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				setIdentities(mv.Message(), identity)
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			setIdentities(v.Message(), identity)
		}
		return true
	})
}

// workflowNames collects the names worker.Register registers workflows
// under. The embedded Registry is nil: Register calls none of the methods
// not overridden here.
type workflowNames struct {
	sdkworker.Registry
	names []string
}

func (w *workflowNames) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	w.names = append(w.names, o.Name)
}

func (w *workflowNames) RegisterActivityWithOptions(any, activity.RegisterOptions) {}

// registeredWorkflows are the workflow types the worker registers.
func registeredWorkflows() []string {
	var w workflowNames
	worker.Register(&w, worker.Deps{})
	return w.names
}

// The paths. Each registers its own fictional people; every free text it
// sends is noted as a secret, so a history holding it in plaintext fails.

const (
	statusContinuedAsNew = enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
	statusCompleted      = enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
)

// recordLifecyclePass: a passed citizenship test, published, continued as
// new into its retention phase, which waits years for its first milestone
// (recorded running).
func recordLifecyclePass(t *testing.T, r *historyRecorder) {
	g := r.register(t, r.long, r.person(t), "citizenship")
	lifecycle := r.currentRun(t, g.wfID)
	g.submit(t, "test", 36, 30)
	r.waitClosed(t, g.wfID, lifecycle, statusContinuedAsNew, time.Minute)
	if !r.has(t, g.wfID, lifecycle, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, "PublishResults") {
		t.Fatal("the lifecycle did not publish")
	}
	r.save(t, "CandidateLifecycle-pass", g.wfID, lifecycle)
	retention := r.currentRun(t, g.wfID)
	r.waitLastEvent(t, g.wfID, retention, enumspb.EVENT_TYPE_TIMER_STARTED)
	r.save(t, "CandidateRetention-retained", g.wfID, retention)
}

// recordLifecycleReview: a technical problem holds the automated result;
// the review is reminded, then a case handler corrects the score.
func recordLifecycleReview(t *testing.T, r *historyRecorder) {
	g := r.register(t, r.long, r.person(t), "citizenship")
	run := r.currentRun(t, g.wfID)
	note := "the screen froze at item " + uuid.NewString()[:8]
	r.secret(note)
	g.post(t, "/discrepancies", map[string]any{"kind": "technical_problem", "note": note}, http.StatusAccepted)
	g.submit(t, "test", 36, 20)
	waitStageAt(t, g.base, g.url, "UnderReview", 20*time.Second)
	eventually(t, 20*time.Second, func() error {
		if !r.has(t, g.wfID, run, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, "RemindReview") {
			return fmt.Errorf("no review reminder yet")
		}
		return nil
	})
	g.post(t, "/review-decisions", map[string]any{"part": "test", "decision": "correct", "corrected_score": 25,
		"reason": "the technical problem cost five items", "decided_by": "ch-1"}, http.StatusOK)
	r.waitClosed(t, g.wfID, run, statusContinuedAsNew, time.Minute)
	r.save(t, "CandidateLifecycle-review", g.wfID, run)
}

// recordLifecycleExaminers: a Norwegian test with two machine-marked parts
// and two examiner-marked ones; the examiners disagree on writing and a
// third examiner settles it.
func recordLifecycleExaminers(t *testing.T, r *historyRecorder) {
	g := r.register(t, r.long, r.person(t), "norwegian_a1_b2")
	run := r.currentRun(t, g.wfID)
	g.submit(t, "reading", 30, 22)
	g.submit(t, "listening", 30, 22)
	assess := func(part, role, who, level string) answer {
		return postAt(t, g.base, g.url+"/assessments", map[string]any{"part": part, "role": role, "assessor": who, "level": level}, "")
	}
	for _, a := range [][4]string{{"oral", "examiner", "e1", "B1"}, {"oral", "external_examiner", "e2", "B1"},
		{"writing", "examiner", "e1", "B1"}, {"writing", "external_examiner", "e2", "A2"}} {
		if got := assess(a[0], a[1], a[2], a[3]); got.Status != http.StatusAccepted {
			t.Fatalf("assess %v: %d %s", a, got.Status, got.Raw)
		}
	}
	eventually(t, 20*time.Second, func() error {
		if got := assess("writing", "third_examiner", "e3", "B1"); got.Status != http.StatusAccepted {
			return fmt.Errorf("third examiner: %d %s", got.Status, got.Raw)
		}
		return nil
	})
	r.waitClosed(t, g.wfID, run, statusContinuedAsNew, time.Minute)
	r.save(t, "CandidateLifecycle-examiners", g.wfID, run)
}

// recordCheatingAppeal: provisional cheating keeps the result back; the
// final decision annuls it; the appeal against it is maintained by the
// first instance and upheld by the County Governor.
func recordCheatingAppeal(t *testing.T, r *historyRecorder) {
	g := r.register(t, r.long, r.person(t), "citizenship")
	run := r.currentRun(t, g.wfID)
	g.post(t, "/discrepancies", map[string]any{"kind": "provisional_cheating"}, http.StatusAccepted)
	g.submit(t, "test", 36, 30)
	eventually(t, 20*time.Second, func() error {
		v := doAt(t, g.base, http.MethodGet, g.url, "", nil, nil)
		parts, _ := v.Body["parts"].([]any)
		if len(parts) != 1 || parts[0].(map[string]any)["status"] != "decided" {
			return fmt.Errorf("parts %v", parts)
		}
		return nil
	})
	reasons := []string{"notes in the sleeve " + uuid.NewString()[:8], "the notes were a medical card " + uuid.NewString()[:8],
		"the card was not allowed " + uuid.NewString()[:8], "a medical card is not an aid " + uuid.NewString()[:8]}
	r.secret(reasons...)
	g.post(t, "/cheating-decisions", map[string]any{"decision": "final", "reasons": reasons[0], "decided_by": "ch-1"}, http.StatusOK)
	lodged := g.post(t, "/appeals", map[string]any{"kind": "decision_appeal", "against": "cheating", "grounds": reasons[1]}, http.StatusCreated)
	appealWF := lodged.Body["workflow_id"].(string)
	decisions := "/appeals/" + lodged.Body["appeal_id"].(string) + "/decisions"
	g.post(t, decisions, map[string]any{"instance": "first_instance", "decision": "maintained", "reasons": reasons[2], "decided_by": "ch-2"}, http.StatusOK)
	g.post(t, decisions, map[string]any{"instance": "county_governor", "decision": "upheld", "reasons": reasons[3], "decided_by": "sf-oslo-viken"}, http.StatusOK)
	r.waitClosed(t, appealWF, "", statusCompleted, 30*time.Second)
	r.waitClosed(t, g.wfID, run, statusContinuedAsNew, time.Minute)
	if !r.has(t, g.wfID, run, enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, "") {
		t.Fatal("the appeal was not lodged with the lifecycle run (did the appeal window pass first?)")
	}
	r.save(t, "CandidateLifecycle-cheating-appeal", g.wfID, run)
	r.save(t, "CandidateAppeal-county-governor", appealWF, "")
}

// recordCheatingEscalated: a provisional cheating case left undecided; the
// lifecycle deletes the address at its milestone while the case is open,
// escalates the case after EXAMFLOW_CHEATING_ESCALATE_AFTER (seconds here),
// and clears the escalation when the case is dismissed; the result follows.
func recordCheatingEscalated(t *testing.T, r *historyRecorder) {
	now := time.Now().UTC()
	sinceMidnight := now.Sub(now.Truncate(24 * time.Hour))
	td := r.testDay
	td.FinalAfter = 2 * time.Second
	td.CheatingEscalateAfter = 3 * time.Second
	stack := r.startStack(t, "examflow-histories-escalate-"+uuid.NewString()[:8], td,
		policy.Periods{policy.Address: sinceMidnight + 5*time.Second, policy.PersonalData: sinceMidnight + time.Hour})
	g := r.register(t, stack, r.person(t), "citizenship")
	run := r.currentRun(t, g.wfID)
	g.post(t, "/discrepancies", map[string]any{"kind": "provisional_cheating"}, http.StatusAccepted)
	g.submit(t, "test", 36, 30)
	eventually(t, 30*time.Second, func() error {
		if !r.has(t, g.wfID, run, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, "DeleteCategory") {
			return fmt.Errorf("the address deletion is not scheduled yet")
		}
		if n := countWorkflows(t, fmt.Sprintf("WorkflowId = %q AND CheatingEscalated = true", g.wfID)); n != 1 {
			return fmt.Errorf("the case is not shown as escalated yet")
		}
		return nil
	})
	reasons := "the phone was switched off " + uuid.NewString()[:8]
	r.secret(reasons)
	g.post(t, "/cheating-decisions", map[string]any{"decision": "dismissed", "reasons": reasons, "decided_by": "ch-1"}, http.StatusOK)
	r.waitClosed(t, g.wfID, run, statusContinuedAsNew, time.Minute)
	r.save(t, "CandidateLifecycle-cheating-escalated", g.wfID, run)
}

// recordRetentionDeletions: with periods of seconds, the retention phase
// takes a formal-error complaint (a second one is refused), deletes the
// address at its milestone, holds the final deletion while the complaint
// is open, and deletes everything once the test centre rejects it.
func recordRetentionDeletions(t *testing.T, r *historyRecorder) {
	// A stack of its own: retention periods run from the test date (today,
	// midnight UTC), shifted so the address goes 12 seconds from now and
	// everything else 20 seconds from now.
	now := time.Now().UTC()
	sinceMidnight := now.Sub(now.Truncate(24 * time.Hour))
	td := r.testDay
	td.FinalAfter = 2 * time.Second
	short := r.startStack(t, "examflow-histories-short-"+uuid.NewString()[:8], td,
		policy.Periods{policy.Address: sinceMidnight + 12*time.Second, policy.PersonalData: sinceMidnight + 20*time.Second})
	g := r.register(t, short, r.person(t), "citizenship")
	g.submit(t, "test", 36, 30)
	var st workflows.RetentionStatus
	eventually(t, 30*time.Second, func() error {
		if err := r.query(t, g.wfID, cases.QueryRetention, &st); err != nil {
			return err
		}
		if st.Stage != cases.StageRetained || len(st.Done) != 0 {
			return fmt.Errorf("retention %+v", st)
		}
		return nil
	})
	retention := r.currentRun(t, g.wfID)
	grounds := "the room was too cold to write " + uuid.NewString()[:8]
	rejection := "the room was within the rules " + uuid.NewString()[:8]
	r.secret(grounds, rejection)
	lodged := g.post(t, "/appeals", map[string]any{"kind": "formal_error", "grounds": grounds}, http.StatusCreated)
	if again := postAt(t, g.base, g.url+"/appeals", map[string]any{"kind": "formal_error", "grounds": grounds}, ""); again.Status != http.StatusUnprocessableEntity {
		t.Fatalf("second complaint: %d %s", again.Status, again.Raw)
	}
	eventually(t, 40*time.Second, func() error {
		if err := r.query(t, g.wfID, cases.QueryRetention, &st); err != nil {
			return err
		}
		if st.Stage != cases.StageDeletionOnHold {
			return fmt.Errorf("retention %+v", st)
		}
		return nil
	})
	if len(st.Done) != 1 || st.Done[0].Category != string(policy.Address) || st.Hold != "open appeal" {
		t.Fatalf("retention on hold: %+v", st)
	}
	g.post(t, "/appeals/"+lodged.Body["appeal_id"].(string)+"/decisions",
		map[string]any{"instance": "test_centre", "decision": "rejected", "reasons": rejection, "decided_by": "tc-1"}, http.StatusOK)
	r.waitClosed(t, g.wfID, retention, statusCompleted, 30*time.Second)
	r.save(t, "CandidateRetention-deletions", g.wfID, retention)
	r.save(t, "CandidateAppeal-formal-error-rejected", lodged.Body["workflow_id"].(string), "")
}

// subjectRequest files a data subject request on the long stack.
func (r *historyRecorder) subjectRequest(t *testing.T, body map[string]any) (id, wfID string, due time.Time) {
	t.Helper()
	created := postAt(t, r.long, "/v1/subject-requests", body, "")
	if created.Status != http.StatusCreated {
		t.Fatalf("subject request: %d %s", created.Status, created.Raw)
	}
	due, err := time.Parse(time.RFC3339, created.Body["due_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return created.Body["request_id"].(string), created.Body["workflow_id"].(string), due
}

func (r *historyRecorder) waitRequestStage(t *testing.T, wfID string, want cases.Stage) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		var st cases.SubjectRequestStatus
		if err := r.query(t, wfID, cases.QuerySubjectRequest, &st); err != nil {
			return err
		}
		if st.Stage != want {
			return fmt.Errorf("stage %s, want %s", st.Stage, want)
		}
		return nil
	})
}

func (r *historyRecorder) postRequest(t *testing.T, id, step string, body any) {
	t.Helper()
	if a := postAt(t, r.long, "/v1/subject-requests/"+id+"/"+step, body, ""); a.Status != http.StatusOK {
		t.Fatalf("%s: %d %s", step, a.Status, a.Raw)
	}
}

// recordAccessRequest: an access request waits for a case handler to
// confirm the identity, then the export is built and the request answered.
func recordAccessRequest(t *testing.T, r *historyRecorder) {
	p := r.person(t)
	r.register(t, r.long, p, "citizenship")
	id, wfID, _ := r.subjectRequest(t, map[string]any{"kind": "access", "identifier": map[string]any{"kind": "national_id", "value": p.NationalID}})
	r.waitRequestStage(t, wfID, cases.StageAwaitingIdentity)
	evidence := "passport inspected at the desk " + uuid.NewString()[:8]
	r.secret(evidence)
	r.postRequest(t, id, "identity", map[string]any{"verified_by": "ch-dsr-1", "evidence": evidence})
	r.waitClosed(t, wfID, "", statusCompleted, 30*time.Second)
	r.save(t, "SubjectRequest-access", wfID, "")
}

// recordRestriction: a restriction asserted by an upstream login is in
// force until a case handler lifts it; the person is told first.
func recordRestriction(t *testing.T, r *historyRecorder) {
	p := r.person(t)
	r.register(t, r.long, p, "citizenship")
	id, wfID, _ := r.subjectRequest(t, map[string]any{"kind": "restriction", "identifier": map[string]any{"kind": "national_id", "value": p.NationalID},
		"identity_asserted": map[string]any{"provider": "idporten"}})
	r.waitRequestStage(t, wfID, cases.StageRestricted)
	reason := "the complaint is settled " + uuid.NewString()[:8]
	r.secret(reason)
	r.postRequest(t, id, "lift", map[string]any{"decision": "lift", "reason": reason, "decided_by": "ch-dsr-4"})
	r.waitClosed(t, wfID, "", statusCompleted, 30*time.Second)
	r.save(t, "SubjectRequest-restriction", wfID, "")
}

// recordObjection: an objection is extended (the reminders follow the new
// due date), the identity confirmed, and a case handler rejects it.
func recordObjection(t *testing.T, r *historyRecorder) {
	p := r.person(t)
	r.register(t, r.long, p, "citizenship")
	texts := []string{"I object to research use " + uuid.NewString()[:8], "needs a legal assessment " + uuid.NewString()[:8],
		"research use is anonymous " + uuid.NewString()[:8]}
	r.secret(texts...)
	id, wfID, due := r.subjectRequest(t, map[string]any{"kind": "objection", "identifier": map[string]any{"kind": "national_id", "value": p.NationalID},
		"grounds": texts[0], "purposes": []string{"research"}})
	r.waitRequestStage(t, wfID, cases.StageAwaitingIdentity)
	r.postRequest(t, id, "extension", map[string]any{"until": due.Add(14 * 24 * time.Hour).Format(time.RFC3339), "reason": texts[1]})
	r.postRequest(t, id, "identity", map[string]any{"verified_by": "ch-dsr-2", "evidence": "BankID"})
	eventually(t, 20*time.Second, func() error {
		a := postAt(t, r.long, "/v1/subject-requests/"+id+"/decision", map[string]any{"decision": "rejected", "reason": texts[2], "decided_by": "ch-dsr-2"}, "")
		if a.Status != http.StatusOK {
			return fmt.Errorf("decision: %d %s", a.Status, a.Raw)
		}
		return nil
	})
	r.waitClosed(t, wfID, "", statusCompleted, 30*time.Second)
	r.save(t, "SubjectRequest-objection", wfID, "")
}

// recordRequestClosedDataDeleted: a rectification waits for a case
// handler's decision when the final deletion deletes its person; the
// deletion closes it (close-request).
func recordRequestClosedDataDeleted(t *testing.T, r *historyRecorder) {
	p := r.person(t)
	g := r.register(t, r.long, p, "citizenship")
	r.secret("retta@example.org")
	_, wfID, _ := r.subjectRequest(t, map[string]any{"kind": "rectification", "identifier": map[string]any{"kind": "national_id", "value": p.NationalID},
		"identity_asserted": map[string]any{"provider": "idporten"}, "rectification": map[string]any{"email": "retta@example.org"}})
	r.waitRequestStage(t, wfID, cases.StageAwaitingDecision)
	ctx := context.Background()
	if err := r.client.TerminateWorkflow(ctx, g.wfID, "", "the recording deletes the registration"); err != nil {
		t.Fatal(err)
	}
	acts := &activities.Retention{Store: env.store, Objects: env.objects, Temporal: r.client, Namespace: env.cfg.TemporalNamespace,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var s testsuite.WorkflowTestSuite
	aenv := s.NewTestActivityEnvironment()
	aenv.RegisterActivity(acts.DeleteCategory)
	regID := strings.TrimPrefix(g.url, "/v1/registrations/")
	if _, err := aenv.ExecuteActivity(acts.DeleteCategory, activities.DeleteCategoryInput{RegistrationID: regID, Category: string(policy.PersonalData),
		Due: time.Now()}); err != nil {
		t.Fatalf("final deletion: %v", err)
	}
	r.waitClosed(t, wfID, "", statusCompleted, 30*time.Second)
	r.save(t, "SubjectRequest-closed-data-deleted", wfID, "")
}

// courseRegistration registers a participant for a course held yesterday.
func (r *historyRecorder) courseRegistration(t *testing.T) (id, wfID string) {
	t.Helper()
	body := courseBody(createCourse(t, nil, false, false, yesterday()), nil)
	r.secret(body["family_name"].(string), body["email"].(string))
	a := postAt(t, r.long, "/v1/course-registrations", body, "")
	if a.Status != http.StatusCreated {
		t.Fatalf("course registration: %d %s", a.Status, a.Raw)
	}
	return a.Body["registration_id"].(string), a.Body["workflow_id"].(string)
}

// recordCourseCompleted: completion, the certificate, the survey
// invitation, news of new courses, and the deletion when the (shortened)
// 24 months end.
func recordCourseCompleted(t *testing.T, r *historyRecorder) {
	id, wfID := r.courseRegistration(t)
	eventually(t, 10*time.Second, func() error {
		if a := postAt(t, r.long, "/v1/course-registrations/"+id+"/completion", map[string]any{"completed_by": "ca-1"}, ""); a.Status != http.StatusOK {
			return fmt.Errorf("completion: %d %s", a.Status, a.Raw)
		}
		return nil
	})
	r.waitClosed(t, wfID, "", statusCompleted, 40*time.Second)
	if !r.has(t, wfID, "", enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, "SendCourseNews") {
		t.Fatal("no course news before the deletion")
	}
	r.save(t, "CourseRegistration-completed", wfID, "")
}

// recordCourseWithdrawn: after the event, a course_admin withdraws the
// participant's consent: everything is deleted and the workflow ends.
func recordCourseWithdrawn(t *testing.T, r *historyRecorder) {
	id, wfID := r.courseRegistration(t)
	eventually(t, 10*time.Second, func() error {
		var st cases.CourseStatus
		if err := r.query(t, wfID, cases.QueryCourse, &st); err != nil {
			return err
		}
		if st.Stage != cases.StageEventHeld {
			return fmt.Errorf("stage %s", st.Stage)
		}
		return nil
	})
	if a := doAt(t, r.long, http.MethodPost, "/v1/course-registrations/"+id+"/withdrawal", "", nil, nil); a.Status != http.StatusOK {
		t.Fatalf("withdrawal: %d %s", a.Status, a.Raw)
	}
	r.waitClosed(t, wfID, "", statusCompleted, 30*time.Second)
	r.save(t, "CourseRegistration-withdrawn", wfID, "")
}

// recordStatistics: a month materialised (the Schedule's workflow, started
// directly with a month long past so no other test's figures change) and
// a malformed month refused.
func recordStatistics(t *testing.T, r *historyRecorder) {
	ctx := context.Background()
	start := func(month string) client.WorkflowRun {
		run, err := r.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "histories-statistics-" + uuid.NewString(), TaskQueue: r.longQueue},
			cases.StatisticsWorkflow, cases.StatisticsRequest{Month: month})
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	ok := start("2020-01")
	var res activities.StatisticsResult
	if err := ok.Get(ctx, &res); err != nil || res.Month != "2020-01" {
		t.Fatalf("statistics: %+v %v", res, err)
	}
	r.save(t, "MonthlyStatistics-month", ok.GetID(), ok.GetRunID())
	bad := start("2020-13")
	if err := bad.Get(ctx, nil); err == nil {
		t.Fatal("a malformed month was materialised")
	}
	r.save(t, "MonthlyStatistics-invalid-month", bad.GetID(), bad.GetRunID())
}

// recordMerge: a merge's publication update, for a survivor without a
// final result (the duplicate's publication withdrawn, nothing published).
func recordMerge(t *testing.T, r *historyRecorder) {
	ctx := context.Background()
	in := cases.MergeInput{MergeID: uuid.NewString(), SurvivorID: uuid.NewString(), MergedID: uuid.NewString()}
	run, err := r.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: cases.MergeWorkflowID(in.MergeID), TaskQueue: r.longQueue},
		cases.MergeWorkflow, in)
	if err != nil {
		t.Fatal(err)
	}
	var out activities.PublishOutcome
	if err := run.Get(ctx, &out); err != nil || !out.Withdrawn {
		t.Fatalf("merge: %+v %v", out, err)
	}
	r.save(t, "CandidateMerge-settled", run.GetID(), run.GetRunID())
}

// recordCorrection: an identifier correction's publication update, for a
// candidate without a final result (withdrawn, nothing published).
func recordCorrection(t *testing.T, r *historyRecorder) {
	ctx := context.Background()
	in := cases.CorrectionInput{CorrectionID: uuid.NewString(), CandidateID: uuid.NewString()}
	run, err := r.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: cases.CorrectionWorkflowID(in.CorrectionID), TaskQueue: r.longQueue},
		cases.CorrectionWorkflow, in)
	if err != nil {
		t.Fatal(err)
	}
	var out activities.PublishOutcome
	if err := run.Get(ctx, &out); err != nil || !out.Withdrawn {
		t.Fatalf("correction: %+v %v", out, err)
	}
	r.save(t, "IdentifierCorrection-republished", run.GetID(), run.GetRunID())
}

// recordReconciliation: the daily reconciliation (the Schedule's workflow,
// started directly) with the policy's periods.
func recordReconciliation(t *testing.T, r *historyRecorder) {
	ctx := context.Background()
	run, err := r.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "histories-reconciliation-" + uuid.NewString(), TaskQueue: r.longQueue},
		cases.ReconciliationWorkflow)
	if err != nil {
		t.Fatal(err)
	}
	var res activities.ReconcileResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	r.save(t, "RetentionReconciliation-daily", run.GetID(), run.GetRunID())
}
