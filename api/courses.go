package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"html/template"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/storage"
)

// CourseOptions configure course registrations.
type CourseOptions struct {
	PolicyVersion string
	SurveyAfter   time.Duration
	NewsEvery     time.Duration
	// Retention overrides the 24 months (tests and demos); zero: the policy's.
	Retention time.Duration
	// PublicURL is the API's address as participants reach it.
	PublicURL string
	// LinkKey signs the participants' self-service links.
	LinkKey []byte
	// LinkTTL is how long a self-service link works; DefaultCourseLinkTTL
	// if zero.
	LinkTTL time.Duration
}

// DefaultCourseLinkTTL is how long a participant's self-service link works
// unless configured: 30 days. An expired link asks for a fresh one.
const DefaultCourseLinkTTL = 30 * 24 * time.Hour

// timing is what a registration's workflow starts with.
func (o CourseOptions) timing() cases.CourseTiming {
	return cases.CourseTiming{Retention: o.Retention, SurveyAfter: o.SurveyAfter, NewsEvery: o.NewsEvery}
}

func (o CourseOptions) linkTTL() time.Duration {
	if o.LinkTTL > 0 {
		return o.LinkTTL
	}
	return DefaultCourseLinkTTL
}

// CourseRequest creates a course or event.
type CourseRequest struct {
	Title            string `json:"title"`
	CourseType       string `json:"course_type"`
	EventDate        string `json:"event_date"`
	Paid             bool   `json:"paid"`
	ProfileQuestions bool   `json:"profile_questions"`
}

// CourseView is a course.
type CourseView struct {
	ID               string    `json:"id"`
	Title            string    `json:"title"`
	CourseType       string    `json:"course_type"`
	EventDate        string    `json:"event_date"`
	Paid             bool      `json:"paid"`
	ProfileQuestions bool      `json:"profile_questions"`
	CreatedAt        time.Time `json:"created_at"`
}

func courseView(c storage.Course) CourseView {
	return CourseView{ID: c.ID.String(), Title: c.Title, CourseType: c.CourseType, EventDate: c.EventDate.Format(time.DateOnly),
		Paid: c.Paid, ProfileQuestions: c.ProfileQuestions, CreatedAt: c.CreatedAt}
}

var courseTypeRe = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

func (s *server) createCourse(c *gin.Context) {
	var req CourseRequest
	if !s.decodeBody(c, &req) {
		return
	}
	v := &validator{}
	title := v.text("title", req.Title, true, 200)
	if !courseTypeRe.MatchString(req.CourseType) {
		v.add("course_type", "must be 1 to 40 lower-case letters, digits or _")
	}
	date := v.date("event_date", req.EventDate, true)
	if len(v.errs) > 0 {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid course", Status: http.StatusUnprocessableEntity, Detail: v.errs[0].Field + " " + v.errs[0].Detail, Errors: v.errs})
		return
	}
	course, err := s.Store.CreateCourse(c.Request.Context(), storage.Course{ID: uuid.Must(uuid.NewV7()), Title: title, CourseType: req.CourseType,
		EventDate: date, Paid: req.Paid, ProfileQuestions: req.ProfileQuestions})
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	c.JSON(http.StatusCreated, courseView(course))
}

func (s *server) listCourses(c *gin.Context) {
	list, err := s.Store.Courses(c.Request.Context(), c.Query("course_type"), nil)
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	out := make([]CourseView, 0, len(list))
	for _, x := range list {
		out = append(out, courseView(x))
	}
	c.JSON(http.StatusOK, gin.H{"courses": out})
}

// CourseRegistrationRequest is a registration from the registration portal:
// exactly the data of C01 and, where the course asks, C02. Nothing else.
type CourseRegistrationRequest struct {
	CourseID   string `json:"course_id"`
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	Email      string `json:"email"`
	Invoice    *struct {
		Address            AddressRequest `json:"address"`
		OrganisationNumber string         `json:"organisation_number"`
		Email              string         `json:"email"`
	} `json:"invoice,omitempty"`
	Profile *struct {
		EducationLevel  string `json:"education_level,omitempty"`
		YearsInPosition *int   `json:"years_in_position,omitempty"`
		Company         string `json:"company,omitempty"`
	} `json:"profile,omitempty"`
}

var educationLevels = []string{"primary", "upper_secondary", "vocational", "bachelor", "master", "doctorate", "other"}

func (v *validator) email(field, value string, required bool) string {
	value = strings.TrimSpace(value)
	if value == "" {
		if required {
			v.add(field, "is required")
		}
		return ""
	}
	if a, err := mail.ParseAddress(value); err != nil || a.Address != value || len(value) > 254 {
		v.add(field, "must be a plain e-mail address such as name@example.org")
	}
	return value
}

// participant checks a registration against its course.
func (r CourseRegistrationRequest) participant(course storage.Course) (storage.Participant, []FieldError) {
	v := &validator{}
	p := storage.Participant{
		GivenName: v.text("given_name", r.GivenName, true, 100), FamilyName: v.text("family_name", r.FamilyName, true, 100),
		Email: v.email("email", r.Email, true),
	}
	switch {
	case course.Paid && r.Invoice == nil:
		v.add("invoice", "a paid course needs the invoice address, organisation number and invoice e-mail")
	case !course.Paid && r.Invoice != nil:
		v.add("invoice", "the course is free: no invoice details are collected")
	case r.Invoice != nil:
		in := r.Invoice
		p.Invoice = &storage.Invoice{
			Address: storage.Address{Street: v.text("invoice.address.street", in.Address.Street, true, 200),
				PostalCode: v.text("invoice.address.postal_code", in.Address.PostalCode, true, 20),
				City:       v.text("invoice.address.city", in.Address.City, true, 100), Country: in.Address.Country},
			OrganisationNumber: strings.ReplaceAll(in.OrganisationNumber, " ", ""),
			Email:              v.email("invoice.email", in.Email, true),
		}
		if !countryRe.MatchString(in.Address.Country) {
			v.add("invoice.address.country", "must be an ISO 3166-1 alpha-2 code such as NO")
		}
		if err := identity.ValidateOrgNumber(p.Invoice.OrganisationNumber); err != nil {
			v.add("invoice.organisation_number", "must be a Norwegian organisation number: nine digits with a valid mod-11 check digit")
		}
	}
	if r.Profile != nil {
		if !course.ProfileQuestions {
			v.add("profile", "this course type asks no profile questions; nothing more is collected")
		} else {
			pr := r.Profile
			p.Profile = &storage.Profile{EducationLevel: v.oneOf("profile.education_level", pr.EducationLevel, educationLevels, false),
				YearsInPosition: pr.YearsInPosition, Company: v.text("profile.company", pr.Company, false, 200)}
			if y := pr.YearsInPosition; y != nil && (*y < 0 || *y > 60) {
				v.add("profile.years_in_position", "must be 0 to 60")
			}
		}
	}
	return p, v.errs
}

// registerForCourse takes a registration: consent is recorded with its time
// and the policy version (C03), the participant is sealed under the
// registration's own key, its workflow starts, and the participant gets a
// confirmation with a self-service link to withdraw or correct.
func (s *server) registerForCourse(c *gin.Context) {
	var req CourseRegistrationRequest
	if !s.decodeBody(c, &req) {
		return
	}
	ctx := c.Request.Context()
	courseID, err := uuid.Parse(req.CourseID)
	if err != nil {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid registration", Status: http.StatusUnprocessableEntity,
			Errors: []FieldError{{Field: "course_id", Detail: "must be a course's UUID"}}})
		return
	}
	course, err := s.Store.GetCourse(ctx, courseID)
	if errors.Is(err, storage.ErrNotFound) {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid registration", Status: http.StatusUnprocessableEntity,
			Errors: []FieldError{{Field: "course_id", Detail: "no such course"}}})
		return
	}
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	p, errs := req.participant(course)
	if len(errs) > 0 {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid registration", Status: http.StatusUnprocessableEntity, Detail: errs[0].Field + " " + errs[0].Detail, Errors: errs})
		return
	}
	idem, prob := s.idempotencyKey(c)
	if prob != nil {
		writeProblem(c, *prob)
		return
	}
	now := s.Validation.Now()
	id := uuid.Must(uuid.NewV7())
	reg, created, err := s.Store.CreateCourseRegistration(ctx, storage.CourseRegistration{ID: id, CourseID: courseID, Participant: p,
		ConsentAt: now, PolicyVersion: s.Courses.PolicyVersion, WorkflowID: cases.CourseWorkflowID(id)}, idem)
	if errors.Is(err, storage.ErrIdempotencyMismatch) {
		idempotencyMismatch(c)
		return
	}
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	in := cases.NewCourseInput(reg.ID.String(), course.CourseType, course.EventDate, reg.ConsentAt, s.Courses.timing())
	deleteAt := in.DeleteAt
	if _, err := cases.StartCourse(ctx, s.Temporal, s.TaskQueue, reg.WorkflowID, in); err != nil {
		// The registration is stored: the worker's reconciler starts its
		// workflow (or deletes it once past its time) if no retry does.
		s.Logger.WarnContext(ctx, "start course workflow", "course_registration_id", reg.ID.String(), "error", err)
		unavailable(c, "Temporal did not answer; send the registration again with the same Idempotency-Key")
		return
	}
	if err := s.Store.MarkCourseWorkflowStarted(ctx, reg.ID); err != nil {
		s.Logger.WarnContext(ctx, "course workflow start not recorded", "course_registration_id", reg.ID.String(), "error", err)
	}
	// The link is a credential: it goes to the outbox sealed, and is
	// cleared there once the confirmation is sent.
	exp := now.Add(s.Courses.linkTTL())
	if _, err := s.Store.EnqueueNotification(ctx, storage.Notification{DedupeKey: "course_registered/" + reg.ID.String(), CourseRegistrationID: reg.ID,
		Kind: "course_registered", Purpose: courseNoticePurpose,
		Payload: map[string]string{"course_title": course.Title, "event_date": course.EventDate.Format(time.DateOnly), "link_expires": exp.UTC().Format(time.DateOnly)},
		Secrets: map[string]string{"withdraw_url": s.courseLinkURL(reg.ID, exp)}}); err != nil {
		s.Logger.WarnContext(ctx, "course confirmation not queued", "course_registration_id", reg.ID.String(), "error", err)
	}
	status, outcome := http.StatusCreated, "created"
	if !created {
		status, outcome = http.StatusOK, "replayed"
	}
	s.metrics.courseRegs.WithLabelValues(course.CourseType, outcome).Inc()
	c.Set(auditSubjectKey, auditSubject{storage.SubjectCourseRegistration, reg.ID})
	c.JSON(status, gin.H{"registration_id": reg.ID.String(), "workflow_id": reg.WorkflowID, "course_id": courseID.String(),
		"consent": gin.H{"given_at": reg.ConsentAt, "policy_version": reg.PolicyVersion}, "delete_at": deleteAt})
}

// CourseParticipantView is a participant as course_admin sees it.
type CourseParticipantView struct {
	RegistrationID string              `json:"registration_id"`
	Participant    storage.Participant `json:"participant"`
	Stage          string              `json:"stage"`
	ConsentAt      time.Time           `json:"consent_at"`
	PolicyVersion  string              `json:"policy_version"`
	CompletedAt    *time.Time          `json:"completed_at,omitempty"`
	RegisteredAt   time.Time           `json:"registered_at"`
}

func participantView(r storage.CourseRegistration) CourseParticipantView {
	return CourseParticipantView{RegistrationID: r.ID.String(), Participant: r.Participant, Stage: r.Stage, ConsentAt: r.ConsentAt,
		PolicyVersion: r.PolicyVersion, CompletedAt: r.CompletedAt, RegisteredAt: r.RegisteredAt}
}

func (s *server) listParticipants(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	list, err := s.Store.CourseParticipants(c.Request.Context(), id)
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	out := make([]CourseParticipantView, 0, len(list))
	for _, r := range list {
		out = append(out, participantView(r))
	}
	c.JSON(http.StatusOK, gin.H{"course_id": id.String(), "participants": out})
}

// courseRegistrationOf reads the course registration in the path.
func (s *server) courseRegistrationOf(c *gin.Context) (storage.CourseRegistration, bool) {
	id, ok := pathID(c, "id")
	if !ok {
		return storage.CourseRegistration{}, false
	}
	return s.courseRegistration(c, id)
}

func (s *server) courseRegistration(c *gin.Context, id uuid.UUID) (storage.CourseRegistration, bool) {
	r, err := s.Store.GetCourseRegistration(c.Request.Context(), id)
	switch {
	case errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrKeyDestroyed):
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such course registration (withdrawn or deleted registrations leave nothing)"})
		return r, false
	case err != nil:
		s.failed(c, err, "the database is unavailable")
		return r, false
	}
	return r, true
}

func (s *server) getCourseRegistration(c *gin.Context) {
	if r, ok := s.courseRegistrationOf(c); ok {
		c.JSON(http.StatusOK, participantView(r))
	}
}

func (s *server) completeCourse(c *gin.Context) {
	r, ok := s.courseRegistrationOf(c)
	if !ok {
		return
	}
	var body cases.Completion
	if !s.decodeBody(c, &body) {
		return
	}
	s.complete(c, r, body)
}

// complete marks the participant as having completed (C01: the course
// they "mark as completed"): the registration's workflow records it, issues
// the certificate and sends the survey invitation. A registration whose
// workflow was never started (Temporal was down) has it started first, as
// the reconciler would.
func (s *server) complete(c *gin.Context, r storage.CourseRegistration, body cases.Completion) {
	update, ok := s.updater(c)
	if !ok {
		return
	}
	err := update(r.WorkflowID, cases.UpdateCompleteCourse, body, nil)
	if workflowNotRunning(err) {
		ctx := c.Request.Context()
		if st, serr := s.Store.GetCourseStart(ctx, r.ID); serr == nil && !st.Started {
			if serr := cases.EnsureCourse(ctx, s.Temporal, s.Store, s.TaskQueue, st.ID, st.WorkflowID, st.Input(s.Courses.timing()), st.Started); serr == nil {
				err = update(r.WorkflowID, cases.UpdateCompleteCourse, body, nil)
			}
		}
	}
	if err != nil {
		s.updateProblem(c, r.WorkflowID, cases.UpdateCompleteCourse, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"registration_id": r.ID.String(), "status": "completed"})
}

// CorrectionRequest corrects a participant's data (C11): only the fields
// given change.
type CorrectionRequest struct {
	GivenName  *string `json:"given_name,omitempty"`
	FamilyName *string `json:"family_name,omitempty"`
	Email      *string `json:"email,omitempty"`
	Invoice    *struct {
		Address            *AddressRequest `json:"address,omitempty"`
		OrganisationNumber *string         `json:"organisation_number,omitempty"`
		Email              *string         `json:"email,omitempty"`
	} `json:"invoice,omitempty"`
}

func (s *server) correct(c *gin.Context, r storage.CourseRegistration) {
	var req CorrectionRequest
	if !s.decodeBody(c, &req) {
		return
	}
	var errs []FieldError
	err := s.Store.CorrectCourseRegistration(c.Request.Context(), r.ID, func(p *storage.Participant) error {
		if errs = req.apply(p); len(errs) > 0 {
			return errInvalidCorrection
		}
		return nil
	})
	switch {
	case errors.Is(err, errInvalidCorrection):
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Invalid correction", Status: http.StatusUnprocessableEntity, Detail: errs[0].Field + " " + errs[0].Detail, Errors: errs})
	case err != nil:
		s.failed(c, err, "the database is unavailable")
	default:
		c.Set(auditSubjectKey, auditSubject{storage.SubjectCourseRegistration, r.ID})
		c.JSON(http.StatusOK, gin.H{"registration_id": r.ID.String(), "status": "corrected"})
	}
}

// apply checks a correction and applies it to the participant's data; it
// returns the field errors (nothing should be stored when there are any).
func (req CorrectionRequest) apply(p *storage.Participant) []FieldError {
	v := &validator{}
	if req.GivenName != nil {
		p.GivenName = v.text("given_name", *req.GivenName, true, 100)
	}
	if req.FamilyName != nil {
		p.FamilyName = v.text("family_name", *req.FamilyName, true, 100)
	}
	if req.Email != nil {
		p.Email = v.email("email", *req.Email, true)
	}
	if in := req.Invoice; in != nil {
		if p.Invoice == nil {
			v.add("invoice", "the registration has no invoice details to correct")
		} else {
			if in.OrganisationNumber != nil {
				p.Invoice.OrganisationNumber = strings.ReplaceAll(*in.OrganisationNumber, " ", "")
				if identity.ValidateOrgNumber(p.Invoice.OrganisationNumber) != nil {
					v.add("invoice.organisation_number", "must be a Norwegian organisation number: nine digits with a valid mod-11 check digit")
				}
			}
			if in.Email != nil {
				p.Invoice.Email = v.email("invoice.email", *in.Email, true)
			}
			if a := in.Address; a != nil {
				p.Invoice.Address = storage.Address{Street: v.text("invoice.address.street", a.Street, true, 200),
					PostalCode: v.text("invoice.address.postal_code", a.PostalCode, true, 20), City: v.text("invoice.address.city", a.City, true, 100), Country: a.Country}
				if !countryRe.MatchString(a.Country) {
					v.add("invoice.address.country", "must be an ISO 3166-1 alpha-2 code such as NO")
				}
			}
		}
	}
	return v.errs
}

var errInvalidCorrection = errors.New("invalid correction")

func (s *server) correctCourseRegistration(c *gin.Context) {
	if r, ok := s.courseRegistrationOf(c); ok {
		s.correct(c, r)
	}
}

// withdraw sends the withdrawal to the registration's workflow, which
// deletes everything before it answers. Without a running workflow (never
// started because Temporal was down, ended, or lost) or when Temporal does
// not answer, everything is deleted here as the workflow would delete it:
// rows, objects and data key, with the same deletion record and the same
// answer (C06, C10). A workflow that runs on finds the registration gone.
func (s *server) withdraw(c *gin.Context, r storage.CourseRegistration, via string) {
	update, ok := s.updater(c)
	if !ok {
		return
	}
	var conf cases.WithdrawalConfirmation
	err := update(r.WorkflowID, cases.UpdateWithdrawConsent, cases.Withdrawal{Via: via}, &conf)
	if _, refused := refusalOf(err); err != nil && refused {
		s.updateProblem(c, r.WorkflowID, cases.UpdateWithdrawConsent, err)
		return
	}
	if err != nil {
		ctx := c.Request.Context()
		if !workflowNotRunning(err) {
			s.Logger.WarnContext(ctx, "withdrawal not answered by the workflow; deleting directly", "course_registration_id", r.ID.String(), "error", err)
		}
		d, derr := s.Store.DeleteCourseRegistration(ctx, s.Objects, r.ID, cases.CourseReasonWithdrawn, s.Validation.Now())
		switch {
		case errors.Is(derr, storage.ErrNotFound):
			writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such course registration (withdrawn or deleted registrations leave nothing)"})
			return
		case derr != nil:
			s.Logger.WarnContext(ctx, "withdrawal: direct deletion failed", "course_registration_id", r.ID.String(), "error", derr)
			unavailable(c, "the participant's data could not be deleted now; nothing was kept from this request, try again")
			return
		}
		conf = cases.WithdrawalConfirmation{DeletedAt: d.DeletedAt, RowsDeleted: d.RowsDeleted, ObjectsRemoved: d.ObjectsRemoved}
	}
	c.JSON(http.StatusOK, gin.H{"status": "consent withdrawn; all your personal data is deleted", "deleted_at": conf.DeletedAt,
		"rows_deleted": conf.RowsDeleted, "objects_removed": conf.ObjectsRemoved,
		"right_to_complain": "You can complain to the Norwegian Data Protection Authority (Datatilsynet) about how we process your personal data: www.datatilsynet.no."})
}

func (s *server) withdrawCourseConsent(c *gin.Context) {
	if r, ok := s.courseRegistrationOf(c); ok {
		s.withdraw(c, r, "staff: "+principal(c).Subject)
	}
}

// courseLinkVersion is the first byte of a self-service token that
// expires. Tokens from before had none and never expired; they are now
// treated as expired, so their holder can ask for a fresh link.
const courseLinkVersion = 2

// signCourseLink is a participant's self-service token: the version, the
// registration ID and the expiry (Unix seconds), signed.
func (s *server) signCourseLink(id uuid.UUID, exp time.Time) string {
	msg := make([]byte, 25)
	msg[0] = courseLinkVersion
	copy(msg[1:17], id[:])
	binary.BigEndian.PutUint64(msg[17:], uint64(exp.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(msg, s.courseMAC(msg)...))
}

// courseLinkURL is the self-service link as the participant gets it.
func (s *server) courseLinkURL(id uuid.UUID, exp time.Time) string {
	return s.Courses.PublicURL + "/courses/self-service/" + s.signCourseLink(id, exp)
}

func (s *server) courseMAC(msg []byte) []byte {
	m := hmac.New(sha256.New, s.Courses.LinkKey)
	m.Write([]byte("examflow course self-service\x00"))
	m.Write(msg)
	return m.Sum(nil)
}

// courseLink is a verified self-service token.
type courseLink struct {
	id      uuid.UUID
	expires time.Time
}

// parseCourseLink verifies a self-service token. A token from before links
// expired is authentic but long expired.
func (s *server) parseCourseLink(token string) (courseLink, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(s.Courses.LinkKey) == 0 {
		return courseLink{}, false
	}
	switch {
	case len(raw) == 25+sha256.Size && raw[0] == courseLinkVersion && hmac.Equal(raw[25:], s.courseMAC(raw[:25])):
		id, _ := uuid.FromBytes(raw[1:17])
		return courseLink{id: id, expires: time.Unix(int64(binary.BigEndian.Uint64(raw[17:25])), 0)}, true
	case len(raw) == 16+sha256.Size && hmac.Equal(raw[16:], s.courseMAC(raw[:16])):
		id, _ := uuid.FromBytes(raw[:16])
		return courseLink{id: id, expires: time.Unix(0, 0)}, true
	}
	return courseLink{}, false
}

// linkExpired says how to get a fresh link.
const linkExpired = "this self-service link has expired; ask for a new one with POST /courses/self-service/{token}/renewal " +
	"(the button on the link's page): a fresh link is e-mailed to the address you registered with"

// selfService reads the registration of a valid, unexpired self-service
// link.
func (s *server) selfService(c *gin.Context) (storage.CourseRegistration, bool) {
	l, ok := s.parseCourseLink(c.Param("token"))
	if !ok {
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such link"})
		return storage.CourseRegistration{}, false
	}
	if !s.Validation.Now().Before(l.expires) {
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Link expired", Status: http.StatusGone, Detail: linkExpired})
		return storage.CourseRegistration{}, false
	}
	return s.courseRegistration(c, l.id)
}

// renewalAnswer is the one answer to every request for a fresh link, so it
// tells nothing about the registration.
const renewalAnswer = "if the registration still exists, a new link is on its way to the e-mail address it was made with (at most one a day)"

// sendFreshLink queues a new self-service link to the address on file, at
// most one a day per registration. A registration that is gone gets none,
// silently; only an unavailable database is an error.
func (s *server) sendFreshLink(ctx context.Context, id uuid.UUID) error {
	if _, err := s.Store.GetCourseRegistration(ctx, id); errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrKeyDestroyed) {
		return nil
	} else if err != nil {
		return err
	}
	now := s.Validation.Now()
	exp := now.Add(s.Courses.linkTTL())
	_, err := s.Store.EnqueueNotification(ctx, storage.Notification{DedupeKey: "course_link/" + id.String() + "/" + now.UTC().Format(time.DateOnly),
		CourseRegistrationID: id, Kind: "course_link", Purpose: courseNoticePurpose,
		Payload: map[string]string{"link_expires": exp.UTC().Format(time.DateOnly)},
		Secrets: map[string]string{"self_service_url": s.courseLinkURL(id, exp)}})
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}

// selfServiceRenew mails a fresh link for an authentic link, expired or
// not. The answer is the same whether or not a link is sent.
func (s *server) selfServiceRenew(c *gin.Context) {
	l, ok := s.parseCourseLink(c.Param("token"))
	if !ok {
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such link"})
		return
	}
	if err := s.sendFreshLink(c.Request.Context(), l.id); err != nil {
		s.Logger.WarnContext(c.Request.Context(), "fresh self-service link not queued", "course_registration_id", l.id.String(), "error", err)
		unavailable(c, "the database is unavailable; ask again later")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusAccepted, gin.H{"status": renewalAnswer})
}

// sendCourseLink lets course_admin send a participant who lost the link a
// fresh one, to the address on file only.
func (s *server) sendCourseLink(c *gin.Context) {
	r, ok := s.courseRegistrationOf(c)
	if !ok {
		return
	}
	if err := s.sendFreshLink(c.Request.Context(), r.ID); err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	c.Set(auditSubjectKey, auditSubject{storage.SubjectCourseRegistration, r.ID})
	c.JSON(http.StatusAccepted, gin.H{"registration_id": r.ID.String(), "status": renewalAnswer})
}

var expiredPage = template.Must(template.New("expired").Parse(`<!doctype html>
<html lang="nb"><meta charset="utf-8"><title>Lenken er utløpt / The link has expired</title>
<h1>Lenken er utløpt / The link has expired</h1>
<p>Be om en ny lenke, så sender vi den til e-postadressen du meldte deg på med. / Ask for a new link and we send it to the e-mail address you registered with.</p>
<form method="post" action="{{.}}/renewal"><button type="submit">Send meg en ny lenke / Send me a new link</button></form>
<p>Du kan klage til Datatilsynet på hvordan vi behandler personopplysningene dine. / You can complain to the Norwegian Data Protection Authority (Datatilsynet): www.datatilsynet.no.</p>
</html>`))

var selfServicePage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="nb"><meta charset="utf-8"><title>Påmeldingen din / Your registration</title>
<h1>Påmeldingen din / Your registration</h1>
<p>Trekk samtykket, så sletter vi alle opplysningene dine med en gang. / Withdraw your consent and we delete all your data at once.</p>
<form method="post" action="{{.}}/withdrawal"><button type="submit">Trekk samtykket / Withdraw consent</button></form>
<p>Har du fullført kurset? Marker det som fullført, så får du kursbeviset. / Have you completed the course? Mark it as completed and you get your certificate.</p>
<form method="post" action="{{.}}/completion"><button type="submit">Marker som fullført / Mark as completed</button></form>
<p>Du kan klage til Datatilsynet på hvordan vi behandler personopplysningene dine. / You can complain to the Norwegian Data Protection Authority (Datatilsynet): www.datatilsynet.no.</p>
</html>`))

// selfServicePage shows the participant what the link can do; a GET
// changes nothing (mail scanners follow links).
func (s *server) showSelfService(c *gin.Context) {
	if l, ok := s.parseCourseLink(c.Param("token")); ok && !s.Validation.Now().Before(l.expires) {
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusGone)
		c.Header("Content-Type", "text/html; charset=utf-8")
		_ = expiredPage.Execute(c.Writer, "/courses/self-service/"+c.Param("token"))
		return
	}
	if _, ok := s.selfService(c); !ok {
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	c.Header("Content-Type", "text/html; charset=utf-8")
	_ = selfServicePage.Execute(c.Writer, "/courses/self-service/"+c.Param("token"))
}

func (s *server) selfServiceWithdraw(c *gin.Context) {
	if r, ok := s.selfService(c); ok {
		s.withdraw(c, r, "participant_link")
		s.auditSelfService(c, r, "all")
	}
}

// selfServiceComplete lets the participant mark the course as completed
// through their link (C01: the course they "mark as completed").
func (s *server) selfServiceComplete(c *gin.Context) {
	if r, ok := s.selfService(c); ok {
		s.complete(c, r, cases.Completion{CompletedBy: completedByParticipant})
		s.auditSelfService(c, r, "completion")
	}
}

// completedByParticipant is who marked a course completed through the
// participant's own link.
const completedByParticipant = "participant_link"

func (s *server) selfServiceCorrect(c *gin.Context) {
	if r, ok := s.selfService(c); ok {
		s.correct(c, r)
		s.auditSelfService(c, r, "participant")
	}
}

// auditSelfService records a change a participant made through their
// self-service link, once it succeeded, as staff changes are recorded:
// who is the registration acting on itself ("self-service:<id>"), never a
// name or an address.
func (s *server) auditSelfService(c *gin.Context, r storage.CourseRegistration, fields ...string) {
	if st := c.Writer.Status(); st < 200 || st > 299 || s.Store == nil {
		return
	}
	ctx := c.Request.Context()
	entry := storage.AuditEntry{Who: "self-service:" + r.ID.String(), Role: "data_subject", Purpose: purposeCourses, Action: storage.AuditChange,
		SubjectKind: storage.SubjectCourseRegistration, SubjectID: r.ID, Fields: fields, Operation: c.Request.Method + " " + c.FullPath()}
	if err := s.Store.Audit(ctx, entry); err != nil {
		s.Logger.ErrorContext(ctx, "audit log append failed after a change", "operation", entry.Operation, "error", err)
	}
}

// courseStatistics serves the anonymous course cells (C05, C08): a cell
// with fewer registrations than the configured minimum cell shows no
// numbers; a completion count that would tell who completed is shown as a
// band (storage.SuppressCourse); no totals.
func (s *server) courseStatistics(c *gin.Context) {
	cells, err := s.Store.CourseStatistics(c.Request.Context())
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	out := make([]gin.H, 0, len(cells))
	for _, x := range storage.SuppressCourse(cells, s.StatisticsMinCell) {
		cell := gin.H{"month": x.Month.Format("2006-01"), "course_type": x.CourseType, "suppressed": x.Suppressed,
			"coarsened": x.Coarsened, "computed_at": x.ComputedAt}
		switch {
		case x.Suppressed:
		case x.Coarsened:
			cell["registered"], cell["completed_range"] = x.Registered, [2]int{x.CompletedMin, x.CompletedMax}
		default:
			cell["registered"], cell["completed"] = x.Registered, x.Completed
		}
		out = append(out, cell)
	}
	c.JSON(http.StatusOK, gin.H{"min_cell": storage.EffectiveMinCell(s.StatisticsMinCell), "cells": out})
}
