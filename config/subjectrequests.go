package config

import "time"

// SubjectRequests configures data subject requests (T18-T21).
type SubjectRequests struct {
	// Reminders: case handlers are reminded this long before a request is due.
	Reminders []time.Duration `env:"EXAMFLOW_DSR_REMINDERS" envDefault:"168h,24h" envSeparator:","`
	// LiftNotice: the person is told this long before a restriction is lifted.
	LiftNotice time.Duration `env:"EXAMFLOW_DSR_LIFT_NOTICE" envDefault:"72h"`
	// ExportLinkTTL is how long an access export's download link works.
	ExportLinkTTL time.Duration `env:"EXAMFLOW_EXPORT_LINK_TTL" envDefault:"15m"`
}
