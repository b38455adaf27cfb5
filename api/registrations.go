package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/storage"
)

// RegistrationCreated is the 201 answer to POST /v1/registrations.
type RegistrationCreated struct {
	RegistrationID  string       `json:"registration_id"`
	CandidateID     string       `json:"candidate_id"`
	CandidateNumber string       `json:"candidate_number"`
	WorkflowID      string       `json:"workflow_id"`
	Stage           string       `json:"stage"`
	Warnings        []FieldError `json:"warnings,omitempty"`
	// Legacy is true for a registration imported from the legacy system.
	Legacy bool `json:"legacy,omitempty"`
}

// RegistrationView is the answer to GET /v1/registrations/{id}. It carries
// no personal data.
type RegistrationView struct {
	RegistrationID string             `json:"registration_id"`
	CandidateID    string             `json:"candidate_id"`
	WorkflowID     string             `json:"workflow_id"`
	Test           TestView           `json:"test"`
	TestCentre     string             `json:"test_centre"`
	SessionDate    string             `json:"session_date"`
	Stage          cases.Stage        `json:"stage"`
	StageSince     time.Time          `json:"stage_since"`
	Stages         []cases.Stage      `json:"stages"`
	Parts          []cases.PartStatus `json:"parts"`
	Source         string             `json:"source"`
	PaymentStatus  string             `json:"payment_status,omitempty"`
	RegisteredAt   time.Time          `json:"registered_at"`
}

// TestView describes the test registered for.
type TestView struct {
	Type      string   `json:"type"`
	Parts     []string `json:"parts"`
	LevelBand string   `json:"level_band,omitempty"`
	Language  string   `json:"language,omitempty"`
}

const maxIdempotencyKey = 200

func created(r storage.Registration, warnings []FieldError, legacy bool) RegistrationCreated {
	return RegistrationCreated{
		RegistrationID:  r.ID.String(),
		CandidateID:     r.CandidateID.String(),
		CandidateNumber: r.CandidateNumber,
		WorkflowID:      r.WorkflowID,
		Stage:           string(cases.StageRegistered),
		Warnings:        warnings,
		Legacy:          legacy,
	}
}

func (s *server) createRegistration(c *gin.Context) {
	s.register(c, func(body []byte) (registrationInput, *Problem) {
		var req RegistrationRequest
		if p := decodeStrictBytes(body, &req); p != nil {
			return registrationInput{}, p
		}
		in, errs, warnings := req.Validate(s.Validation)
		return registrationInput{in: in, errs: errs, warnings: warnings}, nil
	})
}

// registrationInput is a decoded and validated registration request; legacy
// is set for imports from the legacy system.
type registrationInput struct {
	in       storage.NewRegistration
	legacy   *storage.LegacyData
	errs     []FieldError
	warnings []FieldError
}

// register is the shared flow of the registration routes: decode and
// validate, store in one transaction (idempotently), start the workflow, and
// answer. Nothing is stored for a refused request.
func (s *server) register(c *gin.Context, parse func(body []byte) (registrationInput, *Problem)) {
	ctx := c.Request.Context()
	body, prob := readBody(c)
	if prob != nil {
		writeProblem(c, *prob)
		return
	}
	ri, prob := parse(body)
	if prob != nil {
		s.metrics.regs.WithLabelValues("unknown", "invalid").Inc()
		writeProblem(c, *prob)
		return
	}
	in, errs := ri.in, ri.errs
	testType := in.TestType
	if _, ok := testParts[testType]; !ok {
		testType = "unknown"
	}
	idem, idemProb := s.idempotencyKey(c)
	if idemProb != nil {
		errs = append(errs, idemProb.Errors...)
	}
	if len(errs) > 0 {
		s.metrics.regs.WithLabelValues(testType, "invalid").Inc()
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid registration", Status: http.StatusUnprocessableEntity,
			Detail: pluralFields(len(errs)), Errors: errs})
		return
	}

	var reg storage.Registration
	var isNew bool
	var err error
	if ri.legacy != nil {
		reg, isNew, err = s.Store.ImportLegacyRegistration(ctx, in, *ri.legacy, idem)
	} else {
		reg, isNew, err = s.Store.CreateRegistration(ctx, in, idem)
	}
	switch {
	case errors.Is(err, storage.ErrDuplicate):
		s.metrics.regs.WithLabelValues(testType, "duplicate").Inc()
		// The existing registration's workflow may still need starting.
		_ = cases.EnsureLifecycle(ctx, s.Temporal, s.Store, s.TaskQueue, reg.LifecycleStart(), reg.WorkflowStarted)
		c.Header("Location", "/v1/registrations/"+reg.ID.String())
		writeProblem(c, Problem{Type: ProblemConflict, Title: "Already registered", Status: http.StatusConflict,
			Detail: "this candidate is already registered for this test on this session date; nothing was stored",
			Extra:  map[string]any{"registration": created(reg, nil, false)}})
		return
	case errors.Is(err, storage.ErrSensitiveNotAllowed):
		// Validate refuses this first; storage refuses it again.
		s.metrics.regs.WithLabelValues(testType, "invalid").Inc()
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid registration", Status: http.StatusUnprocessableEntity,
			Detail: "country_of_origin and mother_tongue " + sensitiveRefusal,
			Errors: []FieldError{{Field: "original_registration_date", Detail: "is on or after 15 February 2022"}}})
		return
	case errors.Is(err, storage.ErrNoSession):
		s.metrics.regs.WithLabelValues(testType, "invalid").Inc()
		writeProblem(c, Problem{Type: ProblemValidation, Title: "No such session", Status: http.StatusUnprocessableEntity,
			Detail: "there is no session of this test at this test centre on this date; sessions are set up with their answer keys before registration",
			Errors: []FieldError{{Field: "test_centre", Detail: "has no session of this test on session_date"}, {Field: "session_date", Detail: "has no session of this test at test_centre"}}})
		return
	case errors.Is(err, storage.ErrQuarantined):
		s.metrics.regs.WithLabelValues(testType, "quarantined").Inc()
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Candidate under quarantine", Status: http.StatusUnprocessableEntity,
			Detail: "a final decision on cheating bars this candidate from tests of this kind until the quarantine ends",
			Errors: []FieldError{{Field: "test.type", Detail: "the candidate is under quarantine for this test"}}})
		return
	case errors.Is(err, storage.ErrIdempotencyMismatch):
		idempotencyMismatch(c)
		return
	case errors.Is(err, storage.ErrIdentifierConflict):
		s.metrics.regs.WithLabelValues(testType, "invalid").Inc()
		writeProblem(c, Problem{Type: ProblemConflict, Title: "Identifiers belong to different candidates", Status: http.StatusConflict,
			Detail: "the identifiers given are registered on different candidates; a case handler must merge them first",
			Errors: []FieldError{{Field: "person", Detail: "identifiers match more than one candidate"}}})
		return
	case errors.Is(err, storage.ErrUnavailable):
		s.Logger.WarnContext(ctx, "registration not stored", "error", err)
		unavailable(c, "the database is unavailable; nothing was stored, try again")
		return
	case err != nil:
		s.Logger.ErrorContext(ctx, "registration not stored", "error", err)
		internalError(c)
		return
	}

	if err := cases.EnsureLifecycle(ctx, s.Temporal, s.Store, s.TaskQueue, reg.LifecycleStart(), reg.WorkflowStarted); err != nil {
		// The registration is stored; the worker's reconciler starts its
		// workflow, and a retry with the same Idempotency-Key answers 201.
		s.Logger.WarnContext(ctx, "workflow start deferred", "registration_id", reg.ID.String(), "error", err)
		writeProblem(c, Problem{Type: ProblemUnavailable, Title: "Workflow start pending", Status: http.StatusServiceUnavailable,
			Detail: "the registration was stored but Temporal did not answer; its workflow will be started automatically. Retry with the same Idempotency-Key for the full answer",
			Extra:  map[string]any{"registration_id": reg.ID.String()}})
		return
	}
	outcome := "created"
	if !isNew {
		outcome = "replayed"
	}
	s.metrics.regs.WithLabelValues(testType, outcome).Inc()
	if isNew {
		// Whether sensitive data came with a legacy import is not logged.
		s.Logger.InfoContext(ctx, "registration created", "registration_id", reg.ID.String(), "workflow_id", reg.WorkflowID,
			"test_type", reg.TestType, "legacy", ri.legacy != nil)
	}
	c.Header("Location", "/v1/registrations/"+reg.ID.String())
	c.Set(auditSubjectKey, reg.ID)
	c.JSON(http.StatusCreated, created(reg, ri.warnings, ri.legacy != nil))
}

func readBody(c *gin.Context) ([]byte, *Problem) {
	if ct := c.ContentType(); ct != "application/json" {
		return nil, &Problem{Type: ProblemMalformed, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Detail: "send the body as application/json", Errors: []FieldError{{Field: "Content-Type", Detail: "must be application/json"}}}
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &Problem{Type: ProblemMalformed, Title: "Request too large", Status: http.StatusRequestEntityTooLarge,
			Detail: "the body must be at most 64 KiB"}
	case err != nil:
		return nil, &Problem{Type: ProblemMalformed, Title: "Malformed request", Status: http.StatusBadRequest,
			Detail: "the request body could not be read"}
	}
	c.Set(rawBodyKey, data)
	return data, nil
}

func pluralFields(n int) string {
	if n == 1 {
		return "1 field is invalid; nothing was stored"
	}
	return strconv.Itoa(n) + " fields are invalid; nothing was stored"
}

func (s *server) getRegistration(c *gin.Context) {
	ctx := c.Request.Context()
	reg, ok := s.registrationForUpdate(c)
	if !ok {
		return
	}
	status, err := s.queryStatus(ctx, reg)
	if err != nil {
		s.Logger.WarnContext(ctx, "query workflow status", "registration_id", reg.ID.String(), "error", err)
		unavailable(c, "Temporal did not answer the status query")
		return
	}
	c.JSON(http.StatusOK, RegistrationView{
		RegistrationID: reg.ID.String(),
		CandidateID:    reg.CandidateID.String(),
		WorkflowID:     reg.WorkflowID,
		Test:           TestView{Type: reg.TestType, Parts: orEmpty(reg.TestParts), LevelBand: reg.LevelBand, Language: reg.Language},
		TestCentre:     reg.TestCentre,
		SessionDate:    reg.SessionDate.Format(time.DateOnly),
		Stage:          status.Stage,
		StageSince:     status.Since,
		Stages:         orEmpty(status.Stages),
		Parts:          orEmpty(status.Parts),
		Source:         reg.Source,
		PaymentStatus:  reg.PaymentStatus,
		RegisteredAt:   reg.RegisteredAt,
	})
}

// orEmpty is s, or an empty slice for nil: the API's arrays are arrays,
// never null (a registration whose parts are not yet known has none).
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// queryStatus reads the stage from the workflow. A registration whose
// workflow was never started gets it started first.
func (s *server) queryStatus(ctx context.Context, reg storage.Registration) (cases.LifecycleStatus, error) {
	var st cases.LifecycleStatus
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := s.Temporal.QueryWorkflow(ctx, reg.WorkflowID, "", cases.QueryStatus)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		if err := cases.EnsureLifecycle(ctx, s.Temporal, s.Store, s.TaskQueue, reg.LifecycleStart(), reg.WorkflowStarted); err != nil {
			return st, err
		}
		v, err = s.Temporal.QueryWorkflow(ctx, reg.WorkflowID, "", cases.QueryStatus)
	}
	if err != nil {
		return st, err
	}
	if err := v.Get(&st); err != nil {
		return st, err
	}
	return st, nil
}
