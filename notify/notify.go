// Package notify sends candidate notifications from the PostgreSQL outbox
// (storage.Store.EnqueueNotification) by e-mail. A Drainer claims due rows,
// renders them from embedded templates, hands them to a Mailer and records
// the outcome. Addresses and names are used for the message only: logs,
// metrics and stored failure texts carry notification IDs, kinds, attempts
// and classified errors, never personal data.
package notify

import (
	"context"
	"errors"
	"fmt"
)

// Message is one e-mail to one recipient. To is personal data.
type Message struct {
	// ID identifies the notification the message carries (a random
	// UUID, no personal data). It becomes the message's Message-ID, so a
	// message sent again after a crash (delivery is at least once) is
	// the same message to the receiving systems, which may drop the copy.
	// Empty: a Message-ID of its own.
	ID      string
	To      string
	Subject string
	Body    string
}

// Mailer delivers a message. Implementations should return an *Error, whose
// text carries no address; the Drainer treats any other error as transient
// and never logs or stores its text.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Sentinel causes, matched with errors.Is on an *Error.
var (
	// ErrUnknownKind: no template exists for the notification's kind.
	ErrUnknownKind = errors.New("unknown notification kind")
	// ErrTemplate: the template could not be rendered from the payload.
	ErrTemplate = errors.New("notification template failed")
)

// Error is a classified delivery failure. Its text is built from fixed
// phrases and SMTP reply codes only, so it is safe to log and store: it never
// contains an address, a name or the server's reply text (which often echoes
// the address).
type Error struct {
	// Reason is a fixed, address-free description.
	Reason string
	// Code is the SMTP reply code, or 0 when the server did not answer.
	Code int
	// Permanent means a retry would not help (the address was refused, the
	// kind has no template).
	Permanent bool
	// cause is a package sentinel (never an underlying error, whose text may
	// contain an address).
	cause error
}

func (e *Error) Error() string {
	if e.Permanent {
		return e.Reason + " (permanent)"
	}
	return e.Reason
}

// Unwrap returns the sentinel cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// IsPermanent reports whether err is an *Error that a retry would not fix.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// safeText is the text of err to log or store: the classified reason of an
// *Error, a fixed text for anything else.
func safeText(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "send timed out"
	}
	if errors.Is(err, context.Canceled) {
		return "send cancelled"
	}
	return fmt.Sprintf("send failed (unclassified %T)", err)
}
