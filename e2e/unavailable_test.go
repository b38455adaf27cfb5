package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/deploy/devstack"
	"github.com/examflow/examflow/process"
	"github.com/examflow/examflow/storage"
)

// With PostgreSQL unreachable the API is not ready, and a registration gets
// 503 with Retry-After and starts no workflow.
func TestDatabaseDownGives503(t *testing.T) {
	ctx := context.Background()
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := storage.OpenPool(ctx, fmt.Sprintf("postgres://examflow@127.0.0.1:%d/examflow?sslmode=disable&connect_timeout=1", port))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	key, _ := env.cfg.LookupKey()
	store := storage.NewStore(pool, key)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(api.Deps{
		Store: store, Tokens: store, Temporal: env.temporal, TaskQueue: env.cfg.TaskQueue, Logger: quiet, Registry: process.NewRegistry(),
		Validation: api.ValidationOptions{Now: time.Now},
		Ready:      func(ctx context.Context) error { return process.Ready(ctx, store, env.temporal) },
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz = %s, Retry-After %q; want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}

	centre := uniqueCentre()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/registrations", strings.NewReader(mustJSON(newPerson(t).reg(t, "citizenship", centre, session))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+env.token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("register = %s %s", resp.Status, body)
	}
	if n := countWorkflows(t, fmt.Sprintf("TestCentre=%q", centre)); n != 0 {
		t.Fatalf("%d workflows started without a stored registration", n)
	}
}
