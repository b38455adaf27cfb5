package config

import (
	"fmt"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/examflow/examflow/appeals"
)

// Appeals holds the appeal deadlines (domain-facts section 2). Several are
// period-based or uncertain in the sources, so all are configurable.
type Appeals struct {
	// FormalErrorWindow: a formal-error complaint within 3 weeks of the test date.
	FormalErrorWindow time.Duration `env:"EXAMFLOW_APPEAL_FORMAL_ERROR_WINDOW" envDefault:"504h"`
	// FormalErrorUntilResult: also refuse a formal-error complaint once the
	// candidate has been told the result (PAD guidance; off by default).
	FormalErrorUntilResult bool `env:"EXAMFLOW_APPEAL_FORMAL_ERROR_UNTIL_RESULT" envDefault:"false"`
	// WritingWindow: a writing re-assessment within 3 weeks after the result.
	WritingWindow time.Duration `env:"EXAMFLOW_APPEAL_WRITING_WINDOW" envDefault:"504h"`
	// C1Window: the C1 appeal period after the result (about 4 weeks).
	C1Window time.Duration `env:"EXAMFLOW_APPEAL_C1_WINDOW" envDefault:"672h"`
	// DecisionWindow: an appeal against a decision within 3 weeks (fvl. § 29).
	DecisionWindow time.Duration `env:"EXAMFLOW_APPEAL_DECISION_WINDOW" envDefault:"504h"`
	// LateLimit: a late appeal is never accepted after this (fvl. § 31: one year).
	LateLimit time.Duration `env:"EXAMFLOW_APPEAL_LATE_LIMIT" envDefault:"8760h"`
}

// Rules returns the deadlines for the appeal rules.
func (a Appeals) Rules() appeals.Rules {
	return appeals.Rules{
		FormalErrorWindow: a.FormalErrorWindow, FormalErrorUntilResult: a.FormalErrorUntilResult,
		WritingWindow: a.WritingWindow, C1Window: a.C1Window, DecisionWindow: a.DecisionWindow, LateLimit: a.LateLimit,
	}
}

// DefaultAppeals returns the default deadlines, whatever the environment.
func DefaultAppeals() Appeals {
	a, err := env.ParseAsWithOptions[Appeals](env.Options{Environment: map[string]string{}})
	if err != nil {
		panic(fmt.Sprintf("config: default appeal deadlines: %v", err))
	}
	return a
}
