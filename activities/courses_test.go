package activities

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"
)

// TestUnknownCourseStepIsNotRetried: a step the code does not know is a
// bug; retrying it for ever would hide it, so it fails at once.
func TestUnknownCourseStepIsNotRetried(t *testing.T) {
	err := (&Courses{}).CourseStep(context.Background(), CourseStepInput{RegistrationID: "0190a5b2-0000-7000-8000-00000000000a", Step: "graduated"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() {
		t.Fatalf("unknown step: %v, want a non-retryable error", err)
	}
}
