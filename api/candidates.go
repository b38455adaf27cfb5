package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/examflow/examflow/storage"
	"github.com/examflow/examflow/workflows"
)

// MergeRequest is the body of POST /v1/candidates/{id}/merge: a case
// handler's decision that duplicate_id is the same person as {id}.
type MergeRequest struct {
	DuplicateID string `json:"duplicate_id"`
	Reason      string `json:"reason"`
	DecidedBy   string `json:"decided_by"`
}

// checksActorItself: mergeCandidates checks decided_by with the other
// fields, so that one refusal lists them all.
func (MergeRequest) checksActorItself() {}

// MergeView is the 200 answer to a merge.
type MergeView struct {
	CandidateID        string    `json:"candidate_id"`
	MergedID           string    `json:"merged_id"`
	RegistrationsMoved int       `json:"registrations_moved"`
	IdentifiersMoved   int       `json:"identifiers_moved"`
	MergedAt           time.Time `json:"merged_at"`
}

// CandidateView is the answer to GET /v1/candidates/{id}: the candidate
// number and registrations, no other personal data.
type CandidateView struct {
	CandidateID     string                      `json:"candidate_id"`
	CandidateNumber string                      `json:"candidate_number"`
	Registrations   []CandidateRegistrationView `json:"registrations"`
}

// CandidateRegistrationView is one registration of a candidate.
type CandidateRegistrationView struct {
	RegistrationID string `json:"registration_id"`
	TestType       string `json:"test_type"`
	SessionDate    string `json:"session_date"`
	Stage          string `json:"stage"`
}

// candidateID parses the {id} path parameter, answering 400 itself.
func candidateID(c *gin.Context) (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		writeProblem(c, Problem{Type: ProblemMalformed, Title: "Malformed request", Status: http.StatusBadRequest,
			Detail: "the candidate id must be a UUID", Errors: []FieldError{{Field: "id", Detail: "must be a UUID"}}})
		return uuid.Nil, false
	}
	return id, true
}

// candidateNotFound answers 404 for a missing candidate, naming the field it
// came from and, for a candidate merged away, the candidate it lives on as.
func candidateNotFound(c *gin.Context, nf *storage.CandidateNotFoundError, field string) {
	p := Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no candidate with this id",
		Errors: []FieldError{{Field: field, Detail: "no such candidate"}}}
	if nf.MergedInto != uuid.Nil {
		p.Detail = "this candidate was merged into another candidate"
		p.Errors[0].Detail = "was merged into candidate " + nf.MergedInto.String()
		p.Extra = map[string]any{"merged_into": nf.MergedInto.String()}
	}
	writeProblem(c, p)
}

func (s *server) getCandidate(c *gin.Context) {
	ctx := c.Request.Context()
	id, ok := candidateID(c)
	if !ok {
		return
	}
	cand, err := s.Store.GetCandidate(ctx, id)
	var nf *storage.CandidateNotFoundError
	switch {
	case errors.As(err, &nf):
		candidateNotFound(c, nf, "id")
		return
	case errors.Is(err, storage.ErrUnavailable):
		unavailable(c, "the database is unavailable")
		return
	case err != nil:
		s.Logger.ErrorContext(ctx, "read candidate", "error", err)
		internalError(c)
		return
	}
	view := CandidateView{CandidateID: cand.ID.String(), CandidateNumber: cand.CandidateNumber, Registrations: []CandidateRegistrationView{}}
	for _, r := range cand.Registrations {
		view.Registrations = append(view.Registrations, CandidateRegistrationView{
			RegistrationID: r.ID.String(), TestType: r.TestType, SessionDate: r.SessionDate.Format(time.DateOnly), Stage: r.Stage,
		})
	}
	c.JSON(http.StatusOK, view)
}

func (s *server) mergeCandidates(c *gin.Context) {
	ctx := c.Request.Context()
	survivor, ok := candidateID(c)
	if !ok {
		return
	}
	var req MergeRequest
	if !s.decodeBody(c, &req) {
		return
	}
	v := &validator{}
	var duplicate uuid.UUID
	switch raw := strings.TrimSpace(req.DuplicateID); {
	case raw == "":
		v.add("duplicate_id", "is required: the id of the candidate to merge into this one")
	default:
		var err error
		if duplicate, err = uuid.Parse(raw); err != nil {
			v.add("duplicate_id", "must be a UUID")
		} else if duplicate == survivor {
			v.add("duplicate_id", "must be another candidate than the one in the path")
		}
	}
	reason := v.text("reason", req.Reason, true, 2000)
	decidedBy := req.DecidedBy
	if msg := checkActorName(decidedBy); msg != "" {
		v.add("decided_by", "%s", msg)
	}
	if len(v.errs) > 0 {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid merge", Status: http.StatusUnprocessableEntity,
			Detail: pluralFields(len(v.errs)), Errors: v.errs})
		return
	}

	res, err := s.Store.MergeCandidates(ctx, storage.CandidateMerge{SurvivorID: survivor, DuplicateID: duplicate, Reason: reason, DecidedBy: decidedBy})
	var nf *storage.CandidateNotFoundError
	var conflict *storage.MergeConflictError
	switch {
	case errors.As(err, &nf):
		field := "id"
		if nf.ID == duplicate {
			field = "duplicate_id"
		}
		candidateNotFound(c, nf, field)
		return
	case errors.As(err, &conflict):
		regs := make([]map[string]string, 0, len(conflict.Registrations))
		for _, r := range conflict.Registrations {
			regs = append(regs, map[string]string{
				"registration_id": r.SurvivorRegistrationID.String(), "duplicate_registration_id": r.DuplicateRegistrationID.String(),
				"test_type": r.TestType, "session_date": r.SessionDate.Format(time.DateOnly),
			})
		}
		p := Problem{Type: ProblemConflict, Title: "Candidates cannot be merged", Status: http.StatusConflict,
			Detail: conflict.Reason + "; nothing was changed",
			Errors: []FieldError{{Field: "duplicate_id", Detail: conflict.Reason}}}
		if len(regs) > 0 {
			p.Extra = map[string]any{"conflicting_registrations": regs}
		}
		writeProblem(c, p)
		return
	case errors.Is(err, storage.ErrUnavailable):
		s.Logger.WarnContext(ctx, "candidates not merged", "error", err)
		unavailable(c, "the database is unavailable; nothing was changed, try again")
		return
	case err != nil:
		s.Logger.ErrorContext(ctx, "candidates not merged", "error", err)
		internalError(c)
		return
	}
	// The Diploma Registry follows the merge: the duplicate's publication is
	// withdrawn and the survivor published with every result. A replayed
	// merge starts the workflow only if it did not start before.
	if _, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.MergeWorkflowID(res.ID.String()), TaskQueue: s.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.MergeWorkflow, workflows.MergeInput{MergeID: res.ID.String(), SurvivorID: res.SurvivorID.String(), MergedID: res.MergedID.String()}); err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &started) {
			s.Logger.WarnContext(ctx, "merge recorded, its publication update not started", "merge_id", res.ID.String(), "error", err)
			unavailable(c, "the merge is recorded, but Temporal did not answer to update the Diploma Registry; send the same request again")
			return
		}
	}
	if !res.Replayed {
		// The reason may name the person, so it is not logged.
		s.Logger.InfoContext(ctx, "candidates merged", "candidate_id", res.SurvivorID.String(), "merged_id", res.MergedID.String(),
			"merge_id", res.ID.String(), "registrations_moved", res.RegistrationsMoved, "identifiers_moved", res.IdentifiersMoved)
	}
	c.JSON(http.StatusOK, MergeView{
		CandidateID: res.SurvivorID.String(), MergedID: res.MergedID.String(),
		RegistrationsMoved: res.RegistrationsMoved, IdentifiersMoved: res.IdentifiersMoved, MergedAt: res.MergedAt,
	})
}
