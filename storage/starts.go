package storage

import (
	"time"

	"github.com/examflow/examflow/workflows"
)

// The workflow inputs of stored rows: the API and the reconciler start the
// same workflow from the same row (workflows/starts.go).

// LifecycleStart is what the registration's lifecycle starts with.
func (r Registration) LifecycleStart() workflows.LifecycleStart {
	return workflows.LifecycleStart{RegistrationID: r.ID, WorkflowID: r.WorkflowID, TestType: r.TestType,
		TestCentre: r.TestCentre, SessionDate: r.SessionDate}
}

// Input is what the course registration's workflow starts with.
func (r CourseStart) Input(t workflows.CourseTiming) workflows.CourseInput {
	return workflows.NewCourseInput(r.ID.String(), r.CourseType, r.EventDate, r.ConsentAt, t)
}

// Input is what the subject request's workflow starts with: the due date
// it was stored with.
func (r SubjectRequest) Input(reminders []time.Duration, liftNotice time.Duration) workflows.SubjectRequestInput {
	return workflows.NewSubjectRequestInput(r.ID, r.Kind, r.Details.Purposes, r.OriginalDueAt, r.IdentityVerifiedAt != nil, reminders, liftNotice)
}
