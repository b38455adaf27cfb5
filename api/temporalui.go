package api

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// TemporalUI builds links to pages of the Temporal UI: a workflow's page
// and a list of workflows found by a visibility query. With no BaseURL
// (EXAMFLOW_TEMPORAL_UI_URL unset) it builds none.
type TemporalUI struct {
	// BaseURL is the UI's address, e.g. http://127.0.0.1:8233.
	BaseURL string
	// Namespace is the Temporal namespace the workflows run in.
	Namespace string
}

// temporalUIRoles may follow a link into the Temporal UI: the roles the
// codec server decodes payloads for. Integrations, candidates' systems and
// the other roles get no link.
var temporalUIRoles = []string{RoleCaseHandler, RoleDPO}

func (u TemporalUI) namespaceURL() string {
	return strings.TrimRight(u.BaseURL, "/") + "/namespaces/" + url.PathEscape(u.Namespace) + "/workflows"
}

// WorkflowURL is the UI's page of the workflow: its latest run, as the UI
// opens a workflow's page without a run ID. Empty when no UI is configured.
func (u TemporalUI) WorkflowURL(workflowID string) string {
	if u.BaseURL == "" || workflowID == "" {
		return ""
	}
	return u.namespaceURL() + "/" + url.PathEscape(workflowID)
}

// ListURL is the UI's list of the workflows the visibility query finds.
// Empty when no UI is configured.
func (u TemporalUI) ListURL(query string) string {
	if u.BaseURL == "" {
		return ""
	}
	return u.namespaceURL() + "?" + url.Values{"query": {query}}.Encode()
}

// uiLink is the Temporal UI's page of the workflow for a caller who may see
// Temporal, or empty: answers carry it as temporal_ui_url.
func (s *server) uiLink(c *gin.Context, workflowID string) string {
	if !principal(c).Has(temporalUIRoles...) {
		return ""
	}
	return s.TemporalUI.WorkflowURL(workflowID)
}

// DailyQuery is one of the case handler's daily lists in the Temporal UI:
// a visibility query, and the link to the UI's list of what it finds.
// docs/temporal-ui.md lists the same queries.
type DailyQuery struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Query       string `json:"query"`
	URL         string `json:"url,omitempty"`
}

// The placeholders of the daily queries, filled in with the current time
// (RFC 3339, UTC, whole seconds).
const (
	placeholderNow     = "{now}"
	placeholderNowWeek = "{now+7d}"
)

// dailyQueries are the case handler's daily lists. Their queries use only
// what SQL visibility (the dev server's SQLite, a cluster's PostgreSQL)
// supports: no ORDER BY.
var dailyQueries = []DailyQuery{
	{Name: "held-results", Description: "results held for a case handler's review",
		Query: `ExecutionStatus="Running" AND ReviewPending=true AND WorkflowType IN ("CandidateLifecycle", "CandidateRetention")`},
	{Name: "overdue-reviews", Description: "held results whose review is past its due date",
		Query: `ExecutionStatus="Running" AND ReviewPending=true AND WorkflowType IN ("CandidateLifecycle", "CandidateRetention") AND ReviewDue < "` + placeholderNow + `"`},
	{Name: "open-appeals", Description: "appeals not yet decided",
		Query: `ExecutionStatus="Running" AND WorkflowType="CandidateAppeal"`},
	{Name: "deletions-on-hold", Description: "deletions due but postponed by a legal hold",
		Query: `ExecutionStatus="Running" AND Stage="DeletionOnHold"`},
	{Name: "subject-requests-due-soon", Description: "open data subject requests due within seven days or overdue",
		Query: `ExecutionStatus="Running" AND WorkflowType="SubjectRequest" AND ReviewPending=true AND ReviewDue < "` + placeholderNowWeek + `"`},
}

// DailyQueries returns the case handler's daily lists with their
// placeholders: {now} and {now+7d} stand for the time the list is opened.
func DailyQueries() []DailyQuery {
	return append([]DailyQuery(nil), dailyQueries...)
}

// FillQuery replaces a daily query's placeholders with times counted from
// now.
func FillQuery(query string, now time.Time) string {
	at := func(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
	return strings.NewReplacer(placeholderNow, at(now), placeholderNowWeek, at(now.Add(7*24*time.Hour))).Replace(query)
}

// listDailyQueries answers GET /v1/temporal-ui/queries: each daily list
// with its query filled in for now and, when the UI's address is
// configured, the link that opens it. The queries hold no personal data.
func (s *server) listDailyQueries(c *gin.Context) {
	now := s.Validation.Now()
	out := make([]DailyQuery, 0, len(dailyQueries))
	for _, q := range dailyQueries {
		q.Query = FillQuery(q.Query, now)
		q.URL = s.TemporalUI.ListURL(q.Query)
		out = append(out, q)
	}
	c.JSON(http.StatusOK, gin.H{"queries": out})
}
