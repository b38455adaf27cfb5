package activities

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/storage"
)

// goneRequestStore has no request: it was deleted with its person. Any
// other method of the store panics (the nil embedded interface), so a step
// that tried to record anything fails the test.
type goneRequestStore struct {
	subjectRequestStore
	err error
}

func (f goneRequestStore) GetSubjectRequest(context.Context, uuid.UUID) (storage.SubjectRequest, error) {
	return storage.SubjectRequest{}, f.err
}

// TestStepsOfARequestDeletedWithItsPersonDoNothing: once the final
// deletion has deleted the person, and the request with it, every step of
// the request succeeds without recording or telling anything, so the
// request's workflow finishes; another failure to read the request is
// still returned, to be retried.
func TestStepsOfARequestDeletedWithItsPersonDoNothing(t *testing.T) {
	id := uuid.NewString()
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	decision := &cases.RequestDecision{Decision: "lift", Reason: "settled", DecidedBy: "ch-1"}
	steps := []RequestStepInput{
		{Step: "verified", Evidence: &cases.IdentityCheck{VerifiedBy: "ch-1", Evidence: "passport"}},
		{Step: "extended", Extension: &cases.Extension{Until: at.AddDate(0, 1, 0), Reason: "many records"}},
		{Step: "reminded"},
		{Step: "restricted"},
		{Step: "answered", Decision: &cases.RequestDecision{Decision: "approved", Reason: "matches", DecidedBy: "ch-1"}},
		{Step: "lifting", Decision: decision},
		{Step: "lifted", Decision: decision},
	}
	unreachable := errors.New("connection refused")
	for _, tc := range []struct {
		name    string
		err     error
		wantErr bool
	}{
		{name: "deleted with its person", err: storage.ErrNotFound},
		{name: "not readable", err: unreachable, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &SubjectRequests{Store: goneRequestStore{err: tc.err}}
			run := map[string]func() error{
				"BuildAccessExport":  func() error { return execute(t, a, a.BuildAccessExport, nil, id) },
				"RepublishCandidate": func() error { return execute(t, a, a.RepublishCandidate, nil, id) },
			}
			for _, s := range steps {
				s.RequestID, s.At = id, at
				run["SubjectRequestStep "+s.Step] = func() error { return execute(t, a, a.SubjectRequestStep, nil, s) }
			}
			for name, f := range run {
				if err := f(); (err != nil) != tc.wantErr {
					t.Errorf("%s: error %v, want an error: %v", name, err, tc.wantErr)
				}
			}
		})
	}
}
