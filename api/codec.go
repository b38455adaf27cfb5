package api

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/converter"

	"github.com/examflow/examflow/storage"
)

// codecMaxBody limits one decode request. Temporal refuses a payload blob
// over 2 MiB; base64 in JSON makes that about 2.7 MiB.
const codecMaxBody = 4 << 20

// codecRoutes serves the codec server the Temporal UI calls to show
// decrypted payloads: POST /codec/decode, with CORS for the UI's origins, for
// case handlers and the data-protection officer only (the UI passes their
// access token when its OIDC login is on). POST /codec/encode is refused:
// the worker accepts only payloads examflow sealed, and only examflow's own
// processes seal, so nothing sent from the Temporal UI or CLI changes a case.
// The local stack's UI, which has no login, uses NewLocalCodec instead.
func (s *server) codecRoutes(r *gin.Engine) {
	if s.Codec == nil {
		return
	}
	r.OPTIONS("/codec/decode", s.codecCORS, func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.POST("/codec/decode", s.codecCORS, s.authorize(RoleCaseHandler, RoleDPO), limitCodecBody, s.auditDecode, s.decode())
	r.OPTIONS("/codec/encode", s.codecCORS, func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.POST("/codec/encode", s.codecCORS, refuseEncode)
}

// refuseEncode answers the Temporal UI's request to seal what a user would
// send (an Update, a Signal, a workflow start): examflow's codec server
// never seals, so the UI can tell the user why nothing is sent.
func refuseEncode(c *gin.Context) {
	writeProblem(c, Problem{Type: ProblemForbidden, Title: "Forbidden", Status: http.StatusForbidden,
		Detail: "examflow's codec server does not seal payloads: nothing sent from the Temporal UI changes a case; act through examflow's API"})
}

// NewLocalCodec returns the token-less codec server of the local stack, for
// a listener of its own on the loopback interface (EXAMFLOW_CODEC_LOCAL_ADDR).
// It decodes only (POST /codec/decode; /codec/encode is refused), and
// answers only requests addressed to a
// loopback host name (a page on another name that resolves to 127.0.0.1,
// DNS rebinding, is refused) from no origin or one of the UI's origins.
func NewLocalCodec(d Deps) http.Handler {
	s := &server{Deps: d}
	r := gin.New()
	r.Use(s.recover)
	r.NoRoute(func(c *gin.Context) {
		writeProblem(c, Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "this listener serves the Temporal UI's codec server only: POST /codec/decode"})
	})
	r.OPTIONS("/codec/decode", loopbackOnly, s.knownOrigin, s.codecCORS, func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.POST("/codec/decode", loopbackOnly, s.knownOrigin, s.codecCORS, limitCodecBody, s.auditDecode, s.decode())
	r.OPTIONS("/codec/encode", loopbackOnly, s.knownOrigin, s.codecCORS, func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.POST("/codec/encode", loopbackOnly, s.knownOrigin, s.codecCORS, refuseEncode)
	return r
}

// codecCORS lets the Temporal UI's origins call the codec server.
func (s *server) codecCORS(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if origin != "" && slices.Contains(s.CodecCORSOrigins, origin) {
		c.Header("Access-Control-Allow-Origin", origin)
		c.Header("Access-Control-Allow-Credentials", "true")
		c.Header("Access-Control-Allow-Methods", "POST, OPTIONS")
		c.Header("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
		c.Header("Vary", "Origin")
	}
}

// knownOrigin refuses a browser request from an origin that is not the
// Temporal UI's. Requests without an Origin (the Temporal CLI) pass.
func (s *server) knownOrigin(c *gin.Context) {
	if origin := c.GetHeader("Origin"); origin != "" && !slices.Contains(s.CodecCORSOrigins, origin) {
		writeProblem(c, Problem{Type: ProblemForbidden, Title: "Forbidden", Status: http.StatusForbidden,
			Detail: "this origin may not use the codec server", Errors: []FieldError{{Field: "Origin", Detail: "must be one of EXAMFLOW_CODEC_CORS_ORIGINS"}}})
		c.Abort()
	}
}

// loopbackOnly refuses a request whose Host is not a loopback name or
// address, or that comes from another host.
func loopbackOnly(c *gin.Context) {
	if !isLoopbackHost(c.Request.Host) || !isLoopback(c.Request.RemoteAddr) {
		writeProblem(c, Problem{Type: ProblemForbidden, Title: "Forbidden", Status: http.StatusForbidden,
			Detail: "the local codec server answers requests to 127.0.0.1, [::1] or localhost only",
			Errors: []FieldError{{Field: "Host", Detail: "must be a loopback host"}}})
		c.Abort()
	}
}

// limitCodecBody reads the body up to codecMaxBody and answers 413 past it.
func limitCodecBody(c *gin.Context) {
	if !strings.HasPrefix(c.ContentType(), "application/json") {
		writeProblem(c, Problem{Type: ProblemMalformed, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Errors: []FieldError{{Field: "Content-Type", Detail: "must be application/json"}}})
		c.Abort()
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, codecMaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeProblem(c, Problem{Type: ProblemMalformed, Title: "Request too large", Status: http.StatusRequestEntityTooLarge,
			Detail: "a decode request must be at most 4 MiB"})
		c.Abort()
	case err != nil:
		writeProblem(c, Problem{Type: ProblemMalformed, Title: "Malformed request", Status: http.StatusBadRequest,
			Detail: "the request body could not be read"})
		c.Abort()
	default:
		c.Request.Body = io.NopCloser(bytes.NewReader(data))
	}
}

// auditDecode writes each decode to the audit log before it is served:
// decoded payloads hold personal data (answer sheets, grounds).
func (s *server) auditDecode(c *gin.Context) {
	if s.Store == nil {
		return
	}
	p := principal(c)
	who, role := p.Subject, p.roleFor([]string{RoleCaseHandler, RoleDPO})
	if who == "" {
		who, role = "local Temporal UI", "local"
	}
	if err := s.Store.Audit(c.Request.Context(), storage.AuditEntry{Who: who, Role: role, Purpose: purposeArranging,
		Action: storage.AuditRead, Fields: []string{"temporal_payloads"}, Operation: "POST /codec/decode"}); err != nil {
		s.failed(c, err, "the audit log is unavailable")
		c.Abort()
	}
}

// decode serves Temporal's remote codec protocol for decoding only.
func (s *server) decode() gin.HandlerFunc {
	h := http.StripPrefix("/codec", converter.NewPayloadCodecHTTPHandler(s.Codec))
	return func(c *gin.Context) { h.ServeHTTP(c.Writer, c.Request) }
}

// isLoopback reports whether a request's remote address is on this host.
func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackHost reports whether a Host header names this host by a
// loopback address or "localhost".
func isLoopbackHost(hostHeader string) bool {
	host := hostHeader
	if h, _, err := net.SplitHostPort(hostHeader); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
