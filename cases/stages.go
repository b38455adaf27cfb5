package cases

// Stage is where a workflow is, shown in its Stage search attribute: the
// case handler's filter in the Temporal UI (docs/temporal-ui.md). Every
// stage of every workflow is here, in the order a case passes them.
type Stage string

// The candidate lifecycle (CandidateLifecycle) and its retention phase
// (CandidateRetention, the same workflow ID).
const (
	StageRegistered  Stage = "Registered"
	StageTested      Stage = "Tested"
	StageUnderReview Stage = "UnderReview"
	StageResult      Stage = "Result"
	StageAbsent      Stage = "Absent"
	StageAnnulled    Stage = "Annulled"
	// StagePublished: the final result is in the Diploma Registry.
	StagePublished Stage = "Published"
	// StageRetained: the result is final; the data waits for its deletion
	// milestones.
	StageRetained Stage = "Retained"
	// StageDeletionOnHold: a milestone is due but a legal hold postpones it.
	StageDeletionOnHold Stage = "DeletionOnHold"
	// StageDeleted: the final deletion is done.
	StageDeleted Stage = "Deleted"
)

// An appeal's own workflow (CandidateAppeal).
const (
	StageAppealAtTestCentre   Stage = "AppealAtTestCentre"
	StageAppealReassessment   Stage = "AppealReassessment"
	StageAppealFirstInstance  Stage = "AppealFirstInstance"
	StageAppealCountyGovernor Stage = "CountyGovernor"
	StageAppealUpheld         Stage = "AppealUpheld"
	StageAppealRejected       Stage = "AppealRejected"
	StageAppealReassessed     Stage = "AppealReassessed"
)

// A data subject request (SubjectRequest).
const (
	StageAwaitingIdentity  Stage = "AwaitingIdentity"
	StageRequestInProgress Stage = "RequestInProgress"
	StageAwaitingDecision  Stage = "AwaitingDecision"
	StageRestricted        Stage = "Restricted"
	StageRequestAnswered   Stage = "RequestAnswered"
	// StageRequestClosedDataDeleted: the final deletion deleted the
	// person, and the request with them, while it was open; it ends
	// unanswered, as nobody is left to answer.
	StageRequestClosedDataDeleted Stage = "RequestClosedDataDeleted"
)

// A course registration (CourseRegistration).
const (
	StageCourseRegistered Stage = "CourseRegistered"
	StageEventHeld        Stage = "EventHeld"
	StageCourseCompleted  Stage = "CourseCompleted"
	StageSurveyInvited    Stage = "SurveyInvited"
	StageConsentWithdrawn Stage = "ConsentWithdrawn"
	StageCourseDeleted    Stage = "CourseDataDeleted"
)
