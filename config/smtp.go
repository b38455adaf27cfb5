package config

// SMTP is the outgoing mail server that delivers candidate notifications
// from the outbox.
type SMTP struct {
	// Host and Port of the SMTP server.
	Host string `env:"EXAMFLOW_SMTP_HOST" envDefault:"127.0.0.1"`
	Port int    `env:"EXAMFLOW_SMTP_PORT" envDefault:"1025"`
	// Username and Password for SMTP AUTH; empty means no authentication.
	Username string `env:"EXAMFLOW_SMTP_USERNAME"`
	Password string `env:"EXAMFLOW_SMTP_PASSWORD"`
	// TLS is "none", "starttls" or "tls".
	TLS string `env:"EXAMFLOW_SMTP_TLS" envDefault:"none"`
	// From is the sender address of every notification.
	From string `env:"EXAMFLOW_SMTP_FROM" envDefault:"examflow@localhost"`
}
