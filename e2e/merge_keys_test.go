package e2e

import (
	"bytes"
	"context"
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

	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// mergeParty is one of the two candidates TestMergeKeepsEverySealedDatumReadable
// merges, with what it had before the merge.
type mergeParty struct {
	url, regID, candID string
	grounds            string
	requestID          string
	recording          []byte
}

// TestMergeKeepsEverySealedDatumReadable: two candidates, each with a final
// result, an appeal with grounds, an answered access request with its
// export, and an audio recording, are merged. Afterwards everything either
// of them had is still readable under the survivor: the duplicate's old
// request and its export answer, a new access export of the survivor holds
// both appeals' grounds, both recordings decrypt with a key examflow holds
// for the survivor; the duplicate's Diploma Registry publication is
// withdrawn and the survivor, who now has the duplicate's fødselsnummer,
// is published with both results. The final deletion of the survivor then
// destroys every key, the duplicate's included.
func TestMergeKeepsEverySealedDatumReadable(t *testing.T) {
	ctx := context.Background()
	long := 24 * time.Hour
	rs := startRetentionStack(t, policy.Periods{policy.Address: long, policy.PersonalData: long})
	ch := roleKey(t, "ch-merge-keys", "case_handler")
	today := time.Now().UTC().Format(time.DateOnly)

	// B has a fødselsnummer and a citizenship result, published.
	b := newPerson(t)
	centreB := uniqueCentre()
	sessionFor(t, "citizenship", centreB, today)
	B := mergeParty{url: takeCitizenship(t, rs, b, centreB, nil), grounds: "the clock in room B stopped " + uuid.NewString()[:8]}
	// A has a DUF number only and a social studies result: not published.
	a := newPerson(t)
	duf := newDUF()
	centreA := uniqueCentre()
	sessionFor(t, "social_studies", centreA, today)
	ra := postAt(t, rs.url, "/v1/registrations", withDUFOnly(a.reg(t, "social_studies", centreA, today), duf), "")
	if ra.Status != http.StatusCreated {
		t.Fatalf("register A: %d %s", ra.Status, ra.Raw)
	}
	A := mergeParty{url: registrationURL(ra), grounds: "the audio in room A crackled " + uuid.NewString()[:8]}
	if s := postAt(t, rs.url, A.url+"/answer-sheets", map[string]any{"part": "test", "form_id": fmt.Sprintf("social_studies-test-%s-%s", centreA, today),
		"key_version": 1, "submitted_at": time.Now().UTC().Format(time.RFC3339), "answers": answersFor(38, 32)}, ""); s.Status != http.StatusAccepted {
		t.Fatalf("submit A: %d %s", s.Status, s.Raw)
	}
	for _, p := range []*mergeParty{&A, &B} {
		waitStageAt(t, rs.url, p.url, "Retained", time.Minute)
		g := doAt(t, rs.url, http.MethodGet, p.url, "", nil, nil)
		p.regID, p.candID = g.Body["registration_id"].(string), g.Body["candidate_id"].(string)
	}
	eventually(t, 30*time.Second, func() error {
		if _, ok := publicationOf(rs.sim, B.candID); !ok {
			return fmt.Errorf("B is not published")
		}
		return nil
	})
	if _, ok := publicationOf(rs.sim, A.candID); ok {
		t.Fatal("A, with a DUF number only, is published")
	}

	// Each lodges an appeal with grounds, asks for access (answered, its
	// export built), and has a recording.
	identifiers := map[*mergeParty]map[string]any{&A: {"kind": "duf_number", "value": duf}, &B: {"kind": "national_id", "value": b.NationalID}}
	for _, p := range []*mergeParty{&A, &B} {
		if ap := postAt(t, rs.url, p.url+"/appeals", map[string]any{"kind": "formal_error", "grounds": p.grounds}, ""); ap.Status != http.StatusCreated {
			t.Fatalf("appeal: %d %s", ap.Status, ap.Raw)
		}
		p.requestID = answeredAccessRequest(t, rs.url, identifiers[p], ch)
		p.recording = storeRecording(t, uuid.MustParse(p.regID))
	}

	if m := postAt(t, rs.url, "/v1/candidates/"+A.candID+"/merge", map[string]any{"duplicate_id": B.candID,
		"reason": "same person: DUF number and fødselsnummer linked by UDI", "decided_by": "case-handler-17"}, ""); m.Status != http.StatusOK {
		t.Fatalf("merge: %d %s", m.Status, m.Raw)
	}

	// B's old request still answers, and its export still opens.
	if g := doAt(t, rs.url, http.MethodGet, "/v1/subject-requests/"+B.requestID, "", nil, ch); g.Status != http.StatusOK {
		t.Errorf("B's request after the merge: %d %s", g.Status, g.Raw)
	}
	for _, p := range []mergeParty{A, B} {
		if body, status := exportOf(t, rs.url, p.requestID, ch); status != http.StatusOK || !strings.Contains(body, p.grounds) {
			t.Errorf("the export of the request made before the merge: %d, holds its grounds: %v", status, strings.Contains(body, p.grounds))
		}
	}
	// A new access export of the survivor holds both appeals' grounds.
	after := answeredAccessRequest(t, rs.url, map[string]any{"kind": "national_id", "value": b.NationalID}, ch)
	body, status := exportOf(t, rs.url, after, ch)
	if status != http.StatusOK || !strings.Contains(body, A.grounds) || !strings.Contains(body, B.grounds) {
		t.Errorf("the survivor's export after the merge: %d, holds A's grounds %v, B's %v", status, strings.Contains(body, A.grounds), strings.Contains(body, B.grounds))
	}
	// Both recordings decrypt with a key examflow holds for the survivor.
	keys, err := env.store.SubjectKeys(ctx, uuid.MustParse(A.candID))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []mergeParty{A, B} {
		if !recordingOpens(t, uuid.MustParse(p.regID), keys, p.recording) {
			t.Errorf("the recording of registration %s does not open with the survivor's keys", p.regID)
		}
	}
	// The Diploma Registry: B's publication withdrawn, the survivor published
	// with both results.
	eventually(t, 30*time.Second, func() error {
		if _, ok := publicationOf(rs.sim, B.candID); ok {
			return fmt.Errorf("the merged candidate's publication is still at the registry")
		}
		pub, ok := publicationOf(rs.sim, A.candID)
		if !ok || len(pub.Results) != 2 || pub.NationalID != b.NationalID {
			return fmt.Errorf("the survivor's publication: %v %+v", ok, pub.Results)
		}
		return nil
	})

	// The final deletion of both registrations deletes the survivor and
	// every key, the one the duplicate had included.
	for _, p := range []mergeParty{A, B} {
		if _, err := env.store.DeleteCategory(ctx, uuid.MustParse(p.regID), "personal_data", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := rowCount(t, `SELECT count(*) FROM subject_keys WHERE candidate_id = ANY($1)`, []uuid.UUID{uuid.MustParse(A.candID), uuid.MustParse(B.candID)}); n != 0 {
		t.Errorf("%d subject keys left after the final deletion", n)
	}
	if keys, err := env.store.SubjectKeys(ctx, uuid.MustParse(A.candID)); err == nil && len(keys) > 0 {
		t.Errorf("%d keys still open the survivor's data after the final deletion", len(keys))
	}
}

// answeredAccessRequest makes an access request for the person identified,
// confirms the identity, and waits until it is answered with an export.
func answeredAccessRequest(t *testing.T, base string, identifier map[string]any, ch map[string]string) string {
	t.Helper()
	c := doAt(t, base, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access", "identifier": identifier})), ch)
	if c.Status != http.StatusCreated {
		t.Fatalf("access request: %d %s", c.Status, c.Raw)
	}
	id := c.Body["request_id"].(string)
	if v := doAt(t, base, http.MethodPost, "/v1/subject-requests/"+id+"/identity", "application/json",
		[]byte(`{"verified_by": "ch-merge-keys", "evidence": "passport inspected at the service desk"}`), ch); v.Status != http.StatusOK {
		t.Fatalf("verify: %d %s", v.Status, v.Raw)
	}
	waitRequest(t, base, id, func(b map[string]any) bool { return b["status"] == "answered" && b["export_ready"] == true }, ch)
	return id
}

// exportOf downloads a request's export through its link, from the suite's
// API (the retention stacks' APIs sign no links).
func exportOf(t *testing.T, _, id string, ch map[string]string) (string, int) {
	t.Helper()
	base := env.api.URL
	link := doAt(t, base, http.MethodPost, "/v1/subject-requests/"+id+"/export-link", "application/json", nil, ch)
	if link.Status != http.StatusOK {
		return string(link.Raw), link.Status
	}
	// The link is the capability: no bearer token.
	export := doAt(t, base, http.MethodGet, link.Body["url"].(string), "", nil, map[string]string{"Authorization": ""})
	return string(export.Raw), export.Status
}

// storeRecording stores a recording for a registration as the upload route
// does: encrypted with the subject's data key on its way to MinIO.
func storeRecording(t *testing.T, regID uuid.UUID) []byte {
	t.Helper()
	ctx := context.Background()
	audio := []byte("fictional audio " + uuid.NewString())
	dek, err := env.store.RegistrationKey(ctx, regID)
	if err != nil {
		t.Fatal(err)
	}
	var enc bytes.Buffer
	if _, err := sio.Encrypt(&enc, bytes.NewReader(audio), sio.Config{Key: dek}); err != nil {
		t.Fatal(err)
	}
	id := uuid.Must(uuid.NewV7())
	key := storage.AudioKey(regID, id)
	if _, err := env.objects.PutObject(ctx, key, bytes.NewReader(enc.Bytes()), int64(enc.Len()), "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(audio)
	if _, err := env.store.InsertRecording(ctx, storage.Recording{ID: id, RegistrationID: regID, Part: "oral", ObjectKey: key,
		ContentType: "audio/ogg", SizeBytes: int64(len(audio)), SHA256: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	return audio
}

// recordingOpens says whether the registration's recording decrypts to
// want with one of keys.
func recordingOpens(t *testing.T, regID uuid.UUID, keys [][]byte, want []byte) bool {
	t.Helper()
	ctx := context.Background()
	recs, err := env.store.Recordings(ctx, regID)
	if err != nil || len(recs) != 1 {
		t.Fatalf("recordings of %s: %d, %v", regID, len(recs), err)
	}
	obj, err := env.objects.Client().GetObject(ctx, env.objects.Bucket(), recs[0].ObjectKey, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		var out bytes.Buffer
		if _, err := sio.Decrypt(&out, bytes.NewReader(sealed), sio.Config{Key: k}); err == nil && bytes.Equal(out.Bytes(), want) {
			return true
		}
	}
	return false
}
