// Package worker is examflow's Temporal worker: it registers the
// workflows and activities (Register, New) and runs the reconciler that
// starts the workflows a failed API call left unstarted (Reconcile). The
// process around it is wired by package process.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/registry"
	"github.com/examflow/examflow/storage"
	"github.com/examflow/examflow/workflows"
)

// Deps are what the worker needs.
type Deps struct {
	Client    client.Client
	Store     *storage.Store
	TaskQueue string
	Logger    *slog.Logger
	Catalogue marking.Catalogue
	TestDay   config.TestDay
	// Appeals are the appeal deadlines; zero means the defaults.
	Appeals config.Appeals
	// OnFatalError is called when the worker stops polling for good (for
	// instance the namespace was briefly missing while Temporal restarted);
	// the process should then exit or start a new worker.
	OnFatalError func(error)
	// CourseSurveyURL is the user survey course participants are invited to.
	CourseSurveyURL string
	// Registry is the Diploma Registry client.
	Registry registry.Client
	// Identity tunes national identity number checks (publication).
	Identity identity.Options
	// Objects is the MinIO store of audio recordings.
	Objects *storage.Objects
	// Namespace is the Temporal namespace (history deletion).
	Namespace string
	// RetentionPeriods and RetentionEvents override the policy table
	// (shortened periods for tests and demos).
	RetentionPeriods policy.Periods
	RetentionEvents  map[policy.Category]policy.Event
	// CourseRetention overrides the courses' 24 months (EXAMFLOW_COURSE_RETENTION,
	// tests and demos); zero is the policy's. CourseSurveyAfter and
	// CourseNewsEvery are the course workflow's timing. The reconciler
	// starts a course registration's workflow with them, as the API does.
	CourseRetention   time.Duration
	CourseSurveyAfter time.Duration
	CourseNewsEvery   time.Duration
	// SubjectRequestReminders and SubjectRequestLiftNotice are what a
	// subject request's workflow starts with (EXAMFLOW_DSR_REMINDERS,
	// EXAMFLOW_DSR_LIFT_NOTICE), for the reconciler as for the API.
	SubjectRequestReminders  []time.Duration
	SubjectRequestLiftNotice time.Duration
	// StatisticsMinCell is the configured minimum statistics cell
	// (EXAMFLOW_STATISTICS_MIN_CELL); the course cells are materialised
	// with it. Zero means config.StatisticsMinCellFloor.
	StatisticsMinCell int
}

// Register registers every workflow under its public name and every
// activity struct, whose exported methods are the activities, each named
// after its method: the names the workflows schedule by method value and
// recorded histories hold (workflows.TestWorkerRegistersTheRecordedActivityNames).
func Register(r sdkworker.Registry, d Deps) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Appeals == (config.Appeals{}) {
		d.Appeals = config.DefaultAppeals()
	}
	r.RegisterWorkflowWithOptions(workflows.CandidateLifecycle, workflow.RegisterOptions{Name: cases.LifecycleWorkflow})
	r.RegisterWorkflowWithOptions(workflows.CandidateRetention, workflow.RegisterOptions{Name: cases.RetentionWorkflow})
	r.RegisterWorkflowWithOptions(workflows.CandidateAppeal, workflow.RegisterOptions{Name: cases.AppealWorkflow})
	r.RegisterWorkflowWithOptions(workflows.CourseRegistrationFlow, workflow.RegisterOptions{Name: cases.CourseWorkflow})
	r.RegisterWorkflowWithOptions(workflows.SubjectRequest, workflow.RegisterOptions{Name: cases.SubjectRequestWorkflow})
	r.RegisterWorkflowWithOptions(workflows.CandidateMerge, workflow.RegisterOptions{Name: cases.MergeWorkflow})
	r.RegisterWorkflowWithOptions(workflows.IdentifierCorrection, workflow.RegisterOptions{Name: cases.CorrectionWorkflow})
	r.RegisterWorkflowWithOptions(workflows.RetentionReconciliation, workflow.RegisterOptions{Name: cases.ReconciliationWorkflow})
	r.RegisterWorkflowWithOptions(workflows.MonthlyStatistics, workflow.RegisterOptions{Name: cases.StatisticsWorkflow})

	pub := &activities.Publication{Store: d.Store, Registry: d.Registry, Identity: d.Identity}
	for _, acts := range []any{
		&activities.Registration{Store: d.Store},
		&activities.TestDay{Store: d.Store, Catalogue: d.Catalogue, Config: d.TestDay, Appeals: d.Appeals.Rules(), Logger: d.Logger},
		pub,
		&activities.Appeals{Store: d.Store, Catalogue: d.Catalogue, Rules: d.Appeals.Rules(), Logger: d.Logger},
		&activities.Retention{Store: d.Store, Objects: d.Objects, Temporal: d.Client, Namespace: d.Namespace, Periods: d.RetentionPeriods,
			Events: d.RetentionEvents, HoldRecheck: d.TestDay.HoldRecheck, CourseRetention: d.CourseRetention, Logger: d.Logger},
		&activities.Courses{Store: d.Store, Objects: d.Objects, SurveyURL: d.CourseSurveyURL, Logger: d.Logger},
		&activities.SubjectRequests{Store: d.Store, Objects: d.Objects, Publication: pub, Logger: d.Logger},
		&activities.Statistics{Store: d.Store, Logger: d.Logger, MinCell: d.StatisticsMinCell},
	} {
		r.RegisterActivity(acts)
	}
}

// New returns a Temporal worker with everything registered; Start and Stop
// are the caller's.
func New(d Deps) sdkworker.Worker {
	w := sdkworker.New(d.Client, d.TaskQueue, sdkworker.Options{OnFatalError: d.OnFatalError})
	Register(w, d)
	return w
}

// Reconcile starts the workflow of every registration, course
// registration and subject request that was stored but whose start the API
// could not confirm (Temporal down, the API killed between commit and
// start), and deletes a course registration never started once past its
// deletion date. It runs every interval until ctx ends.
func Reconcile(ctx context.Context, d Deps, interval, minAge time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := ReconcileOnce(ctx, d, minAge); err != nil {
			d.Logger.WarnContext(ctx, "reconcile unstarted workflows", "error", err, "started", n)
		} else if n > 0 {
			d.Logger.InfoContext(ctx, "started unstarted workflows", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ReconcileOnce makes one reconciliation pass over what was stored at
// least minAge ago and never confirmed started: test registrations, course
// registrations and subject requests. Each gets its workflow, started with
// the ID, options and input the API starts it with, except a course
// registration already past its deletion date (C06), which is deleted at
// once with a deletion record instead. Replicas may run it at once: a
// start is idempotent and a deletion happens once. It returns how many
// workflows it started (or found started).
func ReconcileOnce(ctx context.Context, d Deps, minAge time.Duration) (int, error) {
	n := 0
	var errs []error
	regs, err := d.Store.UnstartedRegistrations(ctx, minAge, 500)
	errs = append(errs, err)
	for _, r := range regs {
		if err := cases.EnsureLifecycle(ctx, d.Client, d.Store, d.TaskQueue, r.LifecycleStart(), r.WorkflowStarted); err != nil {
			errs = append(errs, err)
			break
		}
		n++
	}
	c, err := reconcileCourses(ctx, d, minAge)
	n += c
	errs = append(errs, err)
	r, err := reconcileSubjectRequests(ctx, d, minAge)
	n += r
	errs = append(errs, err)
	return n, errors.Join(errs...)
}

// courseTiming is what the worker starts course workflows with.
func (d Deps) courseTiming() cases.CourseTiming {
	return cases.CourseTiming{Retention: d.CourseRetention, SurveyAfter: d.CourseSurveyAfter, NewsEvery: d.CourseNewsEvery}
}

// reconcileCourses starts the workflow of each unstarted course
// registration, or deletes the registration directly when its deletion
// date has passed: a workflow started then would only delete it.
func reconcileCourses(ctx context.Context, d Deps, minAge time.Duration) (int, error) {
	list, err := d.Store.UnstartedCourseRegistrations(ctx, minAge, 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range list {
		now := time.Now()
		if due := policy.CourseDeletionDue(r.ConsentAt, d.CourseRetention); !due.After(now) {
			del, err := d.Store.DeleteCourseRegistration(ctx, d.Objects, r.ID, cases.CourseReasonRetentionEnded, now)
			if errors.Is(err, storage.ErrNotFound) || (err == nil && !del.Now) {
				continue // withdrawn or deleted meanwhile
			}
			if err != nil {
				return n, fmt.Errorf("delete course registration past its time: %w", err)
			}
			d.Logger.WarnContext(ctx, "reconciliation deleted a course registration past its time that had no workflow",
				"course_registration_id", r.ID.String(), "reason", del.Reason, "rows", del.RowsDeleted, "objects", del.ObjectsRemoved)
			continue
		}
		if err := cases.EnsureCourse(ctx, d.Client, d.Store, d.TaskQueue, r.ID, r.WorkflowID, r.Input(d.courseTiming()), r.Started); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// reconcileSubjectRequests starts the workflow of each open, unstarted
// subject request, so that it is answered by its due date.
func reconcileSubjectRequests(ctx context.Context, d Deps, minAge time.Duration) (int, error) {
	list, err := d.Store.UnstartedSubjectRequests(ctx, minAge, 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range list {
		if err := cases.EnsureSubjectRequest(ctx, d.Client, d.Store, d.TaskQueue, r.ID, r.WorkflowID,
			r.Input(d.SubjectRequestReminders, d.SubjectRequestLiftNotice)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
