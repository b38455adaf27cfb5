package identity

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the identifier validators. `make fuzz` runs each for a
// while; `go test` runs their seeds (f.Add and testdata/fuzz/<Fuzz...>/) as
// ordinary tests.

// checkWrapped fails unless err wraps one of the sentinels and carries a
// detail after it: the API shows the detail (see api.detailOf).
func checkWrapped(t *testing.T, call string, err error, sentinels ...error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			if !strings.HasPrefix(err.Error(), s.Error()+": ") || len(err.Error()) == len(s.Error())+2 {
				t.Errorf("%s: error %q does not read %q followed by a detail", call, err, s.Error()+": ")
			}
			return
		}
	}
	t.Errorf("%s: error %v wraps none of %v", call, err, sentinels)
}

// allDigits reports whether s is n ASCII digits.
func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// realDate reports whether dd.mm is a date in at least one of the three
// centuries a two-digit year yy can be in.
func realDate(dd, mm, yy int) bool {
	for _, c := range []int{1800, 1900, 2000} {
		t := time.Date(c+yy, time.Month(mm), dd, 0, 0, 0, 0, time.UTC)
		if mm >= 1 && mm <= 12 && dd >= 1 && t.Day() == dd && int(t.Month()) == mm {
			return true
		}
	}
	return false
}

func num(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// FuzzValidateNationalID: under both Options, never a panic; a refusal wraps
// ErrFormat, ErrCheckDigit or ErrDate; an accepted number is eleven digits
// whose first six are a date, its kind follows the first digit, and (under
// the current rule) its check digits are the ones WithCheckDigits computes.
// The 2032 rule accepts everything the current rule does.
func FuzzValidateNationalID(f *testing.F) {
	for _, s := range []string{
		"31129956715", // the register's worked example
		"31129956716", // wrong second check digit
		"31129956725", // wrong first check digit
		"41017042325", // a D number (1 January 1970)
		"15030551262", // born 2005
		"3112995671", "3112995671A", "311299 6715", "", "00000000000", "99999999999",
		"٣١١٢٩٩٥٦٧١٥", // Arabic-Indic digits are not digits here
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		oldKind, oldErr := ValidateNationalID(s, Options{})
		newKind, newErr := ValidateNationalID(s, Options{AcceptPost2032Check: true})
		for _, r := range []struct {
			opts Options
			kind Kind
			err  error
		}{{Options{}, oldKind, oldErr}, {Options{AcceptPost2032Check: true}, newKind, newErr}} {
			if r.err != nil {
				checkWrapped(t, "ValidateNationalID", r.err, ErrFormat, ErrCheckDigit, ErrDate)
				if r.kind != "" {
					t.Errorf("ValidateNationalID(%q, %+v) refused it but returned kind %q", s, r.opts, r.kind)
				}
				continue
			}
			if !allDigits(s, 11) {
				t.Fatalf("ValidateNationalID(%q, %+v) accepted something that is not eleven digits", s, r.opts)
			}
			want := KindFodselsnummer
			dd := num(s[0:2])
			if s[0] >= '4' {
				want, dd = KindDNumber, dd-40
			}
			if r.kind != want {
				t.Errorf("ValidateNationalID(%q, %+v) = %q, want %q", s, r.opts, r.kind, want)
			}
			if !realDate(dd, num(s[2:4]), num(s[4:6])) {
				t.Errorf("ValidateNationalID(%q, %+v) accepted a number whose first six digits are no date", s, r.opts)
			}
		}
		if oldErr == nil {
			if newErr != nil {
				t.Errorf("ValidateNationalID(%q): the 2032 rule refuses what the current rule accepts: %v", s, newErr)
			}
			if full, ok := WithCheckDigits(s[:9]); !ok || full != s {
				t.Errorf("ValidateNationalID accepted %q but WithCheckDigits(%q) = %q, %v", s, s[:9], full, ok)
			}
		}
		if oldErr != nil && newErr == nil && !errors.Is(oldErr, ErrCheckDigit) {
			t.Errorf("ValidateNationalID(%q): only the 2032 rule accepts it, but the current rule's error is %v", s, oldErr)
		}
	})
}

// FuzzWithCheckDigits: never a panic; a completed number starts with the
// nine digits and validates (unless its date is impossible, which
// WithCheckDigits does not check); when no completion is reported, none of
// the hundred possible ones validates.
func FuzzWithCheckDigits(f *testing.F) {
	for _, s := range []string{"311299567", "410170423", "150305512", "010133500", "000000000", "999999999", "12345678", "12345678x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, nine string) {
		full, ok := WithCheckDigits(nine)
		if !ok {
			if full != "" {
				t.Errorf("WithCheckDigits(%q) = %q with false", nine, full)
			}
			if allDigits(nine, 9) {
				for k := 0; k < 100; k++ {
					s := nine + string(rune('0'+k/10)) + string(rune('0'+k%10))
					if _, err := ValidateNationalID(s, Options{}); err == nil {
						t.Fatalf("WithCheckDigits(%q) found no check digits but %s validates", nine, s)
					}
				}
			}
			return
		}
		if !allDigits(nine, 9) || len(full) != 11 || full[:9] != nine || !allDigits(full, 11) {
			t.Fatalf("WithCheckDigits(%q) = %q", nine, full)
		}
		for _, opts := range []Options{{}, {AcceptPost2032Check: true}} {
			if _, err := ValidateNationalID(full, opts); err != nil && !errors.Is(err, ErrDate) {
				t.Errorf("WithCheckDigits(%q) = %s, which ValidateNationalID(%+v) refuses: %v", nine, full, opts, err)
			}
		}
	})
}

// FuzzValidateDUF: never a panic; a refusal wraps ErrFormat and reports no
// checksum match; an accepted number is twelve digits starting with a year
// from 1854 to now; a number whose checksum matches stops matching when its
// last digit changes.
func FuzzValidateDUF(f *testing.F) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC).Unix()
	for _, s := range []string{"200205705502", "200900595509", "201258697561", "20120586975", "2012058697AB", "180005705502", "203005705502", "", "185400000000"} {
		f.Add(s, now)
	}
	f.Fuzz(func(t *testing.T, s string, nowUnix int64) {
		now := time.Unix(nowUnix, 0).UTC()
		ok, err := ValidateDUF(s, now)
		if err != nil {
			checkWrapped(t, "ValidateDUF", err, ErrFormat)
			if ok {
				t.Errorf("ValidateDUF(%q) refused it but reports a checksum match", s)
			}
			return
		}
		if !allDigits(s, 12) {
			t.Fatalf("ValidateDUF(%q) accepted something that is not twelve digits", s)
		}
		if y := num(s[:4]); y < 1854 || y > now.Year() {
			t.Errorf("ValidateDUF(%q, %s) accepted the year %d", s, now.Format(time.DateOnly), y)
		}
		if ok {
			other := s[:11] + string(rune('0'+(s[11]-'0'+1)%10))
			if ok2, err := ValidateDUF(other, now); err != nil || ok2 {
				t.Errorf("ValidateDUF: both %s and %s match the checksum (%v)", s, other, err)
			}
		}
	})
}

// FuzzValidateOrgNumber: never a panic; a refusal wraps ErrFormat or
// ErrCheckDigit; an accepted number is nine digits; at most one ninth digit
// completes any eight digits.
func FuzzValidateOrgNumber(f *testing.F) {
	for _, s := range []string{"974760673", "983887457", "971526157", "100000040", "912345670", "974760674", "97476067", "9747606730", "97476067a", "", "974 760 673"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateOrgNumber(s)
		if err != nil {
			checkWrapped(t, "ValidateOrgNumber", err, ErrFormat, ErrCheckDigit)
			if errors.Is(err, ErrCheckDigit) && !allDigits(s, 9) {
				t.Errorf("ValidateOrgNumber(%q) blames the check digit of something that is not nine digits", s)
			}
		} else if !allDigits(s, 9) {
			t.Fatalf("ValidateOrgNumber(%q) accepted something that is not nine digits", s)
		}
		if !allDigits(s, 9) {
			return
		}
		valid := 0
		for d := '0'; d <= '9'; d++ {
			if ValidateOrgNumber(s[:8]+string(d)) == nil {
				valid++
			}
		}
		if valid > 1 {
			t.Errorf("ValidateOrgNumber: %d check digits complete %s", valid, s[:8])
		}
	})
}
