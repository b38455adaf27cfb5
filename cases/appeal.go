package cases

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// Appeal names. The appeals system lodges an appeal with the lodge-appeal
// Update on the registration's workflow; each appeal is then a child
// workflow, CandidateAppeal, with workflow ID "appeal-<appeal id>", that
// takes its decisions as Updates.
const (
	AppealWorkflow = "CandidateAppeal"
	// UpdateLodgeAppeal lodges an appeal (AppealRequest → AppealRef).
	UpdateLodgeAppeal = "lodge-appeal"
	// UpdateAppealDecision is a decision by the test centre, the first
	// instance or the County Governor (AppealDecision → AppealOutcome).
	UpdateAppealDecision = "appeal-decision"
	// UpdateReassessment is the new independent assessment of a writing or
	// C1 appeal (Reassessment → AppealOutcome).
	UpdateReassessment = "reassessment"
	// QueryAppeal returns an AppealStatus.
	QueryAppeal = "appeal"
)

// AppealKindKey is the appeal's kind on the appeal's workflow.
var AppealKindKey = temporal.NewSearchAttributeKeyKeyword("AppealKind")

// LateAcceptance is a case handler's acceptance of a late appeal.
type LateAcceptance struct {
	AcceptedBy string `json:"accepted_by"`
	Reason     string `json:"reason"`
}

// AppealRequest lodges an appeal. Grounds are the candidate's words: they
// travel in the encrypted Update payload and are stored sealed.
type AppealRequest struct {
	Kind    string `json:"kind"`
	Part    string `json:"part,omitempty"`
	Against string `json:"against,omitempty"`
	// ReceivedAt is when the appeal was received; the deadline counts it.
	// Empty means now.
	ReceivedAt     *time.Time      `json:"received_at,omitempty"`
	Grounds        string          `json:"grounds,omitempty"`
	LateAcceptance *LateAcceptance `json:"late_acceptance,omitempty"`
}

// AppealRef answers a lodged appeal.
type AppealRef struct {
	AppealID   string    `json:"appeal_id"`
	WorkflowID string    `json:"workflow_id"`
	Deadline   time.Time `json:"deadline"`
	Late       bool      `json:"late"`
	Stage      Stage     `json:"stage"`
}

// AppealDecision is an instance's decision: upheld or rejected by the test
// centre or the County Governor; upheld or maintained by the first instance.
type AppealDecision struct {
	Instance  string `json:"instance"`
	Decision  string `json:"decision"`
	Reasons   string `json:"reasons"`
	DecidedBy string `json:"decided_by"`
}

// Reassessment is the new independent assessment of an appealed part.
type Reassessment struct {
	Assessor string `json:"assessor"`
	Level    string `json:"level"`
	Reasons  string `json:"reasons,omitempty"`
}

// AppealOutcome is what a decision did. The appeal workflow returns the
// last one to its parent.
type AppealOutcome struct {
	Status string `json:"status"`
	Closed bool   `json:"closed"`
	// ResultsChanged: a result changed or was annulled, so the publication
	// follows.
	ResultsChanged bool     `json:"results_changed"`
	AnnulledParts  []string `json:"annulled_parts,omitempty"`
	AnnulledAll    bool     `json:"annulled_all,omitempty"`
	Stage          Stage    `json:"stage"`
}

// AppealStatus answers the appeal query.
type AppealStatus struct {
	Stage  Stage   `json:"stage"`
	Kind   string  `json:"kind"`
	Stages []Stage `json:"stages"`
}
