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
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/examflow/examflow/workflows"
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
	centre := uniqueCentre()
	form := fmt.Sprintf("citizenship-test-%s-%s", centre, session)
	reg := postRegistration(t, newPerson(t).reg(t, "citizenship", centre, session), "")
	url := registrationURL(reg)
	regID := reg.Body["registration_id"].(string)
	wfID := reg.Body["workflow_id"].(string)
	if a := postJSON(t, url+"/discrepancies", map[string]any{"kind": "technical_problem", "note": "screen froze"}, ""); a.Status != http.StatusAccepted {
		t.Fatalf("discrepancy: %d %s", a.Status, a.Raw)
	}
	if a := submitSheet(t, url, form, answersFor(36, 20)); a.Status != http.StatusAccepted {
		t.Fatalf("submit: %d %s", a.Status, a.Raw)
	}
	waitStage(t, url, "UnderReview")
	events, changes := historyCounts(t, wfID), changesAudited(t, regID)
	if n := events[enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED.String()]; n != 2 {
		t.Fatalf("accepted updates before: %d, want 2 (discrepancy and answer sheet)", n)
	}

	decision := `{"part":"test","decision":"correct","corrected_score":30,"reason":"fixed","decided_by":"ch-1"}`
	// The CLI retries a codec server's refusal until its command timeout.
	update := []string{"workflow", "update", "execute", "--workflow-id", wfID, "--name", workflows.UpdateReviewDecision, "--command-timeout", "10s"}
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
		enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED.String(), "activity " + workflows.ActivityDecideReview} {
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
	out, err := temporalCLI(t, "workflow", "start", "--type", workflows.LifecycleWorkflow, "--task-queue", env.cfg.TaskQueue,
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
