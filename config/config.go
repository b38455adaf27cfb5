// Package config reads examflow's configuration from environment variables.
// Every variable, its default and its meaning are listed in README.md; the
// defaults match the local stack that `make run` starts. Secrets have no
// default: outside development (EXAMFLOW_DEV_SECRETS, see secrets.go) a
// process refuses to start without them.
package config

import (
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/examflow/examflow/policy"
)

// Config is the whole configuration of the api and worker processes.
type Config struct {
	// DatabaseURL is the PostgreSQL connection string (pgx format).
	DatabaseURL string `env:"EXAMFLOW_DATABASE_URL" envDefault:"postgres://examflow@127.0.0.1:54329/examflow?sslmode=disable"`
	// TemporalAddress is the Temporal frontend host:port.
	TemporalAddress string `env:"EXAMFLOW_TEMPORAL_ADDRESS" envDefault:"127.0.0.1:7233"`
	// TemporalBoundary holds TLS, mTLS, API-key and payload-binding
	// settings (temporal.go).
	TemporalBoundary TemporalBoundary
	// TemporalNamespace is the Temporal namespace the workflows run in.
	TemporalNamespace string `env:"EXAMFLOW_TEMPORAL_NAMESPACE" envDefault:"default"`
	// TemporalUIURL is the Temporal UI's address (http or https, no query
	// or fragment), e.g. http://127.0.0.1:8233. When set, the API's
	// answers to case handlers and the data-protection officer link to the
	// workflows they name; empty gives no links.
	TemporalUIURL string `env:"EXAMFLOW_TEMPORAL_UI_URL"`
	// TaskQueue is the Temporal task queue the worker polls.
	TaskQueue string `env:"EXAMFLOW_TASK_QUEUE" envDefault:"examflow"`
	// APIAddr is where `examflow api` listens.
	APIAddr string `env:"EXAMFLOW_API_ADDR" envDefault:"127.0.0.1:8080"`
	// WorkerAddr is where `examflow worker` serves /healthz, /readyz and /metrics.
	WorkerAddr string `env:"EXAMFLOW_WORKER_ADDR" envDefault:"127.0.0.1:8081"`
	// OutboxDrain is whether `examflow worker` sends the notification
	// outbox's mail. Every replica may (each message is claimed with a
	// lease); turn it off on replicas that must not reach the SMTP relay.
	OutboxDrain bool `env:"EXAMFLOW_OUTBOX_DRAIN" envDefault:"true"`
	// MinIO holds the object-store settings.
	MinIO MinIO
	// SMTP is the outgoing mail server for notifications.
	SMTP SMTP
	// TestDay holds review periods and pass-rate monitoring.
	TestDay TestDay
	// Appeals holds the appeal deadlines.
	Appeals Appeals
	// Auth configures API authentication.
	Auth Auth
	// SubjectRequests configures data subject requests.
	SubjectRequests SubjectRequests
	// Courses configures course registrations.
	Courses Courses
	// Registry is the Diploma Registry.
	Registry Registry
	// Region is where the stores run; Load refuses one outside the EU/EEA
	// (T12, C09).
	Region Region
	// Statistics holds the anonymous statistics' suppression threshold.
	Statistics Statistics
	// DevSecrets is the development switch (DevSecretsVar): "allow" lets
	// the public development secrets through and fills in missing ones.
	DevSecrets string `env:"EXAMFLOW_DEV_SECRETS"`
	// LookupKeyHex is the hex-encoded secret key of the HMAC blind index used
	// to find a candidate by identifier without storing the identifier in an
	// index. It must be the same for every process and must never change.
	LookupKeyHex string `env:"EXAMFLOW_LOOKUP_KEY"`
	// LinkKeyHex is the hex-encoded HMAC key that signs the links examflow
	// hands out: access-export downloads and course self-service links.
	LinkKeyHex string `env:"EXAMFLOW_LINK_KEY"`
	// PayloadKeyHex is the hex-encoded 32-byte AES key that encrypts every
	// Temporal payload; PayloadKeyID names it in each payload.
	PayloadKeyHex string `env:"EXAMFLOW_PAYLOAD_KEY"`
	PayloadKeyID  string `env:"EXAMFLOW_PAYLOAD_KEY_ID" envDefault:"dev-1"`
	// PayloadOldKeys are earlier payload keys (id=hex,...) still needed to
	// read histories written before a key rotation.
	PayloadOldKeys map[string]string `env:"EXAMFLOW_PAYLOAD_OLD_KEYS" envSeparator:"," envKeyValSeparator:"="`
	// MasterKeyHex is the hex-encoded 32-byte master key that wraps every
	// subject's data key (crypto-shredding); MasterKeyID names it. In
	// production a KMS takes its place.
	MasterKeyHex string `env:"EXAMFLOW_MASTER_KEY"`
	MasterKeyID  string `env:"EXAMFLOW_MASTER_KEY_ID" envDefault:"dev-master-1"`
	// MasterOldKeys are earlier master keys (id=hex,...) for rotation.
	MasterOldKeys map[string]string `env:"EXAMFLOW_MASTER_OLD_KEYS" envSeparator:"," envKeyValSeparator:"="`
	// CodecCORSOrigins are the Temporal UI origins allowed to call the codec
	// server in the API process.
	CodecCORSOrigins []string `env:"EXAMFLOW_CODEC_CORS_ORIGINS" envDefault:"http://127.0.0.1:8233,http://localhost:8233" envSeparator:","`
	// RetentionPeriods shortens retention periods (docs/retention.md), e.g.
	// address=30s,personal_data=60s; empty keeps the policy's years.
	RetentionPeriods string `env:"EXAMFLOW_RETENTION_PERIODS"`
	// RetentionEvents changes the event a period runs from where the policy
	// leaves it open, e.g. address=registered.
	RetentionEvents string `env:"EXAMFLOW_RETENTION_EVENTS"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"EXAMFLOW_LOG_LEVEL" envDefault:"info"`
	// AcceptPost2032Check accepts national identity numbers under the check
	// rule announced for numbers issued from 2032 (see docs/identifiers.md).
	AcceptPost2032Check bool `env:"EXAMFLOW_ACCEPT_2032_CHECK" envDefault:"false"`

	// What the start-up warning reports: secrets given development values,
	// public values let through, and public old keys.
	devDefaulted, devPublic, publicOldKeys []string
}

// MinIO is the object-store configuration.
type MinIO struct {
	// Region is the storage region (EXAMFLOW_STORAGE_REGION, checked to be
	// in the EU/EEA): the client signs for it and the bucket is made in it.
	Region string `env:"-"`
	// Endpoint is the S3 endpoint host:port.
	Endpoint string `env:"EXAMFLOW_MINIO_ENDPOINT" envDefault:"127.0.0.1:9000"`
	// AccessKey is the S3 access key.
	AccessKey string `env:"EXAMFLOW_MINIO_ACCESS_KEY" envDefault:"examflow"`
	// SecretKey is the S3 secret key.
	SecretKey string `env:"EXAMFLOW_MINIO_SECRET_KEY"`
	// Bucket holds audio recordings (prefix audio/) and exports (prefix exports/).
	Bucket string `env:"EXAMFLOW_MINIO_BUCKET" envDefault:"examflow"`
	// UseTLS connects with HTTPS.
	UseTLS bool `env:"EXAMFLOW_MINIO_TLS" envDefault:"false"`
	// AudioMaxBytes limits one audio recording.
	AudioMaxBytes int64 `env:"EXAMFLOW_AUDIO_MAX_BYTES" envDefault:"268435456"`
	// AudioExpiryDays is the lifecycle expiry of objects under audio/.
	AudioExpiryDays int `env:"EXAMFLOW_AUDIO_EXPIRY_DAYS" envDefault:"365"`
	// AudioUploadMinRate is the slowest upload, in bytes per second, that
	// the API waits for: an upload's read deadline is the server's read
	// timeout plus the recording's size at this rate.
	AudioUploadMinRate int64 `env:"EXAMFLOW_AUDIO_UPLOAD_MIN_RATE" envDefault:"131072"`
}

// Load reads the configuration from the environment and checks it: every
// process that holds a secret calls it, and none starts on a missing or
// publicly known one (secrets.go).
func Load() (Config, error) { return load(true) }

// LoadWithoutSecrets is Load for the commands that use no secret (examflow
// token, examflow audit): the secrets are not checked, and the Config it
// returns holds none of them, so no key is handed to a process that does
// not need it.
func LoadWithoutSecrets() (Config, error) { return load(false) }

func load(withSecrets bool) (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	d, err := c.Region.CheckRegion()
	if err != nil {
		return Config{}, err
	}
	c.MinIO.Region = d.Region
	if withSecrets {
		if err := c.checkKeys(); err != nil {
			return Config{}, err
		}
	} else {
		c.clearSecrets()
	}
	if err := c.checkBoundary(); err != nil {
		return Config{}, err
	}
	if err := checkTemporalUIURL(c.TemporalUIURL); err != nil {
		return Config{}, err
	}
	if _, _, err := c.Retention(); err != nil {
		return Config{}, err
	}
	if err := c.checkRetentionCeilings(); err != nil {
		return Config{}, err
	}
	if err := c.Courses.checkPolicyVersion(); err != nil {
		return Config{}, err
	}
	if c.Courses.LinkTTL < time.Hour {
		return Config{}, fmt.Errorf("EXAMFLOW_COURSE_LINK_TTL must be at least 1h, got %s", c.Courses.LinkTTL)
	}
	if c.TestDay.CheatingEscalateAfter <= 0 {
		return Config{}, fmt.Errorf("EXAMFLOW_CHEATING_ESCALATE_AFTER must be a positive duration, got %s", c.TestDay.CheatingEscalateAfter)
	}
	if c.MinIO.AudioUploadMinRate < 1024 {
		return Config{}, fmt.Errorf("EXAMFLOW_AUDIO_UPLOAD_MIN_RATE must be at least 1024 (bytes per second), got %d", c.MinIO.AudioUploadMinRate)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LookupKey decodes the blind-index key.
func (c Config) LookupKey() ([]byte, error) {
	k, err := hex.DecodeString(c.LookupKeyHex)
	if err != nil {
		return nil, fmt.Errorf("EXAMFLOW_LOOKUP_KEY must be hex: %w", err)
	}
	if len(k) < 32 {
		return nil, fmt.Errorf("EXAMFLOW_LOOKUP_KEY must be at least 32 bytes, got %d", len(k))
	}
	return k, nil
}

// checkKeys checks the secrets, the keys and the OIDC settings.
func (c *Config) checkKeys() error {
	if err := c.checkSecrets(); err != nil {
		return err
	}
	if _, err := c.LookupKey(); err != nil {
		return err
	}
	if _, err := c.LinkKey(); err != nil {
		return err
	}
	if _, _, err := c.PayloadKeys(); err != nil {
		return err
	}
	if _, _, err := c.MasterKeys(); err != nil {
		return err
	}
	if err := c.checkDistinctKeys(); err != nil {
		return err
	}
	return c.Auth.check(c.DevSecrets == DevSecretsAllow)
}

// LinkKey decodes the key that signs export and course self-service links.
func (c Config) LinkKey() ([]byte, error) {
	k, err := hex.DecodeString(c.LinkKeyHex)
	if err != nil {
		return nil, fmt.Errorf("EXAMFLOW_LINK_KEY must be hex: %w", err)
	}
	if len(k) < 32 {
		return nil, fmt.Errorf("EXAMFLOW_LINK_KEY must be at least 32 bytes, got %d", len(k))
	}
	return k, nil
}

// Retention returns the parsed retention overrides.
func (c Config) Retention() (policy.Periods, map[policy.Category]policy.Event, error) {
	p, err := policy.ParsePeriods(c.RetentionPeriods)
	if err != nil {
		return nil, nil, fmt.Errorf("EXAMFLOW_RETENTION_PERIODS: %w", err)
	}
	e, err := policy.ParseEvents(c.RetentionEvents)
	if err != nil {
		return nil, nil, fmt.Errorf("EXAMFLOW_RETENTION_EVENTS: %w", err)
	}
	return p, e, nil
}

// checkRetentionCeilings refuses a course retention or an audio expiry
// longer than the policy's period (C06, T15): the settings may shorten a
// period, never lengthen it. EXAMFLOW_RETENTION_PERIODS is checked by
// policy.ParsePeriods.
func (c Config) checkRetentionCeilings() error {
	if r, ok := policy.LookupCourse(policy.CourseRegistration); ok && (c.Courses.Retention < 0 || c.Courses.Retention > r.Ceiling()) {
		return fmt.Errorf("EXAMFLOW_COURSE_RETENTION must not be negative nor longer than the policy's %s (%s), got %s", r.Kept(), r.Ceiling(), c.Courses.Retention)
	}
	audio, _ := policy.Lookup(policy.Audio)
	if maxDays := int(audio.Ceiling() / (24 * time.Hour)); c.MinIO.AudioExpiryDays < 1 || c.MinIO.AudioExpiryDays > maxDays {
		return fmt.Errorf("EXAMFLOW_AUDIO_EXPIRY_DAYS must be from 1 to the policy's %s (%d days), got %d", audio.Kept(), maxDays, c.MinIO.AudioExpiryDays)
	}
	return nil
}

// PayloadKeys decodes the payload keys: ID to key, and the current ID.
func (c Config) PayloadKeys() (map[string][]byte, string, error) {
	return keySet("EXAMFLOW_PAYLOAD", c.PayloadKeyHex, c.PayloadKeyID, c.PayloadOldKeys)
}

// MasterKeys decodes the master keys: ID to key, and the current ID.
func (c Config) MasterKeys() (map[string][]byte, string, error) {
	return keySet("EXAMFLOW_MASTER", c.MasterKeyHex, c.MasterKeyID, c.MasterOldKeys)
}

// keySet decodes a current hex key with its ID and older keys (id=hex).
func keySet(prefix, currentHex, currentID string, old map[string]string) (map[string][]byte, string, error) {
	keys := map[string][]byte{}
	for id, h := range old {
		k, err := hex.DecodeString(h)
		if err != nil || len(k) != 32 {
			return nil, "", fmt.Errorf("%s_OLD_KEYS: key %q must be 64 hex digits", prefix, id)
		}
		keys[id] = k
	}
	k, err := hex.DecodeString(currentHex)
	if err != nil || len(k) != 32 {
		return nil, "", fmt.Errorf("%s_KEY must be 64 hex digits (32 bytes)", prefix)
	}
	if currentID == "" {
		return nil, "", fmt.Errorf("%s_KEY_ID must not be empty", prefix)
	}
	if _, ok := keys[currentID]; ok {
		return nil, "", fmt.Errorf("%s_OLD_KEYS holds a key under %q, the ID of %s_KEY: give the current key a new ID", prefix, currentID, prefix)
	}
	keys[currentID] = k
	return keys, currentID, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("EXAMFLOW_LOG_LEVEL: %w", err)
	}
	return l, nil
}

// NewLogger returns the JSON logger every process uses. Log records carry
// identifiers and status values only, never personal data. When the storage
// region is outside the EU/EEA by override, its first record is a warning
// with the reason, written whatever EXAMFLOW_LOG_LEVEL says, so every
// process that starts says so; so is a start on development secrets.
func (c Config) NewLogger() *slog.Logger { return c.newLogger(os.Stderr) }

func (c Config) newLogger(w io.Writer) *slog.Logger {
	l, _ := parseLevel(c.LogLevel)
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})
	if d, err := c.Region.CheckRegion(); err == nil {
		warnOverride(h, d)
	}
	c.warnDevSecrets(h)
	return slog.New(h)
}
