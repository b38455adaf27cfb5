package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	updatepb "go.temporal.io/api/update/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/deploy/devstack"
)

// temporalCLI runs the pinned Temporal CLI against the test stack.
func temporalCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	tools := os.Getenv("EXAMFLOW_TOOLS_DIR")
	if tools == "" {
		tools, _ = filepath.Abs("../.tools/bin")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append(args, "--address", env.stack.TemporalAddress(), "--namespace", env.cfg.TemporalNamespace)
	if ca := env.stack.TemporalCAFile(); ca != "" {
		// The cluster's frontend serves TLS: the CLI comes through it as
		// anyone with the CA would.
		args = append(args, "--tls-ca-path", ca, "--tls-server-name", devstack.TemporalServerName)
	}
	out, err := exec.CommandContext(ctx, filepath.Join(tools, "temporal"), args...).CombinedOutput()
	return string(out), err
}

// historyCounts counts a workflow's history events by type, and scheduled
// activities by name under "activity <name>".
func historyCounts(t *testing.T, wfID string) map[string]int {
	t.Helper()
	n := map[string]int{}
	iter := env.temporal.GetWorkflowHistory(context.Background(), wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		n[ev.GetEventType().String()]++
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			n["activity "+a.GetActivityType().GetName()]++
		}
	}
	return n
}

// changesAudited counts the audit log's entries that change a registration.
func changesAudited(t *testing.T, regID string) int {
	t.Helper()
	log := do(t, http.MethodGet, "/v1/audit-log?subject_kind=registration&subject_id="+regID, "", nil, nil)
	if log.Status != 200 {
		t.Fatalf("audit log: %d %s", log.Status, log.Raw)
	}
	n := 0
	for _, e := range log.Body["entries"].([]any) {
		if e.(map[string]any)["action"] != "read" {
			n++
		}
	}
	return n
}

// TestTemporalCLIUpdateIsRefused: Temporal is a boundary. Someone who can
// reach the Temporal frontend sends a case handler's decision straight to a
// result held for review with the Temporal CLI, past the API's roles and
// audit log: as plaintext JSON, without an argument, as a forged "sealed"
// payload, and through the API's codec server (which does not encode). The
// worker refuses each one cleanly (no accepted Update, no failed workflow
// task), and nothing changes: the result is still held, the audit log has no
// new change, and the case handler's decision through the API still works.
func TestTemporalCLIUpdateIsRefused(t *testing.T) {
	url, regID, wfID := heldForReview(t)
	events, changes := historyCounts(t, wfID), changesAudited(t, regID)
	if n := events[enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED.String()]; n != 2 {
		t.Fatalf("accepted updates before: %d, want 2 (discrepancy and answer sheet)", n)
	}

	decision := `{"part":"test","decision":"correct","corrected_score":30,"reason":"fixed","decided_by":"ch-1"}`
	// The CLI retries a codec server's refusal until its command timeout.
	update := []string{"workflow", "update", "execute", "--workflow-id", wfID, "--name", cases.UpdateReviewDecision, "--command-timeout", "10s"}
	tests := []struct {
		name string
		args []string
	}{
		{"plaintext JSON", []string{"--input", decision}},
		{"no argument", nil},
		{"forged sealed payload", []string{"--input-base64", "--input", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
			"--input-meta", "encoding=binary/encrypted", "--input-meta", "encryption-key-id=" + env.cfg.PayloadKeyID}},
		{"through the API's codec server with a case handler's token", []string{"--input", decision,
			"--codec-endpoint", env.api.URL + "/codec", "--codec-auth", "Bearer " + env.token}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := temporalCLI(t, append(update, tt.args...)...)
			if err == nil {
				t.Fatalf("the CLI's Update was accepted:\n%s", out)
			}
			t.Logf("refused: %v\n%s", err, strings.TrimSpace(out))
		})
	}

	after := historyCounts(t, wfID)
	for _, typ := range []string{enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED.String(), enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED.String(),
		enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED.String(), "activity " + "DecideReview"} {
		if after[typ] != events[typ] {
			t.Errorf("%s events: %d before, %d after", typ, events[typ], after[typ])
		}
	}
	g := do(t, http.MethodGet, url, "", nil, nil)
	if g.Body["stage"] != "UnderReview" {
		t.Fatalf("stage %v after the CLI's Updates", g.Body["stage"])
	}
	if res := currentResults(t, url)["test"]; res["score"] != float64(20) {
		t.Fatalf("result changed: %v", res)
	}
	if n := changesAudited(t, regID); n != changes {
		t.Fatalf("audited changes: %d before, %d after", changes, n)
	}

	// The case handler's decision through the API still works.
	if a := postJSON(t, url+"/review-decisions", map[string]any{"part": "test", "decision": "correct", "corrected_score": 25,
		"reason": "the technical problem cost five items", "decided_by": "ch-1"}, ""); a.Status != 200 {
		t.Fatalf("decision through the API: %d %s", a.Status, a.Raw)
	}
	waitStage(t, url, "Result")
	if n := changesAudited(t, regID); n != changes+1 {
		t.Fatalf("audited changes after the API's decision: %d, want %d", n, changes+1)
	}
}

// TestTemporalCLIWorkflowStartIsRefused: a lifecycle workflow started with
// the Temporal CLI and a plaintext input (here naming a real registration)
// fails at once, before its code runs: no activity, nothing written.
func TestTemporalCLIWorkflowStartIsRefused(t *testing.T) {
	reg := postRegistration(t, newPerson(t).reg(t, "citizenship", uniqueCentre(), session), "")
	regID := reg.Body["registration_id"].(string)
	changes := changesAudited(t, regID)
	wfID := "registration-" + uuid.NewString()
	out, err := temporalCLI(t, "workflow", "start", "--type", cases.LifecycleWorkflow, "--task-queue", env.cfg.TaskQueue,
		"--workflow-id", wfID, "--input", fmt.Sprintf(`{"registration_id":%q}`, regID))
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	eventually(t, 20*time.Second, func() error {
		d, err := env.temporal.DescribeWorkflowExecution(context.Background(), wfID, "")
		if err != nil {
			return err
		}
		if s := d.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_FAILED {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	h := historyCounts(t, wfID)
	if h[enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED.String()] != 0 || h[enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED.String()] != 0 {
		t.Fatalf("history: %v", h)
	}
	if n := changesAudited(t, regID); n != changes {
		t.Fatalf("audited changes: %d before, %d after", changes, n)
	}
}

// heldForReview registers a candidate whose result is held for a case
// handler and returns the registration's URL, ID and workflow ID.
func heldForReview(t *testing.T) (url, regID, wfID string) {
	t.Helper()
	centre := uniqueCentre()
	reg := postRegistration(t, newPerson(t).reg(t, "citizenship", centre, session), "")
	url = registrationURL(reg)
	holdForReview(t, url, centre, 20)
	return url, reg.Body["registration_id"].(string), reg.Body["workflow_id"].(string)
}

// TestSealedPayloadFromAnotherWorkflowIsRefused: a payload examflow sealed
// is bound to its workflow. Someone who can read one registration's
// history and call the Temporal frontend copies the sealed review decision
// a case handler made there and sends it as an Update to another held
// registration, and copies its sealed input to start a second lifecycle:
// both are refused, and nothing changes.
func TestSealedPayloadFromAnotherWorkflowIsRefused(t *testing.T) {
	ctx := context.Background()
	urlA, _, wfA := heldForReview(t)
	if a := postJSON(t, urlA+"/review-decisions", map[string]any{"part": "test", "decision": "correct", "corrected_score": 30,
		"reason": "the technical problem cost ten items", "decided_by": "ch-1"}, ""); a.Status != 200 {
		t.Fatalf("decision: %d %s", a.Status, a.Raw)
	}
	waitStage(t, urlA, "Result")
	var decision, input *commonpb.Payloads
	iter := env.temporal.GetWorkflowHistory(ctx, wfA, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			input = a.GetInput()
		}
		if r := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest(); r.GetInput().GetName() == cases.UpdateReviewDecision {
			decision = r.GetInput().GetArgs()
		}
	}
	if decision == nil || input == nil {
		t.Fatal("no review decision or input in the history")
	}

	urlB, regB, wfB := heldForReview(t)
	events, changes := historyCounts(t, wfB), changesAudited(t, regB)
	resp, err := env.temporal.WorkflowService().UpdateWorkflowExecution(ctx, &workflowservice.UpdateWorkflowExecutionRequest{
		Namespace: env.cfg.TemporalNamespace, WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wfB},
		WaitPolicy: &updatepb.WaitPolicy{LifecycleStage: enumspb.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED},
		Request: &updatepb.Request{Meta: &updatepb.Meta{UpdateId: uuid.NewString(), Identity: "copied"},
			Input: &updatepb.Input{Name: cases.UpdateReviewDecision, Args: decision}},
	})
	if err == nil && resp.GetOutcome().GetFailure() == nil {
		t.Fatalf("the copied decision was accepted: %v", resp.GetOutcome())
	}
	after := historyCounts(t, wfB)
	for _, typ := range []string{enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED.String(), enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED.String(),
		"activity " + "DecideReview"} {
		if after[typ] != events[typ] {
			t.Errorf("%s events: %d before, %d after", typ, events[typ], after[typ])
		}
	}
	if g := do(t, http.MethodGet, urlB, "", nil, nil); g.Body["stage"] != "UnderReview" {
		t.Fatalf("stage %v after the copied decision", g.Body["stage"])
	}
	if n := changesAudited(t, regB); n != changes {
		t.Fatalf("audited changes: %d before, %d after", changes, n)
	}

	// The copied input starts a lifecycle that fails before its code runs.
	second := "registration-" + uuid.NewString()
	if _, err := env.temporal.WorkflowService().StartWorkflowExecution(ctx, &workflowservice.StartWorkflowExecutionRequest{
		Namespace: env.cfg.TemporalNamespace, WorkflowId: second, RequestId: uuid.NewString(), Identity: "copied",
		WorkflowType: &commonpb.WorkflowType{Name: cases.LifecycleWorkflow}, TaskQueue: &taskqueuepb.TaskQueue{Name: env.cfg.TaskQueue},
		Input: input,
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		d, err := env.temporal.DescribeWorkflowExecution(ctx, second, "")
		if err != nil {
			return err
		}
		if s := d.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_FAILED {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	if h := historyCounts(t, second); h[enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED.String()] != 0 {
		t.Fatalf("the copied lifecycle ran: %v", h)
	}
}
