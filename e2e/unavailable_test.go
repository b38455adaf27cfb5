package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

	if a := doAt(t, srv.URL, http.MethodGet, "/readyz", "", nil, nil); a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz = %d, Retry-After %q; want 503 with Retry-After", a.Status, a.Header.Get("Retry-After"))
	}

	centre := uniqueCentre()
	a := doAt(t, srv.URL, http.MethodPost, "/v1/registrations", "application/json", []byte(mustJSON(newPerson(t).reg(t, "citizenship", centre, session))), nil)
	if a.Status != http.StatusServiceUnavailable || a.Header.Get("Retry-After") == "" ||
		a.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("register = %d %s", a.Status, a.Raw)
	}
	if n := countWorkflows(t, fmt.Sprintf("TestCentre=%q", centre)); n != 0 {
		t.Fatalf("%d workflows started without a stored registration", n)
	}
}
