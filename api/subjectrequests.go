package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// SubjectRequestBody is a data subject request as it arrives (T18-T20).
type SubjectRequestBody struct {
	Kind string `json:"kind"`
	// Identifier finds the person: national_id, duf_number or passport_number.
	Identifier struct {
		Kind  string `json:"kind"`
		Value string `json:"value"`
		// Country is a passport's issuing country, required with
		// passport_number.
		Country string `json:"country,omitempty"`
	} `json:"identifier"`
	// ReceivedAt is when the request was received; the 30 days run from it.
	ReceivedAt *time.Time `json:"received_at,omitempty"`
	// IdentityAsserted: the person logged in upstream (ID-porten on Min
	// side); only an integration may assert it.
	IdentityAsserted *struct {
		Provider string `json:"provider"`
	} `json:"identity_asserted,omitempty"`
	// Rectification are the corrected fields (given_name, family_name, email, phone).
	Rectification map[string]string `json:"rectification,omitempty"`
	// Grounds are the person's grounds for an objection.
	Grounds string `json:"grounds,omitempty"`
	// Purposes are the purposes an objection objects to, required with it:
	// policy.ObjectionPurposes.
	Purposes []string `json:"purposes,omitempty"`
}

// SubjectRequestView is a request as case handlers see it. Extended says
// an extension moved DueAt beyond OriginalDueAt (30 days after receipt),
// for ExtensionReason, which the person was told.
type SubjectRequestView struct {
	RequestID  string `json:"request_id"`
	WorkflowID string `json:"workflow_id"`
	// TemporalUIURL is the workflow's page in the Temporal UI, for case
	// handlers and the data-protection officer when
	// EXAMFLOW_TEMPORAL_UI_URL is set.
	TemporalUIURL      string            `json:"temporal_ui_url,omitempty"`
	CandidateID        string            `json:"candidate_id"`
	Kind               string            `json:"kind"`
	Status             string            `json:"status"`
	ReceivedAt         time.Time         `json:"received_at"`
	DueAt              time.Time         `json:"due_at"`
	OriginalDueAt      time.Time         `json:"original_due_at"`
	Extended           bool              `json:"extended"`
	ExtensionReason    string            `json:"extension_reason,omitempty"`
	IdentityMethod     string            `json:"identity_method,omitempty"`
	IdentityVerifiedBy string            `json:"identity_verified_by,omitempty"`
	Outcome            string            `json:"outcome,omitempty"`
	OutcomeReason      string            `json:"outcome_reason,omitempty"`
	AnsweredAt         *time.Time        `json:"answered_at,omitempty"`
	ExportReady        bool              `json:"export_ready"`
	Reminders          int               `json:"reminders"`
	Rectification      map[string]string `json:"rectification,omitempty"`
	Grounds            string            `json:"grounds,omitempty"`
	Purposes           []string          `json:"purposes,omitempty"`
}

var requestKinds = []string{cases.RequestAccess, cases.RequestRectification, cases.RequestRestriction, cases.RequestObjection}

// check validates a request and normalises it in place: the identifier as
// registration normalises it, the rectified values as registration stores
// them.
func (b *SubjectRequestBody) check(p Principal, now time.Time) []FieldError {
	var errs []FieldError
	if !slices.Contains(requestKinds, b.Kind) {
		errs = append(errs, FieldError{Field: "kind", Detail: "must be one of " + strings.Join(requestKinds, ", ")})
	}
	if !slices.Contains([]string{"national_id", "duf_number", "passport_number"}, b.Identifier.Kind) {
		errs = append(errs, FieldError{Field: "identifier.kind", Detail: "must be national_id, duf_number or passport_number"})
	}
	b.Identifier.Value = normalizeIdentifier(b.Identifier.Kind, b.Identifier.Value)
	if b.Identifier.Value == "" {
		errs = append(errs, FieldError{Field: "identifier.value", Detail: "is required"})
	}
	passport := ""
	if b.Identifier.Kind == "passport_number" {
		passport = b.Identifier.Value
	}
	cv := &validator{}
	b.Identifier.Country = cv.passportCountry("identifier.country", b.Identifier.Country, passport, true)
	errs = append(errs, cv.errs...)
	if b.ReceivedAt != nil && b.ReceivedAt.After(now.Add(time.Minute)) {
		errs = append(errs, FieldError{Field: "received_at", Detail: "must not be in the future"})
	}
	if b.IdentityAsserted != nil && (!p.Has(RoleIntegration) || b.IdentityAsserted.Provider == "") {
		errs = append(errs, FieldError{Field: "identity_asserted", Detail: "only an integration with an upstream login (provider) may assert the identity; a case handler confirms it with evidence"})
	}
	switch b.Kind {
	case cases.RequestRectification:
		if len(b.Rectification) == 0 {
			errs = append(errs, FieldError{Field: "rectification", Detail: "names the fields to correct"})
		}
		// The corrected values pass registration's own checks (they reach
		// the Diploma Registry and e-mails) and are stored as registration
		// stores them.
		v := &validator{}
		fields := slices.Sorted(maps.Keys(b.Rectification))
		for _, f := range fields {
			value, field := b.Rectification[f], "rectification."+f
			switch f {
			case "given_name", "family_name", "address.street":
				b.Rectification[f] = v.text(field, value, true, 200)
			case "address.postal_code":
				b.Rectification[f] = v.text(field, value, true, 20)
			case "address.city":
				b.Rectification[f] = v.text(field, value, true, 100)
			case "address.country":
				b.Rectification[f] = strings.TrimSpace(value)
				if !countryRe.MatchString(b.Rectification[f]) {
					v.add(field, "must be an ISO 3166-1 alpha-2 code such as NO")
				}
			case "email":
				b.Rectification[f] = v.email(field, value, true)
			case "phone":
				b.Rectification[f] = v.phone(field, value, true)
			case "gender":
				b.Rectification[f] = v.oneOf(field, value, genders, true)
			case "written_form":
				b.Rectification[f] = v.oneOf(field, value, writtenForms, true)
			case "date_of_birth":
				dob := v.date(field, value, true)
				switch {
				case dob.IsZero():
				case dob.After(now) || dob.Year() < 1900:
					v.add(field, "must be a date from 1900 until today")
				default:
					b.Rectification[f] = dob.Format(time.DateOnly)
					// The national identity number the request names
					// encodes a birth date; the correction must agree with
					// it (the one on record is checked when it is applied).
					if born, ok := identity.BirthDate(b.Identifier.Value); ok && b.Identifier.Kind == "national_id" && !born.Equal(dob) {
						v.add(field, "contradicts the birth date that identifier.value encodes; a wrong national identity number is corrected by a case handler")
					}
				}
			default:
				v.add(field, "is not corrected this way: one of %s (identifiers are corrected by a case handler)", strings.Join(policy.Rectifiable, ", "))
			}
		}
		errs = append(errs, v.errs...)
	default:
		if len(b.Rectification) > 0 {
			errs = append(errs, FieldError{Field: "rectification", Detail: "goes with kind rectification"})
		}
	}
	if b.Kind == cases.RequestObjection {
		known := policy.ObjectionPurposes()
		if len(b.Purposes) == 0 {
			errs = append(errs, FieldError{Field: "purposes", Detail: "names the purposes objected to: " + strings.Join(known, ", ")})
		}
		seen := map[string]bool{}
		for i, p := range b.Purposes {
			switch {
			case !slices.Contains(known, p):
				errs = append(errs, FieldError{Field: fmt.Sprintf("purposes[%d]", i), Detail: "must be one of " + strings.Join(known, ", ")})
			case seen[p]:
				errs = append(errs, FieldError{Field: fmt.Sprintf("purposes[%d]", i), Detail: "is named twice"})
			}
			seen[p] = true
		}
	} else if len(b.Purposes) > 0 {
		errs = append(errs, FieldError{Field: "purposes", Detail: "goes with kind objection"})
	}
	if len(b.Grounds) > 10000 {
		errs = append(errs, FieldError{Field: "grounds", Detail: "must be at most 10000 characters"})
	}
	return errs
}

// answerWithin is how long after receipt a subject request is due (T19:
// "no later than within 30 days"); an extension may add two further months
// (cases.ExtensionMonths), made and told to the person within these days.
const answerWithin = 30 * 24 * time.Hour

// createSubjectRequest registers a request and starts its workflow. The
// 30 days run from receipt; the identity is confirmed first (a case
// handler, or an upstream login asserted by an integration).
func (s *server) createSubjectRequest(c *gin.Context) {
	var b SubjectRequestBody
	if !s.decodeBody(c, &b) {
		return
	}
	now := s.Validation.Now()
	p := principal(c)
	if errs := b.check(p, now); len(errs) > 0 {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid request", Status: http.StatusUnprocessableEntity, Detail: errs[0].Field + " " + errs[0].Detail, Errors: errs})
		return
	}
	ctx := c.Request.Context()
	var candidateID uuid.UUID
	var err error
	if b.Identifier.Kind == "passport_number" {
		candidateID, err = s.Store.FindCandidateByPassport(ctx, b.Identifier.Value, b.Identifier.Country)
	} else {
		candidateID, err = s.Store.FindCandidate(ctx, b.Identifier.Kind, b.Identifier.Value)
	}
	if errors.Is(err, storage.ErrNotFound) {
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "No such person", Status: http.StatusNotFound,
			Detail: "examflow holds no data about a person with this identifier", Errors: []FieldError{{Field: "identifier.value", Detail: "no candidate has it"}}})
		return
	}
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	received := now
	if b.ReceivedAt != nil {
		received = *b.ReceivedAt
	}
	id, ok := s.claimNewID(c, uuid.Must(uuid.NewV7()))
	if !ok {
		return
	}
	due := received.Add(answerWithin)
	req := storage.SubjectRequest{ID: id, CandidateID: candidateID, Kind: b.Kind, ReceivedAt: received, DueAt: due,
		Status: "awaiting_identity", WorkflowID: cases.SubjectRequestWorkflowID(id),
		Details: storage.RequestDetails{Rectification: b.Rectification, Grounds: b.Grounds, Purposes: b.Purposes}}
	if b.IdentityAsserted != nil {
		req.Status, req.IdentityMethod, req.IdentityVerifiedBy, req.IdentityVerifiedAt = "in_progress", "upstream_login", b.IdentityAsserted.Provider, &now
	}
	if err := s.Store.CreateSubjectRequest(ctx, req); err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	// Answered with the request as stored, so that a retry with the same
	// Idempotency-Key gets the first answer.
	if stored, err := s.Store.GetSubjectRequest(ctx, id); err == nil {
		due = stored.OriginalDueAt
	}
	in := cases.NewSubjectRequestInput(id, b.Kind, b.Purposes, due, b.IdentityAsserted != nil, s.SubjectRequests.Reminders, s.SubjectRequests.LiftNotice)
	if _, err := cases.StartSubjectRequest(ctx, s.Temporal, s.TaskQueue, req.WorkflowID, in); !cases.Started(err) {
		// The request is stored: the worker's reconciler starts its
		// workflow if no retry does.
		s.Logger.WarnContext(ctx, "start subject request workflow", "request_id", id.String(), "error", err)
		unavailable(c, "Temporal did not answer; send the request again with the same Idempotency-Key")
		return
	}
	if err := s.Store.MarkSubjectRequestStarted(ctx, id); errors.Is(err, cases.ErrRequestGone) {
		// The final deletion deleted the request with its person just now,
		// before this workflow existed for it to close.
		if _, err := cases.CloseSubjectRequest(ctx, s.Temporal, id); err != nil {
			s.Logger.WarnContext(ctx, "close the workflow of a request deleted with its person", "request_id", id.String(), "error", err)
		}
	} else if err != nil {
		s.Logger.WarnContext(ctx, "subject request workflow start not recorded", "request_id", id.String(), "error", err)
	}
	c.Set(auditSubjectKey, auditSubject{storage.SubjectCandidate, candidateID})
	c.Header("Location", "/v1/subject-requests/"+id.String())
	out := gin.H{"request_id": id.String(), "workflow_id": req.WorkflowID, "candidate_id": candidateID.String(),
		"due_at": due, "status": req.Status}
	if link := s.uiLink(c, req.WorkflowID); link != "" {
		out["temporal_ui_url"] = link
	}
	c.JSON(http.StatusCreated, out)
}

// subjectRequestOf reads the request named in the path.
func (s *server) subjectRequestOf(c *gin.Context) (storage.SubjectRequest, bool) {
	r, ok := loadRow(s, c, "id", "no subject request with this id", s.Store.GetSubjectRequest)
	if !ok {
		return r, false
	}
	c.Set(auditSubjectKey, auditSubject{storage.SubjectCandidate, r.CandidateID})
	return r, true
}

func (s *server) getSubjectRequest(c *gin.Context) {
	r, ok := s.subjectRequestOf(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, SubjectRequestView{RequestID: r.ID.String(), WorkflowID: r.WorkflowID, TemporalUIURL: s.uiLink(c, r.WorkflowID), CandidateID: r.CandidateID.String(),
		Kind: r.Kind, Status: r.Status, ReceivedAt: r.ReceivedAt, DueAt: r.DueAt, OriginalDueAt: r.OriginalDueAt,
		Extended: r.DueAt.After(r.OriginalDueAt), ExtensionReason: r.ExtensionReason, IdentityMethod: r.IdentityMethod, IdentityVerifiedBy: r.IdentityVerifiedBy,
		Outcome: r.Outcome, OutcomeReason: r.OutcomeReason, AnsweredAt: r.AnsweredAt, ExportReady: r.ExportObject != "",
		Reminders: r.Reminders, Rectification: r.Details.Rectification, Grounds: r.Details.Grounds, Purposes: r.Details.Purposes})
}

// subjectRequestUpdate sends the body, decoded as T, as an Update to the
// request's workflow.
func subjectRequestUpdate[T any](s *server, name string) gin.HandlerFunc {
	return workflowUpdateRoute[T](s, name, func(c *gin.Context) (string, string, bool) {
		r, ok := s.subjectRequestOf(c)
		return r.WorkflowID, r.ID.String(), ok
	}, nil, func(c *gin.Context, id string, _ T, _ any) {
		c.JSON(http.StatusOK, gin.H{"request_id": id, "status": "accepted"})
	})
}

// exportLink returns a short-lived link to a request's access export.
func (s *server) exportLink(c *gin.Context) {
	r, ok := s.subjectRequestOf(c)
	if !ok {
		return
	}
	if r.ExportObject == "" {
		writeProblem(c, Problem{Type: ProblemConflict, Title: "No export yet", Status: http.StatusConflict,
			Detail: "the export is built once the person's identity is confirmed"})
		return
	}
	exp := s.Validation.Now().Add(s.SubjectRequests.ExportLinkTTL).Truncate(time.Second)
	c.JSON(http.StatusOK, gin.H{"url": "/exports/" + s.signExport(r.ID, exp), "expires_at": exp})
}

// signExport makes the capability token of an export link: the request ID
// and the expiry, signed.
func (s *server) signExport(id uuid.UUID, exp time.Time) string {
	msg := make([]byte, 24)
	copy(msg, id[:])
	binary.BigEndian.PutUint64(msg[16:], uint64(exp.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(msg, s.exportMAC(msg)...))
}

func (s *server) exportMAC(msg []byte) []byte {
	m := hmac.New(sha256.New, s.ExportLinkKey)
	m.Write([]byte("examflow export link\x00"))
	m.Write(msg)
	return m.Sum(nil)
}

// downloadExport serves an export to whoever holds an unexpired link: the
// link is the capability (the person fetches it after logging in upstream).
func (s *server) downloadExport(c *gin.Context) {
	raw, err := base64.RawURLEncoding.DecodeString(c.Param("token"))
	if err != nil || len(raw) != 24+sha256.Size || len(s.ExportLinkKey) == 0 || !hmac.Equal(raw[24:], s.exportMAC(raw[:24])) {
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such export link"})
		return
	}
	id, _ := uuid.FromBytes(raw[:16])
	if exp := time.Unix(int64(binary.BigEndian.Uint64(raw[16:24])), 0); s.Validation.Now().After(exp) {
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Link expired", Status: http.StatusGone, Detail: "ask for a new link"})
		return
	}
	ctx := c.Request.Context()
	r, err := s.Store.GetSubjectRequest(ctx, id)
	if err != nil {
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such export"})
		return
	}
	doc, err := s.Store.ReadExport(ctx, s.Objects, r)
	if err != nil {
		s.failed(c, err, "the export cannot be read now")
		return
	}
	if err := s.Store.Audit(ctx, storage.AuditEntry{Who: "data subject (export link)", Role: "data_subject", Purpose: purposeRights,
		Action: storage.AuditExport, SubjectKind: storage.SubjectCandidate, SubjectID: r.CandidateID, Fields: []string{"all"}, Operation: "GET /exports/:token"}); err != nil {
		s.failed(c, err, "the audit log is unavailable")
		return
	}
	c.Header("Content-Disposition", `attachment; filename="examflow-export-`+id.String()+`.json"`)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json; charset=utf-8", doc)
}

// overdueCollector exports the number of subject requests past their due
// date, counted when Prometheus scrapes.
type overdueCollector struct {
	s    *server
	desc *prometheus.Desc
}

func (o overdueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc }

func (o overdueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := o.s.Store.OverdueSubjectRequests(ctx, o.s.Validation.Now())
	if err != nil {
		// Left out, so /metrics still answers while PostgreSQL is down (the
		// worker's examflow_state_up says so).
		return
	}
	ch <- prometheus.MustNewConstMetric(o.desc, prometheus.GaugeValue, float64(n))
}
