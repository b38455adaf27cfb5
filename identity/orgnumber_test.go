package identity

import (
	"errors"
	"testing"
)

// TestValidateOrgNumber: mod-11 with weights 3, 2, 7, 6, 5, 4, 3, 2.
func TestValidateOrgNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"974760673", nil}, // Brønnøysundregistrene
		{"983887457", nil}, // a check digit of 7
		{"971526157", nil},
		{"100000040", nil},           // remainder 0: check digit 0
		{"912345670", ErrCheckDigit}, // these eight digits have no valid check digit (10)
		{"974760674", ErrCheckDigit}, // wrong check digit
		{"97476067", ErrFormat},
		{"9747606730", ErrFormat},
		{"97476067a", ErrFormat},
		{"", ErrFormat},
	} {
		err := ValidateOrgNumber(tc.in)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("ValidateOrgNumber(%q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}
