package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/storage"
)

// AnswerKeyRequest creates an answer key, or the next version of a form's
// key (a correction: a key that has marked anything is never changed).
type AnswerKeyRequest struct {
	FormID      string         `json:"form_id"`
	TestType    string         `json:"test_type"`
	TestVersion string         `json:"test_version"`
	Part        string         `json:"part"`
	Items       []marking.Item `json:"items"`
	// Rule is optional: without it the catalogue's rule for the part applies.
	Rule *marking.Rule `json:"rule"`
}

// AnswerKeyView is a stored answer key.
type AnswerKeyView struct {
	ID          string         `json:"id"`
	FormID      string         `json:"form_id"`
	Version     int            `json:"version"`
	TestType    string         `json:"test_type"`
	TestVersion string         `json:"test_version"`
	Part        string         `json:"part"`
	Items       []marking.Item `json:"items"`
	Rule        marking.Rule   `json:"rule"`
	CreatedAt   time.Time      `json:"created_at"`
	Used        bool           `json:"used"`
}

func answerKeyView(k storage.AnswerKey) AnswerKeyView {
	return AnswerKeyView{ID: k.ID.String(), FormID: k.FormID, Version: k.Version, TestType: k.TestType, TestVersion: k.TestVersion,
		Part: k.Part, Items: k.Items, Rule: k.Rule, CreatedAt: k.CreatedAt, Used: k.Used}
}

func (s *server) createAnswerKey(c *gin.Context) {
	var req AnswerKeyRequest
	if !s.decodeBody(c, &req) {
		return
	}
	in := storage.NewAnswerKey{FormID: req.FormID, TestType: req.TestType, TestVersion: req.TestVersion, Part: req.Part, Items: req.Items}
	if req.Rule != nil {
		in.Rule = *req.Rule
	}
	key, err := s.Store.CreateAnswerKey(c.Request.Context(), in)
	var invalid *storage.KeyValidationError
	switch {
	case errors.As(err, &invalid):
		errs := make([]FieldError, 0, len(invalid.Problems))
		for _, p := range invalid.Problems {
			errs = append(errs, FieldError{Field: p.Field, Detail: p.Problem})
		}
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid answer key", Status: http.StatusUnprocessableEntity,
			Detail: pluralFields(len(errs)), Errors: errs})
		return
	case err != nil:
		s.failed(c, err, "the database is unavailable")
		return
	}
	c.Header("Location", "/v1/answer-keys/"+key.FormID)
	c.JSON(http.StatusCreated, answerKeyView(key))
}

func (s *server) listAnswerKeys(c *gin.Context) {
	keys, err := s.Store.AnswerKeyVersions(c.Request.Context(), c.Param("form_id"))
	switch {
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		s.failed(c, err, "the database is unavailable")
		return
	case len(keys) == 0:
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no answer key for this form"})
		return
	}
	out := make([]AnswerKeyView, 0, len(keys))
	for _, k := range keys {
		out = append(out, answerKeyView(k))
	}
	c.JSON(http.StatusOK, gin.H{"form_id": c.Param("form_id"), "versions": out})
}
