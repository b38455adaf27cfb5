package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/examflow/examflow/storage"
)

// rawBodyKey holds the request body as read, for the request hash an
// Idempotency-Key is bound to.
const rawBodyKey = "examflow.body"

// idempotencyNamespace derives IDs (Update IDs, the IDs of resources a
// keyed request creates) from idempotency keys.
var idempotencyNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:examflow:idempotency-key"))

// idempotencyKey reads the Idempotency-Key header: a key belongs to its
// caller (how they authenticated and who they are: two integrations never
// share one) and is bound to its first request by a keyed hash of the
// method, the route, the request path with its parameters and the body,
// so that it is refused for any other route, path or body. It is nil when
// there is no header; a malformed key is a problem naming the header.
func (s *server) idempotencyKey(c *gin.Context) (*storage.IdempotencyKey, *Problem) {
	key := c.GetHeader("Idempotency-Key")
	p := principal(c)
	// A caller without a principal (a participant's self-service link) has
	// no scope of its own; its requests are idempotent by themselves.
	if key == "" || s.Store == nil || p.Subject == "" {
		return nil, nil
	}
	if len(key) > maxIdempotencyKey || strings.ContainsFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return nil, &Problem{Type: ProblemValidation, Title: "Invalid Idempotency-Key", Status: http.StatusUnprocessableEntity,
			Detail: "the Idempotency-Key must be 1 to 200 visible ASCII characters; nothing was changed",
			Errors: []FieldError{{Field: "Idempotency-Key", Detail: "must be 1 to 200 visible ASCII characters"}}}
	}
	caller := p.Via + ":" + p.Subject
	body, _ := c.Get(rawBodyKey)
	raw, _ := body.([]byte)
	return &storage.IdempotencyKey{
		Scope:       caller,
		Key:         key,
		RequestHash: s.Store.RequestHash(c.Request.Method+" "+c.FullPath(), c.Request.URL.Path, raw),
	}, nil
}

// idempotentID is the ID of what a keyed request creates: the same for the
// same key from the same caller on the same route, different otherwise.
func idempotentID(k *storage.IdempotencyKey) uuid.UUID {
	return uuid.NewSHA1(idempotencyNamespace, []byte("resource\x00"+k.Scope+"\x00"+k.Key))
}

// claimIdempotencyKey binds the request's Idempotency-Key to it before
// anything is changed, recording resource (what the request acts on; the
// key row is deleted with it). It returns the key (nil without a header)
// and false when it has answered itself: 422 for a malformed key or one
// used before for another request (nothing is sent, changed or audited),
// 503 when PostgreSQL does not answer.
func (s *server) claimIdempotencyKey(c *gin.Context, resource uuid.UUID) (*storage.IdempotencyKey, bool) {
	k, prob := s.idempotencyKey(c)
	if prob != nil {
		writeProblem(c, *prob)
		return nil, false
	}
	if k == nil {
		return nil, true
	}
	return k, s.bindIdempotencyKey(c, k, resource)
}

// claimNewID is the ID of what a request creates (a subject request, a
// release): derived from its Idempotency-Key, which is claimed for it,
// when the request has one, so that a retry finds what the first request
// created; fresh otherwise. False when it has answered itself, as
// claimIdempotencyKey.
func (s *server) claimNewID(c *gin.Context, fresh uuid.UUID) (uuid.UUID, bool) {
	k, prob := s.idempotencyKey(c)
	switch {
	case prob != nil:
		writeProblem(c, *prob)
		return uuid.Nil, false
	case k == nil:
		return fresh, true
	}
	id := idempotentID(k)
	return id, s.bindIdempotencyKey(c, k, id)
}

// bindIdempotencyKey stores k for resource, or answers 422 when k was
// used for another request and 503 when PostgreSQL does not answer.
func (s *server) bindIdempotencyKey(c *gin.Context, k *storage.IdempotencyKey, resource uuid.UUID) bool {
	_, err := s.Store.ClaimIdempotencyKey(c.Request.Context(), *k, resource)
	switch {
	case errors.Is(err, storage.ErrIdempotencyMismatch):
		idempotencyMismatch(c)
		return false
	case err != nil:
		s.failed(c, err, "the database is unavailable; nothing was changed")
		return false
	}
	return true
}

// updateIDFor is the Temporal Update ID of a keyed request: derived from
// the key's scope, the key and the request hash, so the same request is
// the same Update (a retry is answered from the first outcome) and no
// other request can ever map to it.
func updateIDFor(k *storage.IdempotencyKey) string {
	return "idem-" + uuid.NewSHA1(idempotencyNamespace, append([]byte("update\x00"+k.Scope+"\x00"+k.Key+"\x00"), k.RequestHash...)).String()
}

// idempotencyMismatch answers a key reused for another request.
func idempotencyMismatch(c *gin.Context) {
	writeProblem(c, Problem{Type: ProblemIdempotency, Title: "Idempotency key reused", Status: http.StatusUnprocessableEntity,
		Detail: "this Idempotency-Key was used for a different request (another body, path or route); nothing was changed",
		Errors: []FieldError{{Field: "Idempotency-Key", Detail: "was used before with a different request"}}})
}
