package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/examflow/examflow/storage"
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

// TestRekeyLookupIndex: `examflow rekey-lookup` moves the identifier blind
// index to a new EXAMFLOW_LOOKUP_KEY. Before, a store with the new key does
// not find a registered candidate by identity number; after, it finds the
// same candidate and the old key finds nobody, the run is in the audit log,
// and a dry run changes nothing. The index goes back to the stack's key
// afterwards (the same function, run again).
func TestRekeyLookupIndex(t *testing.T) {
	ctx := context.Background()
	bin := examflowBinary(t)
	centre := uniqueCentre()
	sessionFor(t, "citizenship", centre, session)
	p := newPerson(t)
	if a := postRegistration(t, p.registration("citizenship", centre, session), ""); a.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	candidate, err := env.store.FindCandidate(ctx, "national_id", p.NationalID)
	if err != nil {
		t.Fatalf("find with the stack's key: %v", err)
	}
	// A candidate known by passport alone: its strong identifier is the
	// number with the issuing country, which must survive the rewrite.
	number := fmt.Sprintf("R%08d", mrand.IntN(100_000_000))
	_, traveller := mustRegister(t, passportOnly(t, newPerson(t), centre, session, number, "NL"))
	masters, current, _ := env.cfg.MasterKeys()
	ring, err := storage.NewLocalKeyRing(masters, current)
	if err != nil {
		t.Fatal(err)
	}
	newKey := make([]byte, 32)
	if _, err := rand.Read(newKey); err != nil {
		t.Fatal(err)
	}
	rekeyed := storage.NewStore(env.pool, newKey).WithKeyRing(ring)
	if _, err := rekeyed.FindCandidate(ctx, "national_id", p.NationalID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the new key finds the candidate before the rewrite (%v): the test proves nothing", err)
	}
	t.Cleanup(func() {
		if _, err := env.store.RekeyLookups(context.Background(), false); err != nil {
			t.Errorf("back to the stack's key: %v", err)
		}
		if got, err := env.store.FindCandidate(context.Background(), "national_id", p.NationalID); err != nil || got != candidate {
			t.Errorf("after going back, the stack's key finds %v, %v", got, err)
		}
	})
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"rekey-lookup"}, args...)...)
		cmd.Env = append(os.Environ(), "EXAMFLOW_DATABASE_URL="+env.cfg.DatabaseURL, "EXAMFLOW_LOOKUP_KEY="+hex.EncodeToString(newKey))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("examflow rekey-lookup %v: %v\n%s", args, err, out)
		}
		if strings.Contains(string(out), p.NationalID) {
			t.Errorf("the output holds an identity number: %s", out)
		}
		return string(out)
	}
	if out := run("--operator", "ops-test", "--dry-run"); !strings.Contains(out, "dry run") {
		t.Errorf("dry run printed %q", out)
	}
	if _, err := rekeyed.FindCandidate(ctx, "national_id", p.NationalID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the dry run changed the index: %v", err)
	}
	out := run("--operator", "ops-test")
	if !strings.Contains(out, "rewrote the identifier index") {
		t.Errorf("printed %q", out)
	}
	if got, err := rekeyed.FindCandidate(ctx, "national_id", p.NationalID); err != nil || got != candidate {
		t.Fatalf("the new key finds %v, %v; want %v", got, err, candidate)
	}
	if got, err := rekeyed.FindCandidate(ctx, "passport", "NL:"+number); err != nil || got.String() != traveller {
		t.Fatalf("the new key finds the passport's candidate as %v, %v; want %v", got, err, traveller)
	}
	if got, err := rekeyed.FindCandidate(ctx, "passport_number", number); err != nil || got.String() != traveller {
		t.Fatalf("the new key finds the passport number's candidate as %v, %v; want %v", got, err, traveller)
	}
	if _, err := env.store.FindCandidate(ctx, "national_id", p.NationalID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the old key still finds the candidate: %v", err)
	}
	entries, err := env.store.AuditLog(ctx, storage.AuditFilter{Who: "ops-test"})
	if err != nil || len(entries) != 1 || entries[0].Operation != "examflow rekey-lookup" {
		t.Fatalf("audit log: %v %+v", err, entries)
	}
}

// TestCommandsWithoutSecrets: `examflow audit verify` and `examflow token
// list` need only the database, not a single key.
func TestCommandsWithoutSecrets(t *testing.T) {
	bin := examflowBinary(t)
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EXAMFLOW_") {
			base = append(base, kv)
		}
	}
	for _, args := range [][]string{{"audit", "verify"}, {"token", "list"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(base, "EXAMFLOW_DATABASE_URL="+env.cfg.DatabaseURL)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("examflow %s without secrets: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
