package e2e

import (
	"bytes"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/examflow/examflow/api"
)

// trickle yields its data a chunk at a time with a pause before each: a
// client on a slow link.
type trickle struct {
	data  []byte
	chunk int
	pause time.Duration
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(t.pause)
	n := copy(p[:min(len(p), t.chunk)], t.data)
	t.data = t.data[n:]
	return n, nil
}

// slowPost sends body to base+path through the trickle and returns the
// status, or 0 when the server cut the connection.
func slowPost(t *testing.T, base, path, contentType string, body []byte, over time.Duration) int {
	t.Helper()
	chunks := 30
	tr := &trickle{data: body, chunk: (len(body) + chunks - 1) / chunks, pause: over / time.Duration(chunks)}
	req, err := http.NewRequest(http.MethodPost, base+path, tr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+env.token)
	a, err := send(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, req)
	if err != nil {
		t.Logf("%s: %v", path, err)
		return 0
	}
	checkAnswer(t, a)
	t.Logf("%s: %d %s", path, a.Status, a.Raw)
	return a.Status
}

// TestSlowAudioUploadIsNotCutOff (T15): the API server's read timeout
// guards every route against slow clients, but a recording may be large
// and its link slow, so the upload route extends its own deadline by the
// recording's size at a minimum rate. With a one-second read timeout, a
// recording sent over three seconds is stored, while a registration
// trickled in as slowly is still cut off.
func TestSlowAudioUploadIsNotCutOff(t *testing.T) {
	handler := api.New(api.Deps{
		Store: env.store, Temporal: env.temporal, TaskQueue: env.cfg.TaskQueue, Catalogue: env.catalogue,
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Tokens: env.store,
		Validation: api.ValidationOptions{Now: time.Now}, Objects: env.objects, AudioMaxBytes: env.cfg.MinIO.AudioMaxBytes,
		AudioUploadMinRate: 4 << 10,
		HTTPTimeouts:       api.HTTPTimeouts{ReadHeader: time.Second, Read: time.Second, Write: 2 * time.Second, Idle: time.Second},
	})
	srv := api.NewHTTPServer(handler, api.HTTPTimeouts{ReadHeader: time.Second, Read: time.Second, Write: 2 * time.Second, Idle: time.Second})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	base := "http://" + l.Addr().String()

	regID := c1Registration(t, base, session)
	audio := make([]byte, 32<<10)
	_, _ = rand.Read(audio)
	if st := slowPost(t, base, "/v1/registrations/"+regID+"/recordings?part=reading_oral", "audio/ogg", audio, 3*time.Second); st != http.StatusCreated {
		t.Fatalf("slow upload of %d bytes: status %d, want 201", len(audio), st)
	}
	if a := doAt(t, base, http.MethodGet, "/v1/registrations/"+regID+"/recordings", "", nil, nil); a.Status != 200 ||
		!bytes.Contains(a.Raw, []byte(`"size_bytes":`+strconv.Itoa(len(audio)))) {
		t.Fatalf("recordings: %d %s", a.Status, a.Raw)
	}

	centre := uniqueCentre()
	body := []byte(mustJSON(newPerson(t).reg(t, "citizenship", centre, session)))
	if st := slowPost(t, base, "/v1/registrations", "application/json", body, 3*time.Second); st == http.StatusCreated {
		t.Fatal("a registration trickled in over three seconds was taken: the short read timeout no longer applies to other routes")
	}
}
