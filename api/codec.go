package api

import (
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/converter"

	"github.com/examflow/examflow/storage"
)

// codecRoutes serves the codec server the Temporal UI calls to show
// decrypted payloads: POST /codec/encode and /codec/decode, with CORS for the
// UI's origins, for case handlers and the data-protection officer only (the
// UI passes their access token when its OIDC login is on). With
// CodecOpenLocal, callers on the loopback interface need no token: the local
// stack's UI has no login.
func (s *server) codecRoutes(r *gin.Engine) {
	if s.Codec == nil {
		return
	}
	h := http.StripPrefix("/codec", converter.NewPayloadCodecHTTPHandler(s.Codec))
	cors := func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin != "" && slices.Contains(s.CodecCORSOrigins, origin) {
			c.Header("Access-Control-Allow-Origin", origin)
			c.Header("Access-Control-Allow-Credentials", "true")
			c.Header("Access-Control-Allow-Methods", "POST, OPTIONS")
			c.Header("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			c.Header("Vary", "Origin")
		}
	}
	staffOnly := s.authorize(RoleCaseHandler, RoleDPO)
	auth := func(c *gin.Context) {
		if s.CodecOpenLocal && c.GetHeader("Authorization") == "" && isLoopback(c.Request.RemoteAddr) {
			c.Next()
			return
		}
		staffOnly(c)
	}
	// Decoding shows payloads with personal data (answer sheets, grounds):
	// each decode is audited before it is served.
	audit := func(c *gin.Context) {
		if s.Store == nil || !strings.HasSuffix(c.Request.URL.Path, "/decode") {
			return
		}
		p := principal(c)
		who, role := p.Subject, p.roleFor([]string{RoleCaseHandler, RoleDPO})
		if who == "" {
			who, role = "local Temporal UI", "local"
		}
		if err := s.Store.Audit(c.Request.Context(), storage.AuditEntry{Who: who, Role: role, Purpose: "case handling in the Temporal UI",
			Action: storage.AuditRead, Fields: []string{"temporal_payloads"}, Operation: "POST /codec/decode"}); err != nil {
			unavailable(c, "the audit log is unavailable")
			c.Abort()
		}
	}
	for _, path := range []string{"/codec/encode", "/codec/decode"} {
		r.OPTIONS(path, cors, func(c *gin.Context) { c.Status(http.StatusNoContent) })
		r.POST(path, cors, auth, audit, func(c *gin.Context) {
			if !strings.HasPrefix(c.ContentType(), "application/json") {
				writeProblem(c, Problem{Type: ProblemMalformed, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
					Errors: []FieldError{{Field: "Content-Type", Detail: "must be application/json"}}})
				return
			}
			h.ServeHTTP(c.Writer, c.Request)
		})
	}
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
