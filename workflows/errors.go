package workflows

import "github.com/examflow/examflow/cases"

// refuse is a validator's refusal of field.
func refuse(field, format string, args ...any) error {
	return cases.Refuse(cases.ErrorRefused, field, format, args...)
}
