package cases

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// Data subject requests (T18-T21): each is a SubjectRequest workflow with
// ID "subject-request-<request id>".
const (
	SubjectRequestWorkflow = "SubjectRequest"
	// Updates on a request's workflow.
	UpdateVerifyIdentity  = "verify-identity"
	UpdateExtendRequest   = "extend-request"
	UpdateDecideRequest   = "decide-request"
	UpdateLiftRestriction = "lift-restriction"
	// UpdateCloseRequest closes a request whose person the final deletion
	// deleted (a RequestClosure): sent by the deletion itself, no route.
	UpdateCloseRequest = "close-request"
	// QuerySubjectRequest returns a SubjectRequestStatus.
	QuerySubjectRequest = "subject-request"
)

// Request kinds and stages.
const (
	RequestAccess        = "access"
	RequestRectification = "rectification"
	RequestRestriction   = "restriction"
	RequestObjection     = "objection"
)

// RequestKindKey is the kind of a subject request's workflow.
var RequestKindKey = temporal.NewSearchAttributeKeyKeyword("RequestKind")

// SubjectRequestInput starts a request's workflow: IDs, kind, purposes and
// dates only.
type SubjectRequestInput struct {
	RequestID string `json:"request_id"`
	Kind      string `json:"kind"`
	// Purposes are the purposes an objection objects to (policy IDs); an
	// objection may be upheld only where policy.CanUpholdObjection allows.
	Purposes []string  `json:"purposes,omitempty"`
	DueAt    time.Time `json:"due_at"`
	// MaxDueAt is the furthest an extension may move the due date.
	MaxDueAt time.Time `json:"max_due_at"`
	// IdentityVerified: a trusted upstream login asserted the identity.
	IdentityVerified bool `json:"identity_verified"`
	// Reminders are how long before the due date case handlers are reminded.
	Reminders []time.Duration `json:"reminders,omitempty"`
	// LiftNotice is how long the person is told before a restriction is lifted.
	LiftNotice time.Duration `json:"lift_notice"`
}

// ExtensionMonths is how many months beyond the first due date an
// extension may move a request's due date (T19): MaxDueAt.
const ExtensionMonths = 2

// IdentityCheck is a case handler's confirmation of the person's identity.
type IdentityCheck struct {
	VerifiedBy string `json:"verified_by"`
	Evidence   string `json:"evidence"`
}

// Extension moves a request's due date, with the reason the person is told.
type Extension struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// RequestDecision is a case handler's decision: a rectification approved or
// refused, an objection upheld or rejected, a restriction to be lifted.
type RequestDecision struct {
	Decision  string `json:"decision"`
	Reason    string `json:"reason"`
	DecidedBy string `json:"decided_by"`
}

// RequestClosure closes a request's workflow unanswered: why, as a code
// (ClosureDataDeleted). No free text, so nothing of the person.
type RequestClosure struct {
	Reason string `json:"reason"`
}

// ClosureDataDeleted: the final deletion deleted the person and, with them,
// the request; nobody is left to answer.
const ClosureDataDeleted = "data_deleted"

// CloseRequestUpdateID is the Update ID of a request's closure: the same on
// every attempt, so Temporal accepts a retried closure once.
const CloseRequestUpdateID = "close-request/" + ClosureDataDeleted

// SubjectRequestStatus answers the status query.
type SubjectRequestStatus struct {
	Stage  Stage     `json:"stage"`
	Kind   string    `json:"kind"`
	DueAt  time.Time `json:"due_at"`
	Stages []Stage   `json:"stages"`
}
