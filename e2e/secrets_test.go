package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// productionEnv is the environment of a process started by hand outside
// development: nothing of the test stack's EXAMFLOW_* settings (so not its
// development switch either), every secret a fresh random value, then
// extra (later entries win).
func productionEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EXAMFLOW_") {
			out = append(out, kv)
		}
	}
	random := func(n int) string {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	for _, v := range []string{"EXAMFLOW_LOOKUP_KEY", "EXAMFLOW_LINK_KEY", "EXAMFLOW_PAYLOAD_KEY", "EXAMFLOW_MASTER_KEY"} {
		out = append(out, v+"="+random(32))
	}
	out = append(out, "EXAMFLOW_MINIO_SECRET_KEY="+random(20), "EXAMFLOW_REGISTRY_CLIENT_SECRET="+random(20),
		// Nothing may listen if the process starts after all.
		fmt.Sprintf("EXAMFLOW_API_ADDR=127.0.0.1:%d", closedPort(t)), fmt.Sprintf("EXAMFLOW_WORKER_ADDR=127.0.0.1:%d", closedPort(t)))
	return append(out, extra...)
}

// TestProcessesRefuseDevelopmentSecrets: the real `examflow api`, `worker`
// and `migrate` started outside development with one secret missing or set
// to a published value (docker-compose.yml's old placeholder, an earlier
// default) exit at once with status 1 and an error that names the variable
// and how to make one; OIDC without an audience is refused the same way.
func TestProcessesRefuseDevelopmentSecrets(t *testing.T) {
	bin := examflowBinary(t)
	tests := []struct {
		name    string
		env     []string
		refused string // the variable the error names
		hint    string
	}{
		{"lookup key, the compose placeholder", []string{"EXAMFLOW_LOOKUP_KEY=5265706c6163652d6d652d776974682d6f70656e73736c2d72616e642d686578"},
			"EXAMFLOW_LOOKUP_KEY", "openssl rand -hex 32"},
		{"master key, the earlier default", []string{"EXAMFLOW_MASTER_KEY=6465762d6f6e6c792d6d61737465722d6b65792d6368616e67652d6d65212121"},
			"EXAMFLOW_MASTER_KEY", "openssl rand -hex 32"},
		{"link key missing", []string{"EXAMFLOW_LINK_KEY="}, "EXAMFLOW_LINK_KEY", "openssl rand -hex 32"},
		{"MinIO secret, the development one", []string{"EXAMFLOW_MINIO_SECRET_KEY=examflow-dev-secret"}, "EXAMFLOW_MINIO_SECRET_KEY", "openssl rand"},
		{"OIDC without an audience", []string{"EXAMFLOW_OIDC_ISSUER=https://login.example.no", "EXAMFLOW_OIDC_JWKS_URL=https://login.example.no/jwks"},
			"EXAMFLOW_OIDC_AUDIENCE", "client ID"},
	}
	for _, command := range []string{"api", "worker", "migrate"} {
		for _, tt := range tests {
			t.Run(command+", "+tt.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, command)
				cmd.Env = productionEnv(t, tt.env...)
				out, err := cmd.CombinedOutput()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 1 {
					t.Fatalf("examflow %s: %v, want exit status 1\n%s", command, err, out)
				}
				if !strings.Contains(string(out), tt.refused) || !strings.Contains(string(out), tt.hint) {
					t.Errorf("examflow %s does not name %s and %q:\n%s", command, tt.refused, tt.hint, out)
				}
			})
		}
	}
}

// TestDevelopmentSwitchIsLogged: a real worker started on the development
// secrets with EXAMFLOW_DEV_SECRETS=allow runs, and its first log record is
// the warning.
func TestDevelopmentSwitchIsLogged(t *testing.T) {
	bin := examflowBinary(t)
	e := workerProcessEnv(t, "examflow-dev-switch", fmt.Sprintf("http://127.0.0.1:%d", closedPort(t)), "examflow", "",
		"EXAMFLOW_DEV_SECRETS=allow")
	w := startWorkerProcess(t, "worker on development secrets", bin, e)
	first, _, _ := strings.Cut(w.out.String(), "\n")
	var rec map[string]any
	if err := json.Unmarshal([]byte(first), &rec); err != nil {
		t.Fatalf("first line %q: %v", first, err)
	}
	if msg, _ := rec["msg"].(string); rec["level"] != "WARN" || !strings.Contains(msg, "EXAMFLOW_DEV_SECRETS=allow") {
		t.Errorf("first record = %s", first)
	}
}
