package storage

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func auditBase() AuditRecord {
	return AuditRecord{
		AuditEntry: AuditEntry{
			Who: "person-17", Role: "case_handler", Purpose: "manual_review", Action: AuditRead,
			SubjectKind: SubjectRegistration, SubjectID: uuid.MustParse("0b6e3c52-8f7a-4d2e-9c1b-3a5d7e9f1c2b"),
			Fields: []string{"name", "results"}, Operation: "GET /v1/registrations/:id",
		},
		ID:       42,
		At:       time.Date(2025, 3, 1, 9, 30, 0, 123456000, time.UTC),
		PrevHash: bytes.Repeat([]byte{0xab}, 32),
	}
}

// TestAuditHashChangesWithEveryField: the hash covers every field of the
// row, the previous hash and the field boundaries.
func TestAuditHashChangesWithEveryField(t *testing.T) {
	base := auditHash(auditBase())
	tests := []struct {
		name   string
		change func(r *AuditRecord)
	}{
		{"id", func(r *AuditRecord) { r.ID = 43 }},
		{"time by a microsecond", func(r *AuditRecord) { r.At = r.At.Add(time.Microsecond) }},
		{"who", func(r *AuditRecord) { r.Who = "person-18" }},
		{"role", func(r *AuditRecord) { r.Role = "dpo" }},
		{"purpose", func(r *AuditRecord) { r.Purpose = "appeal" }},
		{"action", func(r *AuditRecord) { r.Action = AuditChange }},
		{"subject kind", func(r *AuditRecord) { r.SubjectKind = SubjectCandidate }},
		{"subject id", func(r *AuditRecord) { r.SubjectID = uuid.MustParse("0b6e3c52-8f7a-4d2e-9c1b-3a5d7e9f1c2c") }},
		{"no subject", func(r *AuditRecord) { r.SubjectKind, r.SubjectID = "", uuid.Nil }},
		{"a field added", func(r *AuditRecord) { r.Fields = append(r.Fields, "address") }},
		{"a field removed", func(r *AuditRecord) { r.Fields = r.Fields[:1] }},
		{"fields reordered", func(r *AuditRecord) { r.Fields = []string{"results", "name"} }},
		{"fields joined", func(r *AuditRecord) { r.Fields = []string{"nameresults"} }},
		{"an empty field added", func(r *AuditRecord) { r.Fields = append(r.Fields, "") }},
		{"operation", func(r *AuditRecord) { r.Operation = "PUT /v1/registrations/:id" }},
		{"prev hash", func(r *AuditRecord) { r.PrevHash = bytes.Repeat([]byte{0xac}, 32) }},
		{"boundary between who and role", func(r *AuditRecord) { r.Who, r.Role = "person-17c", "ase_handler" }},
		{"boundary between fields and operation", func(r *AuditRecord) {
			r.Fields, r.Operation = []string{"name"}, "results"
		}},
	}
	seen := map[string]string{hex.EncodeToString(base): "base"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := auditBase()
			tt.change(&r)
			h := hex.EncodeToString(auditHash(r))
			if other, dup := seen[h]; dup {
				t.Fatalf("hash %s is the same as for %q", h, other)
			}
			seen[h] = tt.name
		})
	}
}

// TestAuditHashIsCanonical: the hash does not depend on the time zone the
// time is given in, is stable across calls, and matches the documented
// encoding: the pinned value was computed by a separate implementation of
// the encoding documented on auditHash, so a change of encoding cannot pass
// unnoticed.
func TestAuditHashIsCanonical(t *testing.T) {
	r := auditBase()
	h := auditHash(r)
	oslo := r
	oslo.At = r.At.In(time.FixedZone("CET", 3600))
	if !bytes.Equal(auditHash(oslo), h) {
		t.Error("the hash depends on the time zone")
	}
	none := r
	none.Fields = nil
	empty := r
	empty.Fields = []string{}
	if !bytes.Equal(auditHash(none), auditHash(empty)) {
		t.Error("nil and empty fields hash differently")
	}
	const want = "754476725cc36939adebb4721d560b2df43b7238dbb92ff5ab089f477590b8ad"
	if got := hex.EncodeToString(h); got != want {
		t.Errorf("hash = %s, want %s", got, want)
	}
}

// TestAuditChainCheck: checkAuditRow finds a changed row, a gap and a
// broken link.
func TestAuditChainCheck(t *testing.T) {
	first := auditBase()
	first.ID, first.PrevHash = 1, auditGenesis()
	first.Hash = auditHash(first)
	second := auditBase()
	second.ID, second.PrevHash = 2, first.Hash
	second.Hash = auditHash(second)
	tests := []struct {
		name     string
		prevID   int64
		prevHash []byte
		row      func() AuditRecord
		want     AuditProblem
	}{
		{"first row", 0, auditGenesis(), func() AuditRecord { return first }, ""},
		{"second row", 1, first.Hash, func() AuditRecord { return second }, ""},
		{"changed row", 1, first.Hash, func() AuditRecord { r := second; r.Purpose = "curiosity"; return r }, AuditHashMismatch},
		{"first row missing", 0, auditGenesis(), func() AuditRecord { return second }, AuditGap},
		{"previous hash changed", 1, bytes.Repeat([]byte{1}, 32), func() AuditRecord { return second }, AuditChainBroken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := checkAuditRow(tt.prevID, tt.prevHash, tt.row())
			switch {
			case tt.want == "" && b != nil:
				t.Fatalf("break %+v, want none", *b)
			case tt.want != "" && (b == nil || b.Problem != tt.want):
				t.Fatalf("break %+v, want %s", b, tt.want)
			}
		})
	}
}

// TestAuditEntryValidation: who, role, purpose and action are required, the
// subject comes with its kind, and text PostgreSQL would refuse is refused
// before an id is drawn.
func TestAuditEntryValidation(t *testing.T) {
	ok := auditBase().AuditEntry
	ok.Purpose = "arrange_tests"
	tests := []struct {
		name   string
		change func(e *AuditEntry)
		want   string // "" for valid
	}{
		{"valid", func(*AuditEntry) {}, ""},
		{"no subject", func(e *AuditEntry) { e.SubjectKind, e.SubjectID = "", uuid.Nil }, ""},
		{"no fields", func(e *AuditEntry) { e.Fields = nil }, ""},
		{"who missing", func(e *AuditEntry) { e.Who = " " }, "who is required"},
		{"role missing", func(e *AuditEntry) { e.Role = "" }, "role is required"},
		{"purpose missing", func(e *AuditEntry) { e.Purpose = "" }, "purpose is required"},
		{"purpose outside the catalogue", func(e *AuditEntry) { e.Purpose = "curiosity" }, "purpose must be one of"},
		{"purpose in words, not its ID", func(e *AuditEntry) { e.Purpose = "arranging the test" }, "purpose must be one of"},
		{"research reads no personal data", func(e *AuditEntry) { e.Purpose = "research" }, "purpose must be one of"},
		{"every purpose of the catalogue", func(e *AuditEntry) { e.Purpose = "appeals" }, ""},
		{"action missing", func(e *AuditEntry) { e.Action = "" }, "action is required"},
		{"subject id without kind", func(e *AuditEntry) { e.SubjectKind = "" }, "subject kind is required"},
		{"kind without subject id", func(e *AuditEntry) { e.SubjectID = uuid.Nil }, "subject id is required"},
		{"unknown kind", func(e *AuditEntry) { e.SubjectKind = "appeal" }, "subject kind must be"},
		{"empty field", func(e *AuditEntry) { e.Fields = []string{"name", ""} }, "fields[1] is empty"},
		{"NUL", func(e *AuditEntry) { e.Operation = "GET \x00" }, "operation contains a NUL"},
		{"invalid UTF-8", func(e *AuditEntry) { e.Purpose = "\xff" }, "purpose is not valid UTF-8"},
		{"too long", func(e *AuditEntry) { e.Who = strings.Repeat("x", 513) }, "who is longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			e.Fields = append([]string(nil), ok.Fields...)
			tt.change(&e)
			err := e.validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("valid entry refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidAudit) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrInvalidAudit with %q", err, tt.want)
			}
		})
	}
}
