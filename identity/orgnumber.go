package identity

import "fmt"

// orgWeights are the mod-11 weights of a Norwegian organisation number
// (Brønnøysundregistrene): the ninth digit is the check digit.
var orgWeights = [8]int{3, 2, 7, 6, 5, 4, 3, 2}

// ValidateOrgNumber checks a nine-digit organisation number: digits only,
// and its mod-11 check digit.
func ValidateOrgNumber(s string) error {
	d, err := digits(s, 9)
	if err != nil {
		return err
	}
	sum := 0
	for i, w := range orgWeights {
		sum += d[i] * w
	}
	check := 11 - sum%11
	switch check {
	case 11:
		check = 0
	case 10:
		return fmt.Errorf("%w: no valid check digit exists for these eight digits", ErrCheckDigit)
	}
	if d[8] != check {
		return fmt.Errorf("%w: the check digit does not match", ErrCheckDigit)
	}
	return nil
}
