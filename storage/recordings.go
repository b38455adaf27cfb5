package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
)

// Recording is a stored audio recording.
type Recording struct {
	ID             uuid.UUID
	RegistrationID uuid.UUID
	Part           string
	ObjectKey      string
	ContentType    string
	SizeBytes      int64
	SHA256         string
	UploadedAt     time.Time
}

// AudioKey is the object key of a recording: UUIDs only.
func AudioKey(regID, recordingID uuid.UUID) string {
	return AudioPrefix + regID.String() + "/" + recordingID.String()
}

// PutObject streams r to the bucket under key; size -1 streams in parts of
// unknown total length, never holding the whole object in memory.
func (o *Objects) PutObject(ctx context.Context, key string, r io.Reader, size int64, contentType string) (minio.UploadInfo, error) {
	info, err := o.client.PutObject(ctx, o.cfg.Bucket, key, r, size, minio.PutObjectOptions{ContentType: contentType, PartSize: 16 << 20})
	if err != nil {
		return info, classify(fmt.Errorf("put object: %w", err))
	}
	return info, nil
}

// RemoveObject deletes an object; a missing object is not an error.
func (o *Objects) RemoveObject(ctx context.Context, key string) error {
	if err := o.client.RemoveObject(ctx, o.cfg.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return classify(fmt.Errorf("remove object: %w", err))
	}
	return nil
}

// StatObject reads an object's metadata, including the expiry its lifecycle
// rule gives it.
func (o *Objects) StatObject(ctx context.Context, key string) (minio.ObjectInfo, error) {
	info, err := o.client.StatObject(ctx, o.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return info, ErrNotFound
		}
		return info, classify(fmt.Errorf("stat object: %w", err))
	}
	return info, nil
}

// ErrAudioDeleted refuses a recording for a registration whose audio has
// been deleted at its retention milestone: nothing would delete it on time.
var ErrAudioDeleted = errors.New("the registration's audio has been deleted at the end of its retention period")

// InsertRecording records an uploaded recording, unless the registration's
// audio (or all its personal data) has already been deleted
// (ErrAudioDeleted).
func (s *Store) InsertRecording(ctx context.Context, r Recording) (Recording, error) {
	err := s.pool.QueryRow(ctx, `INSERT INTO recordings (id, registration_id, part, object_key, content_type, size_bytes, sha256)
		SELECT $1, $2, $3, $4, $5, $6, $7
		WHERE NOT EXISTS (SELECT 1 FROM deletion_records WHERE registration_id = $2 AND category IN ('audio', 'personal_data'))
		RETURNING uploaded_at`,
		r.ID, r.RegistrationID, r.Part, r.ObjectKey, r.ContentType, r.SizeBytes, r.SHA256).Scan(&r.UploadedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrAudioDeleted
	}
	if err != nil {
		return r, classify(fmt.Errorf("insert recording: %w", err))
	}
	return r, nil
}

// Recordings lists a registration's recordings, oldest first.
func (s *Store) Recordings(ctx context.Context, regID uuid.UUID) ([]Recording, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, registration_id, part, object_key, content_type, size_bytes, sha256, uploaded_at
		FROM recordings WHERE registration_id = $1 ORDER BY uploaded_at`, regID)
	if err != nil {
		return nil, classify(fmt.Errorf("read recordings: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Recording, error) {
		var r Recording
		err := row.Scan(&r.ID, &r.RegistrationID, &r.Part, &r.ObjectKey, &r.ContentType, &r.SizeBytes, &r.SHA256, &r.UploadedAt)
		return r, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("read recordings: %w", err))
	}
	return out, nil
}

// FirstRecording is when the registration's first recording was uploaded:
// its audio is kept one year from then (T15), so no recording outlives its
// year.
func (s *Store) FirstRecording(ctx context.Context, regID uuid.UUID) (time.Time, bool, error) {
	var t *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT min(uploaded_at) FROM recordings WHERE registration_id = $1`, regID).Scan(&t); err != nil {
		return time.Time{}, false, classify(fmt.Errorf("read recordings: %w", err))
	}
	if t == nil {
		return time.Time{}, false, nil
	}
	return *t, true, nil
}

// RemoveRecordings deletes a registration's audio objects (the rows go
// with DeleteCategory). Idempotent.
func (s *Store) RemoveRecordings(ctx context.Context, objects *Objects, regID uuid.UUID) (int, error) {
	recs, err := s.Recordings(ctx, regID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	for _, r := range recs {
		if err := objects.RemoveObject(ctx, r.ObjectKey); err != nil {
			return 0, err
		}
	}
	return len(recs), nil
}

// GetObject opens an object for reading.
func (o *Objects) GetObject(ctx context.Context, key string) (*minio.Object, error) {
	obj, err := o.client.GetObject(ctx, o.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, classify(fmt.Errorf("minio: %w", err))
	}
	return obj, nil
}

// RemovePrefix removes every object (and version) under a prefix and
// returns how many it removed.
func (o *Objects) RemovePrefix(ctx context.Context, prefix string) (int, error) {
	n := 0
	for obj := range o.client.ListObjects(ctx, o.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			return n, classify(fmt.Errorf("minio: %w", obj.Err))
		}
		if err := o.client.RemoveObject(ctx, o.cfg.Bucket, obj.Key, minio.RemoveObjectOptions{VersionID: obj.VersionID}); err != nil {
			return n, classify(fmt.Errorf("minio: %w", err))
		}
		n++
	}
	return n, nil
}
