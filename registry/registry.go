// Package registry is examflow's client of the Diploma Registry
// (Vitnemålsportalen) and a simulator of it for the local stack and tests.
// Publications go over JSON/HTTPS with OAuth2 client-credentials tokens;
// every publication carries a publication key, so a retry never publishes
// twice.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Result is one part's result as the registry shows it.
type Result struct {
	TestType  string    `json:"test_type"`
	Part      string    `json:"part"`
	Result    string    `json:"result"`
	DecidedAt time.Time `json:"decided_at"`
}

// Publication is what examflow sends for a candidate: the latest and best
// result per part, under the candidate's national identity number (only
// candidates with one are published, T09).
type Publication struct {
	// Key identifies the publication; sending the same key again replaces
	// it, so a retry is harmless.
	Key        string `json:"publication_key"`
	NationalID string `json:"national_id"`
	// GivenName, FamilyName and DateOfBirth (YYYY-MM-DD) are the person's
	// as examflow holds them; a rectification republishes them.
	GivenName   string   `json:"given_name"`
	FamilyName  string   `json:"family_name"`
	DateOfBirth string   `json:"date_of_birth,omitempty"`
	Results     []Result `json:"results"`
}

// Receipt is the registry's answer.
type Receipt struct {
	Key        string    `json:"publication_key"`
	ReceivedAt time.Time `json:"received_at"`
}

// Client publishes to and withdraws from the registry.
type Client interface {
	Publish(ctx context.Context, p Publication) (Receipt, error)
	Withdraw(ctx context.Context, key string) error
}

// Config is how to reach the registry.
type Config struct {
	// BaseURL is the registry API, e.g. https://registry.example/api.
	BaseURL string
	// TokenURL, ClientID and ClientSecret are the OAuth2 client credentials.
	TokenURL, ClientID, ClientSecret string
	// Timeout bounds one HTTP attempt; Attempts is how many are made.
	Timeout  time.Duration
	Attempts int
}

// PermanentError is a refusal that a retry will not change (4xx).
type PermanentError struct {
	Status int
	Body   string
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("registry refused the request: HTTP %d", e.Status)
}

// HTTPClient is the Client over HTTPS.
type HTTPClient struct {
	cfg  Config
	http *http.Client
}

// NewHTTPClient returns a client that fetches and renews its tokens itself.
func NewHTTPClient(cfg Config) (*HTTPClient, error) {
	if _, err := url.Parse(cfg.BaseURL); err != nil || cfg.BaseURL == "" {
		return nil, fmt.Errorf("registry base URL %q: %w", cfg.BaseURL, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	cc := clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: cfg.TokenURL}
	base := &http.Client{Timeout: cfg.Timeout}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, base)
	hc := cc.Client(ctx)
	hc.Timeout = cfg.Timeout
	return &HTTPClient{cfg: cfg, http: hc}, nil
}

// Publish sends a publication, retrying transient failures with backoff.
func (c *HTTPClient) Publish(ctx context.Context, p Publication) (Receipt, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return Receipt{}, fmt.Errorf("encode publication: %w", err)
	}
	var r Receipt
	err = c.do(ctx, http.MethodPut, "/v1/publications/"+url.PathEscape(p.Key), body, &r)
	return r, err
}

// Withdraw removes a publication; withdrawing one that is not there is not
// an error.
func (c *HTTPClient) Withdraw(ctx context.Context, key string) error {
	return c.do(ctx, http.MethodDelete, "/v1/publications/"+url.PathEscape(key), nil, nil)
}

func (c *HTTPClient) do(ctx context.Context, method, path string, body []byte, out any) error {
	var last error
	for attempt := 1; attempt <= c.cfg.Attempts; attempt++ {
		if attempt > 1 {
			wait := time.Duration(1<<(attempt-2)) * 200 * time.Millisecond
			wait += time.Duration(rand.Int64N(int64(wait/2) + 1))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("registry request: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		var tokenErr *oauth2.RetrieveError
		if errors.As(err, &tokenErr) && tokenErr.Response != nil && tokenErr.Response.StatusCode < 500 {
			return &PermanentError{Status: tokenErr.Response.StatusCode, Body: "token refused"}
		}
		if err != nil {
			last = fmt.Errorf("registry: %w", err)
			continue
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNotFound && method == http.MethodDelete:
			return nil
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			if out != nil && len(data) > 0 {
				if err := json.Unmarshal(data, out); err != nil {
					return fmt.Errorf("registry answer: %w", err)
				}
			}
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			last = fmt.Errorf("registry: HTTP %d", resp.StatusCode)
			continue
		default:
			return &PermanentError{Status: resp.StatusCode, Body: string(data)}
		}
	}
	return last
}

// IsPermanent reports whether err is a refusal a retry will not change.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
