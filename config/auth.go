package config

// Auth configures who may call the API: examflow API keys (always, managed
// with `examflow token`) and, optionally, JWTs from an OIDC identity
// provider verified against its JWKS.
type Auth struct {
	// OIDCIssuer and OIDCJWKSURL turn on JWT authentication: tokens must be
	// issued by the issuer and signed by a key from the JWKS.
	OIDCIssuer  string `env:"EXAMFLOW_OIDC_ISSUER"`
	OIDCJWKSURL string `env:"EXAMFLOW_OIDC_JWKS_URL"`
	// OIDCAudience, when set, must be in the token's aud claim.
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
