package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// DisclosureRequest is a release of a candidate's data to a third party
// (T08, T10): only to a recipient in the policy's catalogue, only the
// categories the catalogue allows it, with the catalogue's legal basis.
type DisclosureRequest struct {
	Recipient      string   `json:"recipient"`
	Categories     []string `json:"categories"`
	RegistrationID string   `json:"registration_id,omitempty"`
	// Reference is the recipient's case or request number.
	Reference string `json:"reference"`
}

// DisclosureView is a recorded release.
type DisclosureView struct {
	ID             string    `json:"id"`
	Recipient      string    `json:"recipient"`
	LegalBasis     string    `json:"legal_basis"`
	Categories     []string  `json:"categories"`
	Action         string    `json:"action"`
	Reference      string    `json:"reference"`
	RegistrationID string    `json:"registration_id,omitempty"`
	DisclosedAt    time.Time `json:"disclosed_at"`
}

func disclosureView(d storage.Disclosure) DisclosureView {
	v := DisclosureView{ID: d.ID.String(), Recipient: d.Recipient, LegalBasis: d.LegalBasis, Categories: d.Categories, Action: d.Action,
		Reference: d.Reference, DisclosedAt: d.DisclosedAt}
	if d.RegistrationID != nil {
		v.RegistrationID = d.RegistrationID.String()
	}
	return v
}

// candidateOf reads the candidate named in the path.
func (s *server) candidateOf(c *gin.Context) (uuid.UUID, bool) {
	var id uuid.UUID
	restricted, ok := loadRow(s, c, "id", "no candidate with this id", func(ctx context.Context, cand uuid.UUID) (bool, error) {
		id = cand
		return s.Store.Restricted(ctx, cand)
	})
	if !ok {
		return id, false
	}
	c.Set(restrictedKey, restricted)
	return id, true
}

const restrictedKey = "examflow.restricted"

// releaseRoles may release a candidate's data to a recipient.
var releaseRoles = []string{RoleCaseHandler}

// releaseData records a release to a third party after checking it
// against the recipient catalogue; a release while the person has
// processing restricted is refused.
func (s *server) releaseData(c *gin.Context) {
	cand, ok := s.candidateOf(c)
	if !ok {
		return
	}
	var req DisclosureRequest
	if !s.decodeBody(c, &req) {
		return
	}
	var errs []FieldError
	cats := make([]policy.DataCategory, 0, len(req.Categories))
	for _, x := range req.Categories {
		cats = append(cats, policy.DataCategory(x))
	}
	recipient, err := policy.CheckRelease(req.Recipient, cats)
	switch {
	case errors.Is(err, policy.ErrUnknownRecipient):
		errs = append(errs, FieldError{Field: "recipient", Detail: "is not in the policy's catalogue of recipients (T10); nothing is released to it"})
	case err != nil:
		errs = append(errs, FieldError{Field: "categories", Detail: err.Error()})
	}
	if req.Reference == "" {
		errs = append(errs, FieldError{Field: "reference", Detail: "the recipient's case or request number is required"})
	}
	var regID *uuid.UUID
	if req.RegistrationID != "" {
		id, err := uuid.Parse(req.RegistrationID)
		if err != nil {
			errs = append(errs, FieldError{Field: "registration_id", Detail: "must be a UUID"})
		} else if reg, err := s.Store.GetRegistration(c.Request.Context(), id); err != nil || reg.CandidateID != cand {
			errs = append(errs, FieldError{Field: "registration_id", Detail: "is not a registration of this candidate"})
		} else {
			regID = &id
		}
	}
	if len(errs) > 0 {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Release refused", Status: http.StatusUnprocessableEntity, Detail: errs[0].Field + " " + errs[0].Detail, Errors: errs})
		return
	}
	if restricted, _ := c.Get(restrictedKey); restricted == true {
		writeProblem(c, Problem{Type: ProblemConflict, Title: "Processing restricted", Status: http.StatusConflict,
			Detail: "the person has asked for processing to be restricted; nothing is released until the restriction is lifted"})
		return
	}
	objected, err := s.Store.Objections(c.Request.Context(), cand)
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	if slices.Contains(objected, recipient.Purpose) {
		writeProblem(c, Problem{Type: ProblemConflict, Title: "Objection upheld", Status: http.StatusConflict,
			Detail: "the person's objection to processing for " + recipient.Purpose + " was upheld; nothing is released to " + recipient.ID + " for it"})
		return
	}
	id, ok := s.claimNewID(c, uuid.Must(uuid.NewV7()))
	if !ok {
		return
	}
	// The store audits the release in the disclosure's own transaction, by
	// the staff member, for the purpose the recipient's releases serve.
	p := principal(c)
	d := storage.Disclosure{ID: id, CandidateID: cand, RegistrationID: regID, Recipient: recipient.ID,
		LegalBasis: recipient.LegalBasis, Categories: req.Categories, Action: storage.DisclosureRelease, Reference: req.Reference,
		By: p.Subject, Role: p.roleFor(releaseRoles), Operation: c.Request.Method + " " + c.FullPath()}
	if err := s.Store.RecordDisclosure(c.Request.Context(), d); err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	d.DisclosedAt = s.Validation.Now()
	c.JSON(http.StatusCreated, disclosureView(d))
}

func (s *server) listDisclosures(c *gin.Context) {
	cand, ok := s.candidateOf(c)
	if !ok {
		return
	}
	ds, err := s.Store.Disclosures(c.Request.Context(), cand)
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	out := make([]DisclosureView, 0, len(ds))
	for _, d := range ds {
		out = append(out, disclosureView(d))
	}
	c.JSON(http.StatusOK, gin.H{"candidate_id": cand.String(), "disclosures": out})
}
