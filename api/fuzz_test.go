package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// Fuzz targets for the request bodies. FuzzRequestBodies decodes arbitrary
// bytes as every request type and runs each type's validation;
// FuzzPostRoutes sends them to every POST route of the real gin engine.
// `make fuzz` runs each for a while; `go test` runs their seeds (f.Add and
// testdata/fuzz/<Fuzz...>/) as ordinary tests.

// bodyChecks has one entry per POST route that takes a JSON body: it
// decodes the body as the route's request type and validates it as far as
// that is possible without PostgreSQL and Temporal. A nil entry is a route
// without a JSON body. TestBodyChecksCoverPostRoutes keeps it complete.
var bodyChecks = map[string]func(t *testing.T, body []byte){
	"POST /v1/registrations": checkBody(func(_ *testing.T, r *RegistrationRequest) []FieldError {
		_, errs, warnings := r.Validate(fuzzValidation)
		return append(errs, warnings...)
	}),
	"POST /v1/legacy/registrations": checkBody(func(_ *testing.T, r *LegacyRegistrationRequest) []FieldError {
		_, _, errs, warnings := r.Validate(fuzzValidation)
		return append(errs, warnings...)
	}),
	"POST /v1/registrations/:id/answer-sheets":      checkBody[cases.AnswerSheet](nil),
	"POST /v1/registrations/:id/discrepancies":      checkBody[cases.Discrepancy](nil),
	"POST /v1/registrations/:id/review-decisions":   checkBody[cases.ReviewDecision](nil),
	"POST /v1/registrations/:id/assessments":        checkBody[cases.Assessment](nil),
	"POST /v1/registrations/:id/settlements":        checkBody[cases.Settlement](nil),
	"POST /v1/registrations/:id/cheating-decisions": checkBody[cases.CheatingDecision](nil),
	"POST /v1/registrations/:id/appeals": checkBody(func(_ *testing.T, r *cases.AppealRequest) []FieldError {
		return checkAppealRequest(*r, testNow())
	}),
	"POST /v1/registrations/:id/appeals/:appeal_id/decisions":     checkBody[cases.AppealDecision](nil),
	"POST /v1/registrations/:id/appeals/:appeal_id/reassessments": checkBody[cases.Reassessment](nil),
	"POST /v1/registrations/:id/recordings":                       nil, // audio, not JSON
	"POST /v1/candidates/:id/merge":                               checkBody[MergeRequest](nil),
	// A PUT: FuzzRequestBodies decodes its body with the others.
	"PUT /v1/candidates/:id/identifiers/:kind":            checkBody[IdentifierCorrectionRequest](nil),
	"POST /v1/candidates/:id/disclosures":                 checkBody(checkDisclosure),
	"POST /v1/answer-keys":                                checkBody(checkAnswerKey),
	"POST /v1/answer-keys/:form_id/reapply":               checkBody[ReapplyRequest](nil),
	"POST /v1/sessions":                                   checkBody[SessionRequest](nil),
	"POST /v1/sessions/:id/discrepancies":                 checkBody[cases.Discrepancy](nil),
	"POST /v1/subject-requests":                           checkBody(checkSubjectRequest),
	"POST /v1/subject-requests/:id/identity":              checkBody[cases.IdentityCheck](nil),
	"POST /v1/subject-requests/:id/extension":             checkBody[cases.Extension](nil),
	"POST /v1/subject-requests/:id/decision":              checkBody[cases.RequestDecision](nil),
	"POST /v1/subject-requests/:id/lift":                  checkBody[cases.RequestDecision](nil),
	"POST /v1/subject-requests/:id/export-link":           nil, // no body
	"POST /v1/courses":                                    checkBody[CourseRequest](nil),
	"POST /v1/course-registrations":                       checkBody(checkCourseRegistration),
	"POST /v1/course-registrations/:id/completion":        checkBody[cases.Completion](nil),
	"POST /v1/course-registrations/:id/corrections":       checkBody(checkCorrection),
	"POST /v1/course-registrations/:id/withdrawal":        nil, // no body
	"POST /courses/self-service/:token/corrections":       checkBody(checkCorrection),
	"POST /courses/self-service/:token/withdrawal":        nil, // no body
	"POST /courses/self-service/:token/completion":        nil, // no body
	"POST /courses/self-service/:token/renewal":           nil, // no body
	"POST /v1/possible-duplicates/:id/dismissal":          checkBody[DismissalRequest](nil),
	"POST /v1/course-registrations/:id/self-service-link": nil, // no body
	"POST /codec/decode":                                  nil, // Temporal's codec server
}

var fuzzValidation = ValidationOptions{Now: testNow}

// checkBody returns the property check of request type T: decoding never
// panics; a refusal is a 400 malformed-request problem whose field errors
// name their field; an accepted body is exactly one JSON object, and what it
// decodes to re-encodes to JSON that decodes to the same again; validate's
// field errors (if validate is not nil) name their field and say what is
// wrong.
func checkBody[T any](validate func(*testing.T, *T) []FieldError) func(*testing.T, []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		var req T
		if p := decodeStrictBytes(body, &req); p != nil {
			checkProblem(t, *p, http.StatusBadRequest)
			if p.Type != ProblemMalformed {
				t.Errorf("decoding %q as %T: problem type %q, want %q", body, req, p.Type, ProblemMalformed)
			}
			return
		}
		if trimmed := bytes.TrimSpace(body); !json.Valid(body) || len(trimmed) == 0 || trimmed[0] != '{' {
			t.Errorf("decoding %q as %T: accepted something that is not one JSON object", body, req)
		}
		out, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("decoding %q as %T: accepted, but it does not re-encode: %v", body, req, err)
		}
		var again T
		if p := decodeStrictBytes(out, &again); p != nil {
			t.Fatalf("%T re-encoded as %s is refused: %+v", req, out, *p)
		}
		if out2, err := json.Marshal(again); err != nil || !bytes.Equal(out, out2) {
			t.Errorf("%T does not round-trip: %s, then %s (%v)", req, out, out2, err)
		}
		if validate != nil {
			checkFieldErrors(t, validate(t, &req))
		}
	}
}

// checkProblem checks a refusal: the status, a type and a title, and field
// errors that name their field.
func checkProblem(t testing.TB, p Problem, statuses ...int) {
	t.Helper()
	if !slices.Contains(statuses, p.Status) {
		t.Errorf("problem %+v: status %d, want one of %v", p, p.Status, statuses)
	}
	if p.Type == "" || p.Title == "" {
		t.Errorf("problem %+v: no type or title", p)
	}
	checkFieldErrors(t, p.Errors)
}

func checkFieldErrors(t testing.TB, errs []FieldError) {
	t.Helper()
	for _, e := range errs {
		if e.Field == "" || e.Detail == "" {
			t.Errorf("field error %+v names no field or says nothing", e)
		}
	}
}

// checkDisclosure checks a release against the recipient catalogue as
// releaseData does (the registration it names is looked up in PostgreSQL).
func checkDisclosure(t *testing.T, r *DisclosureRequest) []FieldError {
	cats := make([]policy.DataCategory, 0, len(r.Categories))
	for _, c := range r.Categories {
		cats = append(cats, policy.DataCategory(c))
	}
	_, err := policy.CheckRelease(r.Recipient, cats)
	if err != nil && !errors.Is(err, policy.ErrUnknownRecipient) && !errors.Is(err, policy.ErrCategoryNotPermitted) {
		t.Errorf("policy.CheckRelease(%q, %q): unexpected error %v", r.Recipient, r.Categories, err)
	}
	return nil
}

// checkAnswerKey runs the checks PostgreSQL does not need (marking.CheckKey).
func checkAnswerKey(_ *testing.T, r *AnswerKeyRequest) []FieldError {
	var rule marking.Rule
	if r.Rule != nil {
		rule = *r.Rule
	}
	var errs []FieldError
	for _, p := range marking.CheckKey(r.Items, rule) {
		errs = append(errs, FieldError{Field: p.Field, Detail: p.Problem})
	}
	return errs
}

// checkSubjectRequest checks a request as an integration (which may assert
// the identity) and as a case handler.
func checkSubjectRequest(_ *testing.T, b *SubjectRequestBody) []FieldError {
	errs := b.check(Principal{Subject: "fuzz", Roles: []string{RoleIntegration}}, testNow())
	return append(errs, b.check(Principal{Subject: "fuzz", Roles: []string{RoleCaseHandler}}, testNow())...)
}

// checkCourseRegistration checks a registration against stub courses: free
// and paid, with and without profile questions.
func checkCourseRegistration(_ *testing.T, r *CourseRegistrationRequest) []FieldError {
	var errs []FieldError
	for _, course := range []storage.Course{{}, {Paid: true}, {ProfileQuestions: true}, {Paid: true, ProfileQuestions: true}} {
		_, e := r.participant(course)
		errs = append(errs, e...)
	}
	return errs
}

// checkCorrection applies a correction to a participant with and without
// invoice details.
func checkCorrection(_ *testing.T, r *CorrectionRequest) []FieldError {
	errs := r.apply(&storage.Participant{GivenName: "Per", FamilyName: "Deltaker", Email: "per@example.org"})
	return append(errs, r.apply(&storage.Participant{GivenName: "Per", FamilyName: "Deltaker", Email: "per@example.org",
		Invoice: &storage.Invoice{Address: storage.Address{Street: "Tollbugata 1", PostalCode: "0152", City: "Oslo", Country: "NO"},
			OrganisationNumber: "974760673", Email: "faktura@example.org"}})...)
}

// TestBodyChecksCoverPostRoutes: every POST route has an entry in
// bodyChecks, so a new route's body gets fuzzed.
func TestBodyChecksCoverPostRoutes(t *testing.T) {
	for _, route := range postRoutes() {
		if _, ok := bodyChecks[route]; !ok {
			t.Errorf("%s has no entry in bodyChecks (fuzz_test.go): add its request type's check, or nil if it takes no JSON body", route)
		}
	}
}

// postRoutes lists every POST route ("POST /path") the engine serves,
// protected or not.
func postRoutes() []string {
	var out []string
	for _, r := range New(Deps{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()}).Routes() {
		if r.Method == http.MethodPost {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	for _, r := range Routes() {
		if r.Method == http.MethodPost && !slices.Contains(out, r.Method+" "+r.Path) {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// fuzzSeeds are realistic bodies, valid and invalid, for both targets; more
// are in testdata/fuzz/.
func fuzzSeeds() [][]byte {
	reg, _ := json.Marshal(validBody())
	legacy := validBody()
	legacy["original_registration_date"], legacy["country_of_origin"], legacy["mother_tongue"] = "2021-03-01", "ER", "tir"
	leg, _ := json.Marshal(legacy)
	return [][]byte{
		reg, leg,
		[]byte(`{"part":"test","form_id":"F-1","key_version":1,"submitted_at":"2027-03-15T10:00:00Z","answers":[{"item":"1","choice":"a"}]}`),
		[]byte(`{"kind":"formal_error","grounds":"the screen froze","received_at":"2026-11-20T09:00:00Z","late_acceptance":{"accepted_by":"ch-7","reason":"in hospital"}}`),
		[]byte(`{"course_id":"0190a5b2-0000-7000-8000-000000000001","given_name":"Per","family_name":"Deltaker","email":"per@example.org","invoice":{"address":{"street":"Tollbugata 1","postal_code":"0152","city":"Oslo","country":"NO"},"organisation_number":"974 760 673","email":"faktura@example.org"},"profile":{"education_level":"bachelor","years_in_position":4,"company":"Eksempel AS"}}`),
		[]byte(`{"kind":"rectification","identifier":{"kind":"national_id","value":"12048510092"},"rectification":{"email":"kari@example.org"},"identity_asserted":{"provider":"idporten"}}`),
		[]byte(`{"form_id":"F-1","test_type":"citizenship","test_version":"2024","part":"test","items":[{"id":"1","correct":"a","scored":true,"choices":["a","b"]}],"rule":{"kind":"pass_mark","pass_mark":1}}`),
		[]byte(`{"test_type":"citizenship","test_centre":"OSLO-VO","session_date":"2027-02-10","forms":{"test":"F-1"},"window_start":"2027-02-10T08:00:00Z","window_end":"2027-02-10T16:00:00+01:00"}`),
		[]byte(`{"duplicate_id":"0190a5b2-0000-7000-8000-000000000002","reason":"same person","decided_by":"ch-17"}`),
		[]byte(`{"title":"Tollkurs","course_type":"customs_basic","event_date":"2027-01-15","paid":true}`),
		[]byte(`{"given_name":"Per","invoice":{"organisation_number":"974760674","address":{"street":"x","postal_code":"1","city":"y","country":"no"}}}`),
		[]byte(`{"recipient":"imdi","categories":["identity","test_results"],"reference":"2026/17"}`),
		[]byte(`{"dry_run":false}`), []byte(`{"kind":"technical_problem","note":"network down"}`),
		[]byte(`{}`), []byte(`null`), []byte(`[]`), []byte(`{"person":{"national_id":12048510092}}`), []byte(`{"person":{}} {}`),
	}
}

// FuzzRequestBodies decodes arbitrary bytes as every request type and runs
// its validation (bodyChecks).
func FuzzRequestBodies(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, check := range bodyChecks {
			if check != nil {
				check(t, body)
			}
		}
	})
}

// panicProbe is the engine's log handler: when the recover middleware logs
// a panic it notes whether the panic happened inside the storage package.
// The engine has no Store, so a handler that gets past decoding and
// validation panics there, which is expected; any other panic is a bug.
type panicProbe struct {
	panicked, inStore bool
}

func (p *panicProbe) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (p *panicProbe) WithAttrs([]slog.Attr) slog.Handler           { return p }
func (p *panicProbe) WithGroup(string) slog.Handler                { return p }

func (p *panicProbe) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "panic in handler" {
		return nil
	}
	p.panicked = true
	// The deferred recover runs on top of the panicking frames: those
	// below runtime.gopanic are where the panic happened.
	pcs := make([]uintptr, 100)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(0, pcs)])
	below := false
	for {
		fr, more := frames.Next()
		switch {
		case fr.Function == "runtime.gopanic":
			below = true
		case below && strings.HasPrefix(fr.Function, "github.com/examflow/examflow/storage."):
			p.inStore = true
		}
		if !more || p.inStore {
			return nil
		}
	}
}

// allRoles grants every role to any API key.
type allRoles struct{}

func (allRoles) AuthenticateToken(context.Context, string, time.Time) (storage.Token, error) {
	return storage.Token{Name: "fuzz", Roles: Roles()}, nil
}

// readTracker notes whether a handler read the request body.
type readTracker struct {
	r    *bytes.Reader
	read bool
}

func (b *readTracker) Read(p []byte) (int, error) {
	b.read = true
	return b.r.Read(p)
}

// FuzzPostRoutes sends arbitrary bytes as the JSON body to every POST route
// of the real engine (every role granted, no Store). Each answer is a
// problem document with 400, 413 or 422 and field errors that name their
// field, or a 500 from a handler that got as far as the (missing) Store.
// A route whose handler goes to the store before it reads the body (most
// routes under an {id}) answers the same whatever the body: it is checked
// once, and its request type is fuzzed by FuzzRequestBodies.
func FuzzPostRoutes(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	probe := &panicProbe{}
	catalogue, err := marking.LoadCatalogue()
	if err != nil {
		f.Fatal(err)
	}
	deps := Deps{Logger: slog.New(probe), Registry: prometheus.NewRegistry(), Tokens: allRoles{}, Validation: fuzzValidation,
		Catalogue: catalogue, Courses: CourseOptions{LinkKey: []byte("fuzz link key")}}
	h := New(deps)
	token := (&server{Deps: deps}).signCourseLink(uuid.MustParse("0190a5b2-0000-7000-8000-00000000000c"), fuzzValidation.Now().Add(time.Hour))

	// send posts body to path and checks the answer; it reports whether the
	// handler read the body.
	send := func(t testing.TB, path string, body []byte) bool {
		t.Helper()
		*probe = panicProbe{}
		tracker := &readTracker{r: bytes.NewReader(body)}
		req := httptest.NewRequest(http.MethodPost, path, tracker)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+storage.TokenPrefix+"fuzz")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if probe.panicked && !probe.inStore {
			t.Fatalf("POST %s with %q: a handler panicked before reaching the store", path, body)
		}
		if w.Code == http.StatusInternalServerError && probe.inStore {
			return tracker.read
		}
		var p Problem
		if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("POST %s with %q: %d %s, want a problem document", path, body, w.Code, ct)
		}
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatalf("POST %s with %q: the problem does not decode: %v", path, body, err)
		}
		if p.Status != w.Code {
			t.Errorf("POST %s with %q: status %d, problem says %d", path, body, w.Code, p.Status)
		}
		checkProblem(t, p, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
		return tracker.read
	}

	var paths []string
	for _, route := range postRoutes() {
		if bodyChecks[route] == nil {
			continue
		}
		p := strings.NewReplacer(":id", "0190a5b2-0000-7000-8000-00000000000a", ":appeal_id", "0190a5b2-0000-7000-8000-00000000000b",
			":form_id", "F-1", ":token", token).Replace(strings.TrimPrefix(route, "POST "))
		if send(f, p, []byte(`{}`)) {
			paths = append(paths, p)
		}
	}
	f.Logf("through the engine: %s", strings.Join(paths, ", "))
	if len(paths) < 5 {
		f.Fatalf("only %d POST routes read their body before the store: %v", len(paths), paths)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range paths {
			send(t, path, body)
		}
	})
}
