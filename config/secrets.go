package config

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// DevSecretsVar is the development switch. Set to DevSecretsAllow, it lets
// the public development secrets through, fills in a missing secret with
// its development value, and makes every process log a warning at start.
// `examflow dev` (make run), the end-to-end tests and the benchmarks set it;
// nothing else may.
const (
	DevSecretsVar   = "EXAMFLOW_DEV_SECRETS"
	DevSecretsAllow = "allow"
)

// Each secret has one purpose, and its own variable:
//
//   - EXAMFLOW_LOOKUP_KEY keys the HMAC blind index of candidate
//     identifiers. Rows depend on it, so it never changes.
//   - EXAMFLOW_LINK_KEY signs the capability links examflow hands out
//     (access-export downloads, course self-service).
//   - EXAMFLOW_PAYLOAD_KEY encrypts Temporal payloads.
//   - EXAMFLOW_MASTER_KEY wraps each data subject's key (crypto-shredding).
//
// API keys need none of them: each is 256 random bits, stored as its SHA-256
// hash (storage.CreateToken), so a leaked server key forges no API key and
// rotating a server key invalidates none.
//
// secretVars are the variables Load checks, in the order it reports them.
var secretVars = []string{
	"EXAMFLOW_LOOKUP_KEY", "EXAMFLOW_LINK_KEY", "EXAMFLOW_PAYLOAD_KEY", "EXAMFLOW_MASTER_KEY",
	"EXAMFLOW_MINIO_SECRET_KEY", "EXAMFLOW_REGISTRY_CLIENT_SECRET", "EXAMFLOW_SMTP_PASSWORD",
}

// devSecrets are the development values of the secrets: public, in this
// file, for the local stack and the tests only. The keys are the defaults
// earlier versions had, so a local stack's data stays readable.
var devSecrets = map[string]string{
	"EXAMFLOW_LOOKUP_KEY":             "6465762d6f6e6c792d6c6f6f6b75702d6b65792d6368616e67652d6d65212121", // "dev-only-lookup-key-change-me!!!"
	"EXAMFLOW_LINK_KEY":               "6465762d6f6e6c792d6c696e6b2d6b65792d6368616e67652d6d652121212121", // "dev-only-link-key-change-me!!!!!"
	"EXAMFLOW_PAYLOAD_KEY":            "6465762d6f6e6c792d7061796c6f61642d6b65792d6368616e67652d6d652121", // "dev-only-payload-key-change-me!!"
	"EXAMFLOW_MASTER_KEY":             "6465762d6f6e6c792d6d61737465722d6b65792d6368616e67652d6d65212121", // "dev-only-master-key-change-me!!!"
	"EXAMFLOW_MINIO_SECRET_KEY":       "examflow-dev-secret",
	"EXAMFLOW_REGISTRY_CLIENT_SECRET": "examflow-dev-secret",
}

// publicValues are secret values published somewhere, with where: Load
// refuses each of them for every secret outside development. Hex keys are
// written in lower case. TestDocumentedSecretsAreRefused fails when the
// documentation or a deployment file shows a value that is not here.
var publicValues = map[string]string{
	"6465762d6f6e6c792d6c6f6f6b75702d6b65792d6368616e67652d6d65212121": "the development lookup key (an earlier default)",
	"6465762d6f6e6c792d6c696e6b2d6b65792d6368616e67652d6d652121212121": "the development link key",
	"6465762d6f6e6c792d7061796c6f61642d6b65792d6368616e67652d6d652121": "the development payload key (an earlier default)",
	"6465762d6f6e6c792d6d61737465722d6b65792d6368616e67652d6d65212121": "the development master key (an earlier default)",
	"5265706c6163652d6d652d776974682d6f70656e73736c2d72616e642d686578": "the docker-compose.yml placeholder of earlier versions",
	"6578616d666c6f77207075626c6963207265706c61792074657374206b657921": "the public replay test key of the recorded workflow histories",
	"examflow-dev-secret": "the development secret of MinIO and the registry simulator",
	"minioadmin":          "MinIO's factory default",
	"examflow":            "the docker-compose.yml PostgreSQL password",
	"changeme":            "a placeholder",
	"change-me":           "a placeholder",
	"secret":              "a placeholder",
	"password":            "a placeholder",
}

// knownPublic reports whether v is a published value, and where.
func knownPublic(v string) (string, bool) {
	src, ok := publicValues[strings.ToLower(strings.TrimSpace(v))]
	return src, ok
}

// secretSpec is one secret: its variable, where it lives in Config, and
// how to make a value.
type secretSpec struct {
	name     string
	value    *string
	optional bool
	hint     string
}

const randomKeyHint = "generate one with `openssl rand -hex 32`"

func (c *Config) secretSpecs() []secretSpec {
	return []secretSpec{
		{name: "EXAMFLOW_LOOKUP_KEY", value: &c.LookupKeyHex,
			hint: randomKeyHint + "; it keys the blind index of stored identifiers, so keep it for good once data exists"},
		{name: "EXAMFLOW_LINK_KEY", value: &c.LinkKeyHex,
			hint: randomKeyHint + "; it signs export and course self-service links"},
		{name: "EXAMFLOW_PAYLOAD_KEY", value: &c.PayloadKeyHex,
			hint: randomKeyHint + ", with a new EXAMFLOW_PAYLOAD_KEY_ID; an earlier key goes into EXAMFLOW_PAYLOAD_OLD_KEYS"},
		{name: "EXAMFLOW_MASTER_KEY", value: &c.MasterKeyHex,
			hint: randomKeyHint + ", with a new EXAMFLOW_MASTER_KEY_ID; an earlier key goes into EXAMFLOW_MASTER_OLD_KEYS"},
		{name: "EXAMFLOW_MINIO_SECRET_KEY", value: &c.MinIO.SecretKey,
			hint: "set the S3 secret of EXAMFLOW_MINIO_ACCESS_KEY; for a new MinIO make one with `openssl rand -hex 24` and give it to MinIO as MINIO_ROOT_PASSWORD"},
		{name: "EXAMFLOW_REGISTRY_CLIENT_SECRET", value: &c.Registry.ClientSecret,
			hint: "set the client secret the Diploma Registry issued to examflow"},
		{name: "EXAMFLOW_SMTP_PASSWORD", value: &c.SMTP.Password, optional: true,
			hint: "set the SMTP relay's password, or leave it empty for a relay without AUTH"},
		{name: "EXAMFLOW_TEMPORAL_API_KEY", value: &c.TemporalBoundary.APIKey, optional: true,
			hint: "set the API key the Temporal cluster issued to examflow, or leave it empty where the cluster takes mTLS"},
	}
}

// hexKeyVars are the secrets that are hex keys: a key of one repeated byte
// (all zeros, say) is a placeholder too.
var hexKeyVars = []string{"EXAMFLOW_LOOKUP_KEY", "EXAMFLOW_LINK_KEY", "EXAMFLOW_PAYLOAD_KEY", "EXAMFLOW_MASTER_KEY"}

// checkSecrets refuses a missing or publicly known secret, unless the
// development switch is on; then it fills in what is missing with the
// development values and notes them for the start-up warning.
func (c *Config) checkSecrets() error {
	switch c.DevSecrets {
	case "", DevSecretsAllow:
	default:
		return fmt.Errorf("%s must be empty or %q (development machines only), got %q", DevSecretsVar, DevSecretsAllow, c.DevSecrets)
	}
	dev := c.DevSecrets == DevSecretsAllow
	var errs []error
	for _, s := range c.secretSpecs() {
		v := strings.TrimSpace(*s.value)
		switch {
		case v == "" && s.optional:
		case v == "" && dev:
			*s.value = devSecrets[s.name]
			c.devDefaulted = append(c.devDefaulted, s.name)
		case v == "":
			errs = append(errs, fmt.Errorf("%s is not set: %s", s.name, s.hint))
		default:
			if src, ok := knownPublic(v); ok {
				if dev {
					c.devPublic = append(c.devPublic, s.name)
				} else {
					errs = append(errs, fmt.Errorf("%s is a publicly known value (%s): %s", s.name, src, s.hint))
				}
			} else if slices.Contains(hexKeyVars, s.name) && oneByteRepeated(v) {
				errs = append(errs, fmt.Errorf("%s is one byte repeated, a placeholder: %s", s.name, s.hint))
			}
		}
	}
	for _, old := range []struct {
		name string
		keys map[string]string
	}{{"EXAMFLOW_PAYLOAD_OLD_KEYS", c.PayloadOldKeys}, {"EXAMFLOW_MASTER_OLD_KEYS", c.MasterOldKeys}} {
		for _, id := range sortedKeys(old.keys) {
			if _, ok := knownPublic(old.keys[id]); ok && !dev {
				c.publicOldKeys = append(c.publicOldKeys, old.name+" "+id)
			}
		}
	}
	if len(errs) > 0 {
		errs = append(errs, fmt.Errorf("(on a development machine only, %s=%s lets the public development values through; `examflow dev` sets it)", DevSecretsVar, DevSecretsAllow))
		return errors.Join(errs...)
	}
	return nil
}

// clearSecrets empties every secret, for a process that uses none.
func (c *Config) clearSecrets() {
	for _, s := range c.secretSpecs() {
		*s.value = ""
	}
	c.PayloadOldKeys, c.MasterOldKeys, c.DevSecrets = nil, nil, ""
}

// oneByteRepeated reports whether hex string h is one byte over and over.
func oneByteRepeated(h string) bool {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) == 0 {
		return false
	}
	for _, x := range b[1:] {
		if x != b[0] {
			return false
		}
	}
	return true
}

// checkDistinctKeys refuses one key for two purposes: the blind index, the
// links, the payloads and the master keys each have their own.
func (c Config) checkDistinctKeys() error {
	type use struct{ name, key string }
	var uses []use
	add := func(name, h string) {
		if k, err := hex.DecodeString(strings.TrimSpace(h)); err == nil && len(k) > 0 {
			uses = append(uses, use{name, string(k)})
		}
	}
	add("EXAMFLOW_LOOKUP_KEY", c.LookupKeyHex)
	add("EXAMFLOW_LINK_KEY", c.LinkKeyHex)
	add("EXAMFLOW_PAYLOAD_KEY", c.PayloadKeyHex)
	for _, id := range sortedKeys(c.PayloadOldKeys) {
		add("EXAMFLOW_PAYLOAD_OLD_KEYS", c.PayloadOldKeys[id])
	}
	add("EXAMFLOW_MASTER_KEY", c.MasterKeyHex)
	for _, id := range sortedKeys(c.MasterOldKeys) {
		add("EXAMFLOW_MASTER_OLD_KEYS", c.MasterOldKeys[id])
	}
	purpose := func(name string) string { return strings.TrimSuffix(strings.TrimSuffix(name, "_OLD_KEYS"), "_KEY") }
	var errs []error
	for i, a := range uses {
		for _, b := range uses[i+1:] {
			if a.key == b.key && purpose(a.name) != purpose(b.name) {
				errs = append(errs, fmt.Errorf("%s and %s hold the same key: each purpose needs a key of its own, so that one leaked key opens nothing else (%s for each)",
					a.name, b.name, "`openssl rand -hex 32`"))
			}
		}
	}
	return errors.Join(errs...)
}

// warnDevSecrets logs, at warn level whatever the configured level, that
// the process runs on public development secrets, and that an old key is a
// public one.
func (c Config) warnDevSecrets(h slog.Handler) {
	if c.DevSecrets == DevSecretsAllow {
		rec := slog.NewRecord(time.Now(), slog.LevelWarn, DevSecretsVar+"=allow: running on public development secrets. "+
			"Anyone can forge this process's links, read its Temporal payloads and unwrap its data keys. Never outside a development machine", 0)
		if len(c.devDefaulted) > 0 {
			rec.AddAttrs(slog.Any("development_values", c.devDefaulted))
		}
		if len(c.devPublic) > 0 {
			rec.AddAttrs(slog.Any("public_values_set", c.devPublic))
		}
		_ = h.Handle(context.Background(), rec)
	}
	if len(c.publicOldKeys) > 0 {
		rec := slog.NewRecord(time.Now(), slog.LevelWarn, "an old key is a publicly known development key: what it sealed is as good as unencrypted, "+
			"and anyone with access to Temporal can seal payloads with it. Remove it once nothing depends on it", 0)
		rec.AddAttrs(slog.Any("old_keys", c.publicOldKeys))
		_ = h.Handle(context.Background(), rec)
	}
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
