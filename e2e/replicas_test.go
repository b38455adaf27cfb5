package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/examflow/examflow/deploy/devstack"
)

// replicas are the processes the cluster stack runs beside the in-process
// worker and API: examflow deployed with two of each.
var replicas struct {
	worker *workerProcess
	api    *apiProcess
	// workerOps is the second worker's ops address (/metrics).
	workerOps string
	// firstAPI serves the in-process API alone (its /metrics).
	firstAPI *httptest.Server
}

// startReplicas starts a second worker process on the suite's task queue
// and a second API process, and serves env.api as a load balancer that
// sends requests to the in-process API and the API process in turn. Both
// processes read the configuration this process set in its environment;
// their logs go to env.apiLogs with the in-process API's.
func startReplicas(ctx context.Context, handler http.Handler, registryURL string) error {
	bin, err := buildExamflow()
	if err != nil {
		return err
	}
	opsPort, err := devstack.FreePort()
	if err != nil {
		return err
	}
	replicas.workerOps = fmt.Sprintf("127.0.0.1:%d", opsPort)
	common := []string{"EXAMFLOW_LOG_LEVEL=debug",
		"EXAMFLOW_REGISTRY_URL=" + registryURL, "EXAMFLOW_REGISTRY_TOKEN_URL=" + registryURL + "/oauth/token",
		"EXAMFLOW_REGISTRY_CLIENT_ID=examflow", "EXAMFLOW_REGISTRY_CLIENT_SECRET=secret"}
	// The tests drain the notification outbox themselves, into mail sinks
	// of their own; the in-process worker does not drain it either.
	w, err := spawnWorkerProcess("second worker", bin, append(common, "EXAMFLOW_WORKER_ADDR="+replicas.workerOps, "EXAMFLOW_OUTBOX_DRAIN=false"))
	if err != nil {
		return err
	}
	replicas.worker = w

	a, err := spawnAPIProcess("second API", bin, common, env.apiLogs)
	if err != nil {
		return err
	}
	replicas.api = a
	apiAddr := a.addr
	replicas.firstAPI = httptest.NewServer(handler)
	second := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: apiAddr})
	var n atomic.Uint64
	env.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			second.ServeHTTP(w, r)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	return nil
}

// stopReplicas stops the replica processes.
func stopReplicas() {
	if replicas.worker != nil {
		replicas.worker.stop()
	}
	if replicas.api != nil {
		replicas.api.stop()
	}
	if replicas.firstAPI != nil {
		replicas.firstAPI.Close()
	}
}

// apiMetricsURLs are the /metrics pages of every API replica.
func apiMetricsURLs() []string {
	if replicas.api == nil {
		return []string{env.api.URL + "/metrics"}
	}
	return []string{replicas.firstAPI.URL + "/metrics", replicas.api.url + "/metrics"}
}

// workerMetricsURLs are the /metrics pages of every worker replica, the
// in-process worker's (served at inProcess) first.
func workerMetricsURLs(inProcess string) []string {
	if replicas.worker == nil {
		return []string{inProcess}
	}
	return []string{inProcess, "http://" + replicas.workerOps + "/metrics"}
}

// scrapeAll scrapes each page and puts their samples together, as
// Prometheus sums a counter over replicas.
func scrapeAll(t *testing.T, urls ...string) scrape {
	t.Helper()
	all := scrape{help: map[string]string{}}
	for _, u := range urls {
		s := scrapeMetrics(t, u)
		all.raw += s.raw
		for k, v := range s.help {
			all.help[k] = v
		}
		all.samples = append(all.samples, s.samples...)
	}
	return all
}

// apiProcess is an `examflow api` process.
type apiProcess struct {
	name, addr, url string
	cmd             *exec.Cmd
	done            chan struct{}
}

// startAPIProcess runs `examflow api` with env on top of this process's
// environment, on a free port, and waits until it is ready.
func startAPIProcess(t *testing.T, name, bin string, env []string) *apiProcess {
	t.Helper()
	out := &syncBuffer{}
	a, err := spawnAPIProcess(name, bin, env, out)
	if a != nil {
		t.Cleanup(func() {
			a.stop()
			if t.Failed() {
				t.Logf("%s output:\n%s", name, out.String())
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// spawnAPIProcess is startAPIProcess without the testing.T; its output goes
// to out.
func spawnAPIProcess(name, bin string, env []string, out io.Writer) (*apiProcess, error) {
	apiPort, err := devstack.FreePort()
	if err != nil {
		return nil, err
	}
	codecPort, err := devstack.FreePort()
	if err != nil {
		return nil, err
	}
	a := &apiProcess{name: name, addr: fmt.Sprintf("127.0.0.1:%d", apiPort), done: make(chan struct{})}
	a.url = "http://" + a.addr
	a.cmd = exec.Command(bin, "api")
	a.cmd.Env = append(os.Environ(), append(env, "EXAMFLOW_API_ADDR="+a.addr, fmt.Sprintf("EXAMFLOW_CODEC_LOCAL_ADDR=127.0.0.1:%d", codecPort))...)
	a.cmd.Stdout, a.cmd.Stderr = out, out
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := a.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		select {
		case <-a.done:
			return a, fmt.Errorf("%s exited while starting", name)
		default:
		}
		if resp, err := http.Get(a.url + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a, nil
			}
		}
	}
	a.stop()
	return a, fmt.Errorf("%s did not become ready in a minute", name)
}

// kill sends SIGKILL, as a lost node would, and waits for the process to
// be gone.
func (a *apiProcess) kill(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", a.name, err)
	}
	<-a.done
}

// stop asks the process to shut down and waits for it.
func (a *apiProcess) stop() {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}
