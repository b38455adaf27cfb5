package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/storage"
)

// PossibleDuplicateView is a flag in the case handlers' queue: a candidate
// created by a registration that only weakly matched another one. It holds
// no personal data.
type PossibleDuplicateView struct {
	ID               string    `json:"id"`
	CandidateID      string    `json:"candidate_id"`
	OtherCandidateID string    `json:"other_candidate_id"`
	Reason           string    `json:"reason"`
	FlaggedAt        time.Time `json:"flagged_at"`
}

func possibleDuplicateView(d storage.PossibleDuplicate) PossibleDuplicateView {
	return PossibleDuplicateView{ID: d.ID.String(), CandidateID: d.CandidateID.String(), OtherCandidateID: d.OtherID.String(),
		Reason: d.Reason, FlaggedAt: d.FlaggedAt}
}

// listPossibleDuplicates serves the open flags, oldest first. A case
// handler merges the pair (POST /v1/candidates/{id}/merge, which clears the
// flag) or dismisses it.
func (s *server) listPossibleDuplicates(c *gin.Context) {
	list, err := s.Store.PossibleDuplicates(c.Request.Context(), 1000)
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	out := make([]PossibleDuplicateView, 0, len(list))
	for _, d := range list {
		out = append(out, possibleDuplicateView(d))
	}
	c.JSON(http.StatusOK, gin.H{"possible_duplicates": out})
}

// DismissalRequest is a case handler's finding that two flagged candidates
// are two people.
type DismissalRequest struct {
	Reason string `json:"reason"`
}

func (s *server) dismissPossibleDuplicate(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	var req DismissalRequest
	if !s.decodeBody(c, &req) {
		return
	}
	v := &validator{}
	reason := v.text("reason", req.Reason, true, 2000)
	if len(v.errs) > 0 {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid dismissal", Status: http.StatusUnprocessableEntity, Detail: v.errs[0].Field + " " + v.errs[0].Detail, Errors: v.errs})
		return
	}
	d, err := s.Store.DismissPossibleDuplicate(c.Request.Context(), id, principal(c).Subject, reason)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no open possible-duplicate flag with this id (merged or dismissed already)"})
		return
	case err != nil:
		s.failed(c, err, "the database is unavailable")
		return
	}
	c.Set(auditSubjectKey, auditSubject{storage.SubjectCandidate, d.CandidateID})
	c.JSON(http.StatusOK, gin.H{"id": d.ID.String(), "status": "dismissed", "candidate_id": d.CandidateID.String(), "other_candidate_id": d.OtherID.String()})
}
