package devstack

import (
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// MailSink is the local stack's SMTP server: it accepts every message on a
// loopback port and writes it to a folder as an .eml file, so notifications
// sent by `make run` can be read without a real mail server.
type MailSink struct {
	dir string
	srv *gosmtp.Server
	l   net.Listener
	n   atomic.Int64
}

// StartMailSink listens on addr and writes messages to dir.
func StartMailSink(addr, dir string) (*MailSink, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mail dir: %w", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mail sink listen %s: %w", addr, err)
	}
	m := &MailSink{dir: dir, l: l}
	m.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{m: m}, nil }))
	m.srv.Domain = "localhost"
	m.srv.ReadTimeout, m.srv.WriteTimeout = 30*time.Second, 30*time.Second
	m.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = m.srv.Serve(l) }()
	return m, nil
}

// Dir is where messages are written.
func (m *MailSink) Dir() string { return m.dir }

// Close stops the server.
func (m *MailSink) Close() error { return m.srv.Close() }

type sinkSession struct{ m *MailSink }

func (s *sinkSession) Reset()                                 {}
func (s *sinkSession) Logout() error                          { return nil }
func (s *sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%04d.eml", time.Now().UTC().Format("20060102T150405"), s.m.n.Add(1))
	return os.WriteFile(filepath.Join(s.m.dir, name), data, 0o600)
}
