package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// mustReleasesAudited checks that every disclosure recorded for a
// candidate is in the audit log as a release (item 9 of the privacy audit,
// T08): one entry with action release per disclosure, for the candidate,
// for the purpose the recipient's releases serve in the catalogue (a
// purpose of the audit log's catalogue), naming exactly the categories
// released, by who released it (examflow's own steps as examflow in role
// system). It returns the release entries.
func mustReleasesAudited(t *testing.T, candidateID string) []storage.AuditRecord {
	t.Helper()
	ctx := context.Background()
	cand := uuid.MustParse(candidateID)
	ds, err := env.store.Disclosures(ctx, cand)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := env.store.AuditLog(ctx, storage.AuditFilter{SubjectKind: storage.SubjectCandidate, SubjectID: cand, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var releases []storage.AuditRecord
	for _, e := range entries {
		if e.Action == storage.AuditRelease {
			releases = append(releases, e)
		}
	}
	key := func(purpose, operation string, fields []string) string {
		return fmt.Sprintf("%s|%s|%s", purpose, operation, strings.Join(fields, ","))
	}
	var want, got []string
	for _, d := range ds {
		r, ok := policy.LookupRecipient(d.Recipient)
		if !ok {
			t.Fatalf("disclosure %s to %q, not a catalogued recipient", d.ID, d.Recipient)
		}
		op := d.Action + " to " + d.Recipient
		if d.Action == storage.DisclosureRelease {
			op = "POST /v1/candidates/:id/disclosures"
		}
		want = append(want, key(r.Purpose, op, d.Categories))
	}
	for _, e := range releases {
		if !policy.IsAuditPurpose(e.Purpose) {
			t.Errorf("release entry %d: purpose %q outside the catalogue", e.ID, e.Purpose)
		}
		system := e.Who == storage.ReleasedBySystem && e.Role == storage.ReleasedBySystemRole
		if api := e.Operation == "POST /v1/candidates/:id/disclosures"; api == system || (api && e.Role != "case_handler") {
			t.Errorf("release entry %d by %q in role %q through %q", e.ID, e.Who, e.Role, e.Operation)
		}
		got = append(got, key(e.Purpose, e.Operation, e.Fields))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("release audit entries for candidate %s:\n got %q\nwant %q (one per disclosure)", candidateID, got, want)
	}
	return releases
}
