package cases

import "go.temporal.io/sdk/temporal"

// Retention stages and names.
const (
	// QueryRetention returns a RetentionStatus.
	QueryRetention = "retention"
)

// DeletionDueKey is the next deletion milestone, for the Temporal UI.
var DeletionDueKey = temporal.NewSearchAttributeKeyTime("DeletionDue")
