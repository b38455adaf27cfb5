package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/storage"
)

// Roles, as in the design document. Every route states which may use it.
const (
	RoleIntegration = "integration"  // test system, registration portal, other systems
	RoleCaseHandler = "case_handler" // HK-dir case handlers
	RoleExaminer    = "examiner"     // examiners and external examiners
	RoleAppeals     = "appeals"      // the appeals process
	RoleCourseAdmin = "course_admin" // the customs department for user dialogue
	RoleDPO         = "dpo"          // the data-protection officer
	RoleStatistics  = "statistics"   // anonymous statistics only
)

// Roles lists every role.
func Roles() []string {
	return []string{RoleIntegration, RoleCaseHandler, RoleExaminer, RoleAppeals, RoleCourseAdmin, RoleDPO, RoleStatistics}
}

// Principal is who calls: a person or a system, and their roles.
type Principal struct {
	// Subject names the caller: the API key's name or the JWT's subject.
	Subject string
	Roles   []string
	// Via is how the caller authenticated: viaAPIKey (a system) or
	// viaOIDC (a signed-in person).
	Via string
}

// How a principal authenticated.
const (
	viaAPIKey = "api_key"
	viaOIDC   = "oidc"
)

// Has reports whether the principal has any of the roles.
func (p Principal) Has(roles ...string) bool {
	return slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(p.Roles, r) })
}

// TokenAuthenticator checks API keys (storage.Store does).
type TokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, secret string, now time.Time) (storage.Token, error)
}

// OIDC verifies JWTs from an identity provider against its JWKS.
type OIDC struct {
	Verifier *oidc.IDTokenVerifier
	// RolesClaim holds the roles (a list or a space-separated string);
	// RoleMap maps the provider's values to examflow roles (a value that is
	// already a role name maps to itself).
	RolesClaim   string
	SubjectClaim string
	RoleMap      map[string]string
}

// NewOIDC returns a verifier for JWTs signed by the keys at jwksURL, issued
// by issuer for audience. The audience is required: with none, every token
// is refused (config.Load does not start without one).
func NewOIDC(ctx context.Context, issuer, jwksURL, audience, rolesClaim, subjectClaim string, roleMap map[string]string) *OIDC {
	keys := oidc.NewRemoteKeySet(ctx, jwksURL)
	v := oidc.NewVerifier(issuer, keys, &oidc.Config{ClientID: audience})
	if rolesClaim == "" {
		rolesClaim = "roles"
	}
	if subjectClaim == "" {
		subjectClaim = "sub"
	}
	return &OIDC{Verifier: v, RolesClaim: rolesClaim, SubjectClaim: subjectClaim, RoleMap: roleMap}
}

var errUnauthenticated = errors.New("unauthenticated")

// authenticate reads the bearer token: an examflow API key, or a JWT when
// OIDC is configured.
func (s *server) authenticate(c *gin.Context) (Principal, error) {
	h := c.GetHeader("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, errUnauthenticated
	}
	ctx := c.Request.Context()
	if strings.HasPrefix(token, storage.TokenPrefix) {
		if s.Tokens == nil {
			return Principal{}, errUnauthenticated
		}
		t, err := s.Tokens.AuthenticateToken(ctx, token, s.Validation.Now())
		if err != nil {
			return Principal{}, err
		}
		return Principal{Subject: t.Name, Roles: t.Roles, Via: viaAPIKey}, nil
	}
	if s.OIDC == nil {
		return Principal{}, errUnauthenticated
	}
	idt, err := s.OIDC.Verifier.Verify(ctx, token)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", errUnauthenticated, err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", errUnauthenticated, err)
	}
	p := Principal{Via: viaOIDC}
	p.Subject, _ = claims[s.OIDC.SubjectClaim].(string)
	var values []string
	switch v := claims[s.OIDC.RolesClaim].(type) {
	case string:
		values = strings.Fields(v)
	case []any:
		for _, x := range v {
			if str, ok := x.(string); ok {
				values = append(values, str)
			}
		}
	}
	for _, v := range values {
		if mapped, ok := s.OIDC.RoleMap[v]; ok {
			v = mapped
		}
		if slices.Contains(Roles(), v) && !slices.Contains(p.Roles, v) {
			p.Roles = append(p.Roles, v)
		}
	}
	if p.Subject == "" {
		return Principal{}, fmt.Errorf("%w: the token names no subject", errUnauthenticated)
	}
	return p, nil
}

const principalKey = "examflow.principal"

// authorize lets a request through when its bearer token is valid (401
// otherwise) and carries one of the roles (403 otherwise).
func (s *server) authorize(roles ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := s.authenticate(c)
		if err != nil {
			if !errors.Is(err, errUnauthenticated) && !errors.Is(err, storage.ErrInvalidToken) {
				s.failed(c, err, "the database is unavailable")
				c.Abort()
				return
			}
			c.Header("WWW-Authenticate", `Bearer realm="examflow"`)
			writeProblem(c, Problem{Type: ProblemUnauthenticated, Title: "Authentication required", Status: http.StatusUnauthorized,
				Detail: "send a valid bearer token (an examflow API key or an OIDC access token)"})
			c.Abort()
			return
		}
		if !p.Has(roles...) {
			writeProblem(c, Problem{Type: ProblemForbidden, Title: "Forbidden", Status: http.StatusForbidden,
				Detail: "this route needs one of the roles " + strings.Join(roles, ", ")})
			c.Abort()
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

// principal is the caller a route's authorize middleware let through.
func principal(c *gin.Context) Principal {
	p, _ := c.Get(principalKey)
	pp, _ := p.(Principal)
	return pp
}
