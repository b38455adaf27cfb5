package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/minio/sio"

	"github.com/examflow/examflow/storage"
)

// audioTypes are the media types accepted for recordings.
var audioTypes = []string{"audio/ogg", "audio/mpeg", "audio/wav", "audio/x-wav", "audio/webm", "audio/mp4", "audio/flac"}

// recordedParts are the parts whose audio is recorded (T15): Norwegian C1
// reading comprehension and oral communication.
var recordedParts = map[string][]string{"norwegian_c1": {"reading_oral"}}

// RecordingView is a stored recording.
type RecordingView struct {
	RecordingID string     `json:"recording_id"`
	Part        string     `json:"part"`
	ContentType string     `json:"content_type"`
	SizeBytes   int64      `json:"size_bytes"`
	SHA256      string     `json:"sha256"`
	UploadedAt  time.Time  `json:"uploaded_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// countingHash counts and hashes what streams through it.
type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// uploadRecording streams an audio recording to MinIO: never whole in
// memory, at most AudioMaxBytes, hashed on the way (SHA-256, checked
// against an X-Checksum-SHA256 header when sent), encrypted with the
// subject's data key, under a key of UUIDs only.
func (s *server) uploadRecording(c *gin.Context) {
	ctx := c.Request.Context()
	if s.Objects == nil {
		unavailable(c, "no object store is configured")
		return
	}
	reg, ok := s.registrationForUpdate(c)
	if !ok {
		return
	}
	part := c.Query("part")
	if !slices.Contains(recordedParts[reg.TestType], part) || !slices.Contains(reg.TestParts, part) {
		writeProblem(c, Problem{Type: ProblemValidation, Title: "No recording for this part", Status: http.StatusUnprocessableEntity,
			Detail: "audio is recorded only for the Norwegian C1 reading comprehension and oral communication part (reading_oral) of a registration that has it",
			Errors: []FieldError{{Field: "part", Detail: "must be reading_oral of a norwegian_c1 registration"}}})
		return
	}
	mediaType, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || !slices.Contains(audioTypes, mediaType) {
		writeProblem(c, Problem{Type: ProblemMalformed, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Errors: []FieldError{{Field: "Content-Type", Detail: "must be one of " + strings.Join(audioTypes, ", ")}}})
		return
	}
	if c.Request.ContentLength > s.AudioMaxBytes {
		writeProblem(c, Problem{Type: ProblemMalformed, Title: "Recording too large", Status: http.StatusRequestEntityTooLarge,
			Errors: []FieldError{{Field: "body", Detail: "the recording is larger than the limit"}}})
		return
	}
	want := strings.ToLower(c.GetHeader("X-Checksum-SHA256"))
	if want != "" && len(want) != 64 {
		writeProblem(c, Problem{Type: ProblemMalformed, Title: "Malformed request", Status: http.StatusBadRequest,
			Errors: []FieldError{{Field: "X-Checksum-SHA256", Detail: "must be 64 hex digits"}}})
		return
	}
	if err := s.extendUploadDeadlines(c, c.Request.ContentLength); err != nil {
		s.Logger.WarnContext(ctx, "upload deadline not extended", "error", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		internalError(c)
		return
	}
	key := storage.AudioKey(reg.ID, id)
	dek, err := s.Store.RegistrationKey(ctx, reg.ID)
	if err != nil {
		s.failed(c, err, "the database is unavailable; nothing was stored")
		return
	}
	// Hash the audio as it arrives, then encrypt it with the subject's data
	// key in 64 KiB packages (DARE) on its way to MinIO: crypto-shredding
	// the key makes every copy unreadable.
	sum := &countingHash{h: sha256.New()}
	body, err := sio.EncryptReader(io.TeeReader(http.MaxBytesReader(c.Writer, c.Request.Body, s.AudioMaxBytes), sum), sio.Config{Key: dek})
	if err != nil {
		internalError(c)
		return
	}
	size := int64(-1)
	if n := c.Request.ContentLength; n > 0 {
		if enc, err := sio.EncryptedSize(uint64(n)); err == nil {
			size = int64(enc)
		}
	}
	if _, err := s.Objects.PutObject(ctx, key, body, size, "application/octet-stream"); err != nil {
		s.discardRecording(ctx, key)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(c, Problem{Type: ProblemMalformed, Title: "Recording too large", Status: http.StatusRequestEntityTooLarge,
				Errors: []FieldError{{Field: "body", Detail: "the recording is larger than the limit"}}})
			return
		}
		s.Logger.WarnContext(ctx, "recording not stored", "registration_id", reg.ID.String(), "error", err)
		unavailable(c, "the object store did not take the recording; nothing was stored")
		return
	}
	got := hex.EncodeToString(sum.h.Sum(nil))
	if want != "" && want != got {
		s.discardRecording(ctx, key)
		writeProblem(c, Problem{Type: ProblemValidation, Title: "Checksum mismatch", Status: http.StatusUnprocessableEntity,
			Detail: "the recording arrived damaged; nothing was stored", Errors: []FieldError{{Field: "X-Checksum-SHA256", Detail: "does not match the body"}}})
		return
	}
	rec, err := s.Store.InsertRecording(ctx, storage.Recording{ID: id, RegistrationID: reg.ID, Part: part, ObjectKey: key,
		ContentType: mediaType, SizeBytes: sum.n, SHA256: got})
	if errors.Is(err, storage.ErrAudioDeleted) {
		s.discardRecording(ctx, key)
		writeProblem(c, Problem{Type: ProblemConflict, Title: "Audio already deleted", Status: http.StatusConflict,
			Detail: "the registration's audio was deleted at the end of its retention period (T15); a recording cannot be added afterwards, and nothing was stored",
			Errors: []FieldError{{Field: "part", Detail: "no recording is accepted after the audio deletion"}}})
		return
	}
	if err != nil {
		s.discardRecording(ctx, key)
		s.failed(c, err, "the database is unavailable; nothing was stored")
		return
	}
	c.Header("Location", "/v1/registrations/"+reg.ID.String()+"/recordings")
	c.JSON(http.StatusCreated, s.recordingView(c, rec))
}

func (s *server) recordingView(c *gin.Context, r storage.Recording) RecordingView {
	v := RecordingView{RecordingID: r.ID.String(), Part: r.Part, ContentType: r.ContentType, SizeBytes: r.SizeBytes, SHA256: r.SHA256, UploadedAt: r.UploadedAt}
	if info, err := s.Objects.StatObject(c.Request.Context(), r.ObjectKey); err == nil && !info.Expiration.IsZero() {
		exp := info.Expiration
		v.ExpiresAt = &exp
	}
	return v
}

func (s *server) listRecordings(c *gin.Context) {
	if s.Objects == nil {
		unavailable(c, "no object store is configured")
		return
	}
	reg, ok := s.registrationForUpdate(c)
	if !ok {
		return
	}
	recs, err := s.Store.Recordings(c.Request.Context(), reg.ID)
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	out := make([]RecordingView, 0, len(recs))
	for _, r := range recs {
		out = append(out, s.recordingView(c, r))
	}
	c.JSON(http.StatusOK, gin.H{"registration_id": reg.ID.String(), "recordings": out})
}

// discardRecording removes an uploaded object that was not recorded. If
// that fails too, the object is an orphan that no row names; it is logged
// by key (no personal data) and the bucket's one-year expiry removes it.
func (s *server) discardRecording(ctx context.Context, key string) {
	if err := s.Objects.RemoveObject(context.WithoutCancel(ctx), key); err != nil {
		s.Logger.ErrorContext(ctx, "unrecorded recording not removed; the bucket's expiry removes it", "object_key", key, "error", err.Error())
	}
}
