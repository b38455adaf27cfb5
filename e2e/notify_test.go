package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/notify"
	"github.com/examflow/examflow/storage"
)

// notifyCentre is the test centre of every registration in this file.
var notifyCentre = uniqueCentre()

// smtpSink is a real SMTP server (go-smtp) on a loopback port that keeps
// every message it accepts. It can be stopped and started again on the same
// port; rejectRcpt makes it refuse every recipient with that reply (echoing
// the address, as real servers often do).
type smtpSink struct {
	addr string

	mu         sync.Mutex
	srv        *gosmtp.Server
	l          net.Listener
	received   []sinkMessage
	rejectRcpt *gosmtp.SMTPError
}

type sinkMessage struct {
	To   []string
	Data []byte
}

// newSMTPSink picks a free loopback port and starts the server on it.
func newSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{addr: l.Addr().String()}
	s.serve(l)
	t.Cleanup(s.stop)
	return s
}

func (s *smtpSink) serve(l net.Listener) {
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{sink: s}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.mu.Lock()
	s.srv, s.l = srv, l
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// start serves again on the same port after stop.
func (s *smtpSink) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", s.addr, err)
	}
	s.serve(l)
}

// stop closes the port: connections are refused until start.
func (s *smtpSink) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	_ = s.l.Close()
	_ = s.srv.Close()
	s.srv, s.l = nil, nil
}

func (s *smtpSink) setRejectRcpt(e *gosmtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectRcpt = e
}

// to returns the messages received for an address.
func (s *smtpSink) to(addr string) []sinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sinkMessage
	for _, m := range s.received {
		for _, rcpt := range m.To {
			if strings.EqualFold(rcpt, addr) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

func (s *smtpSink) config() config.SMTP {
	host, port, _ := net.SplitHostPort(s.addr)
	var p int
	_, _ = fmt.Sscan(port, &p)
	return config.SMTP{Host: host, Port: p, TLS: "none", From: "examflow@example.test"}
}

type sinkSession struct {
	sink *smtpSink
	to   []string
}

func (ss *sinkSession) Reset()                                 { ss.to = nil }
func (ss *sinkSession) Logout() error                          { return nil }
func (ss *sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }

func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.sink.mu.Lock()
	reject := ss.sink.rejectRcpt
	ss.sink.mu.Unlock()
	if reject != nil {
		return &gosmtp.SMTPError{Code: reject.Code, EnhancedCode: reject.EnhancedCode, Message: "<" + to + ">: " + reject.Message}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.sink.mu.Lock()
	defer ss.sink.mu.Unlock()
	ss.sink.received = append(ss.sink.received, sinkMessage{To: ss.to, Data: data})
	return nil
}

// notifyDrainer is a drainer on the sink that logs JSON into logs.
func notifyDrainer(t *testing.T, sink *smtpSink, logs *syncBuffer, reg prometheus.Registerer, backoff func(int) time.Duration) *notify.Drainer {
	t.Helper()
	mailer, err := notify.NewSMTPMailer(sink.config())
	if err != nil {
		t.Fatal(err)
	}
	return &notify.Drainer{
		Store: env.store, Mailer: mailer,
		Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Batch:      100,
		Lease:      time.Minute,
		Backoff:    backoff,
		Registerer: reg,
	}
}

// notifyRegistration stores a registration of a new person (with the given
// e-mail address, none if empty) for the citizenship test.
func notifyRegistration(t *testing.T, email string) (person, storage.Registration) {
	t.Helper()
	ctx := context.Background()
	p := newPerson(t)
	p.Email = email
	dob, _ := time.Parse(time.DateOnly, p.Born)
	sess, _ := time.Parse(time.DateOnly, session)
	sessionFor(t, "citizenship", notifyCentre, session)
	reg, created, err := env.store.CreateRegistration(ctx, storage.NewRegistration{
		Person:   storage.Person{GivenName: p.Given, FamilyName: p.Family, DateOfBirth: dob, NationalID: p.NationalID, Email: email},
		TestType: "citizenship", TestParts: []string{"test"}, TestCentre: notifyCentre, SessionDate: sess,
	}, nil)
	if err != nil || !created {
		t.Fatalf("store registration: %v %v", created, err)
	}
	return p, reg
}

func resultReady(reg storage.Registration) storage.Notification {
	return storage.Notification{
		DedupeKey:   "result_ready:" + reg.ID.String(),
		CandidateID: reg.CandidateID, RegistrationID: reg.ID,
		Kind:    notify.KindResultReady,
		Payload: map[string]string{"test_type": reg.TestType, "result": "passed"},
		Purpose: "arranging_tests",
	}
}

func onlyNotification(t *testing.T, regID uuid.UUID) storage.NotificationStatus {
	t.Helper()
	ns, err := env.store.NotificationsFor(context.Background(), regID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 {
		t.Fatalf("%d notifications for the registration, want 1: %+v", len(ns), ns)
	}
	return ns[0]
}

// assertNoPersonalDataInLogs fails if the logs carry any of p's personal data.
func assertNoPersonalDataInLogs(t *testing.T, logs string, p person) {
	t.Helper()
	for _, v := range []string{p.Email, p.Given, p.Family, p.NationalID} {
		if v != "" && strings.Contains(strings.ToLower(logs), strings.ToLower(v)) {
			t.Errorf("drainer logs contain personal data %q:\n%s", v, logs)
		}
	}
	if strings.Contains(logs, "@") {
		t.Errorf("drainer logs contain an address-like string:\n%s", logs)
	}
}

// parseMail parses a received message and decodes its subject and body.
func parseMail(t *testing.T, m sinkMessage) (h netmail.Header, subject, body string) {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatalf("parse mail: %v", err)
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header, subject, string(b)
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, kind string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{kind=%q}", name, kind)
	return 0
}

func TestNotificationOutboxSendsOnce(t *testing.T) {
	ctx := context.Background()
	sink := newSMTPSink(t)
	p, reg := notifyRegistration(t, newPerson(t).Email)

	// A retried activity enqueues the same notification twice: one row.
	for i, wantCreated := range []bool{true, false} {
		created, err := env.store.EnqueueNotification(ctx, resultReady(reg))
		if err != nil || created != wantCreated {
			t.Fatalf("enqueue %d: created %v, err %v; want created %v", i, created, err, wantCreated)
		}
	}
	n := onlyNotification(t, reg.ID)
	if n.Status != storage.NotificationPending || n.Attempts != 0 || n.CandidateID != reg.CandidateID || n.Kind != notify.KindResultReady {
		t.Fatalf("enqueued: %+v", n)
	}

	logs := &syncBuffer{}
	metrics := prometheus.NewRegistry()
	d := notifyDrainer(t, sink, logs, metrics, nil)
	sent, err := d.RunOnce(ctx)
	if err != nil || sent < 1 {
		t.Fatalf("drain: sent %d, %v", sent, err)
	}
	got := sink.to(p.Email)
	if len(got) != 1 {
		t.Fatalf("%d mails to the candidate, want 1", len(got))
	}
	h, subject, body := parseMail(t, got[0])
	if want := "Resultatet ditt er klart / Your test result is available"; subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || !strings.EqualFold(to[0].Address, p.Email) {
		t.Errorf("To: %v %v", to, err)
	}
	for _, want := range []string{p.Given + " " + p.Family, "statsborgerprøven", "citizenship test", "Datatilsynet", "Norwegian Data Protection Authority"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "passed") {
		t.Errorf("the result is in the e-mail:\n%s", body)
	}

	n = onlyNotification(t, reg.ID)
	if n.Status != storage.NotificationSent || n.SentAt == nil || n.Attempts != 1 || n.LastError != "" {
		t.Fatalf("after sending: %+v", n)
	}

	// Draining again sends nothing more.
	if _, err := d.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sink.to(p.Email); len(got) != 1 {
		t.Fatalf("%d mails to the candidate after a second drain, want 1", len(got))
	}
	if again := onlyNotification(t, reg.ID); !again.SentAt.Equal(*n.SentAt) || again.Attempts != 1 {
		t.Fatalf("row changed by the second drain: %+v", again)
	}

	if v := counterValue(t, metrics, "examflow_notifications_sent_total", notify.KindResultReady); v < 1 {
		t.Errorf("sent counter %v", v)
	}
	out := logs.String()
	if !strings.Contains(out, n.ID.String()) || !strings.Contains(out, `"kind":"result_ready"`) || !strings.Contains(out, `"attempt":1`) {
		t.Errorf("logs lack the notification ID, kind or attempt:\n%s", out)
	}
	assertNoPersonalDataInLogs(t, out, p)
}

func TestNotificationRetriedAfterSMTPOutage(t *testing.T) {
	ctx := context.Background()
	sink := newSMTPSink(t)
	sink.stop()
	p, reg := notifyRegistration(t, newPerson(t).Email)
	if _, err := env.store.EnqueueNotification(ctx, resultReady(reg)); err != nil {
		t.Fatal(err)
	}
	before := onlyNotification(t, reg.ID)

	logs := &syncBuffer{}
	metrics := prometheus.NewRegistry()
	d := notifyDrainer(t, sink, logs, metrics, func(int) time.Duration { return 0 })
	if _, err := d.RunOnce(ctx); err != nil {
		t.Fatalf("drain with the server down: %v", err)
	}
	n := onlyNotification(t, reg.ID)
	if n.Status != storage.NotificationPending || n.SentAt != nil || n.Attempts != 1 || !n.NextAttemptAt.After(before.NextAttemptAt) {
		t.Fatalf("after a failed attempt: %+v (before: next attempt %s)", n, before.NextAttemptAt)
	}
	if n.LastError != "smtp server unreachable" {
		t.Errorf("last error %q", n.LastError)
	}
	if v := counterValue(t, metrics, "examflow_notifications_failed_total", notify.KindResultReady); v < 1 {
		t.Errorf("failed counter %v", v)
	}

	// The server is back and the retry is due: the notification goes out.
	sink.start(t)
	sent, err := d.RunOnce(ctx)
	if err != nil || sent < 1 {
		t.Fatalf("drain after the outage: sent %d, %v", sent, err)
	}
	if got := sink.to(p.Email); len(got) != 1 {
		t.Fatalf("%d mails to the candidate, want 1", len(got))
	}
	n = onlyNotification(t, reg.ID)
	if n.Status != storage.NotificationSent || n.Attempts != 2 || n.LastError != "" {
		t.Fatalf("after the retry: %+v", n)
	}
	if _, err := d.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sink.to(p.Email); len(got) != 1 {
		t.Fatalf("%d mails after another drain, want 1", len(got))
	}
	out := logs.String()
	if !strings.Contains(out, "will retry") || !strings.Contains(out, `"attempt":2`) {
		t.Errorf("logs lack the retry:\n%s", out)
	}
	assertNoPersonalDataInLogs(t, out, p)
}

func TestNotificationPermanentFailures(t *testing.T) {
	ctx := context.Background()
	sink := newSMTPSink(t)
	logs := &syncBuffer{}
	d := notifyDrainer(t, sink, logs, nil, func(int) time.Duration { return 0 })

	t.Run("address refused", func(t *testing.T) {
		p, reg := notifyRegistration(t, newPerson(t).Email)
		if _, err := env.store.EnqueueNotification(ctx, resultReady(reg)); err != nil {
			t.Fatal(err)
		}
		sink.setRejectRcpt(&gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
		defer sink.setRejectRcpt(nil)
		for range 2 {
			if _, err := d.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		n := onlyNotification(t, reg.ID)
		if n.Status != storage.NotificationFailed || n.FailedAt == nil || n.SentAt != nil || n.Attempts != 1 {
			t.Fatalf("after a refused address: %+v", n)
		}
		if n.LastError != "smtp 550 5.1.1 at RCPT TO (permanent)" || strings.Contains(n.LastError, "@") {
			t.Errorf("last error %q", n.LastError)
		}
		assertNoPersonalDataInLogs(t, logs.String(), p)
	})

	t.Run("no e-mail address", func(t *testing.T) {
		p, reg := notifyRegistration(t, "")
		if _, err := env.store.EnqueueNotification(ctx, resultReady(reg)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		n := onlyNotification(t, reg.ID)
		if n.Status != storage.NotificationFailed || n.SentAt != nil || n.LastError != storage.NoEmailAddress || n.Attempts != 0 {
			t.Fatalf("without an address: %+v", n)
		}
		assertNoPersonalDataInLogs(t, logs.String(), p)
	})

	t.Run("payload that is not strings", func(t *testing.T) {
		p, reg := notifyRegistration(t, newPerson(t).Email)
		// Written by hand, past EnqueueNotification: it must fail alone,
		// not block the outbox.
		if _, err := env.pool.Exec(ctx, `INSERT INTO notification_outbox (id, dedupe_key, candidate_id, registration_id, kind, payload, purpose)
			VALUES ($1, $2, $3, $4, 'result_ready', '{"test_type": 5}', 'arranging_tests')`,
			uuid.New(), "bad-payload:"+reg.ID.String(), reg.CandidateID, reg.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		n := onlyNotification(t, reg.ID)
		if n.Status != storage.NotificationFailed || !strings.Contains(n.LastError, "cannot be rendered") {
			t.Fatalf("bad payload: %+v", n)
		}
		if got := sink.to(p.Email); len(got) != 0 {
			t.Fatalf("%d mails for a bad payload", len(got))
		}
	})

	t.Run("unknown kind", func(t *testing.T) {
		p, reg := notifyRegistration(t, newPerson(t).Email)
		nt := resultReady(reg)
		nt.Kind, nt.DedupeKey = "no_such_kind", "no_such_kind:"+reg.ID.String()
		if _, err := env.store.EnqueueNotification(ctx, nt); err != nil {
			t.Fatal(err)
		}
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		n := onlyNotification(t, reg.ID)
		if n.Status != storage.NotificationFailed || n.Attempts != 1 || n.LastError != "no template for kind (permanent)" {
			t.Fatalf("unknown kind: %+v", n)
		}
		if got := sink.to(p.Email); len(got) != 0 {
			t.Fatalf("%d mails for an unknown kind", len(got))
		}
		assertNoPersonalDataInLogs(t, logs.String(), p)
	})
}

func TestNotificationUsesCurrentAddress(t *testing.T) {
	ctx := context.Background()
	sink := newSMTPSink(t)
	logs := &syncBuffer{}
	d := notifyDrainer(t, sink, logs, nil, nil)

	// Rectification after enqueueing: the mail goes to the new address.
	p, reg := notifyRegistration(t, newPerson(t).Email)
	if _, err := env.store.EnqueueNotification(ctx, resultReady(reg)); err != nil {
		t.Fatal(err)
	}
	newAddr := "rectified-" + p.Email
	if err := env.store.Rectify(ctx, reg.CandidateID, storage.Rectification{Email: newAddr}); err != nil {
		t.Fatal(err)
	}

	// A deleted candidate is never mailed: the outbox row goes with it.
	gone := newPerson(t)
	goneID := uuid.New()
	if _, err := env.pool.Exec(ctx, `INSERT INTO candidates (id, candidate_number) VALUES ($1, lpad(nextval('candidate_number_seq')::text, 9, '0'))`,
		goneID); err != nil {
		t.Fatal(err)
	}
	goneKey := "result_ready:deleted:" + goneID.String()
	if _, err := env.store.EnqueueNotification(ctx, storage.Notification{DedupeKey: goneKey, CandidateID: goneID, Kind: notify.KindResultReady,
		Payload: map[string]string{"test_type": "social_studies"}, Purpose: "arranging_tests"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.pool.Exec(ctx, `DELETE FROM candidates WHERE id = $1`, goneID); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := env.pool.QueryRow(ctx, `SELECT count(*) FROM notification_outbox WHERE dedupe_key = $1`, goneKey).Scan(&left); err != nil || left != 0 {
		t.Fatalf("outbox rows of a deleted candidate: %d %v", left, err)
	}

	if _, err := d.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sink.to(p.Email); len(got) != 0 {
		t.Errorf("%d mails to the old address", len(got))
	}
	if got := sink.to(newAddr); len(got) != 1 {
		t.Errorf("%d mails to the rectified address, want 1", len(got))
	}
	if got := sink.to(gone.Email); len(got) != 0 {
		t.Errorf("%d mails to a deleted candidate", len(got))
	}
	assertNoPersonalDataInLogs(t, logs.String(), p)
}

// cancellingMailer stands for a worker shut down while it sends: the first
// send ends the drainer's context and fails with it.
type cancellingMailer struct{ cancel context.CancelFunc }

func (m cancellingMailer) Send(ctx context.Context, _ notify.Message) error {
	m.cancel()
	<-ctx.Done()
	return ctx.Err()
}

// TestDrainerReleasesWhatItDidNotSend: a drainer that stops in the middle
// of a batch (its worker shut down) hands the rows it did not send back at
// once, instead of holding them for the rest of the lease, so another
// worker sends them on its next drain, not minutes later.
func TestDrainerReleasesWhatItDidNotSend(t *testing.T) {
	ctx := context.Background()
	_, reg := notifyRegistration(t, newPerson(t).Email)
	for i := range 3 {
		nt := resultReady(reg)
		nt.DedupeKey = fmt.Sprintf("release-test:%s:%d", reg.ID, i)
		if created, err := env.store.EnqueueNotification(ctx, nt); err != nil || !created {
			t.Fatalf("enqueue: %v %v", created, err)
		}
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := &notify.Drainer{Store: env.store, Mailer: cancellingMailer{cancel}, Batch: 100, Lease: time.Hour}
	if _, err := d.RunOnce(dctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("drain: %v, want the cancellation", err)
	}
	var due, pending int
	if err := env.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE next_attempt_at <= now()), count(*)
		FROM notification_outbox WHERE registration_id = $1 AND sent_at IS NULL AND failed_at IS NULL AND attempts = 0`, reg.ID).Scan(&due, &pending); err != nil {
		t.Fatal(err)
	}
	if pending != 3 || due != 3 {
		t.Fatalf("%d of 3 unsent rows pending, %d due again; want all 3 handed back at once", pending, due)
	}
	// Another drainer sends them now.
	sink := newSMTPSink(t)
	if _, err := notifyDrainer(t, sink, &syncBuffer{}, nil, nil).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	ns, err := env.store.NotificationsFor(ctx, reg.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.Status != storage.NotificationSent {
			t.Errorf("row %s is %s after the second drain, want sent", n.ID, n.Status)
		}
	}
}
