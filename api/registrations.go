package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/marking"
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
	// TemporalUIURL is the workflow's page in the Temporal UI, for case
	// handlers when EXAMFLOW_TEMPORAL_UI_URL is set.
	TemporalUIURL string `json:"temporal_ui_url,omitempty"`
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
		TemporalUIURL:  s.uiLink(c, reg.WorkflowID),
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

// RegistrationRequest is the body of POST /v1/registrations. Unknown fields
// are refused: nothing beyond the data the privacy policy lists is collected.
type RegistrationRequest struct {
	Person      *PersonRequest `json:"person"`
	Test        *TestRequest   `json:"test"`
	TestCentre  string         `json:"test_centre"`
	SessionDate string         `json:"session_date"`
	// Source is where the personal data comes from (T05); default candidate.
	Source string `json:"source"`
	// PaymentStatus of the fee: paid, unpaid, free or waived (T16).
	PaymentStatus string `json:"payment_status"`
}

// PersonRequest is the candidate's personal data.
type PersonRequest struct {
	GivenName      string `json:"given_name"`
	FamilyName     string `json:"family_name"`
	DateOfBirth    string `json:"date_of_birth"`
	NationalID     string `json:"national_id"`
	DUFNumber      string `json:"duf_number"`
	PassportNumber string `json:"passport_number"`
	// PassportCountry is the passport's issuing country (ISO 3166-1
	// alpha-2), required with a passport number: the number is unique only
	// within its country. Used only to match the passport.
	PassportCountry string          `json:"passport_country"`
	Email           string          `json:"email"`
	Phone           string          `json:"phone"`
	Address         *AddressRequest `json:"address"`
	Gender          string          `json:"gender"`
	WrittenForm     string          `json:"written_form"`
}

// AddressRequest is a postal address.
type AddressRequest struct {
	Street     string `json:"street"`
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
	Country    string `json:"country"`
}

// TestRequest says which test and which parts.
type TestRequest struct {
	Type      string   `json:"type"`
	Parts     []string `json:"parts"`
	LevelBand string   `json:"level_band"`
	Language  string   `json:"language"`
}

// testParts are the test types and their parts in their defined order, from
// the catalogue (marking/catalogue.json, test_types): the order a
// registration's parts are stored in.
var testParts = catalogueTestParts()

// catalogueTestParts reads the test types' parts from the embedded
// catalogue; the catalogue's tests keep it valid.
func catalogueTestParts() map[string][]string {
	cat, err := marking.LoadCatalogue()
	if err != nil {
		panic(fmt.Sprintf("the embedded test catalogue: %v", err))
	}
	return cat.TestParts()
}

var (
	levelBands     = []string{"A1-A2", "A2-B1", "B1-B2"}
	genders        = []string{"female", "male", "unspecified"}
	sources        = []string{"candidate", "imdi", "test_centre", "county_governor", "udi", "ministry", "population_register"}
	writtenForms   = []string{"bokmal", "nynorsk"}
	testCentreCode = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	passportRe     = regexp.MustCompile(`^[A-Z0-9]{5,20}$`)
	phoneRe        = regexp.MustCompile(`^\+?[0-9 ]{8,20}$`)
	countryRe      = regexp.MustCompile(`^[A-Z]{2}$`)
	languageRe     = regexp.MustCompile(`^[a-z]{2,3}$`)
)

const maxBody = 64 << 10

// decodeStrictBytes decodes exactly one JSON object, refusing unknown
// fields and keys given twice. A failure is a 400 problem naming the field,
// by its JSON path, where that is known.
func decodeStrictBytes(data []byte, v any) *Problem {
	bad := func(field, detail string) *Problem {
		p := &Problem{Type: ProblemMalformed, Title: "Malformed request", Status: 400, Detail: detail}
		if field != "" {
			p.Errors = []FieldError{{Field: field, Detail: detail}}
		}
		return p
	}
	if len(data) > maxBody {
		return bad("", fmt.Sprintf("the request body is larger than %d bytes", maxBody))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return bad("", "the request body is empty; a JSON object is required")
	}
	// Keys first: a key given twice (encoding/json would keep the last) or
	// unknown to its object is named by its JSON path, before anything is
	// decoded.
	if f, err := checkKeys(json.NewDecoder(bytes.NewReader(data)), reflect.TypeOf(v), ""); err == nil && f != nil {
		if f.Duplicate {
			return bad(f.Path, fmt.Sprintf("%q is given twice: send each field once", f.Path))
		}
		return bad(f.Path, fmt.Sprintf("unknown field %q: only the documented fields are accepted", f.Path))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.As(err, &syntax):
		return bad("", fmt.Sprintf("the body is not valid JSON (at byte %d): %s", syntax.Offset, syntax.Error()))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return bad("", fmt.Sprintf("the body must be a JSON object, not %s", typ.Value))
		}
		return bad(field, fmt.Sprintf("must be %s, not %s", jsonTypeName(typ.Type.Kind().String()), typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return bad(name, fmt.Sprintf("unknown field %q: only the documented fields are accepted", name))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return bad("", "the body is not valid JSON: it ends too early")
	default:
		return bad("", "the body is not valid JSON: "+err.Error())
	}
	// The decoder reads null into a struct as if it were {}, and stops after
	// the value: anything but whitespace after it is a second value, even a
	// stray ] or } that dec.More would not see.
	if start := bytes.TrimLeft(data, jsonSpace); len(start) == 0 || start[0] != '{' {
		return bad("", "the body must be a JSON object, not null")
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], jsonSpace)) > 0 {
		return bad("", "the body must hold exactly one JSON object")
	}
	return nil
}

// jsonSpace is the whitespace JSON allows between tokens.
const jsonSpace = " \t\r\n"

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "ptr", "map":
		return "an object"
	case "bool":
		return "a boolean"
	default:
		return "a number"
	}
}

// validator collects field errors.
type validator struct {
	errs     []FieldError
	warnings []FieldError
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

func (v *validator) text(field, value string, required bool, max int) string {
	value = strings.TrimSpace(value)
	switch {
	case value == "" && required:
		v.add(field, "is required")
	case utf8.RuneCountInString(value) > max:
		v.add(field, "must be at most %d characters", max)
	case strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		v.add(field, "must not contain control characters")
	}
	return value
}

func (v *validator) phone(field, value string, required bool) string {
	value = strings.TrimSpace(value)
	switch {
	case value == "" && required:
		v.add(field, "is required")
	case value != "" && !phoneRe.MatchString(value):
		v.add(field, "must be 8 to 20 digits, optionally starting with +")
	}
	return value
}

// passportCountry checks a passport's issuing country: an ISO 3166-1
// alpha-2 code, with a passport number only, and required with one when
// required is set.
func (v *validator) passportCountry(field, value, passport string, required bool) string {
	value = strings.ToUpper(strings.TrimSpace(value))
	switch {
	case value == "" && passport != "" && required:
		v.add(field, "is required with a passport number: the issuing country's ISO 3166-1 alpha-2 code such as SE (a passport number is unique only within its country)")
	case value != "" && passport == "":
		v.add(field, "goes with a passport number")
	case value != "" && !countryRe.MatchString(value):
		v.add(field, "must be an ISO 3166-1 alpha-2 code such as SE")
	}
	return value
}

// normalizeIdentifier is an identifier as examflow stores and looks it up:
// without the spaces and hyphens people write in it, a passport number in
// upper case. Registration and every lookup use it, so the blind index
// matches however the number was written.
func normalizeIdentifier(kind, value string) string {
	value = strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, value)
	if kind == "passport_number" {
		value = strings.ToUpper(value)
	}
	return value
}

func (v *validator) date(field, value string, required bool) time.Time {
	if value == "" {
		if required {
			v.add(field, "is required (YYYY-MM-DD)")
		}
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, value)
	if err != nil {
		v.add(field, "must be a date YYYY-MM-DD")
		return time.Time{}
	}
	return t
}

func (v *validator) oneOf(field, value string, allowed []string, required bool) string {
	if value == "" {
		if required {
			v.add(field, "is required; one of %s", strings.Join(allowed, ", "))
		}
		return ""
	}
	if !slices.Contains(allowed, value) {
		v.add(field, "must be one of %s", strings.Join(allowed, ", "))
	}
	return value
}

// ValidationOptions are the configurable parts of validation.
type ValidationOptions struct {
	Identity identity.Options
	Now      func() time.Time
}

// Validate checks a decoded registration request and returns the storage
// input, the field errors (refusals) and the warnings (accepted, but worth a
// look: a DUF number whose unofficial checksum fails).
func (r *RegistrationRequest) Validate(opts ValidationOptions) (storage.NewRegistration, []FieldError, []FieldError) {
	return r.validate(opts, false)
}

// validate is Validate; legacy data may lack a passport's issuing country
// (the passport is then only a weak identifier, docs/identifiers.md).
func (r *RegistrationRequest) validate(opts ValidationOptions, legacy bool) (storage.NewRegistration, []FieldError, []FieldError) {
	v := &validator{}
	now := opts.Now()
	var out storage.NewRegistration

	if r.Person == nil {
		v.add("person", "is required")
	} else {
		p := r.Person
		out.Person.GivenName = v.text("person.given_name", p.GivenName, true, 200)
		out.Person.FamilyName = v.text("person.family_name", p.FamilyName, true, 200)
		dob := v.date("person.date_of_birth", p.DateOfBirth, true)
		dobValid := !dob.IsZero()
		if dobValid && (dob.After(now) || dob.Year() < 1900) {
			v.add("person.date_of_birth", "must be a date from 1900 until today")
			dobValid = false
		}
		out.Person.DateOfBirth = dob

		nid := normalizeIdentifier("national_id", p.NationalID)
		duf := normalizeIdentifier("duf_number", p.DUFNumber)
		passport := normalizeIdentifier("passport_number", p.PassportNumber)
		if nid == "" && duf == "" && passport == "" {
			v.add("person", "at least one identifier is required: national_id, duf_number or passport_number")
		}
		if nid != "" {
			kind, err := identity.ValidateNationalID(nid, opts.Identity)
			if err != nil {
				v.add("person.national_id", "is not a valid fødselsnummer or D number: %s", detailOf(err))
			} else if kind != identity.KindFodselsnummer && r.Test != nil && r.Test.Type == "citizenship" {
				v.add("person.national_id", "the citizenship test requires a fødselsnummer; a D number is not enough")
			}
			// Accuracy: the date of birth and the birth date the number
			// encodes must agree. Neither value is repeated in the answer.
			if born, ok := identity.BirthDate(nid); ok && dobValid && !born.Equal(dob) {
				v.add("person.national_id", "encodes a birth date (its first six digits; a D number adds 40 to the day) that contradicts person.date_of_birth")
				v.add("person.date_of_birth", "contradicts the birth date that person.national_id encodes; correct whichever is wrong")
			}
		} else if r.Test != nil && r.Test.Type == "citizenship" {
			v.add("person.national_id", "is required for the citizenship test (a fødselsnummer)")
		}
		if duf != "" {
			ok, err := identity.ValidateDUF(duf, now)
			switch {
			case err != nil:
				v.add("person.duf_number", "is not a valid DUF number: %s", detailOf(err))
			case !ok:
				v.warnings = append(v.warnings, FieldError{Field: "person.duf_number",
					Detail: "the check digits do not match the commonly used algorithm; UDI has not published it, so the number was accepted"})
			}
		}
		if passport != "" && !passportRe.MatchString(passport) {
			v.add("person.passport_number", "must be 5 to 20 letters or digits")
		}
		out.Person.PassportCountry = v.passportCountry("person.passport_country", p.PassportCountry, passport, !legacy)
		out.Person.NationalID, out.Person.DUFNumber, out.Person.PassportNumber = nid, duf, passport

		out.Person.Email = v.email("person.email", p.Email, false)
		out.Person.Phone = v.phone("person.phone", p.Phone, false)
		out.Person.Gender = v.oneOf("person.gender", p.Gender, genders, false)
		out.WrittenForm = v.oneOf("person.written_form", p.WrittenForm, writtenForms, false)
		if a := p.Address; a != nil {
			addr := &storage.Address{
				Street:     v.text("person.address.street", a.Street, true, 200),
				PostalCode: v.text("person.address.postal_code", a.PostalCode, true, 20),
				City:       v.text("person.address.city", a.City, true, 100),
				Country:    strings.TrimSpace(a.Country),
			}
			if !countryRe.MatchString(addr.Country) {
				v.add("person.address.country", "must be an ISO 3166-1 alpha-2 code such as NO")
			}
			out.Person.Address = addr
		}
	}

	if r.Test == nil {
		v.add("test", "is required")
	} else {
		t := r.Test
		types := make([]string, 0, len(testParts))
		for k := range testParts {
			types = append(types, k)
		}
		slices.Sort(types)
		out.TestType = v.oneOf("test.type", t.Type, types, true)
		allowed, known := testParts[t.Type]
		if known {
			parts := t.Parts
			if len(parts) == 0 && len(allowed) == 1 {
				parts = allowed
			}
			if len(parts) == 0 {
				v.add("test.parts", "is required; one or more of %s", strings.Join(allowed, ", "))
			}
			seen := map[string]bool{}
			for i, part := range parts {
				switch {
				case !slices.Contains(allowed, part):
					v.add(fmt.Sprintf("test.parts[%d]", i), "must be one of %s for %s", strings.Join(allowed, ", "), t.Type)
				case seen[part]:
					v.add(fmt.Sprintf("test.parts[%d]", i), "%s is listed twice", part)
				}
				seen[part] = true
			}
			// Keep the catalogue's order so equal requests store equal rows.
			out.TestParts = slices.DeleteFunc(slices.Clone(allowed), func(p string) bool { return !seen[p] })
			needsBand := seen["writing"] || seen["oral"]
			switch {
			case needsBand:
				out.LevelBand = v.oneOf("test.level_band", t.LevelBand, levelBands, true)
			case t.LevelBand != "":
				v.add("test.level_band", "applies only to the writing and oral parts of norwegian_a1_b2")
			}
			if t.Language != "" {
				switch {
				case t.Type != "social_studies":
					v.add("test.language", "applies only to social_studies; the other tests are taken in Norwegian")
				case !languageRe.MatchString(t.Language):
					v.add("test.language", "must be an ISO 639 language code such as en or ti")
				}
				out.Language = t.Language
			}
		}
	}

	out.Source = v.oneOf("source", r.Source, sources, false)
	out.PaymentStatus = v.oneOf("payment_status", r.PaymentStatus, []string{"paid", "unpaid", "free", "waived"}, false)
	out.TestCentre = strings.TrimSpace(r.TestCentre)
	if out.TestCentre == "" {
		v.add("test_centre", "is required")
	} else if !testCentreCode.MatchString(out.TestCentre) {
		v.add("test_centre", "must be the test centre's code: letters, digits, - and _, at most 64")
	}
	out.SessionDate = v.date("session_date", r.SessionDate, true)
	if !out.SessionDate.IsZero() && (out.SessionDate.Year() < 2000 || out.SessionDate.After(now.AddDate(2, 0, 0))) {
		v.add("session_date", "must be a date from 2000 until two years from today")
	}
	return out, v.errs, v.warnings
}

// detailOf strips the sentinel prefix off an identity error for the message.
func detailOf(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
