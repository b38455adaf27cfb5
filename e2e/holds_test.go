package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/worker"
)

// TestOpenCheatingCaseHoldsOnlyWhatItNeeds (T14, T16, T17): a provisional
// cheating report left undecided keeps the lifecycle open, but its legal
// hold covers only what the case needs. The address and the payment status
// are deleted at their milestones (seconds here) while the case is open,
// with their deletion records; the rest of the registration stays. The
// undecided case is escalated to case handlers after
// EXAMFLOW_CHEATING_ESCALATE_AFTER (seconds here): CheatingEscalated=true in
// the Temporal UI and examflow_cheating_cases_escalated count it until a
// case handler decides it.
func TestOpenCheatingCaseHoldsOnlyWhatItNeeds(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	today := now.Format(time.DateOnly)
	// Periods run from the test date (midnight UTC).
	sinceMidnight := now.Sub(now.Truncate(24 * time.Hour))
	rs := startRetentionStack(t, policy.Periods{policy.Address: sinceMidnight + 6*time.Second, policy.PaymentStatus: sinceMidnight + 9*time.Second,
		policy.PersonalData: sinceMidnight + time.Hour, policy.Cheating: time.Hour},
		func(d *worker.Deps) { d.TestDay.CheatingEscalateAfter = 4 * time.Second })
	regID, wfID := rs.registerPaid(t, today)
	url := "/v1/registrations/" + regID
	if d := doAt(t, rs.url, http.MethodPost, url+"/discrepancies", "application/json", []byte(`{"kind": "provisional_cheating"}`), nil); d.Status != 202 {
		t.Fatalf("provisional: %d %s", d.Status, d.Raw)
	}
	addresses := `SELECT count(*) FROM candidate_addresses a JOIN registrations r ON r.candidate_id = a.candidate_id WHERE r.id = $1`
	if n := rowCount(t, addresses, regID); n != 1 {
		t.Fatalf("%d addresses before the milestone, want 1", n)
	}

	// Both unheld categories go at their milestones while the case is open.
	eventually(t, 40*time.Second, func() error {
		if n := rowCount(t, addresses, regID); n != 0 {
			return fmt.Errorf("the address is still there during the open cheating case")
		}
		if n := rowCount(t, `SELECT count(*) FROM registrations WHERE id = $1 AND payment_status IS NOT NULL`, regID); n != 0 {
			return fmt.Errorf("the payment status is still there during the open cheating case")
		}
		return nil
	})
	if n := rowCount(t, `SELECT count(*) FROM deletion_records WHERE registration_id = $1 AND category IN ('address', 'payment_status')`, regID); n != 2 {
		t.Fatalf("%d deletion records for the address and the payment status, want 2", n)
	}
	// What the case needs stays, and the lifecycle is still open.
	if n := rowCount(t, `SELECT count(*) FROM registrations r JOIN candidates c ON c.id = r.candidate_id WHERE r.id = $1`, regID); n != 1 {
		t.Fatal("the registration or its candidate went with the address")
	}
	if n := rowCount(t, `SELECT count(*) FROM deletion_records WHERE registration_id = $1 AND category NOT IN ('address', 'payment_status')`, regID); n != 0 {
		t.Fatalf("%d other categories deleted while the case is open", n)
	}
	d, err := env.temporal.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	if info := d.GetWorkflowExecutionInfo(); info.GetType().GetName() != cases.LifecycleWorkflow || info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("workflow is %s %s, want the lifecycle still running", info.GetType().GetName(), info.GetStatus())
	}

	// The undecided case was escalated: the case handlers' queue and the
	// operators' gauge show it.
	escalated := fmt.Sprintf("WorkflowId = %q AND CheatingEscalated = true", wfID)
	eventually(t, 30*time.Second, func() error {
		if n := countWorkflows(t, escalated); n != 1 {
			return fmt.Errorf("%d workflows found by %s", n, escalated)
		}
		return nil
	})
	if n := rowCount(t, `SELECT count(*) FROM discrepancies WHERE registration_id = $1 AND escalated_at IS NOT NULL`, regID); n != 1 {
		t.Fatalf("%d escalated reports recorded, want 1", n)
	}
	if v := stateGauge(t, "examflow_cheating_cases_escalated", nil); v < 1 {
		t.Fatalf("examflow_cheating_cases_escalated = %v, want at least 1", v)
	}
	before := stateGauge(t, "examflow_cheating_cases_escalated", nil)

	// Decided, it leaves the queue and the gauge.
	if d := doAt(t, rs.url, http.MethodPost, url+"/cheating-decisions", "application/json",
		[]byte(`{"decision": "dismissed", "reasons": "no evidence", "decided_by": "ch-1"}`), nil); d.Status != 200 {
		t.Fatalf("decide: %d %s", d.Status, d.Raw)
	}
	eventually(t, 30*time.Second, func() error {
		if n := countWorkflows(t, fmt.Sprintf("WorkflowId = %q AND CheatingEscalated = false", wfID)); n != 1 {
			return fmt.Errorf("the decided case is still shown as escalated")
		}
		return nil
	})
	if v := stateGauge(t, "examflow_cheating_cases_escalated", nil); v != before-1 {
		t.Fatalf("examflow_cheating_cases_escalated = %v after the decision, want %v", v, before-1)
	}
}
