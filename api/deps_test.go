package api

import (
	"os/exec"
	"strings"
	"testing"
)

// TestAPIImportsNeitherWorkerNorActivities: the API starts workflows
// through cases/starts.go and reads through storage; it does not
// depend on the Temporal worker or the activities.
func TestAPIImportsNeitherWorkerNorActivities(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/examflow/examflow/worker" || dep == "github.com/examflow/examflow/activities" {
			t.Errorf("the api package depends on %s", dep)
		}
	}
}
