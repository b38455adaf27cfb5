package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/examflow/examflow/api"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/worker"
)

// listWorkflowIDs runs a visibility query through the Temporal client, as
// the UI does, and returns the IDs of every workflow it finds.
func listWorkflowIDs(ctx context.Context, query string) (map[string]bool, error) {
	found := map[string]bool{}
	var token []byte
	for {
		resp, err := env.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: env.cfg.TemporalNamespace, Query: query, NextPageToken: token, PageSize: 1000})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetExecutions() {
			found[e.GetExecution().GetWorkflowId()] = true
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return found, nil
		}
	}
}

// TestDailyQueriesFindTheirWorkflows: each of the case handler's daily
// lists in docs/temporal-ui.md, its placeholders filled in, finds on the
// stack the workflows it should and none of the others made here: a
// result held for review (due in ten days) and one held past its due
// date, a result that needed no review, a retention phase whose deletion
// waits for an open appeal, the appeal, and data subject requests due in
// five days, past due, and due in a month. SQL visibility still refuses
// ORDER BY, as the document says.
func TestDailyQueriesFindTheirWorkflows(t *testing.T) {
	ctx := context.Background()
	// The API's daily lists, which docs.TestDailyListsAreTheAPIs ties to
	// docs/temporal-ui.md row by row (and their links to their queries).
	lists := api.DailyQueries()
	if len(lists) != 5 {
		t.Fatalf("%d daily lists, want 5", len(lists))
	}
	now := time.Now().UTC()
	today := now.Format(time.DateOnly)

	// A result held for review, due in ten days (EXAMFLOW_REVIEW_DUE).
	centre := uniqueCentre()
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, session)
	held := postRegistration(t, newPerson(t).reg(t, "citizenship", centre, session), "")
	heldURL := registrationURL(held)
	holdForReview(t, heldURL, centre, 30)
	// A result that needed no review.
	passed := postRegistration(t, newPerson(t).reg(t, "citizenship", centre, session), "")
	if a := submitSheet(t, registrationURL(passed), form, answersFor(36, 30)); a.Status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", a.Status, a.Raw)
	}

	// A result held past its due date: a stack whose reviews are due in
	// seconds.
	long := 24 * time.Hour
	quick := startRetentionStack(t, policy.Periods{policy.Address: long, policy.PersonalData: long, policy.Cheating: long, policy.PaymentStatus: long},
		func(d *worker.Deps) { d.TestDay.ReviewDue, d.TestDay.ReviewReminder = 3*time.Second, time.Second })
	overdueID := registerAndSubmit(t, quick, today, true)

	// A retention phase whose final deletion waits for an open appeal.
	sinceMidnight := now.Sub(now.Truncate(24 * time.Hour))
	short := startRetentionStack(t, policy.Periods{policy.Address: sinceMidnight + 12*time.Second, policy.PersonalData: sinceMidnight + 30*time.Second})
	onHoldID := registerAndSubmit(t, short, today, false)
	onHoldURL := "/v1/registrations/" + strings.TrimPrefix(onHoldID, "registration-")
	waitStageOn(t, short, onHoldURL, string(cases.StageRetained))
	lodged := doAt(t, short.url, http.MethodPost, onHoldURL+"/appeals", "application/json",
		[]byte(`{"kind": "formal_error", "grounds": "the room was too cold to write"}`), nil)
	if lodged.Status != http.StatusCreated {
		t.Fatalf("appeal: %d %s", lodged.Status, lodged.Raw)
	}
	appealID := lodged.Body["workflow_id"].(string)
	waitStageOn(t, short, onHoldURL, string(cases.StageDeletionOnHold))

	// Data subject requests due in five days, past due and due in a month.
	ch := roleKey(t, "ch-daily-lists", api.RoleCaseHandler)
	request := func(receivedDaysAgo int) string {
		t.Helper()
		p := newPerson(t)
		if reg := postRegistration(t, p.reg(t, "citizenship", uniqueCentre(), session), ""); reg.Status != http.StatusCreated {
			t.Fatalf("register: %d %s", reg.Status, reg.Raw)
		}
		a := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
			"identifier":  map[string]any{"kind": "national_id", "value": p.NationalID},
			"received_at": time.Now().AddDate(0, 0, -receivedDaysAgo).Format(time.RFC3339)})), ch)
		if a.Status != http.StatusCreated {
			t.Fatalf("subject request: %d %s", a.Status, a.Raw)
		}
		return a.Body["workflow_id"].(string)
	}
	dueSoon, pastDue, dueLater := request(25), request(31), request(0)

	heldID, passedID := held.Body["workflow_id"].(string), passed.Body["workflow_id"].(string)
	waitStage(t, registrationURL(passed), "Result")
	mine := []string{heldID, passedID, overdueID, onHoldID, appealID, dueSoon, pastDue, dueLater}
	want := map[string][]string{
		"held-results":              {heldID, overdueID},
		"overdue-reviews":           {overdueID},
		"open-appeals":              {appealID},
		"deletions-on-hold":         {onHoldID},
		"subject-requests-due-soon": {dueSoon, pastDue},
	}
	for _, l := range lists {
		t.Run(l.Name, func(t *testing.T) {
			wanted, ok := want[l.Name]
			if !ok {
				t.Fatalf("the API lists %q, which this test does not know", l.Name)
			}
			eventually(t, 30*time.Second, func() error {
				q := api.FillQuery(l.Query, time.Now())
				found, err := listWorkflowIDs(ctx, q)
				if err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
				for _, id := range mine {
					if found[id] != slices.Contains(wanted, id) {
						return fmt.Errorf("%s: finds %s: %v, want %v", q, id, found[id], slices.Contains(wanted, id))
					}
				}
				return nil
			})
		})
	}

	// SQL visibility sorts by its own order only.
	_, err := listWorkflowIDs(ctx, `ExecutionStatus="Running" ORDER BY StartTime DESC`)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "not supported") {
		t.Fatalf("a query with ORDER BY: %v, want it refused as not supported (docs/temporal-ui.md says so)", err)
	}
}

// registerAndSubmit registers a new fictional candidate for today's
// citizenship session at a fresh test centre through the stack's API and
// submits a passing answer sheet, after reporting a technical problem
// when held is set (the result is then held for review). It returns the
// workflow ID.
func registerAndSubmit(t *testing.T, rs retentionStack, today string, held bool) string {
	t.Helper()
	centre := uniqueCentre()
	sessionFor(t, "citizenship", centre, today)
	a := doAt(t, rs.url, http.MethodPost, "/v1/registrations", "application/json", []byte(mustJSON(newPerson(t).registration("citizenship", centre, today))), nil)
	if a.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	url := "/v1/registrations/" + a.Body["registration_id"].(string)
	if held {
		if d := doAt(t, rs.url, http.MethodPost, url+"/discrepancies", "application/json", []byte(`{"kind": "technical_problem", "note": "screen froze"}`), nil); d.Status != http.StatusAccepted {
			t.Fatalf("discrepancy: %d %s", d.Status, d.Raw)
		}
	}
	if s := doAt(t, rs.url, http.MethodPost, url+"/answer-sheets", "application/json", []byte(mustJSON(map[string]any{
		"part": "test", "form_id": fmt.Sprintf("citizenship-test-%s-%s", centre, today), "key_version": 1,
		"submitted_at": time.Now().UTC().Format(time.RFC3339), "answers": answersFor(36, 30)})), nil); s.Status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", s.Status, s.Raw)
	}
	return a.Body["workflow_id"].(string)
}

// waitStageOn polls the registration on the stack's API until its stage
// is want.
func waitStageOn(t *testing.T, rs retentionStack, url, want string) {
	t.Helper()
	eventually(t, 60*time.Second, func() error {
		if g := doAt(t, rs.url, http.MethodGet, url, "", nil, nil); g.Body["stage"] != want {
			return fmt.Errorf("stage %v, want %s", g.Body["stage"], want)
		}
		return nil
	})
}

// TestStaffAnswersLinkToTheTemporalUI: with EXAMFLOW_TEMPORAL_UI_URL set,
// a case handler's and the data-protection officer's answers that name a
// workflow link to its page in the Temporal UI; an integration's answers
// about the same workflows carry no link.
func TestStaffAnswersLinkToTheTemporalUI(t *testing.T) {
	if env.cfg.TemporalUIURL == "" {
		t.Fatal("the stack sets no EXAMFLOW_TEMPORAL_UI_URL")
	}
	page := func(workflowID string) string {
		return env.cfg.TemporalUIURL + "/namespaces/" + env.cfg.TemporalNamespace + "/workflows/" + workflowID
	}
	ch := roleKey(t, "ch-ui-links", api.RoleCaseHandler)
	dpo := roleKey(t, "dpo-ui-links", api.RoleDPO)
	integration := roleKey(t, "integration-ui-links", api.RoleIntegration)

	p := newPerson(t)
	reg := postRegistration(t, p.reg(t, "citizenship", uniqueCentre(), session), "")
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	wfID, candID := reg.Body["workflow_id"].(string), reg.Body["candidate_id"].(string)
	byIntegration := do(t, http.MethodPost, "/v1/subject-requests", "application/json", []byte(mustJSON(map[string]any{"kind": "access",
		"identifier": map[string]any{"kind": "national_id", "value": p.NationalID}})), integration)
	if byIntegration.Status != http.StatusCreated {
		t.Fatalf("subject request: %d %s", byIntegration.Status, byIntegration.Raw)
	}
	requestWF := byIntegration.Body["workflow_id"].(string)
	requestURL := "/v1/subject-requests/" + byIntegration.Body["request_id"].(string)

	tests := []struct {
		name, path string
		auth       map[string]string
		link       func(map[string]any) any
		want       string
	}{
		{"a registration, to a case handler", registrationURL(reg), ch, func(b map[string]any) any { return b["temporal_ui_url"] }, page(wfID)},
		{"the same registration, to an integration", registrationURL(reg), integration, func(b map[string]any) any { return b["temporal_ui_url"] }, ""},
		{"a candidate's registrations, to a case handler", "/v1/candidates/" + candID, ch, func(b map[string]any) any {
			return b["registrations"].([]any)[0].(map[string]any)["temporal_ui_url"]
		}, page(wfID)},
		{"a subject request, to the data-protection officer", requestURL, dpo, func(b map[string]any) any { return b["temporal_ui_url"] }, page(requestWF)},
		{"a subject request, to a case handler", requestURL, ch, func(b map[string]any) any { return b["temporal_ui_url"] }, page(requestWF)},
		{"the daily lists, to a case handler", "/v1/temporal-ui/queries", ch, func(b map[string]any) any {
			u, _ := url.Parse(b["queries"].([]any)[0].(map[string]any)["url"].(string))
			return u.Scheme + "://" + u.Host + u.Path
		}, env.cfg.TemporalUIURL + "/namespaces/" + env.cfg.TemporalNamespace + "/workflows"},
	}
	if got := byIntegration.Body["temporal_ui_url"]; got != nil {
		t.Errorf("the integration's new subject request links to %v", got)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, http.MethodGet, tt.path, "", nil, tt.auth)
			if a.Status != http.StatusOK {
				t.Fatalf("%d %s", a.Status, a.Raw)
			}
			got := tt.link(a.Body)
			if tt.want == "" {
				if got != nil {
					t.Fatalf("temporal_ui_url = %v, want none", got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("temporal_ui_url = %v, want %s", got, tt.want)
			}
		})
	}
	if a := do(t, http.MethodGet, "/v1/temporal-ui/queries", "", nil, integration); a.Status != http.StatusForbidden {
		t.Errorf("the daily lists for an integration: %d, want 403", a.Status)
	}
	// The cluster stack runs a UI server: the link opens there (the dev
	// server's UI is off in the tests; TestDevStackLikeMakeRun follows
	// make run's link).
	if env.stack.HasUI() {
		resp, err := http.Get(page(wfID))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the Temporal UI answers %s for %s", resp.Status, page(wfID))
		}
	}
}
