package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/examflow/examflow/config"
)

// SendTimeout bounds one SMTP conversation (connect, send, quit). A
// Drainer's Lease must be well above it.
const SendTimeout = 30 * time.Second

// SMTPMailer sends messages through the SMTP server of config.SMTP, one
// connection per message. go-mail's debug log, which would print addresses,
// stays off.
type SMTPMailer struct {
	client *mail.Client
	from   string
	// domain is the sender address's domain, the right-hand side of
	// every Message-ID.
	domain string
}

var _ Mailer = (*SMTPMailer)(nil)

// NewSMTPMailer checks the configuration and returns a mailer. TLS "none"
// sends in clear (local development only), "starttls" requires STARTTLS,
// "tls" connects with implicit TLS. With a Username it authenticates,
// choosing the strongest mechanism the server offers; over a connection
// without TLS it refuses to send the password in clear (PLAIN, LOGIN).
func NewSMTPMailer(cfg config.SMTP) (*SMTPMailer, error) {
	if cfg.Host == "" {
		return nil, errors.New("EXAMFLOW_SMTP_HOST is empty")
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("EXAMFLOW_SMTP_PORT must be 1-65535, got %d", cfg.Port)
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("EXAMFLOW_SMTP_FROM is not an address: %w", err)
	}
	domain := from.Address[strings.LastIndex(from.Address, "@")+1:]
	opts := []mail.Option{mail.WithTimeout(SendTimeout)}
	switch cfg.TLS {
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "tls":
		opts = append(opts, mail.WithSSL(), mail.WithTLSPolicy(mail.TLSMandatory))
	default:
		return nil, fmt.Errorf("EXAMFLOW_SMTP_TLS must be none, starttls or tls, got %q", cfg.TLS)
	}
	if cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	// The port last, so that no TLS option replaces it.
	opts = append(opts, mail.WithPort(cfg.Port))
	c, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return &SMTPMailer{client: c, from: cfg.From, domain: domain}, nil
}

// Send delivers one message. It returns nil once the server accepted it,
// even if closing the connection fails afterwards (so an accepted message is
// not sent again), and otherwise an *Error.
func (m *SMTPMailer) Send(ctx context.Context, msg Message) error {
	mm := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := mm.From(m.from); err != nil {
		return &Error{Reason: "invalid sender address"}
	}
	if err := mm.To(msg.To); err != nil {
		return &Error{Reason: "invalid recipient address", Permanent: true}
	}
	mm.Subject(msg.Subject)
	mm.SetBodyString(mail.TypeTextPlain, msg.Body)
	mm.SetGenHeader("Auto-Submitted", "auto-generated")
	if msg.ID != "" {
		mm.SetMessageIDWithValue(msg.ID + "@" + m.domain)
	} else {
		mm.SetMessageID()
	}
	mm.SetDate()

	c, err := m.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return classifySMTP(ctx, err)
	}
	defer func() { _ = m.client.CloseWithSMTPClient(c) }()
	if err := m.client.SendWithSMTPClient(c, mm); err != nil {
		return classifySMTP(ctx, err)
	}
	return nil
}

var enhancedCode = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}$`)

// classifySMTP turns a go-mail error into an *Error. The text of go-mail's
// errors lists the affected recipients and the server's reply, so only the
// reply codes and the stage are kept.
func classifySMTP(ctx context.Context, err error) *Error {
	var se *mail.SendError
	if errors.As(err, &se) {
		stage := sendStage(se.Reason)
		code := se.ErrorCode()
		e := &Error{Code: code, Reason: "smtp failure at " + stage}
		if code > 0 {
			e.Reason = fmt.Sprintf("smtp %d at %s", code, stage)
			if esc := se.EnhancedStatusCode(); enhancedCode.MatchString(esc) {
				e.Reason = fmt.Sprintf("smtp %d %s at %s", code, esc, stage)
			}
		}
		// A 5xx reply about this recipient or this message will not change
		// on retry. Other 5xx replies (MAIL FROM, connection) and policy
		// refusals (5.7.x such as relaying denied, 530 authentication
		// required) are about the server or our configuration, which an
		// operator can fix, so they are retried.
		switch se.Reason {
		case mail.ErrGetRcpts:
			e.Permanent = true
		case mail.ErrSMTPRcptTo, mail.ErrSMTPData, mail.ErrSMTPDataClose:
			policy := code == 530 || strings.HasPrefix(se.EnhancedStatusCode(), "5.7.")
			e.Permanent = code >= 500 && code < 600 && !policy
		}
		return e
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return &Error{Code: te.Code, Reason: fmt.Sprintf("smtp %d during connection setup", te.Code)}
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled) || ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		return &Error{Reason: "send cancelled"}
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return &Error{Reason: "smtp timeout"}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return &Error{Reason: "smtp server unreachable"}
	}
	if errors.Is(err, mail.ErrNoSupportedAuthDiscovered) {
		return &Error{Reason: "smtp server offers no usable authentication mechanism (PLAIN and LOGIN need TLS)"}
	}
	return &Error{Reason: "smtp connection setup failed"}
}

func sendStage(r mail.SendErrReason) string {
	switch r {
	case mail.ErrGetSender:
		return "sender address"
	case mail.ErrGetRcpts:
		return "recipient address"
	case mail.ErrSMTPMailFrom:
		return "MAIL FROM"
	case mail.ErrSMTPRcptTo:
		return "RCPT TO"
	case mail.ErrSMTPData:
		return "DATA"
	case mail.ErrSMTPDataClose:
		return "end of DATA"
	case mail.ErrSMTPReset:
		return "RSET"
	case mail.ErrWriteContent:
		return "message content"
	case mail.ErrConnCheck:
		return "connection check"
	case mail.ErrNoUnencoded:
		return "8BITMIME"
	default:
		return "unknown stage"
	}
}
