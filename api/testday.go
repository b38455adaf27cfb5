package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/storage"
)

// registrationForUpdate reads the registration named in the path, answering
// 400/404/503 itself when it cannot.
func (s *server) registrationForUpdate(c *gin.Context) (storage.Registration, bool) {
	return loadRow(s, c, "id", "no registration with this id", s.Store.GetRegistration)
}

// registrationUpdate decodes the body as T and sends it as the named Update
// to the registration's lifecycle, then answers status with the
// registration's ID and what answer takes from the body. prepare, if not
// nil, adjusts the decoded body first. The six Updates of the test day
// (answer sheets, discrepancies, reviews, assessments, settlements,
// cheating decisions) are routes of it.
func registrationUpdate[T any](s *server, name string, status int, prepare func(*T), answer func(T) gin.H) gin.HandlerFunc {
	return workflowUpdateRoute[T, any](s, name, func(c *gin.Context) (string, string, bool) {
		reg, ok := s.registrationForUpdate(c)
		return reg.WorkflowID, reg.ID.String(), ok
	}, prepare, func(c *gin.Context, id string, arg T, _ any) {
		body := answer(arg)
		body["registration_id"] = id
		c.JSON(status, body)
	})
}

// sendUpdateTo sends a workflow Update and waits for its outcome, and
// decodes its result into out when out is not nil. A validator's refusal is
// 422 with its reason; the same Idempotency-Key with the same request is
// the same Update, so a retry is answered without doing anything twice,
// and the key used before for another request is refused (422) without
// sending anything.
// The Idempotency-Key is claimed for the resource in the path's :id (the
// registration, subject request or course registration), so that it is
// deleted with it.
func (s *server) sendUpdateTo(c *gin.Context, workflowID, name string, arg, out any) bool {
	update, ok := s.updater(c)
	if !ok {
		return false
	}
	if err := update(workflowID, name, arg, out); err != nil {
		s.updateProblem(c, workflowID, name, err)
		return false
	}
	return true
}

// updateFunc sends one Update and waits for its result.
type updateFunc func(workflowID, name string, arg, out any) error

// updater claims the request's Idempotency-Key (see sendUpdateTo) and
// returns what sends its Updates, each with the update ID the key gives, so
// that an Update sent again (to a workflow started meanwhile) is still
// the same one. With ok false the problem is written.
func (s *server) updater(c *gin.Context) (updateFunc, bool) {
	resource, _ := uuid.Parse(c.Param("id"))
	idem, ok := s.claimIdempotencyKey(c, resource)
	if !ok {
		return nil, false
	}
	updateID := ""
	if idem != nil {
		updateID = updateIDFor(idem)
	}
	return func(workflowID, name string, arg, out any) error {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 30*time.Second)
		defer cancel()
		handle, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: workflowID, UpdateName: name, Args: []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted, UpdateID: updateID,
		})
		if err == nil {
			err = handle.Get(ctx, out)
		}
		return err
	}, true
}

// workflowNotRunning reports whether an Update failed because its
// workflow does not run: never started, or closed.
func workflowNotRunning(err error) bool {
	var notFound *serviceerror.NotFound
	return errors.As(err, &notFound)
}

// updateProblem answers a failed Update: the workflow's refusal is 422
// naming the field, a workflow not running 409, anything else 503.
func (s *server) updateProblem(c *gin.Context, workflowID, name string, err error) {
	switch appErr, ok := refusalOf(err); {
	case ok:
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Refused by the workflow", Status: http.StatusUnprocessableEntity,
			Detail: appErr.Message(), Errors: []FieldError{{Field: cases.RefusedField(appErr), Detail: appErr.Message()}}})
	case workflowNotRunning(err):
		writeProblem(c, Problem{Type: ProblemConflict, Title: "Workflow not running", Status: http.StatusConflict,
			Detail: "the workflow is not running"})
	default:
		s.Logger.WarnContext(c.Request.Context(), "workflow update failed", "workflow_id", workflowID, "update", name, "error", err)
		unavailable(c, "Temporal did not answer")
	}
}

// refusalOf finds the refusal in an Update's failure: an activity's
// AppealRefused error anywhere in the chain, or the validator's or
// handler's own error. An activity that failed otherwise (PostgreSQL down)
// is not a refusal: it is not the caller's fault.
func refusalOf(err error) (*temporal.ApplicationError, bool) {
	var first *temporal.ApplicationError
	activityFailed := false
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch x := e.(type) {
		case *temporal.ActivityError:
			activityFailed = true
		case *temporal.ApplicationError:
			if x.Type() == cases.ErrorAppealRefused {
				return x, true
			}
			if first == nil {
				first = x
			}
		}
	}
	return first, first != nil && !activityFailed
}

func (s *server) decodeBody(c *gin.Context, v any) bool {
	body, prob := readBody(c)
	if prob == nil {
		prob = decodeStrictBytes(body, v)
	}
	if prob != nil {
		writeProblem(c, *prob)
		return false
	}
	if prob := resolveActor(c, v); prob != nil {
		writeProblem(c, *prob)
		return false
	}
	return true
}

// ResultView is one decision on a part, for case handlers.
type ResultView struct {
	ID         string `json:"id"`
	Part       string `json:"part"`
	Result     string `json:"result"`
	Score      *int   `json:"score,omitempty"`
	MaxScore   *int   `json:"max_score,omitempty"`
	KeyVersion *int   `json:"key_version,omitempty"`
	DecidedBy  string `json:"decided_by"`
	// LegalBasis is an automated decision's legal basis (T02).
	LegalBasis   string         `json:"legal_basis,omitempty"`
	Reason       string         `json:"reason,omitempty"`
	DecidedAt    time.Time      `json:"decided_at"`
	Current      bool           `json:"current"`
	Annulled     bool           `json:"annulled"`
	Basis        map[string]any `json:"basis,omitempty"`
	Items        any            `json:"items,omitempty"`
	Rule         any            `json:"rule,omitempty"`
	SupersededBy string         `json:"superseded_by,omitempty"`
}

func (s *server) listResults(c *gin.Context) {
	reg, ok := s.registrationForUpdate(c)
	if !ok {
		return
	}
	rs, err := s.Store.ResultHistory(c.Request.Context(), reg.ID)
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	out := make([]ResultView, 0, len(rs))
	for _, r := range rs {
		v := ResultView{ID: r.ID.String(), Part: r.Part, Result: r.Result, Score: r.Score, MaxScore: r.MaxScore, KeyVersion: r.KeyVersion,
			DecidedBy: r.DecidedBy, LegalBasis: r.LegalBasis, Reason: r.Reason, DecidedAt: r.DecidedAt, Current: r.SupersededBy == nil && !r.Annulled,
			Annulled: r.Annulled, Basis: r.Basis, Items: r.Items, Rule: r.Rule}
		if r.SupersededBy != nil {
			v.SupersededBy = r.SupersededBy.String()
		}
		out = append(out, v)
	}
	c.JSON(http.StatusOK, gin.H{"registration_id": reg.ID.String(), "results": out})
}

// SessionRequest creates a test session.
type SessionRequest struct {
	TestType    string            `json:"test_type"`
	TestCentre  string            `json:"test_centre"`
	SessionDate string            `json:"session_date"`
	TestVersion string            `json:"test_version"`
	Forms       map[string]string `json:"forms"`
	WindowStart *time.Time        `json:"window_start"`
	WindowEnd   *time.Time        `json:"window_end"`
}

// SessionView is a stored session.
type SessionView struct {
	ID          string            `json:"id"`
	TestType    string            `json:"test_type"`
	TestCentre  string            `json:"test_centre"`
	SessionDate string            `json:"session_date"`
	TestVersion string            `json:"test_version"`
	Forms       map[string]string `json:"forms"`
	WindowStart time.Time         `json:"window_start"`
	WindowEnd   time.Time         `json:"window_end"`
}

func sessionView(x storage.Session) SessionView {
	return SessionView{ID: x.ID.String(), TestType: x.TestType, TestCentre: x.TestCentre, SessionDate: x.SessionDate.Format(time.DateOnly),
		TestVersion: x.TestVersion, Forms: x.Forms, WindowStart: x.WindowStart, WindowEnd: x.WindowEnd}
}

func (s *server) createSession(c *gin.Context) {
	ctx := c.Request.Context()
	var req SessionRequest
	if !s.decodeBody(c, &req) {
		return
	}
	v := &validator{}
	in := storage.NewSession{TestType: req.TestType, TestCentre: strings.TrimSpace(req.TestCentre), TestVersion: req.TestVersion, Forms: req.Forms}
	if _, ok := testParts[req.TestType]; !ok {
		v.add("test_type", "must be one of citizenship, norwegian_a1_b2, norwegian_c1, social_studies")
	}
	if !testCentreCode.MatchString(in.TestCentre) {
		v.add("test_centre", "must be the test centre's code: letters, digits, - and _, at most 64")
	}
	in.SessionDate = v.date("session_date", req.SessionDate, true)
	var tv marking.TestVersion
	if len(v.errs) == 0 {
		var ok bool
		if req.TestVersion == "" {
			var err error
			tv, err = s.Catalogue.Version(req.TestType, in.SessionDate)
			ok = err == nil
		} else {
			tv, ok = s.Catalogue.Lookup(req.TestType, req.TestVersion)
		}
		if !ok {
			v.add("test_version", "no version of %s in the catalogue is valid on %s", req.TestType, req.SessionDate)
		} else {
			in.TestVersion = tv.Version
			// A key and its threshold must exist for every machine-marked
			// part before the session starts.
			for _, part := range tv.PartNames() {
				def, _ := tv.Part(part)
				if !def.Automated() {
					continue
				}
				form := req.Forms[part]
				if form == "" {
					v.add("forms."+part, "is required: the answer-key form of the machine-marked part %s", part)
					continue
				}
				key, err := s.Store.AnswerKeyByForm(ctx, form, 0)
				switch {
				case errors.Is(err, storage.ErrNotFound):
					v.add("forms."+part, "form %q has no answer key; create the key before the session", form)
				case err != nil:
					s.failed(c, err, "the database is unavailable")
					return
				case key.TestType != req.TestType || key.Part != part || key.TestVersion != tv.Version:
					v.add("forms."+part, "form %q is a key for %s %s version %s, not %s %s version %s", form, key.TestType, key.Part, key.TestVersion, req.TestType, part, tv.Version)
				}
			}
			for part := range req.Forms {
				if def, ok := tv.Part(part); !ok || !def.Automated() {
					v.add("forms."+part, "is not a machine-marked part of %s", req.TestType)
				}
			}
		}
	}
	if !in.SessionDate.IsZero() {
		in.WindowStart, in.WindowEnd = in.SessionDate, in.SessionDate.Add(24*time.Hour)
	}
	if req.WindowStart != nil {
		in.WindowStart = *req.WindowStart
	}
	if req.WindowEnd != nil {
		in.WindowEnd = *req.WindowEnd
	}
	if !in.WindowEnd.After(in.WindowStart) {
		v.add("window_end", "must be after window_start")
	}
	if len(v.errs) > 0 {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid session", Status: http.StatusUnprocessableEntity, Detail: pluralFields(len(v.errs)), Errors: v.errs})
		return
	}
	sess, err := s.Store.CreateSession(ctx, in)
	switch {
	case errors.Is(err, storage.ErrDuplicate):
		c.Header("Location", "/v1/sessions/"+sess.ID.String())
		writeProblem(c, Problem{Type: ProblemConflict, Title: "Session exists", Status: http.StatusConflict,
			Detail: "a session for this test, centre and date exists", Extra: map[string]any{"session": sessionView(sess)}})
		return
	case err != nil:
		s.failed(c, err, "the database is unavailable")
		return
	}
	c.Header("Location", "/v1/sessions/"+sess.ID.String())
	c.JSON(http.StatusCreated, sessionView(sess))
}

// reportSessionDiscrepancy records a discrepancy for a whole session and
// sends it to every registration's workflow.
func (s *server) reportSessionDiscrepancy(c *gin.Context) {
	ctx := c.Request.Context()
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	var d cases.Discrepancy
	if !s.decodeBody(c, &d) {
		return
	}
	if d.Kind != cases.DiscrepancyTechnicalProblem && d.Kind != cases.DiscrepancyDidNotAttend {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid discrepancy", Status: http.StatusUnprocessableEntity,
			Errors: []FieldError{{Field: "kind", Detail: "a whole session can have technical_problem or did_not_attend"}}})
		return
	}
	sess, err := s.Store.GetSession(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no session with this id"})
		return
	} else if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	idem, ok := s.claimIdempotencyKey(c, sess.ID)
	if !ok {
		return
	}
	dID, _ := uuid.NewV7()
	if idem != nil {
		dID = idempotentID(idem)
	}
	if err := s.Store.RecordDiscrepancy(ctx, storage.Discrepancy{ID: dID, SessionID: &sess.ID, Part: d.Part, Kind: d.Kind, Note: d.Note}); err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	regs, err := s.Store.SessionRegistrations(ctx, sess.ID)
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	d.SessionWide = true
	var failed []string
	for _, reg := range regs {
		h, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: reg.WorkflowID, UpdateName: cases.UpdateReportDiscrepancy,
			Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted, UpdateID: "session-discrepancy/" + dID.String()})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		var appErr *temporal.ApplicationError
		if err != nil && !errors.As(err, &appErr) {
			failed = append(failed, reg.ID.String())
		}
	}
	if len(failed) > 0 {
		writeProblem(c, Problem{Type: ProblemUnavailable, Title: "Some workflows did not answer", Status: http.StatusServiceUnavailable,
			Detail: fmt.Sprintf("the discrepancy is recorded; %d of %d registrations did not receive it yet; retry with the same Idempotency-Key", len(failed), len(regs))})
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"session_id": sess.ID.String(), "kind": d.Kind, "registrations": len(regs)})
}

// ReapplyRequest re-applies a form's latest (corrected) answer key.
type ReapplyRequest struct {
	// DryRun lists what would change and changes nothing; it defaults to true.
	DryRun *bool `json:"dry_run"`
}

// RemarkView is one result a corrected key changes.
type RemarkView struct {
	RegistrationID string `json:"registration_id"`
	Part           string `json:"part"`
	OldResult      string `json:"old_result"`
	OldScore       *int   `json:"old_score"`
	OldKeyVersion  *int   `json:"old_key_version"`
	NewResult      string `json:"new_result"`
	NewScore       int    `json:"new_score"`
	NewKeyVersion  int    `json:"new_key_version"`
	Applied        bool   `json:"applied"`
}

// reapplyKey lists (dry run) or applies the changes a corrected answer key
// makes; each change goes through the registration's own workflow, which
// records it as a new result that supersedes the old one.
func (s *server) reapplyKey(c *gin.Context) {
	ctx := c.Request.Context()
	form := c.Param("form_id")
	var req ReapplyRequest
	if !s.decodeBody(c, &req) {
		return
	}
	dry := req.DryRun == nil || *req.DryRun
	changes, err := s.Store.RemarkForm(ctx, form)
	if err != nil {
		s.Logger.WarnContext(ctx, "re-apply key", "error", err)
		unavailable(c, "the database is unavailable")
		return
	}
	out := []RemarkView{}
	var failed int
	for _, ch := range changes {
		if !ch.Changed {
			continue
		}
		v := RemarkView{RegistrationID: ch.RegistrationID.String(), Part: ch.Part, OldResult: ch.Old.Result, OldScore: ch.Old.Score,
			OldKeyVersion: ch.Old.KeyVersion, NewResult: ch.New.Result, NewScore: ch.New.Score, NewKeyVersion: ch.Key.Version}
		if !dry {
			h, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
				WorkflowID: ch.WorkflowID, UpdateName: cases.UpdateReapplyKey, WaitForStage: client.WorkflowUpdateStageCompleted,
				UpdateID: fmt.Sprintf("reapply/%s/%d/%s", form, ch.Key.Version, ch.Part),
				Args:     []any{cases.ReapplyKey{Part: ch.Part, FormID: form, KeyVersion: ch.Key.Version}},
			})
			if err == nil {
				err = h.Get(ctx, nil)
			}
			v.Applied = err == nil
			if err != nil {
				failed++
				s.Logger.WarnContext(ctx, "re-apply key to registration", "registration_id", v.RegistrationID, "error", err)
			}
		}
		out = append(out, v)
	}
	status := http.StatusOK
	if failed > 0 {
		status = http.StatusMultiStatus
	}
	c.JSON(status, gin.H{"form_id": form, "dry_run": dry, "checked": len(changes), "changes": out, "failed": failed})
}
