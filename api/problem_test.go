package api

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/examflow/examflow/storage"
)

// TestFailedAnswersByCause: a dependency that cannot be reached is a 503
// the client retries, logged at warn; anything else is a 500 with its
// cause logged at error, never a silent 503.
func TestFailedAnswersByCause(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		level  string
	}{
		{"database down", fmt.Errorf("%w: dial tcp: connection refused", storage.ErrUnavailable), http.StatusServiceUnavailable, "WARN"},
		{"temporal unavailable", serviceerror.NewUnavailable("frontend gone"), http.StatusServiceUnavailable, "WARN"},
		{"a constraint or a bug", errors.New("violates check constraint"), http.StatusInternalServerError, "ERROR"},
		{"not found where it cannot be", storage.ErrNotFound, http.StatusInternalServerError, "ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := &server{Deps: Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))}}
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodGet, "/v1/x", nil)
			s.failed(c, tt.err, "the database is unavailable")
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			if !strings.Contains(logs.String(), "level="+tt.level) || !strings.Contains(logs.String(), tt.err.Error()) {
				t.Errorf("log %q, want the cause at %s", logs.String(), tt.level)
			}
		})
	}
}
