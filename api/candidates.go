package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/storage"
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

// IdentifierCorrectionRequest corrects one identifier of a candidate
// (PUT /v1/candidates/{id}/identifiers/{kind}).
type IdentifierCorrectionRequest struct {
	// Value is the corrected identifier, normalised as at registration.
	Value string `json:"value"`
	// Country is a passport's issuing country, required with
	// passport_number and refused with the other kinds.
	Country string `json:"country,omitempty"`
	// Reason is the evidence for the correction; it is recorded, never
	// logged.
	Reason      string `json:"reason"`
	CorrectedBy string `json:"corrected_by"`
}

// checksActorItself: correctIdentifier checks corrected_by with the other
// fields, so that one refusal lists them all.
func (IdentifierCorrectionRequest) checksActorItself() {}

// IdentifierCorrectionView is the 200 answer to a correction.
type IdentifierCorrectionView struct {
	CandidateID  string `json:"candidate_id"`
	Kind         string `json:"kind"`
	CorrectionID string `json:"correction_id,omitempty"`
	// Changed is false when the value was already the candidate's.
	Changed bool `json:"changed"`
	// WorkflowID is the workflow that updates the Diploma Registry, and
	// TemporalUIURL its page in the Temporal UI (EXAMFLOW_TEMPORAL_UI_URL).
	WorkflowID    string `json:"workflow_id,omitempty"`
	TemporalUIURL string `json:"temporal_ui_url,omitempty"`
}

// MergeView is the 200 answer to a merge.
type MergeView struct {
	CandidateID        string    `json:"candidate_id"`
	MergedID           string    `json:"merged_id"`
	RegistrationsMoved int       `json:"registrations_moved"`
	IdentifiersMoved   int       `json:"identifiers_moved"`
	MergedAt           time.Time `json:"merged_at"`
	// WorkflowID is the workflow that updates the Diploma Registry, and
	// TemporalUIURL its page in the Temporal UI (EXAMFLOW_TEMPORAL_UI_URL).
	WorkflowID    string `json:"workflow_id"`
	TemporalUIURL string `json:"temporal_ui_url,omitempty"`
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
	// TemporalUIURL is the registration's workflow page in the Temporal UI
	// (EXAMFLOW_TEMPORAL_UI_URL).
	TemporalUIURL string `json:"temporal_ui_url,omitempty"`
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
			TemporalUIURL: s.uiLink(c, cases.RegistrationWorkflowID(r.ID)),
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
	if _, err := cases.StartMerge(ctx, s.Temporal, s.TaskQueue,
		cases.MergeInput{MergeID: res.ID.String(), SurvivorID: res.SurvivorID.String(), MergedID: res.MergedID.String()}); !cases.Started(err) {
		s.Logger.WarnContext(ctx, "merge recorded, its publication update not started", "merge_id", res.ID.String(), "error", err)
		unavailable(c, "the merge is recorded, but Temporal did not answer to update the Diploma Registry; send the same request again")
		return
	}
	if !res.Replayed {
		// The reason may name the person, so it is not logged.
		s.Logger.InfoContext(ctx, "candidates merged", "candidate_id", res.SurvivorID.String(), "merged_id", res.MergedID.String(),
			"merge_id", res.ID.String(), "registrations_moved", res.RegistrationsMoved, "identifiers_moved", res.IdentifiersMoved)
	}
	c.JSON(http.StatusOK, MergeView{
		CandidateID: res.SurvivorID.String(), MergedID: res.MergedID.String(),
		RegistrationsMoved: res.RegistrationsMoved, IdentifiersMoved: res.IdentifiersMoved, MergedAt: res.MergedAt,
		WorkflowID: cases.MergeWorkflowID(res.ID.String()), TemporalUIURL: s.uiLink(c, cases.MergeWorkflowID(res.ID.String())),
	})
}

// correctIdentifier replaces one identifier of a candidate, validated as at
// registration, records the correction and updates the Diploma Registry. A
// value another candidate holds is a 409 that names the candidate to merge
// with; a national identity number whose birth date contradicts the date
// of birth on record is a 422 naming value.
func (s *server) correctIdentifier(c *gin.Context) {
	ctx := c.Request.Context()
	cand, ok := candidateID(c)
	if !ok {
		return
	}
	kind := c.Param("kind")
	if !slices.Contains([]string{"national_id", "duf_number", "passport_number"}, kind) {
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound,
			Detail: "identifiers are national_id, duf_number and passport_number", Errors: []FieldError{{Field: "kind", Detail: "must be national_id, duf_number or passport_number"}}})
		return
	}
	var req IdentifierCorrectionRequest
	if !s.decodeBody(c, &req) {
		return
	}
	v := &validator{}
	value := normalizeIdentifier(kind, req.Value)
	opts := s.Validation
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	switch {
	case value == "":
		v.add("value", "is required")
	case kind == "national_id":
		if _, err := identity.ValidateNationalID(value, opts.Identity); err != nil {
			v.add("value", "is not a valid fødselsnummer or D number: %s", detailOf(err))
		}
	case kind == "duf_number":
		if _, err := identity.ValidateDUF(value, now); err != nil {
			v.add("value", "is not a valid DUF number: %s", detailOf(err))
		}
	case kind == "passport_number":
		if !passportRe.MatchString(value) {
			v.add("value", "must be 5 to 20 letters or digits")
		}
	}
	passport := ""
	if kind == "passport_number" {
		passport = value
	}
	country := v.passportCountry("country", req.Country, passport, true)
	reason := v.text("reason", req.Reason, true, 2000)
	if msg := checkActorName(req.CorrectedBy); msg != "" {
		v.add("corrected_by", "%s", msg)
	}
	if len(v.errs) > 0 {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid identifier correction", Status: http.StatusUnprocessableEntity,
			Detail: pluralFields(len(v.errs)), Errors: v.errs})
		return
	}
	if _, err := s.Store.GetCandidate(ctx, cand); err != nil {
		var nf *storage.CandidateNotFoundError
		switch {
		case errors.As(err, &nf):
			candidateNotFound(c, nf, "id")
		case errors.Is(err, storage.ErrUnavailable):
			unavailable(c, "the database is unavailable")
		default:
			s.Logger.ErrorContext(ctx, "read candidate", "error", err)
			internalError(c)
		}
		return
	}
	id, ok := s.claimNewID(c, uuid.Must(uuid.NewV7()))
	if !ok {
		return
	}
	changed, err := s.Store.CorrectIdentifier(ctx, storage.IdentifierCorrection{ID: id, CandidateID: cand, Kind: kind, Value: value,
		Country: country, Reason: reason, CorrectedBy: req.CorrectedBy})
	var held *storage.IdentifierHeldError
	switch {
	case errors.As(err, &held):
		writeProblem(c, Problem{Type: ProblemConflict, Title: "Identifier held by another candidate", Status: http.StatusConflict,
			Detail: "the corrected value identifies another candidate: the two are one person, so merge them instead; nothing was changed",
			Errors: []FieldError{{Field: "value", Detail: "identifies candidate " + held.CandidateID.String()}},
			Extra:  map[string]any{"candidate_id": held.CandidateID.String()}})
		return
	case errors.Is(err, storage.ErrBirthDateContradicts):
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid identifier correction", Status: http.StatusUnprocessableEntity,
			Detail: "value encodes a birth date that contradicts the date of birth on record; nothing was changed",
			Errors: []FieldError{{Field: "value", Detail: "encodes a birth date that contradicts the candidate's date of birth; correct whichever is wrong"}}})
		return
	case errors.Is(err, storage.ErrUnavailable):
		s.Logger.WarnContext(ctx, "identifier not corrected", "error", err)
		unavailable(c, "the database is unavailable; nothing was changed, try again")
		return
	case err != nil:
		s.Logger.ErrorContext(ctx, "identifier not corrected", "error", err)
		internalError(c)
		return
	}
	view := IdentifierCorrectionView{CandidateID: cand.String(), Kind: kind, Changed: changed}
	if changed {
		view.CorrectionID = id.String()
		view.WorkflowID = cases.CorrectionWorkflowID(id.String())
		view.TemporalUIURL = s.uiLink(c, view.WorkflowID)
		if _, err := cases.StartCorrection(ctx, s.Temporal, s.TaskQueue,
			cases.CorrectionInput{CorrectionID: id.String(), CandidateID: cand.String()}); !cases.Started(err) {
			s.Logger.WarnContext(ctx, "identifier corrected, its publication update not started", "correction_id", id.String(), "error", err)
			unavailable(c, "the correction is recorded, but Temporal did not answer to update the Diploma Registry; send the same request again with the same Idempotency-Key")
			return
		}
		// The reason may name the person, so it is not logged.
		s.Logger.InfoContext(ctx, "identifier corrected", "candidate_id", cand.String(), "kind", kind, "correction_id", id.String())
	}
	c.JSON(http.StatusOK, view)
}
