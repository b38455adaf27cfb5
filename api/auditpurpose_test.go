package api

import (
	"net/http"
	"testing"

	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// Every audited route records a purpose from the catalogue that matches the
// policies' purposes (T01), and a route that releases data to a third
// party is audited as a release, not as a change (T08), by the store in the
// release's own transaction (storage.RecordDisclosure), so a recorded
// release always has its entry and a replayed one gets none.
func TestAuditedRoutesNameACataloguedPurpose(t *testing.T) {
	s := &server{}
	releases := 0
	for _, rt := range s.routes() {
		a := rt.audit
		if a == nil {
			continue
		}
		if !policy.IsAuditPurpose(a.purpose) {
			t.Errorf("%s %s: purpose %q is not in the catalogue", rt.Method, rt.Path, a.purpose)
		}
		if rt.Method == http.MethodPost && rt.Path == "/v1/candidates/:id/disclosures" {
			releases++
			if a.action != storage.AuditRelease || !a.byStore {
				t.Errorf("%s %s: audited as %q (by the store: %v), want %q by the store", rt.Method, rt.Path, a.action, a.byStore, storage.AuditRelease)
			}
		} else if a.byStore {
			t.Errorf("%s %s: audited by the store, but it releases nothing", rt.Method, rt.Path)
		}
	}
	if releases != 1 {
		t.Errorf("%d release routes, want 1", releases)
	}
}
