package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/sio"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

func c1Registration(t *testing.T, base, date string) (regID string) {
	t.Helper()
	centre := uniqueCentre()
	sessionFor(t, "norwegian_c1", centre, date)
	body := newPerson(t).registration("norwegian_c1", centre, date)
	body["test"] = map[string]any{"type": "norwegian_c1", "parts": []string{"listening_writing", "reading_oral"}}
	a := doAt(t, base, http.MethodPost, "/v1/registrations", "application/json", []byte(mustJSON(body)), nil)
	if a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	return a.Body["registration_id"].(string)
}

func upload(t *testing.T, base, regID, part, contentType string, body io.Reader, headers map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v1/registrations/"+regID+"/recordings?part="+part, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+env.token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	a, err := send(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, a)
	_ = jsonInto(a.Raw, &a.Body)
	return a
}

// TestAudioUploadStreamsToMinIO (T15): a recording is streamed to MinIO
// under a key of UUIDs only, hashed, and gets the one-year expiry; bad
// uploads are refused and leave nothing behind.
func TestAudioUploadStreamsToMinIO(t *testing.T) {
	ctx := context.Background()
	regID := c1Registration(t, env.api.URL, session)
	audio := make([]byte, 300<<10)
	_, _ = rand.Read(audio)
	sum := sha256.Sum256(audio)
	a := upload(t, env.api.URL, regID, "reading_oral", "audio/ogg", bytes.NewReader(audio), map[string]string{"X-Checksum-SHA256": hex.EncodeToString(sum[:])})
	if a.Status != 201 || a.Body["sha256"] != hex.EncodeToString(sum[:]) || a.Body["size_bytes"] != float64(len(audio)) {
		t.Fatalf("upload: %d %s", a.Status, a.Raw)
	}
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(a.Body["expires_at"]))
	if err != nil || exp.Before(time.Now().AddDate(0, 0, 364)) || exp.After(time.Now().AddDate(0, 0, 367)) {
		t.Fatalf("expires_at = %v", a.Body["expires_at"])
	}
	recs, err := env.store.Recordings(ctx, uuid.MustParse(regID))
	if err != nil || len(recs) != 1 {
		t.Fatalf("recordings = %v, %v", recs, err)
	}
	if want := storage.AudioKey(uuid.MustParse(regID), recs[0].ID); recs[0].ObjectKey != want || !strings.HasPrefix(want, "audio/") {
		t.Fatalf("object key %q, want %q", recs[0].ObjectKey, want)
	}
	// The object is the audio encrypted with the subject's data key.
	obj, err := env.objects.Client().GetObject(ctx, env.objects.Bucket(), recs[0].ObjectKey, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, audio[:4096]) {
		t.Fatal("the object holds the audio in plaintext")
	}
	dek, err := env.store.RegistrationKey(ctx, uuid.MustParse(regID))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sio.DecryptBuffer(nil, stored, sio.Config{Key: dek})
	if err != nil || !bytes.Equal(plain, audio) {
		t.Fatalf("decrypting with the subject's key: %v", err)
	}

	tests := []struct {
		name        string
		regID       string
		part        string
		contentType string
		headers     map[string]string
		want        int
	}{
		{"not audio", regID, "reading_oral", "text/plain", nil, 415},
		{"part not recorded", regID, "listening_writing", "audio/ogg", nil, 422},
		{"damaged on the way", regID, "reading_oral", "audio/ogg", map[string]string{"X-Checksum-SHA256": strings.Repeat("0", 64)}, 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a := upload(t, env.api.URL, tt.regID, tt.part, tt.contentType, bytes.NewReader(audio[:1000]), tt.headers); a.Status != tt.want {
				t.Fatalf("status %d, want %d: %s", a.Status, tt.want, a.Raw)
			}
			if recs, _ := env.store.Recordings(ctx, uuid.MustParse(regID)); len(recs) != 1 {
				t.Fatalf("%d recordings after a refused upload", len(recs))
			}
			n := 0
			for range env.objects.Client().ListObjects(ctx, env.objects.Bucket(), minioList("audio/"+regID+"/")) {
				n++
			}
			if n != 1 {
				t.Fatalf("%d audio objects after a refused upload", n)
			}
		})
	}
	other := postRegistration(t, newPerson(t).reg(t, "citizenship", uniqueCentre(), session), "")
	if a := upload(t, env.api.URL, other.Body["registration_id"].(string), "reading_oral", "audio/ogg", bytes.NewReader(audio[:10]), nil); a.Status != 422 {
		t.Fatalf("citizenship recording: %d %s", a.Status, a.Raw)
	}
}

// TestAudioOverTheLimitIsRefused: a streamed body of unknown length that
// passes the limit is cut off, refused with 413, and leaves nothing.
func TestAudioOverTheLimitIsRefused(t *testing.T) {
	ctx := context.Background()
	rs := startRetentionStack(t, policy.Periods{}) // its API allows 1 MiB
	regID := c1Registration(t, rs.url, session)
	big := io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), bytes.NewReader(make([]byte, 1<<20))) // no Content-Length
	if a := upload(t, rs.url, regID, "reading_oral", "audio/ogg", big, nil); a.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d: %s", a.Status, a.Raw)
	}
	if recs, _ := env.store.Recordings(ctx, uuid.MustParse(regID)); len(recs) != 0 {
		t.Fatal("a recording row was stored")
	}
	for obj := range env.objects.Client().ListObjects(ctx, env.objects.Bucket(), minioList("audio/"+regID+"/")) {
		t.Fatalf("object left behind: %s", obj.Key)
	}
}

// TestAudioDeletedAtItsMilestone: in the retention phase, the recording goes
// from MinIO and PostgreSQL at the audio milestone; the results stay.
func TestAudioDeletedAtItsMilestone(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	today := now.Format(time.DateOnly)
	long := now.Sub(now.Truncate(24*time.Hour)) + time.Hour
	rs := startRetentionStack(t, policy.Periods{policy.Audio: 8 * time.Second, policy.Address: long, policy.PersonalData: long})
	regID := c1Registration(t, rs.url, today)
	if a := upload(t, rs.url, regID, "reading_oral", "audio/ogg", bytes.NewReader([]byte("fake ogg")), nil); a.Status != 201 {
		t.Fatalf("upload: %d %s", a.Status, a.Raw)
	}
	url := "/v1/registrations/" + regID
	for _, part := range []string{"listening_writing", "reading_oral"} {
		for role, who := range map[string]string{"examiner": "e1", "external_examiner": "e2"} {
			if a := doAt(t, rs.url, http.MethodPost, url+"/assessments", "application/json", []byte(mustJSON(map[string]any{
				"part": part, "role": role, "assessor": who, "level": "C1"})), nil); a.Status != 202 {
				t.Fatalf("assess: %d %s", a.Status, a.Raw)
			}
		}
	}
	id := uuid.MustParse(regID)
	eventually(t, 40*time.Second, func() error {
		recs, err := env.store.Recordings(ctx, id)
		if err != nil {
			return err
		}
		if len(recs) != 0 {
			return fmt.Errorf("%d recordings left", len(recs))
		}
		return nil
	})
	for obj := range env.objects.Client().ListObjects(ctx, env.objects.Bucket(), minioList("audio/"+regID+"/")) {
		t.Fatalf("audio object left behind: %s", obj.Key)
	}
	if n := rowCount(t, `SELECT count(*) FROM results WHERE registration_id = $1`, regID); n != 2 {
		t.Fatalf("%d results after the audio milestone, want 2", n)
	}
	if n := rowCount(t, `SELECT count(*) FROM deletion_records WHERE registration_id = $1 AND category = 'audio'`, regID); n != 1 {
		t.Fatal("no deletion record for the audio")
	}
	// A recording uploaded after the audio was deleted would never be
	// deleted on time: it is refused, and nothing stays in MinIO.
	if a := upload(t, rs.url, regID, "reading_oral", "audio/ogg", bytes.NewReader([]byte("late ogg")), nil); a.Status != http.StatusConflict {
		t.Fatalf("an upload after the audio deletion: %d %s", a.Status, a.Raw)
	}
	if recs, _ := env.store.Recordings(ctx, id); len(recs) != 0 {
		t.Fatalf("%d recordings after a refused upload", len(recs))
	}
	for obj := range env.objects.Client().ListObjects(ctx, env.objects.Bucket(), minioList("audio/"+regID+"/")) {
		t.Fatalf("a refused upload left %s", obj.Key)
	}
}

// TestAudioPeriodRunsFromTheFirstRecording (T15): a registration's audio is
// kept one year from its first recording, not from its last: the retention
// plan's audio milestone is the first recording's date plus a year, and the
// daily reconciliation finds the audio overdue once the first recording is
// a year old, though a later one is recent.
func TestAudioPeriodRunsFromTheFirstRecording(t *testing.T) {
	ctx := context.Background()
	regID := c1Registration(t, env.api.URL, time.Now().UTC().Format(time.DateOnly))
	for _, body := range []string{"first ogg", "second ogg"} {
		if a := upload(t, env.api.URL, regID, "reading_oral", "audio/ogg", bytes.NewReader([]byte(body)), nil); a.Status != 201 {
			t.Fatalf("upload: %d %s", a.Status, a.Raw)
		}
	}
	id := uuid.MustParse(regID)
	first := time.Now().UTC().AddDate(0, 0, -400).Truncate(time.Second)
	if _, err := env.pool.Exec(ctx, `UPDATE recordings SET uploaded_at = $2 WHERE id = (SELECT id FROM recordings WHERE registration_id = $1 ORDER BY uploaded_at LIMIT 1)`,
		id, first); err != nil {
		t.Fatal(err)
	}
	plan, err := (&activities.Retention{Store: env.store, Periods: policy.Periods{}, Logger: env.deps.Logger}).PlanRetention(ctx, regID)
	if err != nil {
		t.Fatal(err)
	}
	var audio *time.Time
	for _, m := range plan.Milestones {
		if m.Category == string(policy.Audio) {
			audio = &m.Due
		}
	}
	if want := first.AddDate(1, 0, 0); audio == nil || !audio.Equal(want) {
		t.Fatalf("audio milestone %v, want %s (a year after the first recording)", audio, want)
	}
	overdue, err := env.store.OverdueDeletions(ctx, activities.RetentionCutoffs(policy.Periods{}, time.Now()), false, 100000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range overdue {
		found = found || (o.RegistrationID == id && o.Category == string(policy.Audio) && o.EventAt.Equal(first))
	}
	if !found {
		t.Fatal("the reconciliation does not find the audio whose first recording is 400 days old")
	}
}
