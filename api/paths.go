package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/examflow/examflow/storage"
)

// pathID parses the path parameter param as a UUID, answering 400 naming
// the parameter when it is not one.
func pathID(c *gin.Context, param string) (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Param(param))
	if err != nil {
		writeProblem(c, Problem{Type: ProblemMalformed, Title: "Malformed request", Status: http.StatusBadRequest,
			Detail: "the " + param + " must be a UUID", Errors: []FieldError{{Field: param, Detail: "must be a UUID"}}})
		return uuid.Nil, false
	}
	return id, true
}

// loadRow loads the row the path parameter param names: 400 when the
// parameter is not a UUID, 404 with notFound as the detail when load finds
// no such row (storage.ErrNotFound), and s.failed otherwise. Every handler
// that acts on the resource in its path starts here.
func loadRow[T any](s *server, c *gin.Context, param, notFound string, load func(context.Context, uuid.UUID) (T, error)) (T, bool) {
	var zero T
	id, ok := pathID(c, param)
	if !ok {
		return zero, false
	}
	row, err := load(c.Request.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: notFound,
			Errors: []FieldError{{Field: param, Detail: "no such resource"}}})
		return zero, false
	case err != nil:
		s.failed(c, err, "the database is unavailable")
		return zero, false
	}
	return row, true
}
