package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/examflow/examflow/identity"
)

// demoCandidates are fictional people; their identity numbers are made up
// fresh on every run, with valid check digits, so each run adds new ones.
var demoCandidates = []struct {
	given, family, born string
	test                map[string]any
	centre              string
}{
	{"Kari", "Nordmann", "1985-04-12", map[string]any{"type": "citizenship"}, "OSLO-VO"},
	{"Ola", "Nordmann", "1979-11-03", map[string]any{"type": "social_studies", "language": "en"}, "BERGEN-VO"},
	{"Amina", "Testesen", "1992-06-21", map[string]any{"type": "norwegian_a1_b2", "parts": []string{"reading", "listening", "writing", "oral"}, "level_band": "A2-B1"}, "OSLO-VO"},
	{"Jonas", "Prøvesen", "1988-01-30", map[string]any{"type": "norwegian_a1_b2", "parts": []string{"reading", "listening"}}, "TRONDHEIM-VO"},
	{"Sara", "Eksempel", "1990-09-09", map[string]any{"type": "norwegian_c1", "parts": []string{"listening_writing", "reading_oral"}}, "BERGEN-VO"},
	{"Ali", "Fiktiv", "1975-02-17", map[string]any{"type": "citizenship"}, "TROMSO-VO"},
}

func runDemo(ctx context.Context, args []string) error {
	fs := newFlags("demo", "Register a handful of fictional candidates through the API, one for each test type, and show\nthe stage each workflow reports. The stack must be running (make run).", "")
	apiURL := fs.String("api", "http://"+envOr("EXAMFLOW_API_ADDR", "127.0.0.1:8080"), "base URL of the API")
	if err := fs.Parse(args); err != nil {
		return err
	}
	session := time.Now().AddDate(0, 1, 0).Format(time.DateOnly)
	for i, c := range demoCandidates {
		born, _ := time.Parse(time.DateOnly, c.born)
		nid := syntheticNationalID(born)
		body := map[string]any{
			"person": map[string]any{
				"given_name": c.given, "family_name": c.family, "date_of_birth": c.born, "national_id": nid,
				"email":   fmt.Sprintf("demo%d@example.org", i+1),
				"address": map[string]any{"street": "Eksempelveien 1", "postal_code": "0001", "city": "Oslo", "country": "NO"},
			},
			"test": c.test, "test_centre": c.centre, "session_date": session,
		}
		var out map[string]any
		status, err := postJSON(ctx, *apiURL+"/v1/registrations", fmt.Sprintf("demo-%s-%d", nid, i), body, &out)
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			return fmt.Errorf("registering %s %s: HTTP %d: %v", c.given, c.family, status, out)
		}
		fmt.Printf("%-7s %-9s %-16s registration %s  workflow %s  stage %s\n", c.given, c.family, c.test["type"], out["registration_id"], out["workflow_id"], out["stage"])
	}
	fmt.Println("\nOpen the Temporal UI and filter with: Stage=\"Registered\"")
	return nil
}

// syntheticNationalID makes a valid fødselsnummer for a birth date with a
// random individual number.
func syntheticNationalID(born time.Time) string {
	for {
		ind := rand.IntN(500) // 000-499: born 1900-1999
		if born.Year() >= 2000 {
			ind = 500 + rand.IntN(500)
		}
		if n, ok := identity.WithCheckDigits(born.Format("020106") + fmt.Sprintf("%03d", ind)); ok {
			return n
		}
	}
}

func postJSON(ctx context.Context, url, idemKey string, body, out any) (int, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, fmt.Errorf("encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idemKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return resp.StatusCode, fmt.Errorf("decode answer: %w", err)
	}
	return resp.StatusCode, nil
}
