package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestClassifyMarksOnlyUnreachableDependencies: connection failures and
// timeouts are ErrUnavailable (the API answers 503, a client retries);
// every other failure keeps its cause and is not (the API answers 500 and
// logs it), and examflow's own errors pass unchanged.
func TestClassifyMarksOnlyUnreachableDependencies(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"connect error", &pgconn.ConnectError{}, true},
		{"server closed the connection", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"timeout", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"server shutting down", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"a constraint", &pgconn.PgError{Code: "23505", Message: "duplicate key"}, false},
		{"a syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"a bug", errors.New("unexpected nil slice"), false},
		{"not found", ErrNotFound, false},
		{"cancelled", context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			if errors.Is(got, ErrUnavailable) != tt.unavailable {
				t.Errorf("classify(%v) = %v; unavailable %v, want %v", tt.err, got, errors.Is(got, ErrUnavailable), tt.unavailable)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("classify(%v) = %v lost its cause", tt.err, got)
			}
		})
	}
}
