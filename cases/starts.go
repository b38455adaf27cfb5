package cases

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// This file is the one home of workflow starts: every workflow ID examflow
// gives and every start with its options, used alike by the API, the
// worker's reconciler and the tests. Every start is idempotent: a workflow
// ID is never reused (a closed run is not started again) and starting a
// running one returns it.

// RegistrationWorkflowID is the ID of a registration's CandidateLifecycle.
func RegistrationWorkflowID(registrationID uuid.UUID) string {
	return "registration-" + registrationID.String()
}

// SubjectRequestWorkflowID is the ID of a data subject request's workflow.
func SubjectRequestWorkflowID(requestID uuid.UUID) string {
	return "subject-request-" + requestID.String()
}

// CourseWorkflowID is the ID of a course registration's workflow.
func CourseWorkflowID(registrationID uuid.UUID) string {
	return "course-registration-" + registrationID.String()
}

// AppealWorkflowID is the ID of an appeal's child workflow.
func AppealWorkflowID(appealID string) string { return "appeal-" + appealID }

// MergeWorkflowID is the ID of a merge's CandidateMerge workflow.
func MergeWorkflowID(mergeID string) string { return "candidate-merge-" + mergeID }

// CorrectionWorkflowID is the ID of an identifier correction's workflow.
func CorrectionWorkflowID(correctionID string) string { return "identifier-correction-" + correctionID }

// once are the options that make a start idempotent.
func once(id, taskQueue string, attrs ...temporal.SearchAttributeUpdate) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID: id, TaskQueue: taskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(attrs...),
	}
}

// LifecycleStart is what a starter knows about a registration: the opaque ID
// and the non-personal values shown as search attributes from the start.
type LifecycleStart struct {
	RegistrationID uuid.UUID
	WorkflowID     string
	TestType       string
	TestCentre     string
	SessionDate    time.Time
}

// StartLifecycle starts a registration's lifecycle workflow.
func StartLifecycle(ctx context.Context, c client.Client, taskQueue string, s LifecycleStart) (client.WorkflowRun, error) {
	o := once(s.WorkflowID, taskQueue,
		StageKey.ValueSet(string(StageRegistered)),
		TestTypeKey.ValueSet(s.TestType),
		TestCentreKey.ValueSet(s.TestCentre),
		SessionDateKey.ValueSet(s.SessionDate),
	)
	o.StaticSummary = LifecycleSummary(s.TestType, s.TestCentre, s.SessionDate)
	run, err := c.ExecuteWorkflow(ctx, o, LifecycleWorkflow, LifecycleInput{RegistrationID: s.RegistrationID.String()})
	if err != nil {
		return nil, fmt.Errorf("start lifecycle workflow: %w", err)
	}
	return run, nil
}

// StartCourse starts a course registration's workflow under workflowID.
func StartCourse(ctx context.Context, c client.Client, taskQueue, workflowID string, in CourseInput) (client.WorkflowRun, error) {
	o := once(workflowID, taskQueue, StageKey.ValueSet(string(StageCourseRegistered)), CourseTypeKey.ValueSet(in.CourseType))
	o.StaticSummary = "Course registration · " + in.CourseType
	run, err := c.ExecuteWorkflow(ctx, o, CourseWorkflow, in)
	if err != nil {
		return nil, fmt.Errorf("start course workflow: %w", err)
	}
	return run, nil
}

// NewSubjectRequestInput is what a stored request's workflow starts with,
// so that the API and the reconciler start the same workflow: the due date
// it was stored with, its furthest extension (ExtensionMonths later),
// whether an upstream login confirmed the identity, and the configured
// reminders and lift notice.
func NewSubjectRequestInput(requestID uuid.UUID, kind string, purposes []string, dueAt time.Time, identityVerified bool,
	reminders []time.Duration, liftNotice time.Duration) SubjectRequestInput {
	return SubjectRequestInput{RequestID: requestID.String(), Kind: kind, Purposes: purposes, DueAt: dueAt,
		MaxDueAt: dueAt.AddDate(0, ExtensionMonths, 0), IdentityVerified: identityVerified, Reminders: reminders, LiftNotice: liftNotice}
}

// StartSubjectRequest starts a request's workflow under workflowID.
func StartSubjectRequest(ctx context.Context, c client.Client, taskQueue, workflowID string, in SubjectRequestInput) (client.WorkflowRun, error) {
	o := once(workflowID, taskQueue, RequestKindKey.ValueSet(in.Kind))
	o.StaticSummary = "Subject request · " + in.Kind
	run, err := c.ExecuteWorkflow(ctx, o, SubjectRequestWorkflow, in)
	if err != nil {
		return nil, fmt.Errorf("start subject request workflow: %w", err)
	}
	return run, nil
}

// StartMerge starts the workflow that settles a merge's Diploma Registry
// publication.
func StartMerge(ctx context.Context, c client.Client, taskQueue string, in MergeInput) (client.WorkflowRun, error) {
	o := once(MergeWorkflowID(in.MergeID), taskQueue)
	o.StaticSummary = "Candidate merge · Diploma Registry publication"
	run, err := c.ExecuteWorkflow(ctx, o, MergeWorkflow, in)
	if err != nil {
		return nil, fmt.Errorf("start merge workflow: %w", err)
	}
	return run, nil
}

// StartCorrection starts the workflow that republishes a candidate after
// an identifier correction.
func StartCorrection(ctx context.Context, c client.Client, taskQueue string, in CorrectionInput) (client.WorkflowRun, error) {
	o := once(CorrectionWorkflowID(in.CorrectionID), taskQueue)
	o.StaticSummary = "Identifier correction · Diploma Registry republication"
	run, err := c.ExecuteWorkflow(ctx, o, CorrectionWorkflow, in)
	if err != nil {
		return nil, fmt.Errorf("start identifier correction workflow: %w", err)
	}
	return run, nil
}

// StartRecorder records that a stored item's workflow was started
// (storage.Store), so the reconciler stops looking at it.
type StartRecorder interface {
	MarkWorkflowStarted(ctx context.Context, registrationID uuid.UUID) error
	MarkCourseWorkflowStarted(ctx context.Context, registrationID uuid.UUID) error
	// MarkSubjectRequestStarted answers an error wrapping ErrRequestGone
	// for a request that no longer exists.
	MarkSubjectRequestStarted(ctx context.Context, requestID uuid.UUID) error
}

// Started reports whether a start's error says only that the workflow
// exists already, running or closed: for an idempotent start, that is
// success.
func Started(err error) bool {
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	return err == nil || errors.As(err, &started)
}

// EnsureLifecycle starts a stored registration's lifecycle unless it
// exists, and records the start unless marked says it is recorded.
func EnsureLifecycle(ctx context.Context, c client.Client, rec StartRecorder, taskQueue string, s LifecycleStart, marked bool) error {
	if _, err := StartLifecycle(ctx, c, taskQueue, s); !Started(err) {
		return err
	}
	if marked {
		return nil
	}
	return rec.MarkWorkflowStarted(ctx, s.RegistrationID)
}

// EnsureCourse starts a stored course registration's workflow unless it
// exists, and records the start unless marked says it is recorded.
func EnsureCourse(ctx context.Context, c client.Client, rec StartRecorder, taskQueue string, registrationID uuid.UUID, workflowID string, in CourseInput, marked bool) error {
	if _, err := StartCourse(ctx, c, taskQueue, workflowID, in); !Started(err) {
		return err
	}
	if marked {
		return nil
	}
	return rec.MarkCourseWorkflowStarted(ctx, registrationID)
}

// EnsureSubjectRequest starts a stored subject request's workflow unless
// it exists, and records the start. A request deleted with its person
// between the reconciler's read and the start (the final deletion closed
// the requests it found running, and this one was not) has its workflow
// closed at once.
func EnsureSubjectRequest(ctx context.Context, c client.Client, rec StartRecorder, taskQueue string, requestID uuid.UUID, workflowID string, in SubjectRequestInput) error {
	if _, err := StartSubjectRequest(ctx, c, taskQueue, workflowID, in); !Started(err) {
		return err
	}
	err := rec.MarkSubjectRequestStarted(ctx, requestID)
	if errors.Is(err, ErrRequestGone) {
		_, err = CloseSubjectRequest(ctx, c, requestID)
	}
	return err
}

// ErrRequestGone is what StartRecorder.MarkSubjectRequestStarted answers
// (wrapped) for a request that no longer exists: the final deletion
// deleted it with its person.
var ErrRequestGone = errors.New("the subject request was deleted with its person")

// CloseSubjectRequest closes the workflow of a request the final deletion
// deleted with its person (the close-request Update, with the same Update
// ID on every call, so a retry changes nothing), and reports whether one
// ran: a request whose workflow has ended or never started has nothing to
// close.
func CloseSubjectRequest(ctx context.Context, c client.Client, requestID uuid.UUID) (bool, error) {
	wfID := SubjectRequestWorkflowID(requestID)
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: wfID, UpdateID: CloseRequestUpdateID, UpdateName: UpdateCloseRequest,
		Args: []any{RequestClosure{Reason: ClosureDataDeleted}}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	var gone *serviceerror.NotFound
	switch {
	case errors.As(err, &gone):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("close subject request %s: %w", wfID, err)
	}
	return true, nil
}

// LifecycleSummary is the static summary of a registration's lifecycle:
// test type, test centre and session date (no person).
func LifecycleSummary(testType, testCentre string, sessionDate time.Time) string {
	return "Registration · " + testType + " · " + testCentre + " · " + sessionDate.UTC().Format(time.DateOnly)
}

// AppealSummary is the static summary of an appeal's child workflow: its
// kind, part and test type (no person).
func AppealSummary(kind, part, testType string) string {
	s := "Appeal · " + kind
	if part != "" {
		s += " · part " + part
	}
	return s + " · " + testType
}
