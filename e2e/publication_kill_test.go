package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/process"
	"github.com/examflow/examflow/registry"
)

// workerProcess is a running `examflow worker`, a separate OS process.
type workerProcess struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // set when done is closed
}

// startWorkerProcess runs `examflow worker` with env on top of this
// process's environment and waits until its Temporal worker polls.
func startWorkerProcess(t *testing.T, name, bin string, env []string) *workerProcess {
	t.Helper()
	w, err := spawnWorkerProcess(name, bin, env)
	if w != nil {
		t.Cleanup(func() {
			w.stop()
			if t.Failed() {
				t.Logf("%s output:\n%s", name, w.out.String())
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// spawnWorkerProcess is startWorkerProcess without the testing.T, for
// goroutines: the caller stops the process. A process that exits or does
// not start is an error (and w, when not nil, is already stopped).
func spawnWorkerProcess(name, bin string, env []string) (*workerProcess, error) {
	cmd := exec.Command(bin, "worker")
	cmd.Env = append(os.Environ(), env...) // later entries win
	w := &workerProcess{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = w.out, w.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { w.err = cmd.Wait(); close(w.done) }()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(w.out.String(), `"msg":"worker started"`) {
		select {
		case <-w.done:
			return w, fmt.Errorf("%s exited before it started: %v\n%s", name, w.err, w.out.String())
		case <-deadline:
			w.stop()
			return w, fmt.Errorf("%s did not start:\n%s", name, w.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return w, nil
}

// kill sends SIGKILL, as the OOM killer or a lost node would, and waits for
// the process to be gone.
func (w *workerProcess) kill(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", w.name, err)
	}
	select {
	case <-w.done:
	case <-time.After(time.Minute):
		t.Fatalf("%s still running after SIGKILL", w.name)
	}
}

// stop ends the process gracefully if it is still running (SIGKILL if it
// does not stop within a minute).
func (w *workerProcess) stop() {
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(time.Minute):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// TestWorkerKilledMidPublicationPublishesOnce (T09): the worker process is
// SIGKILLed while its publication of a final result to the Diploma Registry
// is in flight. After a new worker process starts, the publication arrives
// (nothing is lost) and is there once, recorded as one disclosure (nothing
// is duplicated).
func TestWorkerKilledMidPublicationPublishesOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	today := now.Format(time.DateOnly)

	bin := examflowBinary(t)

	// A Diploma Registry simulator of this test's own. The worker process
	// reaches it over loopback HTTP.
	sim := registry.NewSimulator("examflow-kill", "kill-secret")
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close) // registered first, so it runs after the worker processes are gone
	// Every registry call is held for 20s: the first publish request is
	// still in flight when the worker is killed.
	sim.Slow(20 * time.Second)

	// The worker processes poll a task queue of this test only, so the
	// in-process e2e worker never runs these workflows.
	queue := "examflow-kill-" + uuid.NewString()[:8]
	workerEnv := workerProcessEnv(t, queue, simSrv.URL, "examflow-kill", "kill-secret",
		// The worker process also drains the notification outbox; no mail
		// server listens here, so nothing leaves the machine.
		fmt.Sprintf("EXAMFLOW_SMTP_PORT=%d", closedPort(t)))
	cfg := env.cfg
	first := startWorkerProcess(t, "first worker", bin, workerEnv)

	// An API that starts the lifecycles on that task queue.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	codec, err := process.CodecFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	apiSrv := httptest.NewServer(api.New(api.Deps{Store: env.store, Tokens: env.store, Temporal: env.temporal, TaskQueue: queue, Logger: quiet,
		Registry: process.NewRegistry(), Catalogue: env.catalogue, Codec: codec.DisplayCodec(), Objects: env.objects, AudioMaxBytes: 1 << 20,
		Ready: func(ctx context.Context) error { return process.Ready(ctx, env.store, env.temporal) }}))
	t.Cleanup(apiSrv.Close)

	// A candidate with a fødselsnummer passes the citizenship test.
	centre := uniqueCentre()
	sessionFor(t, "citizenship", centre, today)
	p := newPerson(t)
	a := doAt(t, apiSrv.URL, http.MethodPost, "/v1/registrations", "application/json", []byte(mustJSON(p.registration("citizenship", centre, today))), nil)
	if a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	regID := a.Body["registration_id"].(string)
	candID := a.Body["candidate_id"].(string)
	wfID := a.Body["workflow_id"].(string)
	key := "candidate-" + candID
	desc, err := env.temporal.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	lifecycleRun := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	url := "/v1/registrations/" + regID
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, today)
	if s := doAt(t, apiSrv.URL, http.MethodPost, url+"/answer-sheets", "application/json", []byte(mustJSON(map[string]any{
		"part": "test", "form_id": form, "key_version": 1, "submitted_at": now.Format(time.RFC3339), "answers": answersFor(36, 30)})), nil); s.Status != 202 {
		t.Fatalf("submit: %d %s", s.Status, s.Raw)
	}

	// The result becomes final and the first worker publishes it: the
	// registry has the request, held by the slowdown.
	eventually(t, 3*time.Minute, func() error {
		if n := sim.PublishRequests(key); n == 0 {
			return fmt.Errorf("no publish request yet (stages %v)", stageHistory(t, regID))
		}
		return nil
	})
	// In the middle: sent, not stored by the registry, not recorded by examflow.
	if pubs := sim.Publications(); len(pubs) != 0 {
		t.Fatalf("published before the slow request finished: %+v", pubs)
	}
	if n := publishDisclosures(t, candID); n != 0 {
		t.Fatalf("%d publish disclosures while the publication is in flight", n)
	}

	t.Logf("publish request in flight; killing the first worker (pid %d)", first.cmd.Process.Pid)
	first.kill(t)
	// The killed worker's request is not withdrawn: like a real registry
	// that already has the request, the simulator finishes it when its
	// delay ends (Go's server does not notice the client's death before it
	// reads the body) and stores the publication, which examflow never
	// learns of nor records. The retry must still not duplicate it.
	sim.Slow(0)

	// A new worker process takes over. Temporal retries the activity once
	// the killed attempt's StartToCloseTimeout (30s) has passed.
	startWorkerProcess(t, "second worker", bin, workerEnv)
	t.Log("second worker started")
	eventually(t, 4*time.Minute, func() error {
		if st := stageHistory(t, regID); !slices.Contains(st, string(cases.StagePublished)) {
			return fmt.Errorf("stages %v, %d publish requests", st, sim.PublishRequests(key))
		}
		return nil
	})
	t.Log("published")
	// Close waits for every request the simulator is still handling, the
	// killed worker's included, so what it holds now is final.
	simSrv.Close()

	// The registry holds the result once, under the candidate's key.
	pubs := sim.Publications()
	if len(pubs) != 1 || pubs[0].Key != key || pubs[0].NationalID != p.NationalID || len(pubs[0].Results) != 1 ||
		pubs[0].Results[0].TestType != "citizenship" || pubs[0].Results[0].Part != "test" || pubs[0].Results[0].Result != "passed" {
		t.Fatalf("publications = %+v", pubs)
	}
	// It got the publication twice, from the killed worker and from the
	// retry; the publication key made the second replace the first.
	if n := sim.PublishRequests(key); n < 2 {
		t.Fatalf("%d publish requests, want the killed one and the retry", n)
	}
	// examflow records one disclosure of it.
	if n := publishDisclosures(t, candID); n != 1 {
		t.Fatalf("%d publish disclosures, want 1", n)
	}
	ds, err := env.store.Disclosures(ctx, uuid.MustParse(candID))
	if err != nil || len(ds) != 1 || ds[0].Reference != key {
		t.Fatalf("disclosures = %+v, %v", ds, err)
	}

	// The lifecycle run's history: PublishResults scheduled once, its second
	// attempt (the first died with the worker) completed once.
	var scheduled []int64
	var completed int
	var attempt int32
	iter := env.temporal.GetWorkflowHistory(ctx, wfID, lifecycleRun, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == "PublishResults" {
				scheduled = append(scheduled, ev.GetEventId())
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if st := ev.GetActivityTaskStartedEventAttributes(); slices.Contains(scheduled, st.GetScheduledEventId()) {
				attempt = st.GetAttempt()
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if slices.Contains(scheduled, ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()) {
				completed++
			}
		}
	}
	if len(scheduled) != 1 || completed != 1 || attempt < 2 {
		t.Fatalf("PublishResults in the history: scheduled %d, completed %d, last attempt %d; want 1, 1, at least 2",
			len(scheduled), completed, attempt)
	}

	// What the API shows (it asks the running workflow, now in its
	// retention phase, served by the second worker).
	eventually(t, time.Minute, func() error {
		g := doAt(t, apiSrv.URL, http.MethodGet, url, "", nil, nil)
		stages, _ := g.Body["stages"].([]any)
		if g.Status != 200 || !slices.Contains(stages, any(string(cases.StagePublished))) {
			return fmt.Errorf("registration view: %d %s", g.Status, g.Raw)
		}
		return nil
	})
}

// stageHistory lists the stages a registration has entered, from PostgreSQL.
func stageHistory(t *testing.T, regID string) []string {
	t.Helper()
	st, err := env.store.StageHistory(context.Background(), uuid.MustParse(regID))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func publishDisclosures(t *testing.T, candID string) int {
	t.Helper()
	return rowCount(t, `SELECT count(*) FROM disclosures WHERE candidate_id = $1 AND action = 'publish'`, candID)
}

// keyList formats old keys as EXAMFLOW_*_OLD_KEYS expects them: id=hex,...
func keyList(keys map[string]string) string {
	var out []string
	for id, k := range keys {
		out = append(out, id+"="+k)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// workerProcessEnv is the environment of an `examflow worker` process on the
// test stack: its own task queue, a registry simulator, the stack's keys (so
// both sides read the same rows and encrypted payloads), the appeal window
// shortened to seconds and no pass-rate holds; extra entries come last and win.
func workerProcessEnv(t *testing.T, queue, registryURL, clientID, secret string, extra ...string) []string {
	t.Helper()
	cfg := env.cfg
	out := []string{
		"EXAMFLOW_DATABASE_URL=" + cfg.DatabaseURL,
		"EXAMFLOW_TEMPORAL_ADDRESS=" + cfg.TemporalAddress,
		"EXAMFLOW_TEMPORAL_NAMESPACE=" + cfg.TemporalNamespace,
		"EXAMFLOW_TASK_QUEUE=" + queue,
		"EXAMFLOW_WORKER_ADDR=127.0.0.1:0",
		"EXAMFLOW_MINIO_ENDPOINT=" + cfg.MinIO.Endpoint,
		"EXAMFLOW_MINIO_ACCESS_KEY=" + cfg.MinIO.AccessKey,
		"EXAMFLOW_MINIO_SECRET_KEY=" + cfg.MinIO.SecretKey,
		"EXAMFLOW_MINIO_BUCKET=" + cfg.MinIO.Bucket,
		fmt.Sprintf("EXAMFLOW_MINIO_TLS=%t", cfg.MinIO.UseTLS),
		"EXAMFLOW_REGISTRY_URL=" + registryURL,
		"EXAMFLOW_REGISTRY_TOKEN_URL=" + registryURL + "/oauth/token",
		"EXAMFLOW_REGISTRY_CLIENT_ID=" + clientID,
		"EXAMFLOW_REGISTRY_CLIENT_SECRET=" + secret,
		"EXAMFLOW_LOOKUP_KEY=" + cfg.LookupKeyHex,
		"EXAMFLOW_LINK_KEY=" + cfg.LinkKeyHex,
		"EXAMFLOW_PAYLOAD_KEY=" + cfg.PayloadKeyHex,
		"EXAMFLOW_PAYLOAD_KEY_ID=" + cfg.PayloadKeyID,
		"EXAMFLOW_MASTER_KEY=" + cfg.MasterKeyHex,
		"EXAMFLOW_MASTER_KEY_ID=" + cfg.MasterKeyID,
		"EXAMFLOW_FINAL_AFTER=2s",
		"EXAMFLOW_PASS_RATE_MIN_SAMPLE=1000000",
	}
	if len(cfg.PayloadOldKeys) > 0 {
		out = append(out, "EXAMFLOW_PAYLOAD_OLD_KEYS="+keyList(cfg.PayloadOldKeys))
	}
	if len(cfg.MasterOldKeys) > 0 {
		out = append(out, "EXAMFLOW_MASTER_OLD_KEYS="+keyList(cfg.MasterOldKeys))
	}
	return append(out, extra...)
}
