package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
)

// Auth configures who may call the API: examflow API keys (always, managed
// with `examflow token`) and, optionally, JWTs from an OIDC identity
// provider verified against its JWKS.
type Auth struct {
	// OIDCIssuer and OIDCJWKSURL turn on JWT authentication: tokens must be
	// issued by the issuer and signed by a key from the JWKS.
	OIDCIssuer  string `env:"EXAMFLOW_OIDC_ISSUER"`
	OIDCJWKSURL string `env:"EXAMFLOW_OIDC_JWKS_URL"`
	// OIDCAudience must be in the token's aud claim: the client ID the
	// identity provider issues examflow's tokens for. Required with OIDC
	// on, else a token the issuer signed for any other application would
	// do.
	OIDCAudience string `env:"EXAMFLOW_OIDC_AUDIENCE"`
	// OIDCRolesClaim holds the roles; OIDCSubjectClaim names the person.
	OIDCRolesClaim   string `env:"EXAMFLOW_OIDC_ROLES_CLAIM" envDefault:"roles"`
	OIDCSubjectClaim string `env:"EXAMFLOW_OIDC_SUBJECT_CLAIM" envDefault:"sub"`
	// OIDCRoleMap maps the provider's role values to examflow roles, e.g.
	// hkdir-saksbehandler=case_handler,personvernombud=dpo.
	OIDCRoleMap map[string]string `env:"EXAMFLOW_OIDC_ROLE_MAP" envSeparator:"," envKeyValSeparator:"="`
	// CodecOpenLocal serves a codec server that needs no token on a
	// listener of its own at CodecLocalAddr, a loopback address (Load
	// refuses another). Only for the local stack, whose Temporal UI has no
	// login; the codec server on the API's listener always needs a token.
	CodecOpenLocal bool   `env:"EXAMFLOW_CODEC_OPEN_LOCAL" envDefault:"false"`
	CodecLocalAddr string `env:"EXAMFLOW_CODEC_LOCAL_ADDR" envDefault:"127.0.0.1:8082"`
}

// OIDCEnabled reports whether JWTs are accepted.
func (a Auth) OIDCEnabled() bool { return a.OIDCIssuer != "" && a.OIDCJWKSURL != "" }

// check refuses an OIDC configuration that would accept more than it
// should: half of one, one without an audience, or an issuer or JWKS over
// plain HTTP to another host (a network attacker could serve their own
// keys), which only development allows.
func (a Auth) check(dev bool) error {
	if (a.OIDCIssuer == "") != (a.OIDCJWKSURL == "") {
		missing := "EXAMFLOW_OIDC_JWKS_URL"
		if a.OIDCIssuer == "" {
			missing = "EXAMFLOW_OIDC_ISSUER"
		}
		return fmt.Errorf("%s is not set: EXAMFLOW_OIDC_ISSUER and EXAMFLOW_OIDC_JWKS_URL turn OIDC on together; set both, or neither for API keys only", missing)
	}
	if !a.OIDCEnabled() {
		return nil
	}
	var errs []error
	if a.OIDCAudience == "" {
		errs = append(errs, errors.New("EXAMFLOW_OIDC_AUDIENCE is not set: with OIDC on it must name the client ID (aud claim) the identity provider issues examflow's tokens for; without it a token the issuer signed for any application would be accepted"))
	}
	for _, u := range []struct{ name, value string }{{"EXAMFLOW_OIDC_ISSUER", a.OIDCIssuer}, {"EXAMFLOW_OIDC_JWKS_URL", a.OIDCJWKSURL}} {
		if err := checkSecureURL(u.value, dev); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.name, err))
		}
	}
	return errors.Join(errs...)
}

// checkSecureURL accepts an https URL, or http to this host (loopback), or
// any http URL in development.
func checkSecureURL(raw string, dev bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if u.Scheme == "https" || dev {
		return nil
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%q must use https (plain http is allowed only to this host, or with EXAMFLOW_DEV_SECRETS=allow)", raw)
}
