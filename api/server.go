// Package api is examflow's HTTP API: gin handlers, problem details, the
// OpenAPI document, health and metrics. Integrations start workflows here.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document the server serves.
func OpenAPI() []byte { return openAPI }

// Deps are what the API needs.
type Deps struct {
	Store      *storage.Store
	Temporal   client.Client
	TaskQueue  string
	Logger     *slog.Logger
	Registry   *prometheus.Registry
	Validation ValidationOptions
	// Catalogue is the test catalogue (versions, parts, rules).
	Catalogue marking.Catalogue
	// Objects is the MinIO store of audio recordings; AudioMaxBytes limits
	// one recording.
	Objects       *storage.Objects
	AudioMaxBytes int64
	// AudioUploadMinRate is the slowest upload (bytes per second) the
	// recording route waits for; DefaultAudioUploadMinRate if zero.
	AudioUploadMinRate int64
	// HTTPTimeouts are the timeouts of the server that serves the handler
	// (NewHTTPServer); the recording route extends its own. Zero fields
	// are DefaultHTTPTimeouts'.
	HTTPTimeouts HTTPTimeouts
	// Codec, when set, is served as the Temporal UI's codec server
	// (decode only; process.Codec.DisplayCodec).
	Codec converter.PayloadCodec
	// CodecCORSOrigins are the UI origins allowed to call the codec server.
	CodecCORSOrigins []string
	// Ready reports whether the dependencies answer; /readyz uses it.
	Ready func(context.Context) error
	// Tokens checks API keys; OIDC, when set, checks JWTs from an identity
	// provider. Without either every protected route answers 401.
	Tokens TokenAuthenticator
	OIDC   *OIDC
	// StatisticsMinCell is the statistics suppression threshold (at least 5).
	StatisticsMinCell int
	// SubjectRequests are the data subject requests' periods.
	SubjectRequests SubjectRequestOptions
	// ExportLinkKey signs access export links.
	ExportLinkKey []byte
	// Courses configures course registrations.
	Courses CourseOptions
	// TemporalUI links staff answers to the Temporal UI's workflow pages;
	// its zero value gives no links.
	TemporalUI TemporalUI
}

// SubjectRequestOptions are the periods of data subject requests.
type SubjectRequestOptions struct {
	Reminders     []time.Duration
	LiftNotice    time.Duration
	ExportLinkTTL time.Duration
}

type server struct {
	Deps
	metrics *httpMetrics
}

func init() { gin.SetMode(gin.ReleaseMode) }

// New returns the HTTP handler with every route.
func New(d Deps) *gin.Engine {
	if d.Validation.Now == nil {
		d.Validation.Now = time.Now
	}
	s := &server{Deps: d, metrics: newHTTPMetrics(d.Registry)}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(s.observe, s.recover)
	r.NoRoute(func(c *gin.Context) {
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such route"})
	})
	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, Problem{Type: ProblemMalformed, Title: "Method not allowed", Status: http.StatusMethodNotAllowed})
	})

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry})))
	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", openAPI) })
	s.codecRoutes(r)
	r.GET("/exports/:token", s.downloadExport)
	// A participant's self-service link: the signed link is the credential.
	r.GET("/courses/self-service/:token", s.showSelfService)
	r.POST("/courses/self-service/:token/withdrawal", s.selfServiceWithdraw)
	r.POST("/courses/self-service/:token/completion", s.selfServiceComplete)
	r.POST("/courses/self-service/:token/corrections", s.selfServiceCorrect)
	r.POST("/courses/self-service/:token/renewal", s.selfServiceRenew)
	if d.Registry != nil && d.Store != nil {
		d.Registry.MustRegister(overdueCollector{s: s, desc: prometheus.NewDesc("examflow_subject_requests_overdue",
			"Data subject requests not answered by their due date.", nil, nil)})
	}
	for _, rt := range s.routes() {
		chain := []gin.HandlerFunc{s.authorize(rt.Roles...)}
		if rt.audit != nil {
			chain = append(chain, s.audited(rt))
		}
		r.Handle(rt.Method, rt.Path, append(chain, rt.handler)...)
	}
	return r
}

// RouteSpec is a protected route and the roles that may use it.
type RouteSpec struct {
	Method, Path string
	Roles        []string
	// Audited: the route reads or changes personal data, and each use is
	// written to the audit log.
	Audited bool
	handler gin.HandlerFunc
	audit   *auditSpec
}

// Routes lists every protected route with its roles (for the route/role
// tests and the documentation). /healthz, /readyz, /metrics and
// /openapi.yaml are open; the codec server is in codecRoutes.
func Routes() []RouteSpec {
	return (&server{}).routes()
}

func (s *server) routes() []RouteSpec {
	staff := []string{RoleCaseHandler}
	route := func(method, path string, h gin.HandlerFunc, a *auditSpec, roles ...string) RouteSpec {
		return RouteSpec{Method: method, Path: path, Roles: roles, Audited: a != nil, handler: h, audit: a}
	}
	const reg, cand, courseReg = storage.SubjectRegistration, storage.SubjectCandidate, storage.SubjectCourseRegistration
	const r = "/v1/registrations/:id"
	return []RouteSpec{
		route(http.MethodPost, "/v1/registrations", s.createRegistration, changes(reg, purposeArranging, "identity", "contact", "address", "test"), RoleIntegration),
		route(http.MethodGet, r, s.getRegistration, reads(reg, purposeArranging, "test", "stages"), RoleIntegration, RoleCaseHandler),
		route(http.MethodGet, r+"/results", s.listResults, reads(reg, purposeQuality, "test_answers", "test_results"), staff...),
		route(http.MethodPost, r+"/answer-sheets", registrationUpdate(s, cases.UpdateSubmitAnswerSheet, http.StatusAccepted, nil,
			func(a cases.AnswerSheet) gin.H { return gin.H{"part": a.Part, "status": "submitted"} }),
			changes(reg, purposeArranging, "test_answers"), RoleIntegration),
		route(http.MethodPost, r+"/discrepancies", registrationUpdate(s, cases.UpdateReportDiscrepancy, http.StatusAccepted,
			func(d *cases.Discrepancy) { d.SessionWide = false }, // only the session route reports for a whole session
			func(d cases.Discrepancy) gin.H { return gin.H{"kind": d.Kind, "status": "recorded"} }),
			changes(reg, purposeCentre, "discrepancies"), RoleIntegration, RoleCaseHandler),
		route(http.MethodPost, r+"/review-decisions", registrationUpdate(s, cases.UpdateReviewDecision, http.StatusOK, nil,
			func(d cases.ReviewDecision) gin.H { return gin.H{"part": d.Part, "decision": d.Decision} }),
			changes(reg, purposeQuality, "test_results"), staff...),
		route(http.MethodPost, r+"/assessments", registrationUpdate(s, cases.UpdateAssessment, http.StatusAccepted, nil,
			func(a cases.Assessment) gin.H { return gin.H{"part": a.Part, "role": a.Role, "status": "recorded"} }),
			changes(reg, purposeArranging, "test_results"), RoleExaminer),
		route(http.MethodPost, r+"/settlements", registrationUpdate(s, cases.UpdateSettleAssessment, http.StatusOK, nil,
			func(st cases.Settlement) gin.H { return gin.H{"part": st.Part, "status": "decided"} }),
			changes(reg, purposeQuality, "test_results"), staff...),
		route(http.MethodPost, r+"/cheating-decisions", registrationUpdate(s, cases.UpdateCheatingDecision, http.StatusOK, nil,
			func(d cases.CheatingDecision) gin.H { return gin.H{"decision": d.Decision} }),
			changes(reg, purposeCentre, "cheating", "test_results"), staff...),
		route(http.MethodPost, r+"/appeals", s.lodgeAppeal, changes(reg, purposeAppeal, "appeal"), RoleAppeals, RoleCaseHandler),
		route(http.MethodGet, r+"/appeals", s.listAppeals, reads(reg, purposeAppeal, "appeal"), RoleAppeals, RoleCaseHandler),
		route(http.MethodGet, r+"/appeals/:appeal_id", s.getAppeal, reads(reg, purposeAppeal, "appeal"), RoleAppeals, RoleCaseHandler),
		route(http.MethodPost, r+"/appeals/:appeal_id/decisions", appealUpdateRoute[cases.AppealDecision](s, cases.UpdateAppealDecision),
			changes(reg, purposeAppeal, "appeal", "test_results"), RoleAppeals, RoleCaseHandler),
		route(http.MethodPost, r+"/appeals/:appeal_id/reassessments", appealUpdateRoute[cases.Reassessment](s, cases.UpdateReassessment),
			changes(reg, purposeAppeal, "appeal", "test_results"), RoleExaminer),
		route(http.MethodPost, r+"/recordings", s.uploadRecording, changes(reg, purposeArranging, "audio"), RoleIntegration),
		route(http.MethodGet, r+"/recordings", s.listRecordings, reads(reg, purposeArranging, "audio"), RoleCaseHandler, RoleExaminer),
		route(http.MethodGet, "/v1/candidates/:id", s.getCandidate, reads(cand, purposeArranging, "identity", "contact", "registrations"), staff...),
		route(http.MethodPost, "/v1/candidates/:id/merge", s.mergeCandidates, changes(cand, purposeArranging, "identity", "registrations"), staff...),
		route(http.MethodPut, "/v1/candidates/:id/identifiers/:kind", s.correctIdentifier, changes(cand, purposeArranging, "identity"), RoleCaseHandler),
		route(http.MethodGet, "/v1/possible-duplicates", s.listPossibleDuplicates, reads("", purposeArranging, "possible_duplicates"), staff...),
		route(http.MethodPost, "/v1/possible-duplicates/:id/dismissal", s.dismissPossibleDuplicate, changes("", purposeArranging, "possible_duplicates"), staff...),
		route(http.MethodGet, "/v1/candidates/:id/certificate", s.certificate, reads(cand, purposeArranging, "test_results"), staff...),
		route(http.MethodPost, "/v1/candidates/:id/disclosures", s.releaseData, &auditSpec{action: storage.AuditRelease, subject: cand,
			purpose: purposeArranging, fields: []string{"as released"}, byStore: true}, releaseRoles...),
		route(http.MethodGet, "/v1/candidates/:id/disclosures", s.listDisclosures, reads(cand, purposeOversight, "disclosures"), RoleCaseHandler, RoleDPO),
		route(http.MethodPost, "/v1/legacy/registrations", s.importLegacyRegistration,
			changes(reg, purposeArranging, "identity", "contact", "address", "test", "sensitive"), RoleIntegration),
		route(http.MethodPost, "/v1/answer-keys", s.createAnswerKey, nil, staff...),
		route(http.MethodGet, "/v1/answer-keys/:form_id", s.listAnswerKeys, nil, staff...),
		route(http.MethodPost, "/v1/answer-keys/:form_id/reapply", s.reapplyKey, changes("", purposeQuality, "test_results"), staff...),
		route(http.MethodPost, "/v1/sessions", s.createSession, nil, RoleIntegration, RoleCaseHandler),
		route(http.MethodPost, "/v1/sessions/:id/discrepancies", s.reportSessionDiscrepancy, changes("", purposeCentre, "discrepancies"), RoleIntegration, RoleCaseHandler),
		route(http.MethodGet, "/v1/audit-log", s.listAuditLog, reads("", purposeOversight, "audit_log"), RoleDPO),
		route(http.MethodPost, "/v1/subject-requests", s.createSubjectRequest, changes("", purposeRights, "subject_request"), RoleCaseHandler, RoleIntegration),
		route(http.MethodGet, "/v1/subject-requests/:id", s.getSubjectRequest, reads(subjectRequest, purposeRights, "subject_request"), RoleCaseHandler, RoleDPO),
		route(http.MethodPost, "/v1/subject-requests/:id/identity", subjectRequestUpdate[cases.IdentityCheck](s, cases.UpdateVerifyIdentity),
			changes(subjectRequest, purposeRights, "subject_request"), RoleCaseHandler),
		route(http.MethodPost, "/v1/subject-requests/:id/extension", subjectRequestUpdate[cases.Extension](s, cases.UpdateExtendRequest),
			changes(subjectRequest, purposeRights, "subject_request"), RoleCaseHandler),
		route(http.MethodPost, "/v1/subject-requests/:id/decision", subjectRequestUpdate[cases.RequestDecision](s, cases.UpdateDecideRequest),
			changes(subjectRequest, purposeRights, "subject_request", "identity", "contact"), RoleCaseHandler),
		route(http.MethodPost, "/v1/subject-requests/:id/lift", subjectRequestUpdate[cases.RequestDecision](s, cases.UpdateLiftRestriction),
			changes(subjectRequest, purposeRights, "subject_request"), RoleCaseHandler),
		route(http.MethodPost, "/v1/subject-requests/:id/export-link", s.exportLink,
			&auditSpec{action: storage.AuditExport, subject: subjectRequest, purpose: purposeRights, fields: []string{"all"}}, RoleCaseHandler, RoleDPO),
		route(http.MethodGet, "/v1/record-of-processing", recordOfProcessing, nil, RoleDPO),
		// Visibility queries and links: no personal data, so not audited.
		route(http.MethodGet, "/v1/temporal-ui/queries", s.listDailyQueries, nil, temporalUIRoles...),
		route(http.MethodPost, "/v1/courses", s.createCourse, nil, RoleCourseAdmin),
		route(http.MethodGet, "/v1/courses", s.listCourses, nil, RoleCourseAdmin),
		route(http.MethodGet, "/v1/courses/:id/participants", s.listParticipants, reads("", purposeCourses, "participants"), RoleCourseAdmin),
		route(http.MethodPost, "/v1/course-registrations", s.registerForCourse, changes("", purposeCourses, "participant"), RoleIntegration),
		route(http.MethodGet, "/v1/course-registrations/:id", s.getCourseRegistration, reads(courseReg, purposeCourses, "participant"), RoleCourseAdmin),
		route(http.MethodPost, "/v1/course-registrations/:id/completion", s.completeCourse, changes(courseReg, purposeCourses, "completion"), RoleCourseAdmin),
		route(http.MethodPost, "/v1/course-registrations/:id/corrections", s.correctCourseRegistration, changes(courseReg, purposeCourses, "participant"), RoleCourseAdmin),
		route(http.MethodPost, "/v1/course-registrations/:id/self-service-link", s.sendCourseLink,
			&auditSpec{action: "notify", subject: courseReg, purpose: purposeCourses, fields: []string{"contact"}}, RoleCourseAdmin),
		route(http.MethodPost, "/v1/course-registrations/:id/withdrawal", s.withdrawCourseConsent, changes(courseReg, purposeCourses, "all"), RoleCourseAdmin, RoleIntegration),
		// Anonymous cells: no personal data, so not audited.
		route(http.MethodGet, "/v1/statistics", StatisticsHandler(s.Store, s.StatisticsMinCell, s.Logger), nil, RoleStatistics),
		route(http.MethodGet, "/v1/statistics/courses", s.courseStatistics, nil, RoleStatistics),
	}
}

func (s *server) readyz(c *gin.Context) {
	if err := s.Ready(c.Request.Context()); err != nil {
		s.Logger.WarnContext(c.Request.Context(), "not ready", "error", err)
		unavailable(c, "PostgreSQL or Temporal does not answer")
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	regs     *prometheus.CounterVec
	// courseRegs counts course registrations by course type and outcome.
	courseRegs *prometheus.CounterVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "examflow_http_requests_total",
			Help: "HTTP requests by method, route template and status code.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "examflow_http_request_duration_seconds",
			Help:    "HTTP request latency by method and route template.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"method", "route"}),
		regs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "examflow_registrations_total",
			Help: "Registration requests by test type and outcome (created, duplicate, invalid, replayed).",
		}, []string{"test_type", "outcome"}),
		courseRegs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "examflow_course_registrations_total",
			Help: "Course registrations taken (workflow started) by course type and outcome (created, replayed).",
		}, []string{"course_type", "outcome"}),
	}
	reg.MustRegister(m.requests, m.duration, m.regs, m.courseRegs)
	return m
}

// observe logs and measures each request by its route template; paths,
// bodies and query strings are never logged, so no personal data is.
func (s *server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	elapsed := time.Since(start)
	s.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
	s.metrics.duration.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
	if route == "/metrics" || route == "/healthz" || route == "/readyz" {
		return
	}
	s.Logger.LogAttrs(c.Request.Context(), slog.LevelInfo, "http request",
		slog.String("method", c.Request.Method), slog.String("route", route),
		slog.Int("status", status), slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000))
}

func (s *server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			s.Logger.ErrorContext(c.Request.Context(), "panic in handler", "route", c.FullPath())
			internalError(c)
		}
	}()
	c.Next()
}

// recordOfProcessing serves the record of processing generated from the
// policy tables (T11): JSON, or Markdown when asked for text/markdown.
func recordOfProcessing(c *gin.Context) {
	if strings.Contains(c.GetHeader("Accept"), "text/markdown") {
		c.Data(http.StatusOK, "text/markdown; charset=utf-8", []byte(policy.RecordOfProcessing()))
		return
	}
	c.JSON(http.StatusOK, policy.ProcessingRecord())
}
