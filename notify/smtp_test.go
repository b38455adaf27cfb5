package notify

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/examflow/examflow/config"
)

// testServer is an SMTP server on loopback whose answer to RCPT TO is set
// per test. Its replies echo the address, as real servers' often do.
type testServer struct {
	addr string
	srv  *smtp.Server
	l    net.Listener

	mu       sync.Mutex
	rcptErr  *smtp.SMTPError
	received []string
}

func startTestServer(t *testing.T, rcptErr *smtp.SMTPError) *testServer {
	t.Helper()
	ts := &testServer{rcptErr: rcptErr}
	ts.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &testSession{ts: ts}, nil }))
	ts.srv.Domain = "localhost"
	ts.srv.ReadTimeout = 5 * time.Second
	ts.srv.WriteTimeout = 5 * time.Second
	ts.srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr, ts.l = l.Addr().String(), l
	go func() { _ = ts.srv.Serve(l) }()
	t.Cleanup(ts.stop)
	return ts
}

// stop closes the listener (Serve may not have taken it over yet) and the
// server.
func (ts *testServer) stop() {
	_ = ts.l.Close()
	_ = ts.srv.Close()
}

func (ts *testServer) config() config.SMTP {
	_, port, _ := net.SplitHostPort(ts.addr)
	p, _ := net.LookupPort("tcp", port)
	return config.SMTP{Host: "127.0.0.1", Port: p, TLS: "none", From: "examflow@example.test"}
}

type testSession struct {
	ts *testServer
	to string
}

func (s *testSession) Reset()        {}
func (s *testSession) Logout() error { return nil }
func (s *testSession) Mail(string, *smtp.MailOptions) error {
	return nil
}
func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.ts.mu.Lock()
	defer s.ts.mu.Unlock()
	if e := s.ts.rcptErr; e != nil {
		return &smtp.SMTPError{Code: e.Code, EnhancedCode: e.EnhancedCode, Message: "<" + to + ">: " + e.Message}
	}
	s.to = to
	return nil
}
func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ts.mu.Lock()
	defer s.ts.mu.Unlock()
	s.ts.received = append(s.ts.received, "To:"+s.to+"\n"+string(b))
	return nil
}

func TestSMTPMailerSends(t *testing.T) {
	ts := startTestServer(t, nil)
	m, err := NewSMTPMailer(ts.config())
	if err != nil {
		t.Fatal(err)
	}
	subject, body, err := Render(KindResultReady, TemplateData{GivenName: "Åse", FamilyName: "Ødegård", Payload: map[string]string{"test_type": "citizenship"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), Message{To: "ase@example.org", Subject: subject, Body: body}); err != nil {
		t.Fatal(err)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.received) != 1 {
		t.Fatalf("received %d messages", len(ts.received))
	}
	got := ts.received[0]
	for _, want := range []string{"To:ase@example.org", "Subject: " + subject, "Auto-Submitted: auto-generated", "charset=UTF-8"} {
		if !strings.Contains(got, want) {
			t.Errorf("message lacks %q:\n%s", want, got)
		}
	}
}

// TestSMTPMailerMessageIDs: a notification sent twice (delivery is at
// least once) carries the same Message-ID both times, made of its ID and
// the sender's domain; a message without an ID gets a new one each time.
func TestSMTPMailerMessageIDs(t *testing.T) {
	ts := startTestServer(t, nil)
	m, err := NewSMTPMailer(ts.config())
	if err != nil {
		t.Fatal(err)
	}
	const id = "0195f0c2-7a4e-7b8e-9c1d-2f3a4b5c6d7e"
	for _, msg := range []Message{
		{ID: id, To: "a@example.org", Subject: "s", Body: "b"},
		{ID: id, To: "a@example.org", Subject: "s", Body: "b"},
		{To: "a@example.org", Subject: "s", Body: "b"},
		{To: "a@example.org", Subject: "s", Body: "b"},
	} {
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ids := make([]string, len(ts.received))
	for i, raw := range ts.received {
		for _, line := range strings.Split(raw, "\n") {
			if v, ok := strings.CutPrefix(line, "Message-ID: "); ok {
				ids[i] = strings.TrimSpace(v)
			}
		}
	}
	want := "<" + id + "@example.test>"
	if ids[0] != want || ids[1] != want {
		t.Errorf("a notification sent twice has Message-IDs %q and %q, want %q both times", ids[0], ids[1], want)
	}
	if ids[2] == "" || ids[2] == ids[3] || ids[2] == want {
		t.Errorf("messages without an ID have Message-IDs %q and %q, want two new ones", ids[2], ids[3])
	}
}

func TestSMTPMailerClassifiesFailures(t *testing.T) {
	const addr = "kari.nordmann@example.org"
	tests := []struct {
		name          string
		rcptErr       *smtp.SMTPError
		stopped       bool
		to            string
		wantPermanent bool
		wantReason    string
	}{
		{name: "unknown user", rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
			to: addr, wantPermanent: true, wantReason: "smtp 550 5.1.1 at RCPT TO"},
		{name: "mailbox busy", rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"},
			to: addr, wantReason: "smtp 451 4.2.0 at RCPT TO"},
		{name: "relaying denied is configuration", rcptErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "relay access denied"},
			to: addr, wantReason: "smtp 554 5.7.1 at RCPT TO"},
		{name: "server down", stopped: true, to: addr, wantReason: "smtp server unreachable"},
		{name: "malformed address", to: "not an address", wantPermanent: true, wantReason: "invalid recipient address"},
		{name: "empty address", to: "", wantPermanent: true, wantReason: "invalid recipient address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startTestServer(t, tt.rcptErr)
			if tt.stopped {
				ts.stop()
			}
			m, err := NewSMTPMailer(ts.config())
			if err != nil {
				t.Fatal(err)
			}
			err = m.Send(context.Background(), Message{To: tt.to, Subject: "s", Body: "b"})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if e.Permanent != tt.wantPermanent || e.Reason != tt.wantReason {
				t.Errorf("got %+v, want reason %q permanent %v", e, tt.wantReason, tt.wantPermanent)
			}
			if strings.Contains(err.Error(), "@") || strings.Contains(err.Error(), "nordmann") {
				t.Errorf("error text carries the address: %q", err.Error())
			}
		})
	}
}

func TestSMTPMailerHonoursContext(t *testing.T) {
	ts := startTestServer(t, nil)
	m, err := NewSMTPMailer(ts.config())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = m.Send(ctx, Message{To: "a@example.org", Subject: "s", Body: "b"})
	if err == nil || IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
}

func TestNewSMTPMailerValidates(t *testing.T) {
	ok := config.SMTP{Host: "127.0.0.1", Port: 1025, TLS: "none", From: "examflow@localhost"}
	tests := []struct {
		name    string
		edit    func(*config.SMTP)
		wantErr string
	}{
		{"defaults", func(*config.SMTP) {}, ""},
		{"starttls with auth", func(c *config.SMTP) { c.TLS, c.Username, c.Password = "starttls", "u", "p" }, ""},
		{"implicit tls", func(c *config.SMTP) { c.TLS, c.Port = "tls", 465 }, ""},
		{"bad tls", func(c *config.SMTP) { c.TLS = "ssl" }, "EXAMFLOW_SMTP_TLS"},
		{"no host", func(c *config.SMTP) { c.Host = "" }, "EXAMFLOW_SMTP_HOST"},
		{"bad port", func(c *config.SMTP) { c.Port = 0 }, "EXAMFLOW_SMTP_PORT"},
		{"bad from", func(c *config.SMTP) { c.From = "nobody" }, "EXAMFLOW_SMTP_FROM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			_, err := NewSMTPMailer(c)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %s", err, tt.wantErr)
			}
		})
	}
}
