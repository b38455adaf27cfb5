package storage

import (
	"time"

	"github.com/examflow/examflow/cases"
)

// The workflow inputs of stored rows: the API and the reconciler start the
// same workflow from the same row (cases/starts.go).

// LifecycleStart is what the registration's lifecycle starts with.
func (r Registration) LifecycleStart() cases.LifecycleStart {
	return cases.LifecycleStart{RegistrationID: r.ID, WorkflowID: r.WorkflowID, TestType: r.TestType,
		TestCentre: r.TestCentre, SessionDate: r.SessionDate}
}

// Input is what the course registration's workflow starts with.
func (r CourseStart) Input(t cases.CourseTiming) cases.CourseInput {
	return cases.NewCourseInput(r.ID.String(), r.CourseType, r.EventDate, r.ConsentAt, t)
}

// Input is what the subject request's workflow starts with: the due date
// it was stored with.
func (r SubjectRequest) Input(reminders []time.Duration, liftNotice time.Duration) cases.SubjectRequestInput {
	return cases.NewSubjectRequestInput(r.ID, r.Kind, r.Details.Purposes, r.OriginalDueAt, r.IdentityVerifiedAt != nil, reminders, liftNotice)
}
