package identity

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// withChecks completes nine digits with their check digits or fails.
func withChecks(t *testing.T, nine string) string {
	t.Helper()
	n, ok := WithCheckDigits(nine)
	if !ok {
		t.Fatalf("%s has no valid check digits", nine)
	}
	return n
}

func TestValidateNationalID(t *testing.T) {
	dNumber := withChecks(t, "410170423") // born 1 January 1970, day + 40
	tests := []struct {
		name    string
		in      string
		opts    Options
		want    Kind
		wantErr error
	}{
		{"worked example from the register", "31129956715", Options{}, KindFodselsnummer, nil},
		{"born 2005", withChecks(t, "150305512"), Options{}, KindFodselsnummer, nil},
		{"D number", dNumber, Options{}, KindDNumber, nil},
		{"wrong second check digit", "31129956716", Options{}, "", ErrCheckDigit},
		{"wrong first check digit", "31129956725", Options{}, "", ErrCheckDigit},
		{"too short", "3112995671", Options{}, "", ErrFormat},
		{"letters", "3112995671A", Options{}, "", ErrFormat},
		{"spaces", "311299 6715", Options{}, "", ErrFormat},
		{"impossible date", withChecks(t, "310299123"), Options{}, "", ErrDate},
		{"month 13", withChecks(t, "011399123"), Options{}, "", ErrDate},
		{"individual number not used for that year", withChecks(t, "010150600"), Options{}, "", ErrDate},
		{"empty", "", Options{}, "", ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateNationalID(tt.in, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ValidateNationalID(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("ValidateNationalID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidateNationalIDPost2032Rule(t *testing.T) {
	// Find a number whose first check sum leaves remainder 2 and whose
	// second check digit holds: valid only under the announced 2032 rule.
	var n string
	for ind := 500; ind <= 999 && n == ""; ind++ {
		d, _ := digits(fmt.Sprintf("010133%03d", ind), 9)
		s1 := 0
		for i, w := range weightsK1 {
			s1 += d[i] * w
		}
		k1 := ((2-s1)%11 + 11) % 11
		if k1 > 9 {
			continue
		}
		d = append(d, k1)
		s2 := 0
		for i, w := range weightsK2 {
			s2 += d[i] * w
		}
		k2 := (11 - s2%11) % 11
		if k2 == 10 {
			continue
		}
		n = fmt.Sprintf("010133%03d%d%d", ind, k1, k2)
	}
	if n == "" {
		t.Fatal("found no number to test the 2032 rule with")
	}
	if _, err := ValidateNationalID(n, Options{}); !errors.Is(err, ErrCheckDigit) {
		t.Fatalf("old rule accepted %s: %v", n, err)
	}
	if _, err := ValidateNationalID(n, Options{AcceptPost2032Check: true}); err != nil {
		t.Fatalf("2032 rule refused %s: %v", n, err)
	}
}

func TestValidateDUF(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in         string
		checksumOK bool
		wantErr    error
	}{
		{"200205705502", true, nil},
		{"200900595509", true, nil},
		{"200112345609", true, nil},
		{"201017238203", true, nil},
		{"200816832910", true, nil},
		{"199201426900", true, nil},
		{"201258697561", false, nil}, // UDI's illustrative number: format fine, checksum not
		{"20120586975", false, ErrFormat},
		{"2012058697AB", false, ErrFormat},
		{"180005705502", false, ErrFormat}, // year before 1854
		{"203005705502", false, ErrFormat}, // year in the future
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ok, err := ValidateDUF(tt.in, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ValidateDUF(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if ok != tt.checksumOK {
				t.Fatalf("ValidateDUF(%q) checksum ok = %v, want %v", tt.in, ok, tt.checksumOK)
			}
		})
	}
}

// TestBirthDate: the birth date a number encodes, a D number's day less 40,
// the century from the individual number; none for an invalid number or
// one valid only under the post-2032 check rule.
func TestBirthDate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" when none
	}{
		{"fødselsnummer", "31129956715", "1899-12-31"},
		{"born 2005", withChecks(t, "150305512"), "2005-03-15"},
		{"born 1985", withChecks(t, "120385120"), "1985-03-12"},
		{"D number", withChecks(t, "410170423"), "1970-01-01"},
		{"wrong check digit", "31129956716", ""},
		{"DUF number", "200205705502", ""},
		{"post-2032 check rule", "12038512445", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "post-2032 check rule" {
				if _, err := ValidateNationalID(tt.in, Options{AcceptPost2032Check: true}); err != nil {
					t.Fatalf("%s is not valid under the post-2032 rule: %v", tt.in, err)
				}
			}
			got, ok := BirthDate(tt.in)
			if tt.want == "" {
				if ok {
					t.Fatalf("BirthDate(%s) = %s, want none", tt.in, got.Format(time.DateOnly))
				}
				return
			}
			if !ok || got.Format(time.DateOnly) != tt.want {
				t.Fatalf("BirthDate(%s) = %s, %v; want %s", tt.in, got.Format(time.DateOnly), ok, tt.want)
			}
		})
	}
}
