// Package api is examflow's HTTP API: gin handlers, problem details, the
// OpenAPI document, health and metrics. Integrations start workflows here.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/storage"
	"github.com/examflow/examflow/workflows"
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
	// Codec, when set, is served as the Temporal UI's codec server.
	Codec converter.PayloadCodec
	// CodecCORSOrigins are the UI origins allowed to call the codec server.
	CodecCORSOrigins []string
	// Ready reports whether the dependencies answer; /readyz uses it.
	Ready func(context.Context) error
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

	v1 := r.Group("/v1")
	v1.POST("/registrations", s.createRegistration)
	v1.GET("/registrations/:id", s.getRegistration)
	v1.GET("/registrations/:id/results", s.listResults)
	v1.POST("/registrations/:id/answer-sheets", s.submitAnswerSheet)
	v1.POST("/registrations/:id/discrepancies", s.reportDiscrepancy)
	v1.POST("/registrations/:id/review-decisions", s.decideReview)
	v1.POST("/registrations/:id/assessments", s.submitAssessment)
	v1.POST("/registrations/:id/settlements", s.settleAssessment)
	v1.POST("/registrations/:id/cheating-decisions", s.decideCheating)
	v1.POST("/registrations/:id/appeals", s.lodgeAppeal)
	v1.GET("/registrations/:id/appeals", s.listAppeals)
	v1.GET("/registrations/:id/appeals/:appeal_id", s.getAppeal)
	v1.POST("/registrations/:id/appeals/:appeal_id/decisions", appealUpdateRoute[workflows.AppealDecision](s, workflows.UpdateAppealDecision))
	v1.POST("/registrations/:id/appeals/:appeal_id/reassessments", appealUpdateRoute[workflows.Reassessment](s, workflows.UpdateReassessment))
	if d.Objects != nil {
		v1.POST("/registrations/:id/recordings", s.uploadRecording)
		v1.GET("/registrations/:id/recordings", s.listRecordings)
	}
	v1.GET("/candidates/:id/certificate", s.certificate)
	v1.POST("/answer-keys", s.createAnswerKey)
	v1.GET("/answer-keys/:form_id", s.listAnswerKeys)
	v1.POST("/answer-keys/:form_id/reapply", s.reapplyKey)
	v1.POST("/sessions", s.createSession)
	v1.POST("/sessions/:id/discrepancies", s.reportSessionDiscrepancy)
	registerLegacyAndCandidateRoutes(v1, s)
	return r
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
	}
	reg.MustRegister(m.requests, m.duration, m.regs)
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
