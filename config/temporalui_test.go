package config

import (
	"strings"
	"testing"
)

// TestTemporalUIURL: the Temporal UI's address is checked at start, since
// every staff answer's link begins with it; unset, there are no links.
func TestTemporalUIURL(t *testing.T) {
	tests := []struct {
		name, value, wantErr string
	}{
		{"unset: no links", "", ""},
		{"the local dev server's UI", "http://127.0.0.1:8233", ""},
		{"https behind a path", "https://temporal.example.org/ui/", ""},
		{"no scheme", "127.0.0.1:8233", "http or https"},
		{"a host name without a scheme", "temporal.example.org", "http or https"},
		{"another scheme", "ftp://temporal.example.org", "http or https"},
		{"relative", "/temporal", "http or https"},
		{"no host", "http:///namespaces", "must name a host"},
		{"a query", "http://127.0.0.1:8233?query=x", "no query"},
		{"an empty query", "http://127.0.0.1:8233/?", "no query"},
		{"a fragment", "http://127.0.0.1:8233/#top", "no fragment"},
		{"a password", "https://user:secret@temporal.example.org", "user name or password"},
		{"unparsable", "http://[::1", "EXAMFLOW_TEMPORAL_UI_URL"},
		{"a password and another scheme", "ftp://user:secret@temporal.example.org", "user name or password"},
		{"a password, unparsable", "http://user:secret@[::1", "EXAMFLOW_TEMPORAL_UI_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(DevSecretsVar, DevSecretsAllow)
			t.Setenv("EXAMFLOW_TEMPORAL_UI_URL", tt.value)
			c, err := Load()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.TemporalUIURL != tt.value {
					t.Fatalf("TemporalUIURL = %q, want %q", c.TemporalUIURL, tt.value)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "EXAMFLOW_TEMPORAL_UI_URL") {
				t.Fatalf("error = %v, want one naming EXAMFLOW_TEMPORAL_UI_URL and %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the refusal shows the password: %v", err)
			}
		})
	}
}
