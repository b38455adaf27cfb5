package cases

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// Error types of the application errors examflow's workflows, Update
// validators and activities raise. The API maps each to its answer, so the
// one that raises an error and the one that answers it share these names.
const (
	// ErrorRefused: an Update's validator refused the request; the
	// error's details name the field (Refusal). The API answers 422.
	ErrorRefused = "Refused"
	// ErrorAppealRefused: an appeal activity found that the rules do not
	// admit the appeal or decision; details as ErrorRefused. The API
	// answers 422.
	ErrorAppealRefused = "AppealRefused"
	// ErrorInvalidInput: a workflow or activity input that cannot be
	// right, such as an ID that is not a UUID. Not retried.
	ErrorInvalidInput = "InvalidInput"
	// ErrorNotFound: a row the input names does not exist. Not retried.
	ErrorNotFound = "NotFound"
	// ErrorInvalidKey: an answer key that cannot be applied. Not retried.
	ErrorInvalidKey = "InvalidKey"
	// ErrorRegistryRefused: the Diploma Registry refused a publication.
	ErrorRegistryRefused = "RegistryRefused"
	// ErrorReleaseRefused: the recipient catalogue refuses a release.
	ErrorReleaseRefused = "ReleaseRefused"
)

// Refusal is the detail of a refused request: the field of the request
// body it is about, as a JSON path (answers[3], late_acceptance.reason), or
// "body" when it is about the request as a whole.
type Refusal struct {
	Field string `json:"field"`
}

// Refuse returns a refusal of field, of type errType (ErrorRefused or
// ErrorAppealRefused), not retried, with the message the caller is shown.
func Refuse(errType, field, format string, args ...any) error {
	return temporal.NewApplicationErrorWithOptions(fmt.Sprintf(format, args...), errType, temporal.ApplicationErrorOptions{
		NonRetryable: true, Details: []any{Refusal{Field: field}},
	})
}

// RefusedField returns the field a refusal names, or "body" when err
// carries none.
func RefusedField(err error) string {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.HasDetails() {
		return "body"
	}
	var r Refusal
	if appErr.Details(&r) != nil || r.Field == "" {
		return "body"
	}
	return r.Field
}
