package config

import (
	"fmt"
	"net/url"
)

// checkTemporalUIURL refuses an EXAMFLOW_TEMPORAL_UI_URL that cannot be the
// start of a link to the Temporal UI: it must be an absolute http or https
// URL with a host and no query, fragment or user information. Empty (no
// links) is allowed.
func checkTemporalUIURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Not wrapped, and the value not shown: it may hold a password.
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL is not a URL; it must be an http or https URL such as http://127.0.0.1:8233")
	}
	// Every refusal shows the value without its password.
	shown := u.Redacted()
	switch {
	case u.User != nil:
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL must not hold a user name or password, got %q", shown)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL must be an http or https URL such as http://127.0.0.1:8233, got %q", shown)
	case u.Host == "":
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL must name a host, got %q", shown)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL must have no query, got %q", shown)
	case u.Fragment != "" || u.RawFragment != "":
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL must have no fragment, got %q", shown)
	}
	return nil
}
