package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
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
