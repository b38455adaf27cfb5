package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/examflow/examflow/storage"
)

// Problem is an RFC 9457 problem details document. Errors names each invalid
// field with a JSON path (person.national_id) and what is wrong with it.
type Problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Errors   []FieldError   `json:"errors,omitempty"`
	Extra    map[string]any `json:"-"`
}

// FieldError is one invalid field.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Problem types, documented in docs/api.md.
const (
	ProblemMalformed   = "/problems/malformed-request"
	ProblemValidation  = "/problems/validation-error"
	ProblemConflict    = "/problems/conflict"
	ProblemNotFound    = "/problems/not-found"
	ProblemUnavailable = "/problems/dependency-unavailable"
	ProblemIdempotency = "/problems/idempotency-key-reused"
	ProblemInternal    = "/problems/internal-error"
	// ProblemUnauthenticated: no valid bearer token (401).
	ProblemUnauthenticated = "/problems/unauthenticated"
	// ProblemForbidden: the token's roles may not use the route (403).
	ProblemForbidden = "/problems/forbidden"
)

// writeProblem sends a problem document and aborts the request.
func writeProblem(c *gin.Context, p Problem) {
	if p.Instance == "" {
		p.Instance = c.Request.URL.Path
	}
	body := gin.H{"type": p.Type, "title": p.Title, "status": p.Status}
	if p.Detail != "" {
		body["detail"] = p.Detail
	}
	body["instance"] = p.Instance
	if len(p.Errors) > 0 {
		body["errors"] = p.Errors
	}
	for k, v := range p.Extra {
		body[k] = v
	}
	if p.Status == http.StatusServiceUnavailable {
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	data, err := json.Marshal(body)
	if err != nil {
		data = []byte(`{"type":"` + ProblemInternal + `","title":"Internal error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	c.Data(p.Status, "application/problem+json", data)
	c.Abort()
}

const retryAfterSeconds = 5

func unavailable(c *gin.Context, detail string) {
	writeProblem(c, Problem{Type: ProblemUnavailable, Title: "A dependency is unavailable", Status: http.StatusServiceUnavailable, Detail: detail})
}

func internalError(c *gin.Context) {
	writeProblem(c, Problem{Type: ProblemInternal, Title: "Internal error", Status: http.StatusInternalServerError})
}

// failed answers a request that failed on a dependency or on a bug, and
// logs why: 503 with detail when the dependency could not be reached or did
// not answer in time (the client retries; logged at warn), 500 otherwise
// (retrying does not help; logged at error with the cause).
func (s *server) failed(c *gin.Context, err error, detail string) {
	ctx := c.Request.Context()
	if dependencyUnavailable(err) {
		s.Logger.WarnContext(ctx, "dependency unavailable", "route", c.FullPath(), "error", err.Error())
		unavailable(c, detail)
		return
	}
	s.Logger.ErrorContext(ctx, "request failed", "route", c.FullPath(), "error", err.Error())
	internalError(c)
}

// dependencyUnavailable reports whether err says that PostgreSQL, MinIO or
// Temporal could not be reached or did not answer in time.
func dependencyUnavailable(err error) bool {
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	var exhausted *serviceerror.ResourceExhausted
	return errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.As(err, &exhausted)
}
