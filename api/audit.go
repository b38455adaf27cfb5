package api

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// auditSpec says how a route touches personal data, for the audit log.
type auditSpec struct {
	action  string // storage.AuditRead, AuditChange, AuditExport, AuditRelease
	subject string // the path's :id is a storage.SubjectRegistration or SubjectCandidate; "" when none
	purpose string
	fields  []string
	// byStore: the store writes the entry in the change's own
	// transaction (a release, storage.RecordDisclosure), so the change and
	// its entry are committed together; the route writes none.
	byStore bool
}

// Purposes (T01), as the audit log records them: IDs of the fixed
// catalogue policy.AuditPurposes, which the audit log enforces. Arranging a
// test and assuring its quality are one purpose in the policy.
const (
	purposeArranging = "arrange_tests"
	purposeQuality   = "arrange_tests"
	purposeCentre    = "test_centre"
	purposeAppeal    = "appeals"
	purposeOversight = policy.AuditDPOOversight
	purposeRights    = policy.AuditDataSubjectRights
	purposeCourses   = "administer_training"
)

// courseNoticePurpose is the purpose course notices carry in the outbox.
const courseNoticePurpose = "administering and following up the chosen training"

// subjectRequest marks a route whose :id is a subject request: the audit
// entry names the request's person.
const subjectRequest = "subject_request"

// auditSubject is a data subject a handler names for the audit log.
type auditSubject struct {
	kind string
	id   uuid.UUID
}

func reads(subject, purpose string, fields ...string) *auditSpec {
	return &auditSpec{action: storage.AuditRead, subject: subject, purpose: purpose, fields: fields}
}

func changes(subject, purpose string, fields ...string) *auditSpec {
	return &auditSpec{action: storage.AuditChange, subject: subject, purpose: purpose, fields: fields}
}

// auditSubjectKey lets a handler name the subject a route created.
const auditSubjectKey = "examflow.audit.subject"

// audited records a route's access to personal data in the audit log: who
// (the token's person), in which role, for what purpose, whose data and
// which fields. A read is recorded before it is served and is refused
// (503) if it cannot be: no unrecorded read. A change is recorded once it
// succeeded.
func (s *server) audited(rt RouteSpec) gin.HandlerFunc {
	a := rt.audit
	return func(c *gin.Context) {
		if s.Store == nil {
			c.Next()
			return
		}
		p := principal(c)
		entry := storage.AuditEntry{Who: p.Subject, Role: p.roleFor(rt.Roles), Purpose: a.purpose, Action: a.action,
			Fields: a.fields, Operation: rt.Method + " " + rt.Path}
		ctx := c.Request.Context()
		if id, err := uuid.Parse(c.Param("id")); err == nil && a.subject != "" {
			entry.SubjectKind, entry.SubjectID = a.subject, id
			if a.subject == subjectRequest {
				entry.SubjectKind, entry.SubjectID = "", uuid.Nil
				if r, err := s.Store.GetSubjectRequest(ctx, id); err == nil {
					entry.SubjectKind, entry.SubjectID = storage.SubjectCandidate, r.CandidateID
				}
			}
		}
		if a.action == storage.AuditRead {
			if err := s.Store.Audit(ctx, entry); err != nil {
				s.Logger.WarnContext(ctx, "audit log append failed; read refused", "operation", entry.Operation, "error", err)
				unavailable(c, "the audit log is unavailable")
				c.Abort()
				return
			}
			c.Next()
			return
		}
		c.Next()
		if a.byStore {
			return
		}
		if st := c.Writer.Status(); st < 200 || st > 299 {
			return
		}
		if v, ok := c.Get(auditSubjectKey); ok {
			switch x := v.(type) {
			case uuid.UUID:
				entry.SubjectKind, entry.SubjectID = storage.SubjectRegistration, x
			case auditSubject:
				entry.SubjectKind, entry.SubjectID = x.kind, x.id
			}
		}
		if err := s.Store.Audit(ctx, entry); err != nil {
			s.Logger.ErrorContext(ctx, "audit log append failed after a change", "operation", entry.Operation, "error", err)
		}
	}
}

// roleFor is the role the principal acts in on a route: the first of its
// roles the route allows.
func (p Principal) roleFor(allowed []string) string {
	for _, r := range p.Roles {
		for _, a := range allowed {
			if r == a {
				return r
			}
		}
	}
	return ""
}

// AuditRecordView is an audit log entry as the API shows it.
type AuditRecordView struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Who     string    `json:"who"`
	Role    string    `json:"role"`
	Purpose string    `json:"purpose"`
	// PurposeDescription is what the catalogue says the purpose is; empty
	// for an entry written before the catalogue, in words of its own.
	PurposeDescription string   `json:"purpose_description,omitempty"`
	Action             string   `json:"action"`
	SubjectKind        string   `json:"subject_kind,omitempty"`
	SubjectID          string   `json:"subject_id,omitempty"`
	Fields             []string `json:"fields"`
	Operation          string   `json:"operation,omitempty"`
	Hash               string   `json:"hash"`
}

// listAuditLog serves the audit log to the data-protection officer:
// filtered by subject, person and time, page by page (after_id).
func (s *server) listAuditLog(c *gin.Context) {
	var f storage.AuditFilter
	var errs []FieldError
	q := c.Request.URL.Query()
	if v := q.Get("subject_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			errs = append(errs, FieldError{Field: "subject_id", Detail: "must be a UUID"})
		}
		f.SubjectID = id
		f.SubjectKind = q.Get("subject_kind")
		if f.SubjectKind != storage.SubjectCandidate && f.SubjectKind != storage.SubjectRegistration && f.SubjectKind != storage.SubjectCourseRegistration {
			errs = append(errs, FieldError{Field: "subject_kind", Detail: "must be candidate, registration or course_registration with subject_id"})
		}
	}
	f.Who = q.Get("who")
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				errs = append(errs, FieldError{Field: name, Detail: "must be an RFC 3339 time"})
			}
			*dst = t
		}
	}
	for name, dst := range map[string]*int{"limit": &f.Limit} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				errs = append(errs, FieldError{Field: name, Detail: "must be 1 to 1000"})
			}
			*dst = n
		}
	}
	if v := q.Get("after_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, FieldError{Field: "after_id", Detail: "must be a non-negative integer"})
		}
		f.AfterID = n
	}
	if len(errs) > 0 {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid query", Status: http.StatusUnprocessableEntity, Errors: errs})
		return
	}
	recs, err := s.Store.AuditLog(c.Request.Context(), f)
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	out := make([]AuditRecordView, 0, len(recs))
	for _, r := range recs {
		v := AuditRecordView{ID: r.ID, At: r.At, Who: r.Who, Role: r.Role, Purpose: r.Purpose, PurposeDescription: policy.AuditPurposeDescription(r.Purpose), Action: r.Action,
			SubjectKind: r.SubjectKind, Fields: r.Fields, Operation: r.Operation, Hash: hex.EncodeToString(r.Hash)}
		if r.SubjectID != uuid.Nil {
			v.SubjectID = r.SubjectID.String()
		}
		if v.Fields == nil {
			v.Fields = []string{}
		}
		out = append(out, v)
	}
	c.JSON(http.StatusOK, gin.H{"entries": out})
}
