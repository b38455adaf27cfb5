package config

import "time"

// Registry is how the Diploma Registry is reached (issue: publication).
type Registry struct {
	// URL is the registry API's base URL; TokenURL its OAuth2 token endpoint.
	URL      string `env:"EXAMFLOW_REGISTRY_URL" envDefault:"http://127.0.0.1:8090"`
	TokenURL string `env:"EXAMFLOW_REGISTRY_TOKEN_URL" envDefault:"http://127.0.0.1:8090/oauth/token"`
	// ClientID and ClientSecret are examflow's client credentials.
	ClientID     string `env:"EXAMFLOW_REGISTRY_CLIENT_ID" envDefault:"examflow"`
	ClientSecret string `env:"EXAMFLOW_REGISTRY_CLIENT_SECRET"`
	// Timeout bounds one request; Attempts is how many are made.
	Timeout  time.Duration `env:"EXAMFLOW_REGISTRY_TIMEOUT" envDefault:"10s"`
	Attempts int           `env:"EXAMFLOW_REGISTRY_ATTEMPTS" envDefault:"3"`
	// SimulatorAddr is where `examflow registry-sim` listens.
	SimulatorAddr string `env:"EXAMFLOW_REGISTRY_SIM_ADDR" envDefault:"127.0.0.1:8090"`
}
