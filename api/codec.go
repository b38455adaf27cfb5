package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/converter"
)

// codecRoutes serves the codec server the Temporal UI calls to show
// decrypted payloads: POST /codec/encode and /codec/decode, with CORS for the
// UI's origins. Restricting it to an authorised role comes with the
// authentication work; until then it is for the local stack.
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
	for _, path := range []string{"/codec/encode", "/codec/decode"} {
		r.OPTIONS(path, cors, func(c *gin.Context) { c.Status(http.StatusNoContent) })
		r.POST(path, cors, func(c *gin.Context) {
			if !strings.HasPrefix(c.ContentType(), "application/json") {
				writeProblem(c, Problem{Type: ProblemMalformed, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
					Errors: []FieldError{{Field: "Content-Type", Detail: "must be application/json"}}})
				return
			}
			h.ServeHTTP(c.Writer, c.Request)
		})
	}
}
