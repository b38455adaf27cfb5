// Package activities holds examflow's side effects: database, object store,
// registry and notifications. Every activity is idempotent, so a retry or a
// worker crash never does anything twice.
//
// Each file holds the activities of one process, named like the workflow
// that runs them: lifecycle.go for CandidateLifecycle (the test day,
// publication and the retention phase), appeals.go, subjectrequests.go,
// courses.go, statistics.go and reconciliation.go.
package activities
