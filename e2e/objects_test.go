package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/examflow/examflow/storage"
)

// Objects under audio/ get the one-year lifecycle expiry (T15) the moment
// they are stored, access exports a 30-day one; objects elsewhere in the
// bucket none.
func TestAudioObjectsExpireAfterOneYear(t *testing.T) {
	ctx := context.Background()
	c := env.objects.Client()
	lc, err := c.GetBucketLifecycle(ctx, env.objects.Bucket())
	if err != nil {
		t.Fatalf("bucket lifecycle: %v", err)
	}
	if len(lc.Rules) == 0 || lc.Rules[0].ID != "expire-audio" || int(lc.Rules[0].Expiration.Days) != 365 {
		t.Fatalf("lifecycle rules = %+v, want expire-audio after 365 days", lc.Rules)
	}

	tests := []struct {
		key        string
		wantExpiry bool
		rule       string
		days       int
	}{
		{storage.AudioPrefix + uuid.NewString(), true, "expire-audio", 365},
		{storage.ExportPrefix + uuid.NewString(), true, "expire-exports", 30},
		{"other/" + uuid.NewString(), false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			before := time.Now()
			if _, err := c.PutObject(ctx, env.objects.Bucket(), tt.key, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.RemoveObject(ctx, env.objects.Bucket(), tt.key, minio.RemoveObjectOptions{}) })
			info, err := c.StatObject(ctx, env.objects.Bucket(), tt.key, minio.StatObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantExpiry {
				if !info.Expiration.IsZero() {
					t.Fatalf("%s expires at %s, want no expiry", tt.key, info.Expiration)
				}
				return
			}
			if info.ExpirationRuleID != tt.rule {
				t.Fatalf("rule = %q, want %s", info.ExpirationRuleID, tt.rule)
			}
			// S3 rounds lifecycle expiry up to the next midnight UTC.
			earliest := before.AddDate(0, 0, tt.days).Add(-24 * time.Hour)
			latest := before.AddDate(0, 0, tt.days+2)
			if info.Expiration.Before(earliest) || info.Expiration.After(latest) {
				t.Fatalf("expiry %s, want about %d days after %s", info.Expiration, tt.days, before)
			}
		})
	}
}
