package storage

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/examflow/examflow/deploy/devstack"
	"github.com/examflow/examflow/marking"
)

// The storage tests that need a database share one PostgreSQL of their own,
// started on first use (devstack, PostgreSQL alone): nothing else of the
// stack is needed to test the store.
var testDB struct {
	once  sync.Once
	dir   string
	stack *devstack.Stack
	pool  *pgxpool.Pool
	store *Store
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testDB.pool != nil {
		testDB.pool.Close()
	}
	if testDB.stack != nil {
		testDB.stack.Stop()
	}
	if testDB.dir != "" {
		_ = os.RemoveAll(testDB.dir)
	}
	os.Exit(code)
}

// dbStore returns a Store on a migrated database with the catalogue seeded
// and a random key ring. Without PostgreSQL's binaries the test is skipped
// with the reason, unless the tests run through make (EXAMFLOW_E2E_REQUIRE),
// where it fails.
func dbStore(t *testing.T) *Store {
	t.Helper()
	testDB.once.Do(func() { testDB.err = startTestDB() })
	if testDB.err != nil {
		if os.Getenv("EXAMFLOW_E2E_REQUIRE") != "" {
			t.Fatalf("PostgreSQL for the storage tests: %v", testDB.err)
		}
		t.Skipf("PostgreSQL for the storage tests: %v (make test provides it)", testDB.err)
	}
	return testDB.store
}

func startTestDB() error {
	ctx := context.Background()
	if _, err := devstack.PostgresBinDir(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "examflow-storage-")
	if err != nil {
		return err
	}
	testDB.dir = dir
	stack, err := devstack.Start(ctx, devstack.Config{Dir: dir, PostgresOnly: true, Fast: true})
	if err != nil {
		return fmt.Errorf("start PostgreSQL: %w", err)
	}
	testDB.stack = stack
	pool, err := OpenPool(ctx, stack.DatabaseURL())
	if err != nil {
		return err
	}
	testDB.pool = pool
	if err := Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	cat, err := marking.LoadCatalogue()
	if err != nil {
		return err
	}
	if err := NewStore(pool, nil).SeedCatalogue(ctx, cat); err != nil {
		return err
	}
	master, lookup := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(master)
	_, _ = rand.Read(lookup)
	ring, err := NewLocalKeyRing(map[string][]byte{"test": master}, "test")
	if err != nil {
		return err
	}
	testDB.store = NewStore(pool, lookup).WithKeyRing(ring)
	return nil
}
