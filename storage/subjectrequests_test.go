package storage

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/examflow/examflow/cases"
)

// TestMarkingAGoneRequestStartedSaysItIsGone: a request deleted with its
// person cannot be marked started, and the caller learns why (so the
// workflow it just started is closed).
func TestMarkingAGoneRequestStartedSaysItIsGone(t *testing.T) {
	s := dbStore(t)
	err := s.MarkSubjectRequestStarted(context.Background(), uuid.New())
	if !errors.Is(err, cases.ErrRequestGone) {
		t.Fatalf("marking a request that does not exist: %v, want cases.ErrRequestGone", err)
	}
}
