package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/examflow/examflow/process"
)

// TestTemporalUIServerOnTheCluster: on the cluster stack the Temporal UI
// server (built from source with its assets embedded) reaches the TLS
// frontend with the stack's CA, lists a registration's workflow by
// examflow's custom search attributes from SQL visibility, and offers no
// write actions.
func TestTemporalUIServerOnTheCluster(t *testing.T) {
	if !clusterMode() {
		t.Skip("the dev stack's UI is the dev server's; this test is for `make test-cluster`")
	}
	ui := env.stack.TemporalUIURL()
	get := func(path string, into any) {
		t.Helper()
		resp, err := http.Get(ui + path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %s", path, resp.Status, raw)
		}
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, raw)
		}
	}
	var settings struct {
		DisableWriteActions bool `json:"DisableWriteActions"`
	}
	get("/api/v1/settings", &settings)
	if !settings.DisableWriteActions {
		t.Error("the UI offers write actions (signal, update, terminate, start): a case is changed through the API only")
	}

	centre := uniqueCentre()
	today := time.Now().UTC().Format(time.DateOnly)
	reg := postRegistration(t, newPerson(t).reg(t, "citizenship", centre, today), "")
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", reg.Status, reg.Raw)
	}
	wfID := reg.Body["workflow_id"].(string)
	query := url.QueryEscape(`TestCentre="` + centre + `" AND TestType="citizenship"`)
	eventually(t, 30*time.Second, func() error {
		var list struct {
			Executions []struct {
				Execution struct {
					WorkflowID string `json:"workflowId"`
				} `json:"execution"`
			} `json:"executions"`
		}
		get("/api/v1/namespaces/default/workflows?query="+query, &list)
		for _, e := range list.Executions {
			if e.Execution.WorkflowID == wfID {
				return nil
			}
		}
		return fmt.Errorf("the UI lists %d workflows for the query, not %s", len(list.Executions), wfID)
	})
}

// TestMigrateNamesAMissingNamespace: a real cluster has no namespace until
// its operator makes one (the dev server makes its own). examflow migrate
// then says which namespace is missing and how to create it, instead of a
// bare "not found".
func TestMigrateNamesAMissingNamespace(t *testing.T) {
	err := process.EnsureSearchAttributes(context.Background(), env.temporal, "examflow-no-such-namespace")
	if err == nil {
		t.Fatal("search attributes registered on a namespace that does not exist")
	}
	for _, want := range []string{`namespace "examflow-no-such-namespace" does not exist`, "temporal operator namespace create", "EXAMFLOW_TEMPORAL_NAMESPACE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
