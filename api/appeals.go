package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/examflow/examflow/appeals"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/storage"
)

// AppealView is an appeal as the API shows it. The candidate's grounds are
// stored sealed and not listed here.
type AppealView struct {
	AppealID       string                `json:"appeal_id"`
	RegistrationID string                `json:"registration_id"`
	WorkflowID     string                `json:"workflow_id"`
	Kind           string                `json:"kind"`
	Part           string                `json:"part,omitempty"`
	Against        string                `json:"against,omitempty"`
	ReceivedAt     time.Time             `json:"received_at"`
	Deadline       time.Time             `json:"deadline"`
	Late           bool                  `json:"late"`
	LateAcceptance *cases.LateAcceptance `json:"late_acceptance,omitempty"`
	Status         string                `json:"status"`
	LodgedAt       time.Time             `json:"lodged_at"`
	ClosedAt       *time.Time            `json:"closed_at,omitempty"`
	Decisions      []AppealDecisionView  `json:"decisions"`
	// TemporalUIURL is the appeal's workflow page in the Temporal UI, for
	// case handlers when EXAMFLOW_TEMPORAL_UI_URL is set.
	TemporalUIURL string `json:"temporal_ui_url,omitempty"`
}

// AppealDecisionView is one instance's decision.
type AppealDecisionView struct {
	Instance  string    `json:"instance"`
	Decision  string    `json:"decision"`
	Reasons   string    `json:"reasons"`
	DecidedBy string    `json:"decided_by"`
	Level     string    `json:"level,omitempty"`
	ResultID  string    `json:"result_id,omitempty"`
	DecidedAt time.Time `json:"decided_at"`
}

func (s *server) appealView(c *gin.Context, a storage.Appeal) AppealView {
	v := AppealView{AppealID: a.ID.String(), RegistrationID: a.RegistrationID.String(), WorkflowID: a.WorkflowID, Kind: a.Kind,
		Part: a.Part, Against: a.Against, ReceivedAt: a.ReceivedAt, Deadline: a.Deadline, Late: a.LateAcceptedBy != "",
		Status: a.Status, LodgedAt: a.LodgedAt, ClosedAt: a.ClosedAt, Decisions: []AppealDecisionView{}, TemporalUIURL: s.uiLink(c, a.WorkflowID)}
	if v.Late {
		v.LateAcceptance = &cases.LateAcceptance{AcceptedBy: a.LateAcceptedBy, Reason: a.LateReason}
	}
	for _, d := range a.Decisions {
		dv := AppealDecisionView{Instance: d.Instance, Decision: d.Decision, Reasons: d.Reasons, DecidedBy: d.DecidedBy, Level: d.Level, DecidedAt: d.DecidedAt}
		if d.ResultID != nil {
			dv.ResultID = d.ResultID.String()
		}
		v.Decisions = append(v.Decisions, dv)
	}
	return v
}

// checkAppealRequest refuses what is malformed before the workflow sees
// it; the workflow's rules (deadlines, what can be appealed) come after.
func checkAppealRequest(r cases.AppealRequest, now time.Time) []FieldError {
	var errs []FieldError
	if !slices.Contains(appeals.Kinds(), appeals.Kind(r.Kind)) {
		var kinds []string
		for _, k := range appeals.Kinds() {
			kinds = append(kinds, string(k))
		}
		errs = append(errs, FieldError{Field: "kind", Detail: "must be one of " + strings.Join(kinds, ", ")})
	}
	if r.Against != "" && !slices.Contains([]string{appeals.AgainstCheating, appeals.AgainstQuarantine, appeals.AgainstComplaintRejection}, r.Against) {
		errs = append(errs, FieldError{Field: "against", Detail: "must be cheating, quarantine or formal_error_rejection"})
	}
	if r.ReceivedAt != nil && r.ReceivedAt.After(now.Add(time.Minute)) {
		errs = append(errs, FieldError{Field: "received_at", Detail: "must not be in the future"})
	}
	if len(r.Grounds) > 10000 {
		errs = append(errs, FieldError{Field: "grounds", Detail: "must be at most 10000 characters"})
	}
	if l := r.LateAcceptance; l != nil {
		if strings.TrimSpace(l.AcceptedBy) == "" {
			errs = append(errs, FieldError{Field: "late_acceptance.accepted_by", Detail: "is required: the case handler who accepts the late appeal"})
		}
		if strings.TrimSpace(l.Reason) == "" {
			errs = append(errs, FieldError{Field: "late_acceptance.reason", Detail: "is required"})
		}
	}
	return errs
}

// lodgeAppeal lodges an appeal with the lodge-appeal Update; the workflow
// checks the deadline and starts the appeal's own workflow.
func (s *server) lodgeAppeal(c *gin.Context) {
	reg, ok := s.registrationForUpdate(c)
	if !ok {
		return
	}
	var req cases.AppealRequest
	if !s.decodeBody(c, &req) {
		return
	}
	if errs := checkAppealRequest(req, s.Validation.Now()); len(errs) > 0 {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid appeal", Status: http.StatusUnprocessableEntity,
			Detail: errs[0].Field + " " + errs[0].Detail, Errors: errs})
		return
	}
	var ref cases.AppealRef
	if !s.sendUpdateTo(c, reg.WorkflowID, cases.UpdateLodgeAppeal, req, &ref) {
		return
	}
	c.Header("Location", "/v1/registrations/"+reg.ID.String()+"/appeals/"+ref.AppealID)
	out := gin.H{"registration_id": reg.ID.String(), "appeal_id": ref.AppealID, "workflow_id": ref.WorkflowID,
		"deadline": ref.Deadline, "late": ref.Late, "stage": ref.Stage}
	if link := s.uiLink(c, ref.WorkflowID); link != "" {
		out["temporal_ui_url"] = link
	}
	c.JSON(http.StatusCreated, out)
}

func (s *server) listAppeals(c *gin.Context) {
	reg, ok := s.registrationForUpdate(c)
	if !ok {
		return
	}
	list, err := s.Store.Appeals(c.Request.Context(), reg.ID)
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	out := []AppealView{}
	for _, a := range list {
		out = append(out, s.appealView(c, a))
	}
	c.JSON(http.StatusOK, gin.H{"registration_id": reg.ID.String(), "appeals": out})
}

// appealOf reads the appeal named in the path, answering 400/404/503 itself.
func (s *server) appealOf(c *gin.Context) (storage.Appeal, bool) {
	reg, ok := s.registrationForUpdate(c)
	if !ok {
		return storage.Appeal{}, false
	}
	// An appeal of another registration is not found under this one.
	return loadRow(s, c, "appeal_id", "no appeal with this id for this registration", func(ctx context.Context, id uuid.UUID) (storage.Appeal, error) {
		a, err := s.Store.GetAppeal(ctx, id)
		if err == nil && a.RegistrationID != reg.ID {
			return storage.Appeal{}, storage.ErrNotFound
		}
		return a, err
	})
}

func (s *server) getAppeal(c *gin.Context) {
	if a, ok := s.appealOf(c); ok {
		c.JSON(http.StatusOK, s.appealView(c, a))
	}
}

// appealUpdateRoute sends the request body, decoded as T, as the named
// Update to the appeal's workflow: decisions (appeal-decision) and
// re-assessments (reassessment).
func appealUpdateRoute[T any](s *server, name string) gin.HandlerFunc {
	return workflowUpdateRoute[T](s, name, func(c *gin.Context) (string, string, bool) {
		a, ok := s.appealOf(c)
		return a.WorkflowID, a.ID.String(), ok
	}, nil, func(c *gin.Context, id string, _ T, out cases.AppealOutcome) {
		c.JSON(http.StatusOK, gin.H{"appeal_id": id, "status": out.Status, "stage": out.Stage, "closed": out.Closed,
			"results_changed": out.ResultsChanged})
	})
}

// workflowUpdateRoute decodes the request body as T, lets prepare (if not
// nil) adjust it, and sends it as the named Update to the workflow target
// finds (answering 4xx itself when it cannot), then answers with what
// answer makes of the body and the Update's result R. Every Update route of
// the API is one.
func workflowUpdateRoute[T, R any](s *server, name string, target func(*gin.Context) (workflowID, id string, ok bool),
	prepare func(*T), answer func(c *gin.Context, id string, arg T, result R)) gin.HandlerFunc {
	return func(c *gin.Context) {
		wid, id, ok := target(c)
		if !ok {
			return
		}
		var arg T
		if !s.decodeBody(c, &arg) {
			return
		}
		if prepare != nil {
			prepare(&arg)
		}
		var out R
		var into any = &out
		if _, none := into.(*any); none {
			into = nil // the Update returns nothing to decode
		}
		if s.sendUpdateTo(c, wid, name, arg, into) {
			answer(c, id, arg, out)
		}
	}
}
