package config

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// randomHex returns n random bytes in hex: a key nobody else knows.
func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// setSecrets sets every secret to a fresh random value, as a production
// deployment does, with the development switch off, and returns them.
func setSecrets(t *testing.T) map[string]string {
	t.Helper()
	s := map[string]string{
		"EXAMFLOW_LOOKUP_KEY":             randomHex(t, 32),
		"EXAMFLOW_LINK_KEY":               randomHex(t, 32),
		"EXAMFLOW_PAYLOAD_KEY":            randomHex(t, 32),
		"EXAMFLOW_MASTER_KEY":             randomHex(t, 32),
		"EXAMFLOW_MINIO_SECRET_KEY":       randomHex(t, 20),
		"EXAMFLOW_REGISTRY_CLIENT_SECRET": randomHex(t, 20),
	}
	for k, v := range s {
		t.Setenv(k, v)
	}
	unset(t, "EXAMFLOW_DEV_SECRETS", "EXAMFLOW_PAYLOAD_OLD_KEYS", "EXAMFLOW_MASTER_OLD_KEYS", "EXAMFLOW_SMTP_PASSWORD",
		"EXAMFLOW_TEMPORAL_API_KEY", "EXAMFLOW_OIDC_ISSUER", "EXAMFLOW_OIDC_JWKS_URL", "EXAMFLOW_OIDC_AUDIENCE")
	return s
}

// unset removes variables for the test (t.Setenv restores them after).
func unset(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		t.Setenv(n, "")
		os.Unsetenv(n)
	}
}

const (
	oldLookupDefault  = "6465762d6f6e6c792d6c6f6f6b75702d6b65792d6368616e67652d6d65212121"
	oldPayloadDefault = "6465762d6f6e6c792d7061796c6f61642d6b65792d6368616e67652d6d652121"
	oldMasterDefault  = "6465762d6f6e6c792d6d61737465722d6b65792d6368616e67652d6d65212121"
	composeHolder     = "5265706c6163652d6d652d776974682d6f70656e73736c2d72616e642d686578"
	replayTestKey     = "6578616d666c6f77207075626c6963207265706c61792074657374206b657921"
)

// Outside development, Load refuses a secret that is missing or publicly
// known (an old default, a placeholder of docker-compose.yml, the replay
// test key, MinIO's factory password) and names the variable and how to
// make a value. Everything set to values of its own starts.
func TestLoadRefusesMissingAndPublicSecrets(t *testing.T) {
	tests := []struct {
		name  string
		env   string
		value string // "" unsets it
		want  string // in the error besides the variable's name
	}{
		{"lookup key missing", "EXAMFLOW_LOOKUP_KEY", "", "openssl rand -hex 32"},
		{"link key missing", "EXAMFLOW_LINK_KEY", "", "openssl rand -hex 32"},
		{"payload key missing", "EXAMFLOW_PAYLOAD_KEY", "", "openssl rand -hex 32"},
		{"master key missing", "EXAMFLOW_MASTER_KEY", "", "openssl rand -hex 32"},
		{"MinIO secret missing", "EXAMFLOW_MINIO_SECRET_KEY", "", "openssl rand"},
		{"registry secret missing", "EXAMFLOW_REGISTRY_CLIENT_SECRET", "", "Diploma Registry"},
		{"lookup key, the old default", "EXAMFLOW_LOOKUP_KEY", oldLookupDefault, "public"},
		{"payload key, the old default", "EXAMFLOW_PAYLOAD_KEY", oldPayloadDefault, "public"},
		{"master key, the old default", "EXAMFLOW_MASTER_KEY", oldMasterDefault, "public"},
		{"master key, the compose placeholder", "EXAMFLOW_MASTER_KEY", composeHolder, "docker-compose.yml"},
		{"payload key, the compose placeholder", "EXAMFLOW_PAYLOAD_KEY", composeHolder, "docker-compose.yml"},
		{"lookup key, the compose placeholder", "EXAMFLOW_LOOKUP_KEY", composeHolder, "docker-compose.yml"},
		{"lookup key, the placeholder in capitals", "EXAMFLOW_LOOKUP_KEY", strings.ToUpper(composeHolder), "docker-compose.yml"},
		{"payload key, the replay test key", "EXAMFLOW_PAYLOAD_KEY", replayTestKey, "replay"},
		{"master key, another's old default", "EXAMFLOW_MASTER_KEY", oldLookupDefault, "public"},
		{"link key, all zeros", "EXAMFLOW_LINK_KEY", strings.Repeat("00", 32), "openssl rand -hex 32"},
		{"lookup key, one byte repeated", "EXAMFLOW_LOOKUP_KEY", strings.Repeat("ab", 40), "openssl rand -hex 32"},
		{"MinIO secret, the development one", "EXAMFLOW_MINIO_SECRET_KEY", "examflow-dev-secret", "public"},
		{"MinIO secret, MinIO's factory one", "EXAMFLOW_MINIO_SECRET_KEY", "minioadmin", "public"},
		{"registry secret, the development one", "EXAMFLOW_REGISTRY_CLIENT_SECRET", "examflow-dev-secret", "public"},
		{"SMTP password, the development one", "EXAMFLOW_SMTP_PASSWORD", "examflow-dev-secret", "public"},
		{"Temporal API key, a placeholder", "EXAMFLOW_TEMPORAL_API_KEY", "changeme", "placeholder"},
		{"link key too short", "EXAMFLOW_LINK_KEY", randomHex(t, 16), "32 bytes"},
		{"link key not hex", "EXAMFLOW_LINK_KEY", "not-hex", "hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setSecrets(t)
			if tt.value == "" {
				unset(t, tt.env)
			} else {
				t.Setenv(tt.env, tt.value)
			}
			_, err := Load()
			if err == nil {
				t.Fatalf("Load() started with %s = %q", tt.env, tt.value)
			}
			if !strings.Contains(err.Error(), tt.env) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not name %s and %q:\n%v", tt.env, tt.want, err)
			}
			if tt.value != "" && len(tt.value) > 12 && strings.Contains(err.Error(), tt.value) {
				t.Errorf("error repeats the value: %v", err)
			}
		})
	}
	t.Run("every secret of its own", func(t *testing.T) {
		s := setSecrets(t)
		c, err := Load()
		if err != nil {
			t.Fatalf("Load() = %v", err)
		}
		if c.LinkKeyHex != s["EXAMFLOW_LINK_KEY"] || c.LookupKeyHex != s["EXAMFLOW_LOOKUP_KEY"] || c.MinIO.SecretKey != s["EXAMFLOW_MINIO_SECRET_KEY"] {
			t.Errorf("Load() did not keep the values set")
		}
		var buf bytes.Buffer
		c.newLogger(&buf)
		if buf.Len() != 0 {
			t.Errorf("a production start logged %s", buf.String())
		}
	})
}

// Each key has one purpose: Load refuses one value for two purposes, so one
// leaked key does not open the others.
func TestLoadRefusesOneKeyForTwoPurposes(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		old  string // b is set as an old key of this variable instead
	}{
		{name: "link and lookup", a: "EXAMFLOW_LOOKUP_KEY", b: "EXAMFLOW_LINK_KEY"},
		{name: "lookup and payload", a: "EXAMFLOW_LOOKUP_KEY", b: "EXAMFLOW_PAYLOAD_KEY"},
		{name: "payload and master", a: "EXAMFLOW_PAYLOAD_KEY", b: "EXAMFLOW_MASTER_KEY"},
		{name: "link and master", a: "EXAMFLOW_LINK_KEY", b: "EXAMFLOW_MASTER_KEY"},
		{name: "master and an old payload key", a: "EXAMFLOW_MASTER_KEY", old: "EXAMFLOW_PAYLOAD_OLD_KEYS"},
		{name: "payload and an old master key", a: "EXAMFLOW_PAYLOAD_KEY", old: "EXAMFLOW_MASTER_OLD_KEYS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setSecrets(t)
			if tt.old != "" {
				t.Setenv(tt.old, "old-1="+s[tt.a])
			} else {
				t.Setenv(tt.b, s[tt.a])
			}
			_, err := Load()
			if err == nil {
				t.Fatal("Load() accepted one key for two purposes")
			}
			for _, v := range []string{tt.a, tt.b + tt.old} {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("error does not name %s: %v", v, err)
				}
			}
		})
	}
}

// An old key under the current key's ID would hide one of them: refused.
func TestLoadRefusesOldKeyUnderCurrentID(t *testing.T) {
	setSecrets(t)
	t.Setenv("EXAMFLOW_PAYLOAD_KEY_ID", "p2")
	t.Setenv("EXAMFLOW_PAYLOAD_OLD_KEYS", "p2="+randomHex(t, 32))
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "EXAMFLOW_PAYLOAD_OLD_KEYS") {
		t.Fatalf("Load() = %v, want a refusal naming EXAMFLOW_PAYLOAD_OLD_KEYS", err)
	}
}

// The development switch lets the public development values through, fills
// in a missing secret with one, and every process that starts on it says so
// first, at warn level whatever the log level. Only the value allow turns it
// on.
func TestDevelopmentSwitch(t *testing.T) {
	t.Run("allow, nothing set", func(t *testing.T) {
		setSecrets(t)
		unset(t, "EXAMFLOW_LOOKUP_KEY", "EXAMFLOW_LINK_KEY", "EXAMFLOW_PAYLOAD_KEY", "EXAMFLOW_MASTER_KEY",
			"EXAMFLOW_MINIO_SECRET_KEY", "EXAMFLOW_REGISTRY_CLIENT_SECRET")
		t.Setenv("EXAMFLOW_DEV_SECRETS", "allow")
		t.Setenv("EXAMFLOW_LOG_LEVEL", "error")
		c, err := Load()
		if err != nil {
			t.Fatalf("Load() = %v", err)
		}
		// The development values are the old defaults, so a local stack's
		// data (blind index, wrapped keys, histories) stays readable.
		if c.LookupKeyHex != oldLookupDefault || c.PayloadKeyHex != oldPayloadDefault || c.MasterKeyHex != oldMasterDefault ||
			c.MinIO.SecretKey != "examflow-dev-secret" || c.Registry.ClientSecret != "examflow-dev-secret" {
			t.Errorf("development values = %q %q %q %q %q", c.LookupKeyHex, c.PayloadKeyHex, c.MasterKeyHex, c.MinIO.SecretKey, c.Registry.ClientSecret)
		}
		if _, err := c.LinkKey(); err != nil || c.LinkKeyHex == c.LookupKeyHex {
			t.Errorf("development link key %q: %v", c.LinkKeyHex, err)
		}
		var buf bytes.Buffer
		c.newLogger(&buf).Error("first")
		line, _, _ := strings.Cut(buf.String(), "\n")
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("first record %q: %v", line, err)
		}
		msg, _ := rec["msg"].(string)
		if rec["level"] != "WARN" || !strings.Contains(msg, "EXAMFLOW_DEV_SECRETS") || !strings.Contains(msg, "public") ||
			!strings.Contains(line, "EXAMFLOW_LINK_KEY") {
			t.Errorf("first record = %s", line)
		}
	})
	t.Run("allow, a public value set", func(t *testing.T) {
		setSecrets(t)
		t.Setenv("EXAMFLOW_DEV_SECRETS", "allow")
		t.Setenv("EXAMFLOW_MASTER_KEY", composeHolder)
		if _, err := Load(); err != nil {
			t.Fatalf("Load() = %v", err)
		}
	})
	for _, v := range []string{"true", "1", "yes", "Allow "} {
		t.Run("refused value "+v, func(t *testing.T) {
			setSecrets(t)
			t.Setenv("EXAMFLOW_DEV_SECRETS", v)
			if _, err := Load(); err == nil || !strings.Contains(err.Error(), "EXAMFLOW_DEV_SECRETS") {
				t.Fatalf("Load() = %v, want a refusal naming EXAMFLOW_DEV_SECRETS", err)
			}
		})
	}
}

// A publicly known key among the old keys is accepted, since data written
// under it must stay readable after the move to a key of one's own, but
// every start says so.
func TestPublicOldKeyIsLogged(t *testing.T) {
	setSecrets(t)
	t.Setenv("EXAMFLOW_MASTER_KEY_ID", "m2")
	t.Setenv("EXAMFLOW_MASTER_OLD_KEYS", "dev-master-1="+oldMasterDefault)
	c, err := Load()
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	var buf bytes.Buffer
	c.newLogger(&buf)
	if !strings.Contains(buf.String(), `"WARN"`) || !strings.Contains(buf.String(), "EXAMFLOW_MASTER_OLD_KEYS") ||
		!strings.Contains(buf.String(), "dev-master-1") || strings.Contains(buf.String(), oldMasterDefault) {
		t.Errorf("logged %s", buf.String())
	}
}

// OIDC on (issuer and JWKS) needs an audience, else any token the issuer
// signs for any application would do; half a configuration and plain HTTP
// to a host other than this one are refused too.
func TestLoadChecksOIDC(t *testing.T) {
	tests := []struct {
		name                   string
		issuer, jwks, audience string
		dev                    bool
		refused                string // the variable the refusal names
	}{
		{name: "off"},
		{name: "on", issuer: "https://login.example.no", jwks: "https://login.example.no/jwks", audience: "examflow"},
		{name: "no audience", issuer: "https://login.example.no", jwks: "https://login.example.no/jwks", refused: "EXAMFLOW_OIDC_AUDIENCE"},
		{name: "issuer alone", issuer: "https://login.example.no", audience: "examflow", refused: "EXAMFLOW_OIDC_JWKS_URL"},
		{name: "JWKS alone", jwks: "https://login.example.no/jwks", audience: "examflow", refused: "EXAMFLOW_OIDC_ISSUER"},
		{name: "JWKS over http", issuer: "https://login.example.no", jwks: "http://login.example.no/jwks", audience: "examflow", refused: "EXAMFLOW_OIDC_JWKS_URL"},
		{name: "issuer over http", issuer: "http://login.example.no", jwks: "https://login.example.no/jwks", audience: "examflow", refused: "EXAMFLOW_OIDC_ISSUER"},
		{name: "JWKS not a URL", issuer: "https://login.example.no", jwks: "login.example.no/jwks", audience: "examflow", refused: "EXAMFLOW_OIDC_JWKS_URL"},
		{name: "http on loopback", issuer: "http://127.0.0.1:8180/realms/x", jwks: "http://localhost:8180/jwks", audience: "examflow"},
		{name: "http in development", issuer: "http://keycloak:8080/realms/x", jwks: "http://keycloak:8080/jwks", audience: "examflow", dev: true},
		{name: "no audience in development", issuer: "http://keycloak:8080/realms/x", jwks: "http://keycloak:8080/jwks", dev: true, refused: "EXAMFLOW_OIDC_AUDIENCE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setSecrets(t)
			t.Setenv("EXAMFLOW_OIDC_ISSUER", tt.issuer)
			t.Setenv("EXAMFLOW_OIDC_JWKS_URL", tt.jwks)
			t.Setenv("EXAMFLOW_OIDC_AUDIENCE", tt.audience)
			if tt.dev {
				t.Setenv("EXAMFLOW_DEV_SECRETS", "allow")
			}
			_, err := Load()
			if tt.refused == "" {
				if err != nil {
					t.Fatalf("Load() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.refused) {
				t.Fatalf("Load() = %v, want a refusal naming %s", err, tt.refused)
			}
		})
	}
}

// Every key-like value written in the documentation or the deployment files
// is on the list of public values, so an example copied into a deployment is
// refused; docker-compose.yml takes every secret from the environment and
// stops without it.
func TestDocumentedSecretsAreRefused(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../*.md", "../docs/*.md", "../docker-compose.yml", "../deploy/*", "../deploy/*/*", "../.env*"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	hexKey := regexp.MustCompile(`\b[0-9a-fA-F]{64,}\b`)
	// NAME: value or NAME=value, where NAME ends like a secret's.
	assignment := regexp.MustCompile(`([A-Z0-9_]*(?:KEY|SECRET|PASSWORD|PWD))\s*[:=]\s*"?([^\s"#]+)`)
	seen := 0
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.IsDir() {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range hexKey.FindAllString(string(b), -1) {
			seen++
			if _, ok := knownPublic(k); !ok {
				t.Errorf("%s: key %s… is not on the list of public values in config/secrets.go", f, k[:8])
			}
		}
		for _, m := range assignment.FindAllStringSubmatch(string(b), -1) {
			name, v := m[1], m[2]
			if strings.HasPrefix(v, "${") || strings.HasPrefix(v, "$") || strings.HasPrefix(v, "<") || strings.HasSuffix(name, "ACCESS_KEY") ||
				strings.HasSuffix(name, "_KEY_ID") || strings.HasSuffix(name, "_TLS_KEY") || strings.HasSuffix(name, "_KEYS") || v == "|" || strings.HasPrefix(v, "`") ||
				strings.HasPrefix(v, "/") { // a file's path (TEMPORAL_TLS_FRONTEND_KEY), not a key
				continue
			}
			seen++
			if _, ok := knownPublic(v); !ok && !hexKey.MatchString(v) {
				t.Errorf("%s: %s has the value %q, which is not on the list of public values in config/secrets.go", f, name, v)
			}
		}
	}
	if seen == 0 {
		t.Error("found no example value at all; is the scan looking at the right files?")
	}
	compose, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range secretVars {
		if v == "EXAMFLOW_SMTP_PASSWORD" {
			continue
		}
		if !strings.Contains(string(compose), v+": ${"+v+":?") {
			t.Errorf("docker-compose.yml does not take %s from the environment as required (%s: ${%s:?...})", v, v, v)
		}
	}
}

// The commands that use no secret (examflow token, examflow audit) start
// without any, and do not even read those set, so a key is handed to no
// process that does not need it.
func TestLoadWithoutSecrets(t *testing.T) {
	setSecrets(t)
	unset(t, "EXAMFLOW_LOOKUP_KEY", "EXAMFLOW_LINK_KEY", "EXAMFLOW_PAYLOAD_KEY", "EXAMFLOW_MINIO_SECRET_KEY", "EXAMFLOW_REGISTRY_CLIENT_SECRET")
	t.Setenv("EXAMFLOW_MASTER_KEY", oldMasterDefault)
	t.Setenv("EXAMFLOW_DEV_SECRETS", "allow")
	if _, err := Load(); err != nil {
		t.Fatalf("Load() with the switch = %v", err)
	}
	unset(t, "EXAMFLOW_DEV_SECRETS")
	if _, err := Load(); err == nil {
		t.Fatal("Load() started without secrets")
	}
	c, err := LoadWithoutSecrets()
	if err != nil {
		t.Fatalf("LoadWithoutSecrets() = %v", err)
	}
	if c.MasterKeyHex != "" || c.DatabaseURL == "" {
		t.Errorf("master key %q, database %q", c.MasterKeyHex, c.DatabaseURL)
	}
	t.Setenv("EXAMFLOW_LOG_LEVEL", "loud")
	if _, err := LoadWithoutSecrets(); err == nil {
		t.Error("LoadWithoutSecrets() skipped the other checks")
	}
}

// Every development value, the one of each secret, is refused outside
// development: nothing the local stack uses works anywhere else.
func TestDevelopmentValuesAreRefusedElsewhere(t *testing.T) {
	for name, value := range devSecrets {
		t.Run(name, func(t *testing.T) {
			setSecrets(t)
			t.Setenv(name, value)
			if _, err := Load(); err == nil || !strings.Contains(err.Error(), name+" is a publicly known value") {
				t.Fatalf("Load() = %v", err)
			}
		})
	}
}
