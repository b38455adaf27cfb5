package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// HTTPTimeouts are an HTTP server's timeouts (http.Server's fields of the
// same names).
type HTTPTimeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// DefaultHTTPTimeouts guard every route against slow or idle clients: a
// request (headers and body) is read within 30 s and answered within 60 s.
var DefaultHTTPTimeouts = HTTPTimeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second, Idle: 2 * time.Minute}

// DefaultAudioUploadMinRate is the slowest audio upload waited for: 128
// KiB/s (about 1 Mbit/s), so a 256 MiB recording may take 34 minutes.
const DefaultAudioUploadMinRate = 128 << 10

// withDefaults fills the zero fields from DefaultHTTPTimeouts.
func (t HTTPTimeouts) withDefaults() HTTPTimeouts {
	d := DefaultHTTPTimeouts
	if t.ReadHeader > 0 {
		d.ReadHeader = t.ReadHeader
	}
	if t.Read > 0 {
		d.Read = t.Read
	}
	if t.Write > 0 {
		d.Write = t.Write
	}
	if t.Idle > 0 {
		d.Idle = t.Idle
	}
	return d
}

// NewHTTPServer is the server `examflow api` and `examflow worker` run h
// on, with the timeouts t (zero fields: DefaultHTTPTimeouts).
func NewHTTPServer(h http.Handler, t HTTPTimeouts) *http.Server {
	t = t.withDefaults()
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle}
}

// extendUploadDeadlines gives an authorised upload of n bytes (or of the
// largest recording, when the length is not sent) the time it needs at the
// minimum rate, on top of the server's read and write timeouts, so a slow
// link is not cut off while every other route keeps the short ones.
func (s *server) extendUploadDeadlines(c *gin.Context, n int64) error {
	if n < 0 || n > s.AudioMaxBytes {
		n = s.AudioMaxBytes
	}
	rate := s.AudioUploadMinRate
	if rate <= 0 {
		rate = DefaultAudioUploadMinRate
	}
	t := s.HTTPTimeouts.withDefaults()
	transfer := time.Duration(float64(n) / float64(rate) * float64(time.Second))
	now := time.Now()
	rc := http.NewResponseController(c.Writer)
	if err := rc.SetReadDeadline(now.Add(t.Read + transfer)); err != nil {
		return err
	}
	return rc.SetWriteDeadline(now.Add(t.Write + transfer))
}
