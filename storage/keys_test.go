package storage

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/uuid"
)

func TestLocalKeyRingAndSealing(t *testing.T) {
	ctx := context.Background()
	old, err := NewLocalKeyRing(map[string][]byte{"m1": bytes.Repeat([]byte{1}, 32)}, "m1")
	if err != nil {
		t.Fatal(err)
	}
	dek := bytes.Repeat([]byte{7}, 32)
	wrapped, id, err := old.Wrap(ctx, dek)
	if err != nil || id != "m1" || bytes.Contains(wrapped, dek) {
		t.Fatalf("wrap: %v %q", err, id)
	}
	rotated, _ := NewLocalKeyRing(map[string][]byte{"m1": bytes.Repeat([]byte{1}, 32), "m2": bytes.Repeat([]byte{2}, 32)}, "m2")
	if got, err := rotated.Unwrap(ctx, wrapped, "m1"); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("unwrap after rotation: %v", err)
	}
	if _, err := rotated.Unwrap(ctx, wrapped, "m2"); err == nil {
		t.Fatal("unwrapped with the wrong master key")
	}

	alice, bob := uuid.New(), uuid.New()
	sealed, err := sealJSON(dek, alice, "person", sealedPerson{GivenName: "Kari", NationalID: "12048510092"})
	if err != nil || bytes.Contains(sealed, []byte("Kari")) {
		t.Fatalf("seal: %v", err)
	}
	tests := []struct {
		name    string
		dek     []byte
		subject uuid.UUID
		what    string
		ok      bool
	}{
		{"right key and subject", dek, alice, "person", true},
		{"another subject's row", dek, bob, "person", false},
		{"another column", dek, alice, "address", false},
		{"shredded: another key", bytes.Repeat([]byte{8}, 32), alice, "person", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p sealedPerson
			err := openJSON(tt.dek, tt.subject, tt.what, sealed, &p)
			if (err == nil) != tt.ok {
				t.Fatalf("open: %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && p.GivenName != "Kari" {
				t.Fatalf("opened %+v", p)
			}
		})
	}
}
