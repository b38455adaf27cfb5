package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/marking"
)

// demoCandidate is a fictional person and what happens to them on the test
// day, so the Temporal UI shows every stage.
type demoCandidate struct {
	given, family, born string
	test                map[string]any
	centre              string
	story               string
	act                 func(d *demo, regURL string) error
}

type demo struct {
	ctx     context.Context
	api     string
	cat     marking.Catalogue
	session string
	forms   map[string]map[string]string // test type -> part -> form
}

var demoCandidates = []demoCandidate{
	{"Kari", "Nordmann", "1985-04-12", map[string]any{"type": "citizenship"}, "OSLO-VO", "passes (30 of 32): Result",
		func(d *demo, u string) error { return d.sheet(u, "citizenship", "test", 30) }},
	{"Ola", "Nordmann", "1979-11-03", map[string]any{"type": "social_studies", "language": "en"}, "OSLO-VO", "fails (12 of 34): Result",
		func(d *demo, u string) error { return d.sheet(u, "social_studies", "test", 12) }},
	{"Amina", "Testesen", "1992-06-21", map[string]any{"type": "norwegian_a1_b2", "parts": []string{"reading", "listening", "writing", "oral"}, "level_band": "A2-B1"}, "OSLO-VO",
		"all four parts, examiners agree: Result", func(d *demo, u string) error {
			for _, part := range []string{"reading", "listening"} {
				if err := d.sheet(u, "norwegian_a1_b2", part, 22); err != nil {
					return err
				}
			}
			for _, part := range []string{"writing", "oral"} {
				if err := d.assess(u, part, "B1", "B1"); err != nil {
					return err
				}
			}
			return nil
		}},
	{"Jonas", "Prøvesen", "1988-01-30", map[string]any{"type": "norwegian_a1_b2", "parts": []string{"reading", "listening"}}, "OSLO-VO",
		"technical problem on the test day: UnderReview (ReviewPending=true)", func(d *demo, u string) error {
			if err := d.post(u+"/discrepancies", map[string]any{"kind": "technical_problem", "part": "reading", "note": "the PC restarted"}, 202); err != nil {
				return err
			}
			for _, part := range []string{"reading", "listening"} {
				if err := d.sheet(u, "norwegian_a1_b2", part, 18); err != nil {
					return err
				}
			}
			return nil
		}},
	{"Sara", "Eksempel", "1990-09-09", map[string]any{"type": "norwegian_c1", "parts": []string{"listening_writing", "reading_oral"}}, "OSLO-VO",
		"examiners disagree: Tested, waiting for a third examiner", func(d *demo, u string) error {
			if err := d.assess(u, "listening_writing", "C1", "C1"); err != nil {
				return err
			}
			return d.assess(u, "reading_oral", "C1", "not_passed")
		}},
	{"Ali", "Fiktiv", "1975-02-17", map[string]any{"type": "citizenship"}, "OSLO-VO", "did not attend: Absent",
		func(d *demo, u string) error {
			return d.post(u+"/discrepancies", map[string]any{"kind": "did_not_attend"}, 202)
		}},
}

func runDemo(ctx context.Context, args []string) error {
	fs := newFlags("demo", `Set up answer keys and test sessions, register six fictional candidates and take each through
the test day (answer sheets, examiner assessments, discrepancies), so that the Temporal UI shows
every stage: Result, UnderReview, Tested and Absent. The stack must be running (make run).`, "")
	apiURL := fs.String("api", "http://"+envOr("EXAMFLOW_API_ADDR", "127.0.0.1:8080"), "base URL of the API")
	tokens := fs.String("tokens", filepath.Join(envOr("EXAMFLOW_DEV_DIR", ".dev"), "tokens.env"), "the API keys make run wrote (one per role)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if demoTokens, err = readTokensEnv(*tokens); err != nil {
		return fmt.Errorf("read the API keys (is make run up?): %w", err)
	}
	cat, err := marking.LoadCatalogue()
	if err != nil {
		return err
	}
	d := &demo{ctx: ctx, api: *apiURL, cat: cat, session: time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly), forms: map[string]map[string]string{}}
	for _, c := range demoCandidates {
		if err := d.ensureSession(c.test["type"].(string), c.centre); err != nil {
			return err
		}
	}
	for i, c := range demoCandidates {
		born, _ := time.Parse(time.DateOnly, c.born)
		nid := syntheticNationalID(born)
		body := map[string]any{
			"person": map[string]any{
				"given_name": c.given, "family_name": c.family, "date_of_birth": c.born, "national_id": nid,
				"email":   fmt.Sprintf("demo%d@example.org", i+1),
				"address": map[string]any{"street": "Eksempelveien 1", "postal_code": "0001", "city": "Oslo", "country": "NO"},
			},
			"test": c.test, "test_centre": c.centre, "session_date": d.session,
		}
		var out map[string]any
		status, err := postJSON(ctx, d.api+"/v1/registrations", fmt.Sprintf("demo-%s-%d", nid, i), body, &out)
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			return fmt.Errorf("registering %s %s: HTTP %d: %v", c.given, c.family, status, out)
		}
		if err := c.act(d, "/v1/registrations/"+out["registration_id"].(string)); err != nil {
			return fmt.Errorf("%s %s: %w", c.given, c.family, err)
		}
		fmt.Printf("%-6s %-9s %-16s %s\n       workflow %s\n", c.given, c.family, c.test["type"], c.story, out["workflow_id"])
	}
	fmt.Println("\nIn the Temporal UI try: Stage=\"UnderReview\" · ReviewPending=true · TestType=\"norwegian_c1\" · Stage=\"Result\"")
	return nil
}

// ensureSession creates answer keys for every machine-marked part (all
// answers "a") and the session, or reuses the session a previous run made.
func (d *demo) ensureSession(testType, centre string) error {
	if _, ok := d.forms[testType]; ok {
		return nil
	}
	day, _ := time.Parse(time.DateOnly, d.session)
	tv, err := d.cat.Version(testType, day)
	if err != nil {
		return err
	}
	forms := map[string]string{}
	suffix := fmt.Sprintf("%06d", rand.IntN(1_000_000))
	for _, part := range tv.PartNames() {
		def, _ := tv.Part(part)
		if !def.Automated() {
			continue
		}
		items := marking.FictionalKey(def)
		form := fmt.Sprintf("demo-%s-%s-%s-%s", testType, part, d.session, suffix)
		if err := d.post("/v1/answer-keys", map[string]any{"form_id": form, "test_type": testType, "test_version": tv.Version, "part": part, "items": items}, 201); err != nil {
			return err
		}
		forms[part] = form
	}
	var out map[string]any
	status, err := postJSON(d.ctx, d.api+"/v1/sessions", "", map[string]any{"test_type": testType, "test_centre": centre, "session_date": d.session, "forms": forms}, &out)
	if err != nil {
		return err
	}
	switch status {
	case http.StatusCreated:
	case http.StatusConflict: // made by an earlier run: use its forms
		forms = map[string]string{}
		for k, v := range out["session"].(map[string]any)["forms"].(map[string]any) {
			forms[k] = v.(string)
		}
	default:
		return fmt.Errorf("session %s: HTTP %d: %v", testType, status, out)
	}
	d.forms[testType] = forms
	return nil
}

func (d *demo) sheet(regURL, testType, part string, correct int) error {
	form := d.forms[testType][part]
	day, _ := time.Parse(time.DateOnly, d.session)
	tv, _ := d.cat.Version(testType, day)
	def, _ := tv.Part(part)
	n := def.Items
	if n == 0 {
		n = 30
	}
	answers := make([]map[string]string, n)
	for i := range answers {
		choice := "b"
		if i < correct {
			choice = "a"
		}
		answers[i] = map[string]string{"item": fmt.Sprintf("q%02d", i+1), "choice": choice}
	}
	return d.post(regURL+"/answer-sheets", map[string]any{"part": part, "form_id": form, "key_version": 1,
		"submitted_at": day.Add(10 * time.Hour).Format(time.RFC3339), "answers": answers}, 202)
}

func (d *demo) assess(regURL, part, examiner, external string) error {
	if err := d.post(regURL+"/assessments", map[string]any{"part": part, "role": "examiner", "assessor": "demo-examiner-1", "level": examiner}, 202); err != nil {
		return err
	}
	return d.post(regURL+"/assessments", map[string]any{"part": part, "role": "external_examiner", "assessor": "demo-examiner-2", "level": external}, 202)
}

func (d *demo) post(path string, body any, want int) error {
	var out map[string]any
	status, err := postJSON(d.ctx, d.api+path, "", body, &out)
	if err != nil {
		return err
	}
	if status != want {
		return fmt.Errorf("POST %s: HTTP %d: %v", path, status, out)
	}
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

// demoTokens are the local stack's API keys by variable (tokens.env).
var demoTokens map[string]string

// demoTokenFor picks the role a demo request needs: examiners assess,
// case handlers manage answer keys, the integration does the rest.
func demoTokenFor(url string) string {
	switch {
	case strings.Contains(url, "/assessments"):
		return demoTokens[tokenVar("examiner")]
	case strings.Contains(url, "/answer-keys"):
		return demoTokens[tokenVar("case_handler")]
	}
	return demoTokens[tokenVar("integration")]
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
	if t := demoTokenFor(url); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("POST %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read answer: %w", err)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}
