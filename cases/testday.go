package cases

import "time"

// Update names the test system, test centres, case handlers and examiners
// use. The API sends them; an integration may send them to Temporal directly.
const (
	UpdateSubmitAnswerSheet = "submit-answer-sheet"
	UpdateReportDiscrepancy = "report-discrepancy"
	UpdateReviewDecision    = "review-decision"
	UpdateAssessment        = "examiner-assessment"
	UpdateSettleAssessment  = "settle-assessment"
	UpdateCheatingDecision  = "cheating-decision"
	UpdateReapplyKey        = "reapply-key"
)

// Part statuses, as the status query shows them.
const (
	PartAwaiting  = "awaiting"  // nothing received yet
	PartSubmitted = "submitted" // answer sheet stored, marking pending
	PartHeld      = "held"      // result held for a case handler's review
	PartAssessing = "assessing" // waiting for examiner assessments
	PartDisputed  = "disputed"  // examiners disagree: third examiner or case handler
	PartDecided   = "decided"   // a result stands
	PartAbsent    = "absent"    // did not attend, or valid absence
	PartAnnulled  = "annulled"  // annulled; a new test is offered
)

// Discrepancy kinds a test centre reports.
const (
	DiscrepancyTechnicalProblem    = "technical_problem"
	DiscrepancyDidNotAttend        = "did_not_attend"
	DiscrepancyValidAbsence        = "valid_absence"
	DiscrepancyProvisionalCheating = "provisional_cheating"
)

// Review decisions a case handler takes.
const (
	ReviewConfirm = "confirm"
	ReviewCorrect = "correct"
	ReviewAnnul   = "annul"
)

// Assessment roles (T03).
const (
	RoleExaminer         = "examiner"
	RoleExternalExaminer = "external_examiner"
	RoleThirdExaminer    = "third_examiner"
)

// AnswerItem is one answer on a sheet.
type AnswerItem struct {
	Item   string `json:"item"`
	Choice string `json:"choice"`
}

// AnswerSheet is what the test system submits for one part.
type AnswerSheet struct {
	Part        string       `json:"part"`
	FormID      string       `json:"form_id"`
	KeyVersion  int          `json:"key_version"`
	SubmittedAt time.Time    `json:"submitted_at"`
	Answers     []AnswerItem `json:"answers"`
}

// Discrepancy is reported by a test centre for this registration.
type Discrepancy struct {
	Kind string `json:"kind"`
	// Part is empty for the whole test.
	Part string `json:"part,omitempty"`
	Note string `json:"note,omitempty"`
	// SessionWide marks a report made for the whole session (already stored).
	SessionWide bool `json:"session_wide,omitempty"`
}

// ReviewDecision is a case handler's decision on a held part.
type ReviewDecision struct {
	Part           string `json:"part"`
	Decision       string `json:"decision"`
	CorrectedScore *int   `json:"corrected_score,omitempty"`
	Reason         string `json:"reason,omitempty"`
	DecidedBy      string `json:"decided_by"`
}

// Assessment is one examiner's assessment of a part (T03).
type Assessment struct {
	Part     string `json:"part"`
	Role     string `json:"role"`
	Assessor string `json:"assessor"`
	Level    string `json:"level"`
}

// Settlement is a case handler's level for a part the examiners disagree on.
type Settlement struct {
	Part      string `json:"part"`
	Level     string `json:"level"`
	Reason    string `json:"reason"`
	DecidedBy string `json:"decided_by"`
}

// Cheating decisions.
const (
	CheatingFinal     = "final"
	CheatingDismissed = "dismissed"
)

// CheatingDecision is a case handler's decision on a cheating case, with
// reasons. A final decision deletes the test's results and sets a quarantine
// (one year by default, shorter if decided).
type CheatingDecision struct {
	Decision        string     `json:"decision"`
	Reasons         string     `json:"reasons"`
	QuarantineUntil *time.Time `json:"quarantine_until,omitempty"`
	DecidedBy       string     `json:"decided_by"`
}

// ReapplyKey asks a decided machine-marked part to be marked again with a
// corrected answer key.
type ReapplyKey struct {
	Part       string `json:"part"`
	FormID     string `json:"form_id"`
	KeyVersion int    `json:"key_version"`
}

// PartStatus is one part in the status query.
type PartStatus struct {
	Name      string     `json:"name"`
	Automated bool       `json:"automated"`
	Status    string     `json:"status"`
	Reasons   []string   `json:"reasons,omitempty"`
	ReviewDue *time.Time `json:"review_due,omitempty"`
}
