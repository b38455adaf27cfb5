package config

import "time"

// TestDay holds the configurable rules of the test day: review periods and
// the pass-rate monitoring of automated decisions (T04).
type TestDay struct {
	// ReviewDue is how long a case handler has to decide a held result.
	ReviewDue time.Duration `env:"EXAMFLOW_REVIEW_DUE" envDefault:"240h"`
	// ReviewReminder is when an open review is reminded.
	ReviewReminder time.Duration `env:"EXAMFLOW_REVIEW_REMINDER" envDefault:"120h"`
	// FinalAfter is the appeal window: how long after the test day closes
	// the result is final and the retention phase begins.
	FinalAfter time.Duration `env:"EXAMFLOW_FINAL_AFTER" envDefault:"504h"`
	// HoldRecheck is how long a deletion postponed by a legal hold waits
	// before it is tried again.
	HoldRecheck time.Duration `env:"EXAMFLOW_HOLD_RECHECK" envDefault:"24h"`
	// CheatingEscalateAfter is how long a provisional cheating report may
	// stay undecided before it is escalated to case handlers (the
	// CheatingEscalated search attribute, examflow_cheating_cases_escalated
	// and its alert).
	CheatingEscalateAfter time.Duration `env:"EXAMFLOW_CHEATING_ESCALATE_AFTER" envDefault:"720h"`
	// ReconcileEvery is how often the retention reconciliation runs.
	ReconcileEvery time.Duration `env:"EXAMFLOW_RECONCILE_EVERY" envDefault:"24h"`
	// QuarantineDefault is the quarantine after a final decision on cheating,
	// unless the decision sets a shorter one.
	QuarantineDefault time.Duration `env:"EXAMFLOW_QUARANTINE" envDefault:"8760h"`
	// PassRateNorms is each test's expected pass rate, e.g.
	// citizenship=0.9,social_studies=0.8. A test without a norm is not monitored.
	PassRateNorms map[string]float64 `env:"EXAMFLOW_PASS_RATE_NORMS" envDefault:"citizenship=0.9,social_studies=0.85" envSeparator:"," envKeyValSeparator:"="`
	// PassRateMargin is how far a session's pass rate may stray from the
	// norm before its results are held for review.
	PassRateMargin float64 `env:"EXAMFLOW_PASS_RATE_MARGIN" envDefault:"0.3"`
	// PassRateMinSample is how many marked results a session needs before
	// its pass rate is compared with the norm.
	PassRateMinSample int `env:"EXAMFLOW_PASS_RATE_MIN_SAMPLE" envDefault:"10"`
}
