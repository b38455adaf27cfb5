package workflows

import "github.com/examflow/examflow/activities"

// The activities the workflows run, named by their methods:
// workflow.ExecuteActivity(ctx, testDay.MarkPart, in) runs the activity
// "MarkPart", and go-to-definition leads from the call to it. The receivers
// are nil and never called here: Temporal takes the activity's name and
// argument types from the method value, and the worker runs the method on
// the structs it registers (worker.Register).
var (
	registration     *activities.Registration
	testDay          *activities.TestDay
	publication      *activities.Publication
	appealActivities *activities.Appeals
	retention        *activities.Retention
	courses          *activities.Courses
	subjectRequests  *activities.SubjectRequests
	statistics       *activities.Statistics
)
