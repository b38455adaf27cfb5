package cases

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// Names that integrations and the Temporal UI see.
const (
	// LifecycleWorkflow is the workflow type of a registration's lifecycle.
	LifecycleWorkflow = "CandidateLifecycle"
	// RetentionWorkflow is the type of its retention phase (same workflow ID).
	RetentionWorkflow = "CandidateRetention"
	// QueryStatus returns a LifecycleStatus.
	QueryStatus = "status"
)

// LifecycleInput is the only input of the lifecycle workflow: the
// registration's UUID. Everything else is read through activities.
type LifecycleInput struct {
	RegistrationID string `json:"registration_id"`
}

// LifecycleStatus answers the status query. It carries statuses only, no
// scores or levels.
type LifecycleStatus struct {
	Stage  Stage        `json:"stage"`
	Since  time.Time    `json:"since"`
	Stages []Stage      `json:"stages"`
	Parts  []PartStatus `json:"parts,omitempty"`
	// CheatingEscalated: the provisional cheating case is undecided past
	// its escalation time and was escalated to case handlers.
	CheatingEscalated bool `json:"cheating_escalated,omitempty"`
}

// CheatingEscalatedKey is true while the registration's provisional
// cheating case is undecided past its escalation time: the case handlers'
// queue in the Temporal UI (CheatingEscalated=true).
var CheatingEscalatedKey = temporal.NewSearchAttributeKeyBool("CheatingEscalated")
