package e2e

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/examflow/examflow/marking"
)

// portWithPartner finds a free port p whose partner p+offset is free too
// (MinIO's console is S3+1, the Temporal UI is frontend+1000).
func portWithPartner(t *testing.T, offset int) int {
	t.Helper()
	for range 200 {
		p := 20000 + rand.IntN(20000)
		if portFree(p) && portFree(p+offset) {
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// devProcess is a running `examflow dev`, as `make run` starts it.
type devProcess struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func startDev(t *testing.T, bin string, env []string) *devProcess {
	t.Helper()
	cmd := exec.Command(bin, "dev")
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	d := &devProcess{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			_, _ = d.out.Write(append(sc.Bytes(), '\n'))
			if !once && strings.Contains(sc.Text(), "examflow is running") {
				once = true
				close(ready)
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait(); _ = pw.Close() }()
	select {
	case <-ready:
	case err := <-d.done:
		t.Fatalf("examflow dev exited: %v\n%s", err, d.out.String())
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("examflow dev did not come up:\n%s", d.out.String())
	}
	return d
}

func (d *devProcess) interrupt(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("examflow dev exited with %v after Ctrl-C:\n%s", err, d.out.String())
		}
	case <-time.After(90 * time.Second):
		_ = d.cmd.Process.Kill()
		t.Fatalf("examflow dev did not stop after Ctrl-C:\n%s", d.out.String())
	}
}

// TestDevStackLikeMakeRun runs `examflow dev`, what `make run` runs, on free
// ports: the stack comes up, a registration shows under
// `temporal workflow list --query 'Stage="Registered"'`, Ctrl-C stops every
// process, and a second start keeps the data.
func TestDevStackLikeMakeRun(t *testing.T) {
	tools := os.Getenv("EXAMFLOW_TOOLS_DIR")
	if tools == "" {
		tools, _ = filepath.Abs("../.tools/bin")
	}
	bin := examflowBinary(t)
	dir, err := os.MkdirTemp("", "examflow-dev-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	pg := portWithPartner(t, 0)
	minio := portWithPartner(t, 1)
	temporal := portWithPartner(t, 1000)
	apiPort := portWithPartner(t, 0)
	workerPort := portWithPartner(t, 0)
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	simAddr := fmt.Sprintf("127.0.0.1:%d", portWithPartner(t, 0))
	temporalAddr := fmt.Sprintf("127.0.0.1:%d", temporal)
	codecAddr := fmt.Sprintf("127.0.0.1:%d", portWithPartner(t, 0))
	devEnv := []string{
		"EXAMFLOW_CODEC_LOCAL_ADDR=" + codecAddr,
		fmt.Sprintf("EXAMFLOW_DATABASE_URL=postgres://examflow@127.0.0.1:%d/examflow?sslmode=disable", pg),
		fmt.Sprintf("EXAMFLOW_MINIO_ENDPOINT=127.0.0.1:%d", minio),
		"EXAMFLOW_TEMPORAL_ADDRESS=" + temporalAddr,
		"EXAMFLOW_TASK_QUEUE=examflow",
		fmt.Sprintf("EXAMFLOW_API_ADDR=127.0.0.1:%d", apiPort),
		fmt.Sprintf("EXAMFLOW_WORKER_ADDR=127.0.0.1:%d", workerPort),
		fmt.Sprintf("EXAMFLOW_SMTP_PORT=%d", portWithPartner(t, 0)),
		"EXAMFLOW_REGISTRY_SIM_ADDR=" + simAddr,
		"EXAMFLOW_DEV_DIR=" + dir,
		"EXAMFLOW_TOOLS_DIR=" + tools,
		// Zero set-up, as for make run: no secret and no development
		// switch (the test process has them; later entries win).
		"EXAMFLOW_DEV_SECRETS=", "EXAMFLOW_LOOKUP_KEY=", "EXAMFLOW_LINK_KEY=", "EXAMFLOW_PAYLOAD_KEY=", "EXAMFLOW_MASTER_KEY=",
		"EXAMFLOW_MINIO_SECRET_KEY=", "EXAMFLOW_REGISTRY_CLIENT_SECRET=",
		// make run's dev server serves no TLS (the cluster stack's does).
		"EXAMFLOW_TEMPORAL_TLS=false", "EXAMFLOW_TEMPORAL_TLS_CA=", "EXAMFLOW_TEMPORAL_TLS_SERVER_NAME=",
		// make run links to its own Temporal UI, not the test stack's.
		"EXAMFLOW_TEMPORAL_UI_URL=",
	}

	d := startDev(t, bin, devEnv)
	// It runs on the public development secrets, and every process says so.
	const devWarning = `EXAMFLOW_DEV_SECRETS=allow: running on public development secrets`
	if !strings.Contains(d.out.String(), devWarning) {
		t.Errorf("examflow dev does not warn of its development secrets:\n%s", d.out.String())
	}
	for _, name := range []string{"api", "worker", "registry-sim"} {
		b, err := os.ReadFile(filepath.Join(dir, "logs", name+".log"))
		if err != nil || !strings.Contains(string(b), devWarning) {
			t.Errorf("the %s log does not warn of development secrets (%v)", name, err)
		}
	}
	for _, want := range []string{apiURL + "/openapi.yaml", fmt.Sprintf("http://127.0.0.1:%d", temporal+1000), "curl"} {
		if !strings.Contains(d.out.String(), want) {
			t.Errorf("the banner does not show %s", want)
		}
	}
	for _, url := range []string{fmt.Sprintf("http://127.0.0.1:%d/", temporal+1000), fmt.Sprintf("http://127.0.0.1:%d/metrics", workerPort),
		"http://" + simAddr + "/v1/publications"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", url, resp.Status)
		}
	}

	// The UI's codec server is the API's token-less one on its own
	// loopback listener; on the API's listener decoding needs a token.
	if !strings.Contains(d.out.String(), "http://"+codecAddr+"/codec") {
		t.Errorf("the banner does not show the codec server %s", codecAddr)
	}
	// The Temporal UI's own API, not examflow's: not checked against the document.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/settings", temporal+1000))
	if err != nil {
		t.Fatal(err)
	}
	settings, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(settings), "http://"+codecAddr+"/codec") {
		t.Errorf("the Temporal UI's codec endpoint is not the local codec server: %s", settings)
	}
	if a := doAt(t, "http://"+codecAddr, http.MethodPost, "/codec/decode", "application/json", []byte(`{"payloads":[]}`), map[string]string{"Authorization": ""}); a.Status != 200 {
		t.Errorf("the local codec server: %d %s", a.Status, a.Raw)
	}
	if a := doAt(t, apiURL, http.MethodPost, "/codec/decode", "application/json", []byte(`{"payloads":[]}`), map[string]string{"Authorization": ""}); a.Status != 401 {
		t.Errorf("the API's codec server without a token: %d %s", a.Status, a.Raw)
	}

	// make run wrote one API key per role; without one the API refuses.
	tokensFile := filepath.Join(dir, "tokens.env")
	tokens := readTokensFile(t, tokensFile)
	if tokens["EXAMFLOW_URL"] != apiURL {
		t.Fatalf("%s gives the API as EXAMFLOW_URL=%q, not %s", tokensFile, tokens["EXAMFLOW_URL"], apiURL)
	}
	auth := func(role string) map[string]string {
		tok := tokens["EXAMFLOW_TOKEN_"+strings.ToUpper(role)]
		if !strings.HasPrefix(tok, "efk_") {
			t.Fatalf("no %s token in %s", role, tokensFile)
		}
		return map[string]string{"Authorization": "Bearer " + tok}
	}
	if a := doAt(t, apiURL, http.MethodGet, "/v1/answer-keys/x", "", nil, map[string]string{"Authorization": ""}); a.Status != 401 {
		t.Fatalf("without a token: %d", a.Status)
	}
	if a := doAt(t, apiURL, http.MethodPost, "/v1/answer-keys", "application/json", []byte("{}"), auth("examiner")); a.Status != 403 {
		t.Fatalf("an examiner creating an answer key: %d", a.Status)
	}

	// An answer key and a session first, then a registration, all over HTTP.
	tv, err := env.catalogue.Version("citizenship", time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	def, _ := tv.Part("test")
	form := "dev-citizenship-" + session
	if a := doAt(t, apiURL, http.MethodPost, "/v1/answer-keys", "application/json", []byte(mustJSON(map[string]any{
		"form_id": form, "test_type": "citizenship", "test_version": tv.Version, "part": "test", "items": marking.FictionalKey(def)})), auth("case_handler")); a.Status != 201 {
		t.Fatalf("answer key: %d %s", a.Status, a.Raw)
	}
	if a := doAt(t, apiURL, http.MethodPost, "/v1/sessions", "application/json", []byte(mustJSON(map[string]any{
		"test_type": "citizenship", "test_centre": "OSLO-VO", "session_date": session, "forms": map[string]string{"test": form}})), auth("integration")); a.Status != 201 {
		t.Fatalf("session: %d %s", a.Status, a.Raw)
	}
	p := newPerson(t)
	reg := doAt(t, apiURL, http.MethodPost, "/v1/registrations", "application/json", []byte(mustJSON(p.registration("citizenship", "OSLO-VO", session))), auth("integration"))
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	regID := reg.Body["registration_id"].(string)

	// A case handler's answer links to the registration's page in make
	// run's Temporal UI, and the UI serves it; an integration's does not.
	link := fmt.Sprintf("http://127.0.0.1:%d/namespaces/default/workflows/registration-%s", temporal+1000, regID)
	eventually(t, 20*time.Second, func() error {
		g := doAt(t, apiURL, http.MethodGet, "/v1/registrations/"+regID, "", nil, auth("case_handler"))
		if g.Status != http.StatusOK || g.Body["temporal_ui_url"] != link {
			return fmt.Errorf("a case handler's registration: %d, temporal_ui_url %v, want %s", g.Status, g.Body["temporal_ui_url"], link)
		}
		return nil
	})
	if g := doAt(t, apiURL, http.MethodGet, "/v1/registrations/"+regID, "", nil, auth("integration")); g.Body["temporal_ui_url"] != nil {
		t.Errorf("an integration's registration links to %v", g.Body["temporal_ui_url"])
	}
	if resp, err := http.Get(link); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the Temporal UI does not serve %s: %v %v", link, resp, err)
	} else {
		_ = resp.Body.Close()
	}

	eventually(t, 20*time.Second, func() error {
		out, err := exec.Command(filepath.Join(tools, "temporal"), "workflow", "list", "--address", temporalAddr,
			"--query", `Stage="Registered"`).CombinedOutput()
		if err != nil {
			return fmt.Errorf("temporal workflow list: %v: %s", err, out)
		}
		if !strings.Contains(string(out), "registration-"+regID) {
			return fmt.Errorf("workflow not listed:\n%s", out)
		}
		return nil
	})

	d.interrupt(t)
	for _, port := range []int{pg, minio, temporal, apiPort, workerPort} {
		if !portFree(port) {
			t.Errorf("port %d still in use after Ctrl-C", port)
		}
	}

	// A second start keeps the data: the registration and its running workflow.
	d = startDev(t, bin, devEnv)
	defer d.interrupt(t)
	// Right after a restart the first query may wait for the old worker's
	// sticky queue to time out; the API answers 503 with Retry-After then.
	if again := readTokensFile(t, tokensFile); again["EXAMFLOW_TOKEN_INTEGRATION"] != tokens["EXAMFLOW_TOKEN_INTEGRATION"] {
		t.Fatal("a restart replaced the API keys that still work")
	}
	eventually(t, 30*time.Second, func() error {
		a, err := tryAt(apiURL, http.MethodGet, "/v1/registrations/"+regID, "", nil, auth("integration"))
		if err != nil {
			return err
		}
		checkAnswer(t, a)
		body := a.Raw
		if a.Status == http.StatusServiceUnavailable && a.Header.Get("Retry-After") != "" {
			return fmt.Errorf("not yet: %s", body)
		}
		if a.Status != 200 || !strings.Contains(string(body), `"stage":"Registered"`) {
			t.Fatalf("after restart: %d %s", a.Status, body)
		}
		return nil
	})
}

// readTokensFile reads the VAR=value lines of make run's tokens.env.
func readTokensFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("%s must be readable by its owner only", path)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}
