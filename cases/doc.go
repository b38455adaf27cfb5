// Package cases is the vocabulary of a case, shared by the API, the
// workflows and the activities: workflow, Update and query names, workflow
// IDs and starts (starts.go), workflow inputs, Update arguments and query
// answers, the stages (stages.go), the search attributes and the error
// types of refusals (errors.go). It holds no workflow and no activity, so
// the API can start and signal workflows without depending on either; the
// activities' own inputs and outputs live next to them, in package
// activities.
package cases
