package storage

import (
	"context"
	"fmt"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/lifecycle"

	"github.com/examflow/examflow/config"
)

// Object-key prefixes in the bucket. Keys never contain personal data: they
// are built from UUIDs only.
const (
	AudioPrefix  = "audio/"
	ExportPrefix = "exports/"
	// CoursePrefix holds course participants' documents, per registration.
	CoursePrefix = "courses/"
)

// Objects is the MinIO (S3) store for audio recordings and exports.
type Objects struct {
	client *minio.Client
	cfg    config.MinIO
}

// NewObjects returns an object store client. It does not contact the server.
func NewObjects(cfg config.MinIO) (*Objects, error) {
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.UseTLS,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("minio client: %w", err)
	}
	return &Objects{client: c, cfg: cfg}, nil
}

// Client returns the underlying MinIO client.
func (o *Objects) Client() *minio.Client { return o.client }

// Bucket is the configured bucket name.
func (o *Objects) Bucket() string { return o.cfg.Bucket }

// LifecycleRules is the bucket lifecycle configuration examflow applies:
// audio recordings expire AudioExpiryDays after upload (T15), and so do
// non-current versions should versioning be switched on.
func (o *Objects) LifecycleRules() *lifecycle.Configuration {
	days := lifecycle.ExpirationDays(o.cfg.AudioExpiryDays)
	return &lifecycle.Configuration{Rules: []lifecycle.Rule{
		{
			ID:                          "expire-audio",
			Status:                      "Enabled",
			RuleFilter:                  lifecycle.Filter{Prefix: AudioPrefix},
			Expiration:                  lifecycle.Expiration{Days: days},
			NoncurrentVersionExpiration: lifecycle.NoncurrentVersionExpiration{NoncurrentDays: days},
		},
		{
			// Access exports are for the person to fetch; none outlives a month.
			ID:         "expire-exports",
			Status:     "Enabled",
			RuleFilter: lifecycle.Filter{Prefix: ExportPrefix},
			Expiration: lifecycle.Expiration{Days: 30},
		},
	}}
}

// EnsureBucket creates the bucket if it is missing and applies the lifecycle
// rules. It is idempotent.
func (o *Objects) EnsureBucket(ctx context.Context) error {
	exists, err := o.client.BucketExists(ctx, o.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("%w: minio: %w", ErrUnavailable, err)
	}
	if !exists {
		if err := o.client.MakeBucket(ctx, o.cfg.Bucket, minio.MakeBucketOptions{Region: o.cfg.Region}); err != nil {
			if resp := minio.ToErrorResponse(err); resp.Code != "BucketAlreadyOwnedByYou" {
				return fmt.Errorf("create bucket: %w", err)
			}
		}
	}
	if err := o.client.SetBucketLifecycle(ctx, o.cfg.Bucket, o.LifecycleRules()); err != nil {
		return fmt.Errorf("set bucket lifecycle: %w", err)
	}
	return nil
}
