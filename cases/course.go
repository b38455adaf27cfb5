package cases

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/policy"
)

// Course registrations (C01-C11): one CourseRegistration workflow per
// registration, ID "course-registration-<registration id>".
const (
	CourseWorkflow = "CourseRegistration"
	// UpdateCompleteCourse marks the participant as having completed (course_admin).
	UpdateCompleteCourse = "complete-course"
	// UpdateWithdrawConsent withdraws consent: everything is deleted at once.
	UpdateWithdrawConsent = "withdraw-consent"
	// QueryCourse returns a CourseStatus.
	QueryCourse                = "course"
	CourseReasonWithdrawn      = "consent_withdrawn"
	CourseReasonRetentionEnded = "retention_expired"
)

// CourseTypeKey is a course registration's course type.
var CourseTypeKey = temporal.NewSearchAttributeKeyKeyword("CourseType")

// CourseInput starts a registration's workflow: IDs and dates only.
type CourseInput struct {
	RegistrationID string    `json:"registration_id"`
	CourseType     string    `json:"course_type"`
	EventEnds      time.Time `json:"event_ends"`
	// DeleteAt is 24 months after registration (C06), or shorter in tests.
	DeleteAt time.Time `json:"delete_at"`
	// SurveyAfter is how long after the completion the survey invitation goes (C04).
	SurveyAfter time.Duration `json:"survey_after"`
	// NewsEvery is how often new relevant courses are looked for (C04).
	NewsEvery time.Duration `json:"news_every"`
}

// CourseTiming is the configured timing of course registrations: the
// retention override (zero: the policy's 24 months), the survey delay and
// the news interval.
type CourseTiming struct {
	Retention   time.Duration
	SurveyAfter time.Duration
	NewsEvery   time.Duration
}

// NewCourseInput is the input a registration's workflow starts with,
// computed from what is stored (the course's event date, the consent's
// time) so that the API and the reconciler start the same workflow: the
// event ends the day after its date, and the data is deleted by
// policy.CourseDeletionDue.
func NewCourseInput(registrationID, courseType string, eventDate, consentAt time.Time, t CourseTiming) CourseInput {
	return CourseInput{RegistrationID: registrationID, CourseType: courseType, EventEnds: eventDate.AddDate(0, 0, 1),
		DeleteAt: policy.CourseDeletionDue(consentAt, t.Retention), SurveyAfter: t.SurveyAfter, NewsEvery: t.NewsEvery}
}

// Completion marks a participant as having completed.
type Completion struct {
	CompletedBy string `json:"completed_by"`
}

// Withdrawal withdraws the participant's consent.
type Withdrawal struct {
	// Via says how: "participant_link" or the staff member's name.
	Via string `json:"via"`
}

// WithdrawalConfirmation answers a withdrawal: what was deleted, when. The
// person's address is deleted too, so this answer is the confirmation.
type WithdrawalConfirmation struct {
	DeletedAt      time.Time `json:"deleted_at"`
	RowsDeleted    int       `json:"rows_deleted"`
	ObjectsRemoved int       `json:"objects_removed"`
}

// CourseStatus answers the course query.
type CourseStatus struct {
	Stage  Stage   `json:"stage"`
	Stages []Stage `json:"stages"`
}
