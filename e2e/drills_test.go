package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/notify"
	"github.com/examflow/examflow/process"
	"github.com/examflow/examflow/registry"
)

// drillSize is how many lifecycles the failure drill runs: a short form in
// every test run, 200 with `make drills` (EXAMFLOW_DRILL_LIFECYCLES).
func drillSize() int {
	if n, err := strconv.Atoi(os.Getenv("EXAMFLOW_DRILL_LIFECYCLES")); err == nil && n > 0 {
		return n
	}
	return 12
}

// drillClients is how many clients register and submit at once.
const drillClients = 4

// TestFailureDrills runs lifecycles, from several clients at once, while
// the worker process is killed with SIGKILL at random moments and
// restarted, and while the Temporal dev server, MinIO and PostgreSQL are
// each restarted. While PostgreSQL is down
// the API answers 503 with Retry-After and recovers by itself. Afterwards
// every lifecycle has reached its retention phase and its address deletion,
// with exactly one publication, one result notice and one deletion record
// per candidate: nothing lost, nothing duplicated.
func TestFailureDrills(t *testing.T) {
	ctx := context.Background()
	n := drillSize()
	bin := examflowBinary(t)
	sim := registry.NewSimulator("examflow-drill", "drill-secret")
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	sink := newSMTPSink(t)
	queue := "examflow-drill-" + uuid.NewString()[:8]
	now := time.Now().UTC()
	today := now.Format(time.DateOnly)
	// The address is deleted about a minute from now; everything else later.
	addressAfter := now.Sub(now.Truncate(24*time.Hour)) + 60*time.Second
	host, port := sink.config().Host, sink.config().Port
	workerEnv := workerProcessEnv(t, queue, simSrv.URL, "examflow-drill", "drill-secret",
		"EXAMFLOW_SMTP_HOST="+host, fmt.Sprintf("EXAMFLOW_SMTP_PORT=%d", port),
		fmt.Sprintf("EXAMFLOW_RETENTION_PERIODS=address=%s,personal_data=72h,payment_status=72h,cheating=72h,audio=72h", addressAfter),
		"EXAMFLOW_HOLD_RECHECK=2s")

	// The chaos: a worker process killed at random moments and a new one
	// started. A worker also ends by itself when Temporal restarts under it
	// (a fatal poll error): it is replaced the same way. On the cluster
	// stack two workers run and one of them, chosen at random, is killed
	// while the other keeps going.
	nWorkers := 1
	if clusterMode() {
		nWorkers = 2
	}
	var mu sync.Mutex
	workers := make([]*workerProcess, nWorkers)
	kills, started := 0, 0
	respawn := func(i int) {
		for {
			started++
			w, err := spawnWorkerProcess(fmt.Sprintf("drill worker %d", started), bin, workerEnv)
			if err == nil {
				workers[i] = w
				return
			}
			time.Sleep(time.Second)
		}
	}
	for i := range workers {
		respawn(i)
	}
	stopChaos := make(chan struct{})
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		for {
			select {
			case <-stopChaos:
				return
			case <-time.After(time.Duration(1500+rand.IntN(3500)) * time.Millisecond):
			}
			mu.Lock()
			i := rand.IntN(nWorkers)
			_ = workers[i].cmd.Process.Kill()
			<-workers[i].done
			kills++
			respawn(i)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range workers {
			w.stop()
		}
	})
	// stableWorker makes sure the workers run once the chaos is over.
	stableWorker := func() {
		mu.Lock()
		defer mu.Unlock()
		for i, w := range workers {
			select {
			case <-w.done:
				respawn(i)
			default:
			}
		}
	}

	// The API: in-process on the dev stack; two `examflow api` processes on
	// the cluster stack, of which one is killed with SIGKILL while the
	// clients fail over to the other, and started again later.
	var apis []*apiProcess
	var apiURLs []string
	if clusterMode() {
		for i := range 2 {
			a := startAPIProcess(t, fmt.Sprintf("drill api %d", i+1), bin, workerEnv)
			apis = append(apis, a)
			apiURLs = append(apiURLs, a.url)
		}
	} else {
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		apiSrv := httptest.NewServer(api.New(api.Deps{Store: env.store, Tokens: env.store, Temporal: env.temporal, TaskQueue: queue, Logger: quiet,
			Registry: process.NewRegistry(), Catalogue: env.catalogue,
			Ready: func(ctx context.Context) error { return process.Ready(ctx, env.store, env.temporal) }}))
		t.Cleanup(apiSrv.Close)
		apiURLs = []string{apiSrv.URL}
	}
	// call sends a request to the replicas in turn, starting at the i-th,
	// and fails over to the next where one cannot be reached.
	var failovers atomic.Int64
	call := func(t *testing.T, i int, method, path string, body []byte, headers map[string]string) answer {
		t.Helper()
		var last error
		for k := range len(apiURLs) * 3 {
			a, err := tryAt(apiURLs[(i+k)%len(apiURLs)], method, path, "application/json", body, headers)
			if err == nil {
				checkAnswer(t, a)
				return a
			}
			last = err
			failovers.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s %s: no replica answered: %v", method, path, last)
		return answer{}
	}
	centre := uniqueCentre()
	sessionFor(t, "citizenship", centre, today)
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, today)

	// An object in MinIO must survive its restart.
	probe := "drill/" + uuid.NewString()
	if _, err := env.objects.Client().PutObject(ctx, env.objects.Bucket(), probe, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.objects.Client().RemoveObject(ctx, env.objects.Bucket(), probe, minio.RemoveObjectOptions{})
	})

	// Register and submit from several clients at once, retrying what a
	// restart refuses (503): the client's part of "nothing lost". The
	// services are restarted as the registrations pass a quarter, a half
	// and three quarters of n.
	type cand struct{ reg, candidate, email string }
	cands := make([]cand, n)
	var unavailable atomic.Int64
	retry := func(f func() answer, want int) answer {
		var a answer
		for range 120 {
			if a = f(); a.Status == want {
				return a
			}
			if a.Status == http.StatusServiceUnavailable {
				unavailable.Add(1)
			}
			time.Sleep(500 * time.Millisecond)
		}
		return a
	}
	// people are n distinct fictional persons (no national ID or e-mail
	// address twice), so every count below is per person.
	people := make([]person, 0, n)
	seen := map[string]bool{}
	for len(people) < n {
		p := newPerson(t)
		if !seen[p.NationalID] && !seen[p.Email] {
			seen[p.NationalID], seen[p.Email] = true, true
			people = append(people, p)
		}
	}
	var next, registered, clientsDone atomic.Int64
	t.Run("lifecycles", func(t *testing.T) {
		t.Run("restarts", func(t *testing.T) {
			t.Parallel()
			plan := []struct {
				after int
				svc   string
			}{{n / 4, "temporal"}, {n / 2, "minio"}, {3 * n / 4, "postgres"}}
			if clusterMode() {
				plan = append([]struct {
					after int
					svc   string
				}{{n / 8, "kill-api"}, {3 * n / 8, "start-api"}}, plan...)
				slices.SortStableFunc(plan, func(a, b struct {
					after int
					svc   string
				}) int {
					return a.after - b.after
				})
			}
			for _, r := range plan {
				for int(registered.Load()) < r.after {
					if clientsDone.Load() == drillClients {
						return // a client failed; it says why
					}
					time.Sleep(100 * time.Millisecond)
				}
				switch r.svc {
				case "kill-api":
					apis[0].kill(t)
					continue
				case "start-api":
					apis[0] = startAPIProcess(t, "drill api 1 (again)", bin, workerEnv)
					apiURLs[0] = apis[0].url
					continue
				}
				if r.svc == "postgres" {
					for _, u := range apiURLs {
						pgDrill(t, u)
					}
				} else if err := env.stack.RestartService(ctx, r.svc); err != nil {
					t.Fatalf("restart %s: %v", r.svc, err)
				}
			}
		})
		for c := range drillClients {
			t.Run(fmt.Sprintf("client-%d", c), func(t *testing.T) {
				t.Parallel()
				defer clientsDone.Add(1)
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					p := people[i]
					idem := "drill-" + uuid.NewString()
					a := retry(func() answer {
						return call(t, i, http.MethodPost, "/v1/registrations", []byte(mustJSON(p.registration("citizenship", centre, today))),
							map[string]string{"Idempotency-Key": idem})
					}, http.StatusCreated)
					if a.Status != http.StatusCreated {
						t.Fatalf("register %d: %d %s", i, a.Status, a.Raw)
					}
					reg := a.Body["registration_id"].(string)
					cands[i] = cand{reg, a.Body["candidate_id"].(string), p.Email}
					sheet := []byte(mustJSON(map[string]any{"part": "test", "form_id": form, "key_version": 1,
						"submitted_at": time.Now().UTC().Format(time.RFC3339), "answers": answersFor(36, 30)}))
					s := retry(func() answer {
						return call(t, i+1, http.MethodPost, "/v1/registrations/"+reg+"/answer-sheets", sheet,
							map[string]string{"Idempotency-Key": "sheet-" + idem})
					}, http.StatusAccepted)
					if s.Status != http.StatusAccepted {
						t.Fatalf("submit %d: %d %s", i, s.Status, s.Raw)
					}
					registered.Add(1)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	// Let the chaos run a little longer, then leave one worker running.
	time.Sleep(5 * time.Second)
	close(stopChaos)
	<-chaosDone
	stableWorker()

	// Every lifecycle reaches retention and its address deletion.
	regIDs := make([]uuid.UUID, n)
	for i, c := range cands {
		regIDs[i] = uuid.MustParse(c.reg)
	}
	eventually(t, 5*time.Minute, func() error {
		done := rowCount(t, `SELECT count(DISTINCT registration_id) FROM deletion_records WHERE category = 'address' AND registration_id = ANY($1)`, regIDs)
		if done != n {
			return fmt.Errorf("%d of %d lifecycles have deleted the address", done, n)
		}
		return nil
	})
	if d := rowCount(t, `SELECT count(*) FROM deletion_records WHERE registration_id = ANY($1)`, regIDs); d != n {
		t.Errorf("%d deletion records for %d lifecycles (one address deletion each)", d, n)
	}
	published := 0
	for _, c := range cands {
		if pubs := rowCount(t, `SELECT count(*) FROM disclosures WHERE candidate_id = $1 AND action = 'publish'`, uuid.MustParse(c.candidate)); pubs != 1 {
			t.Errorf("candidate %s: %d publication records, want 1", c.candidate, pubs)
		}
		if _, ok := publicationOf(sim, c.candidate); ok {
			published++
		}
		if notes := rowCount(t, `SELECT count(*) FROM notification_outbox WHERE registration_id = $1 AND kind = 'result_ready'`, uuid.MustParse(c.reg)); notes != 1 {
			t.Errorf("registration %s: %d result notices, want 1", c.reg, notes)
		}
	}
	if published != n || len(sim.Publications()) != n {
		t.Errorf("%d candidates published, %d publications at the registry; want %d", published, len(sim.Publications()), n)
	}
	// The notices reach the mail server; SMTP delivery is at least once (a
	// worker killed between the server's acceptance and the sent mark sends
	// again), so resends are counted, not refused, and a resend is the same
	// message: it carries the first one's Message-ID.
	// A worker killed between claiming a batch and sending it (or a
	// PostgreSQL outage there) leaves the batch leased: it goes out when the
	// lease ends, so the wait covers one lease.
	var delivered, resent int
	eventually(t, notify.DefaultLease+time.Minute, func() error {
		delivered, resent = 0, 0
		var missing []string
		for _, c := range cands {
			if got := len(sink.to(c.email)); got > 0 {
				delivered++
				resent += got - 1
			} else {
				missing = append(missing, outboxState(t, c.reg))
			}
		}
		if delivered != n {
			return fmt.Errorf("%d of %d result notices delivered; not delivered: %s", delivered, n, strings.Join(missing, "; "))
		}
		return nil
	})
	for _, c := range cands {
		ids := map[string]bool{}
		for _, m := range sink.to(c.email) {
			ids[messageID(t, m)] = true
		}
		if len(ids) != 1 {
			t.Errorf("the result notice of registration %s went out under %d Message-IDs, want 1", c.reg, len(ids))
		}
	}
	if _, err := env.objects.Client().StatObject(ctx, env.objects.Bucket(), probe, minio.StatObjectOptions{}); err != nil {
		t.Errorf("an object was lost in the MinIO restart: %v", err)
	}
	stack := "dev server; one worker process, one API"
	if clusterMode() {
		stack = "Temporal Server cluster; two worker processes, two API processes (one killed and started again)"
	}
	verdict := "lost 0, duplicated 0"
	if t.Failed() {
		verdict = "FAILED: see the errors above"
	}
	t.Logf("drill (%s): %d lifecycles completed to retention; %d worker kills; temporal, minio and postgres restarted; %d answers 503 retried; "+
		"%d requests failed over to another API; %d publications (one each), %d address deletions (one each), %d notices delivered (%d resent); %s",
		stack, n, kills, unavailable.Load(), failovers.Load(), published, n, delivered, resent, verdict)
}

// outboxState describes the result notice of a registration for a failure
// message: IDs, counts and times only.
func outboxState(t *testing.T, reg string) string {
	t.Helper()
	var attempts int
	var state, lastError string
	var dueIn float64
	err := env.pool.QueryRow(context.Background(), `SELECT attempts,
		CASE WHEN sent_at IS NOT NULL THEN 'sent' WHEN failed_at IS NOT NULL THEN 'failed' ELSE 'pending' END,
		COALESCE(last_error, ''), EXTRACT(EPOCH FROM next_attempt_at - now())::float8
		FROM notification_outbox WHERE registration_id = $1 AND kind = 'result_ready'`, uuid.MustParse(reg)).Scan(&attempts, &state, &lastError, &dueIn)
	if err != nil {
		return fmt.Sprintf("registration %s: %v", reg, err)
	}
	return fmt.Sprintf("registration %s: %s, %d attempts, due in %.0fs, last error %q", reg, state, attempts, dueIn, lastError)
}

// pgDrill stops PostgreSQL: the API answers 503 with Retry-After, and once
// PostgreSQL is back it recovers by itself.
func pgDrill(t *testing.T, apiURL string) {
	t.Helper()
	if err := env.stack.StopService("postgres"); err != nil {
		t.Fatal(err)
	}
	started := false
	defer func() {
		if !started {
			_ = env.stack.StartService(context.Background(), "postgres")
		}
	}()
	for _, path := range []string{"/readyz", "/v1/registrations/00000000-0000-0000-0000-000000000001"} {
		var a answer
		eventually(t, 30*time.Second, func() error {
			a = doAt(t, apiURL, http.MethodGet, path, "", nil, nil)
			if a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") == "" {
				return fmt.Errorf("%s: %d, want 503 with Retry-After", path, a.Status)
			}
			return nil
		})
	}
	if err := env.stack.StartService(context.Background(), "postgres"); err != nil {
		t.Fatal(err)
	}
	started = true
	eventually(t, 60*time.Second, func() error {
		if a := doAt(t, apiURL, http.MethodGet, "/readyz", "", nil, nil); a.Status != http.StatusOK {
			return fmt.Errorf("readyz %d after PostgreSQL came back", a.Status)
		}
		return nil
	})
}

// messageID is the Message-ID header of a message the sink received.
func messageID(t *testing.T, m sinkMessage) string {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("read a received message: %v", err)
	}
	return msg.Header.Get("Message-ID")
}
