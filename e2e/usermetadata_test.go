package e2e

import (
	"context"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	querypb "go.temporal.io/api/query/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/workflowservice/v1"
)

// metadataQuery is the SDK's built-in query the Temporal UI asks for a
// workflow's current details and its handlers' descriptions.
const metadataQuery = "__temporal_workflow_metadata"

// userMetadataTexts reads what the Temporal UI shows of a workflow beyond
// its payloads: the static summary and details of the start, the summaries
// of its activities and timers in the history, and the answer to the
// metadata query (current details, Update and Query descriptions). It fails
// unless every one of them is encrypted like any other payload, and
// returns them opened, for the caller to scan.
func userMetadataTexts(t *testing.T, wfID string) []string {
	t.Helper()
	ctx := context.Background()
	dc := env.process.Codec.ReplayDataConverter()
	var texts []string
	open := func(where string, p *commonpb.Payload) {
		t.Helper()
		if p == nil {
			return
		}
		if enc := string(p.GetMetadata()["encoding"]); enc != "binary/encrypted" {
			t.Fatalf("%s of %s is %q, not encrypted: %s", where, wfID, enc, p.GetData())
		}
		var s string
		if err := dc.FromPayload(p, &s); err != nil {
			t.Fatalf("open %s of %s: %v", where, wfID, err)
		}
		texts = append(texts, s)
	}
	desc, err := env.temporal.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	open("static summary", desc.GetExecutionConfig().GetUserMetadata().GetSummary())
	open("static details", desc.GetExecutionConfig().GetUserMetadata().GetDetails())
	if len(texts) == 0 {
		t.Fatalf("%s has no static summary", wfID)
	}
	iter := env.temporal.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	summaries := 0
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if md := ev.GetUserMetadata(); md != nil {
			summaries++
			open(ev.GetEventType().String()+" summary", md.GetSummary())
			open(ev.GetEventType().String()+" details", md.GetDetails())
		}
	}
	if summaries == 0 {
		t.Fatalf("the history of %s has %d events with a summary; the check would prove nothing", wfID, summaries)
	}

	// The metadata query's answer as the frontend returns it: sealed.
	resp, err := env.temporal.WorkflowService().QueryWorkflow(ctx, &workflowservice.QueryWorkflowRequest{
		Namespace: env.cfg.TemporalNamespace, Execution: &commonpb.WorkflowExecution{WorkflowId: wfID},
		Query: &querypb.WorkflowQuery{QueryType: metadataQuery},
	})
	if err != nil {
		t.Fatalf("metadata query: %v", err)
	}
	raw := resp.GetQueryResult().GetPayloads()
	if len(raw) != 1 || string(raw[0].GetMetadata()["encoding"]) != "binary/encrypted" {
		t.Fatalf("the metadata query's answer is not one encrypted payload: %v", raw)
	}
	// And opened, as the UI shows it through the codec server.
	v, err := env.temporal.QueryWorkflow(ctx, wfID, "", metadataQuery)
	if err != nil {
		t.Fatalf("metadata query: %v", err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatalf("decode metadata: %v", err)
	}
	if !strings.Contains(md.GetCurrentDetails(), "examflow's API") {
		t.Fatalf("%s shows no current details: %q", wfID, md.GetCurrentDetails())
	}
	texts = append(texts, md.GetCurrentDetails())
	for _, d := range append(md.GetDefinition().GetUpdateDefinitions(), md.GetDefinition().GetQueryDefinitions()...) {
		texts = append(texts, d.GetName()+": "+d.GetDescription())
	}
	return texts
}

// assertNoPersonalDataInUserMetadata fails if any of secrets appears in
// the workflow's user metadata (userMetadataTexts).
func assertNoPersonalDataInUserMetadata(t *testing.T, wfID string, secrets []string) {
	t.Helper()
	all := strings.Join(userMetadataTexts(t, wfID), "\n")
	for _, s := range secrets {
		if s != "" && strings.Contains(all, s) {
			t.Fatalf("personal data %q found in the user metadata of %s", s, wfID)
		}
	}
}
