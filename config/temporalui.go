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
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL must be an http or https URL such as http://127.0.0.1:8233: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL must be an http or https URL such as http://127.0.0.1:8233, got %q", raw)
	case u.Host == "":
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL must name a host, got %q", raw)
	case u.User != nil:
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL must not hold a user name or password, got %q", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL must have no query, got %q", raw)
	case u.Fragment != "" || u.RawFragment != "":
		return fmt.Errorf("EXAMFLOW_TEMPORAL_UI_URL must have no fragment, got %q", raw)
	}
	return nil
}
