package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestTemporalUILinks: a workflow's link opens its page in the Temporal
// UI's namespace (the UI shows the latest run), a list link carries the
// query URL-encoded, and with no UI configured there are no links.
func TestTemporalUILinks(t *testing.T) {
	tests := []struct {
		name           string
		ui             TemporalUI
		workflowID     string
		wantWorkflow   string
		query          string
		wantListPrefix string
	}{
		{"local dev server", TemporalUI{BaseURL: "http://127.0.0.1:8233", Namespace: "default"}, "registration-0190c0de-0000-7000-8000-000000000001",
			"http://127.0.0.1:8233/namespaces/default/workflows/registration-0190c0de-0000-7000-8000-000000000001",
			`Stage="DeletionOnHold"`, "http://127.0.0.1:8233/namespaces/default/workflows?query="},
		{"behind a path with a trailing slash", TemporalUI{BaseURL: "https://ops.example.org/temporal/", Namespace: "examflow"}, "appeal-1",
			"https://ops.example.org/temporal/namespaces/examflow/workflows/appeal-1",
			`WorkflowType="CandidateAppeal"`, "https://ops.example.org/temporal/namespaces/examflow/workflows?query="},
		{"a namespace that needs escaping", TemporalUI{BaseURL: "https://cloud.example.org", Namespace: "exam flow/prod"}, "subject-request-1",
			"https://cloud.example.org/namespaces/exam%20flow%2Fprod/workflows/subject-request-1",
			`ReviewPending=true`, "https://cloud.example.org/namespaces/exam%20flow%2Fprod/workflows?query="},
		{"no UI configured", TemporalUI{Namespace: "default"}, "registration-1", "", `ReviewPending=true`, ""},
		{"no workflow", TemporalUI{BaseURL: "http://127.0.0.1:8233", Namespace: "default"}, "", "",
			`ReviewPending=true`, "http://127.0.0.1:8233/namespaces/default/workflows?query="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ui.WorkflowURL(tt.workflowID); got != tt.wantWorkflow {
				t.Errorf("WorkflowURL = %q, want %q", got, tt.wantWorkflow)
			}
			list := tt.ui.ListURL(tt.query)
			if tt.wantListPrefix == "" {
				if list != "" {
					t.Errorf("ListURL = %q, want none", list)
				}
				return
			}
			if !strings.HasPrefix(list, tt.wantListPrefix) {
				t.Fatalf("ListURL = %q, want it to start with %q", list, tt.wantListPrefix)
			}
			u, err := url.Parse(list)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Query().Get("query"); got != tt.query {
				t.Errorf("the list link's query = %q, want %q", got, tt.query)
			}
		})
	}
}

// TestTemporalUILinkOnlyForStaff: a case handler and the data-protection
// officer, who may decode payloads through the codec server, get the link;
// an integration (the registration portal, the test system) and the other
// roles do not.
func TestTemporalUILinkOnlyForStaff(t *testing.T) {
	s := &server{Deps: Deps{TemporalUI: TemporalUI{BaseURL: "http://127.0.0.1:8233", Namespace: "default"}}}
	want := "http://127.0.0.1:8233/namespaces/default/workflows/registration-1"
	tests := []struct {
		roles    []string
		wantLink bool
	}{
		{[]string{RoleCaseHandler}, true},
		{[]string{RoleDPO}, true},
		{[]string{RoleIntegration, RoleCaseHandler}, true},
		{[]string{RoleIntegration}, false},
		{[]string{RoleExaminer}, false},
		{[]string{RoleAppeals}, false},
		{[]string{RoleCourseAdmin}, false},
		{[]string{RoleStatistics}, false},
		{nil, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.roles, "+"), func(t *testing.T) {
			got := s.uiLink(contextOf(Principal{Subject: "someone", Roles: tt.roles}), "registration-1")
			if (got == want) != tt.wantLink || (!tt.wantLink && got != "") {
				t.Fatalf("link = %q, want link %v", got, tt.wantLink)
			}
		})
	}
	none := &server{}
	if got := none.uiLink(contextOf(Principal{Subject: "ch", Roles: []string{RoleCaseHandler}}), "registration-1"); got != "" {
		t.Fatalf("link %q without EXAMFLOW_TEMPORAL_UI_URL", got)
	}
}

// TestDailyQueriesRoute: the route fills in the current time and links
// each list to the UI, for case handlers and the data-protection officer.
func TestDailyQueriesRoute(t *testing.T) {
	now := time.Date(2027, 3, 1, 8, 30, 15, 500, time.FixedZone("CET", 3600))
	h := New(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(), Tokens: fakeTokens{},
		Validation: ValidationOptions{Now: func() time.Time { return now }},
		TemporalUI: TemporalUI{BaseURL: "http://127.0.0.1:8233", Namespace: "default"}})
	get := func(role string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/v1/temporal-ui/queries", nil)
		req.Header.Set("Authorization", "Bearer efk_"+role)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for _, role := range []string{RoleIntegration, RoleStatistics} {
		if w := get(role); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", role, w.Code)
		}
	}
	w := get(RoleCaseHandler)
	if w.Code != http.StatusOK {
		t.Fatalf("case handler: %d %s", w.Code, w.Body)
	}
	var body struct{ Queries []DailyQuery }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"held-results":              `ExecutionStatus="Running" AND ReviewPending=true AND WorkflowType IN ("CandidateLifecycle", "CandidateRetention")`,
		"overdue-reviews":           `ExecutionStatus="Running" AND ReviewPending=true AND WorkflowType IN ("CandidateLifecycle", "CandidateRetention") AND ReviewDue < "2027-03-01T07:30:15Z"`,
		"open-appeals":              `ExecutionStatus="Running" AND WorkflowType="CandidateAppeal"`,
		"deletions-on-hold":         `ExecutionStatus="Running" AND Stage="DeletionOnHold"`,
		"subject-requests-due-soon": `ExecutionStatus="Running" AND WorkflowType="SubjectRequest" AND ReviewPending=true AND ReviewDue < "2027-03-08T07:30:15Z"`,
	}
	if len(body.Queries) != len(want) {
		t.Fatalf("%d queries, want %d: %+v", len(body.Queries), len(want), body.Queries)
	}
	for _, q := range body.Queries {
		if q.Query != want[q.Name] {
			t.Errorf("%s: query %q, want %q", q.Name, q.Query, want[q.Name])
		}
		u, err := url.Parse(q.URL)
		if err != nil || u.Path != "/namespaces/default/workflows" || u.Query().Get("query") != q.Query {
			t.Errorf("%s: url %q does not open the query", q.Name, q.URL)
		}
	}
	if w := get(RoleDPO); w.Code != http.StatusOK {
		t.Errorf("dpo: %d", w.Code)
	}
}
