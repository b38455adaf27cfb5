package api

import (
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/storage"
)

// registerLegacyAndCandidateRoutes registers the legacy import and the case
// handlers' candidate routes on the /v1 group.

// LegacyRegistrationRequest is the body of POST /v1/legacy/registrations: a
// registration from the legacy system. Beyond the normal registration it
// carries the original registration date and, only for registrations before
// 15 February 2022, the sensitive country of origin and mother tongue (T07).
// Unknown fields are refused.
type LegacyRegistrationRequest struct {
	RegistrationRequest
	OriginalRegistrationDate string  `json:"original_registration_date"`
	CountryOfOrigin          *string `json:"country_of_origin"`
	MotherTongue             *string `json:"mother_tongue"`
}

const sensitiveRefusal = "may only be recorded for registrations before 15 February 2022"

// Validate checks the request as a normal registration and then the legacy
// fields. It returns the storage inputs, the field errors and the warnings.
func (r *LegacyRegistrationRequest) Validate(opts ValidationOptions) (storage.NewRegistration, storage.LegacyData, []FieldError, []FieldError) {
	in, errs, warnings := r.RegistrationRequest.validate(opts, true)
	v := &validator{errs: errs, warnings: warnings}
	var legacy storage.LegacyData

	legacy.OriginalDate = v.date("original_registration_date", r.OriginalRegistrationDate, true)
	today := opts.Now()
	today = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	if d := legacy.OriginalDate; !d.IsZero() && (d.Year() < 2000 || d.After(today)) {
		v.add("original_registration_date", "must be a date from 2000 until today")
	}
	// T07: the sensitive fields are refused for a later registration,
	// whatever their value, and for one whose date is unknown.
	late := legacy.OriginalDate.IsZero() || !legacy.OriginalDate.Before(storage.SensitiveDataCutoff)
	sensitive := func(field string, value *string, re interface{ MatchString(string) bool }, format string) string {
		if value == nil {
			return ""
		}
		if late {
			v.add(field, sensitiveRefusal)
			return ""
		}
		val := strings.TrimSpace(*value)
		if !re.MatchString(val) {
			v.add(field, "must be %s, or be left out", format)
		}
		return val
	}
	legacy.CountryOfOrigin = sensitive("country_of_origin", r.CountryOfOrigin, countryRe, "an ISO 3166-1 alpha-2 code such as ER")
	legacy.MotherTongue = sensitive("mother_tongue", r.MotherTongue, languageRe, "an ISO 639 language code of 2 or 3 lowercase letters such as ti")
	return in, legacy, v.errs, v.warnings
}

func (s *server) importLegacyRegistration(c *gin.Context) {
	s.register(c, func(body []byte) (registrationInput, *Problem) {
		var req LegacyRegistrationRequest
		if p := decodeStrictBytes(body, &req); p != nil {
			return registrationInput{}, p
		}
		in, legacy, errs, warnings := req.Validate(s.Validation)
		return registrationInput{in: in, legacy: &legacy, errs: errs, warnings: warnings}, nil
	})
}
