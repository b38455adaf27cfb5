package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/examflow/examflow/identity"
)

var testNow = func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }

// validBody is a complete, valid registration; tests change one thing.
func validBody() map[string]any {
	return map[string]any{
		"person": map[string]any{
			"given_name": "Kari", "family_name": "Nordmann", "date_of_birth": "1985-04-12",
			"national_id": "12048510092", "email": "kari@example.org", "phone": "+47 400 00 000",
			"address": map[string]any{"street": "Storgata 1", "postal_code": "0155", "city": "Oslo", "country": "NO"},
			"gender":  "female", "written_form": "bokmal",
		},
		"test":         map[string]any{"type": "norwegian_a1_b2", "parts": []any{"reading", "writing"}, "level_band": "A2-B1"},
		"test_centre":  "OSLO-VO",
		"session_date": "2027-02-10",
	}
}

func set(body map[string]any, path string, v any) map[string]any {
	keys := strings.Split(path, ".")
	m := body
	for _, k := range keys[:len(keys)-1] {
		m = m[k].(map[string]any)
	}
	if v == nil {
		delete(m, keys[len(keys)-1])
	} else {
		m[keys[len(keys)-1]] = v
	}
	return body
}

func fieldsOf(errs []FieldError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func TestValidateRegistration(t *testing.T) {
	dNumber, ok := identity.WithCheckDigits("520485100") // born 12 April 1985 as the body says, day + 40
	if !ok {
		t.Fatal("no D number")
	}
	tests := []struct {
		name         string
		path         string
		value        any // nil deletes the field
		wantFields   []string
		wantWarnings []string
	}{
		{"valid", "", nil, nil, nil},
		{"missing given name", "person.given_name", nil, []string{"person.given_name"}, nil},
		{"blank family name", "person.family_name", "   ", []string{"person.family_name"}, nil},
		{"missing date of birth", "person.date_of_birth", nil, []string{"person.date_of_birth"}, nil},
		{"date of birth not a date", "person.date_of_birth", "12.04.1985", []string{"person.date_of_birth"}, nil},
		{"date of birth in the future", "person.date_of_birth", "2030-01-01", []string{"person.date_of_birth"}, nil},
		{"wrong check digit", "person.national_id", "12048510093", []string{"person.national_id"}, nil},
		{"national id too short", "person.national_id", "1204851009", []string{"person.national_id"}, nil},
		{"no identifier at all", "person.national_id", nil, []string{"person"}, nil},
		{"D number accepted", "person.national_id", dNumber, nil, nil},
		{"bad email", "person.email", "kari at example", []string{"person.email"}, nil},
		{"email with display name", "person.email", "Kari <kari@example.org>", []string{"person.email"}, nil},
		{"bad phone", "person.phone", "call me", []string{"person.phone"}, nil},
		{"bad country", "person.address.country", "Norway", []string{"person.address.country"}, nil},
		{"address without city", "person.address.city", nil, []string{"person.address.city"}, nil},
		{"unknown gender", "person.gender", "x", []string{"person.gender"}, nil},
		{"unknown written form", "person.written_form", "riksmal", []string{"person.written_form"}, nil},
		{"unknown test type", "test.type", "driving", []string{"test.type"}, nil},
		{"missing test", "test", nil, []string{"test"}, nil},
		{"part of another test", "test.parts", []any{"writing", "test"}, []string{"test.parts[1]"}, nil},
		{"part twice", "test.parts", []any{"writing", "writing"}, []string{"test.parts[1]"}, nil},
		{"writing without level band", "test.level_band", nil, []string{"test.level_band"}, nil},
		{"bad level band", "test.level_band", "C1", []string{"test.level_band"}, nil},
		{"language on a Norwegian test", "test.language", "en", []string{"test.language"}, nil},
		{"missing test centre", "test_centre", nil, []string{"test_centre"}, nil},
		{"test centre with spaces", "test_centre", "Oslo VO", []string{"test_centre"}, nil},
		{"missing session date", "session_date", nil, []string{"session_date"}, nil},
		{"session date far ahead", "session_date", "2035-01-01", []string{"session_date"}, nil},
		{"unknown payment status", "payment_status", "maybe", []string{"payment_status"}, nil},
		{"payment status paid", "payment_status", "paid", nil, nil},
		{"unknown source", "source", "nav", []string{"source"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := validBody()
			if tt.path != "" {
				body = set(body, tt.path, tt.value)
			}
			checkValidation(t, body, tt.wantFields, tt.wantWarnings)
		})
	}
}

func TestValidateDUFNumbers(t *testing.T) {
	tests := []struct {
		duf          string
		wantFields   []string
		wantWarnings []string
	}{
		{"200205705502", nil, nil},
		{"201258697561", nil, []string{"person.duf_number"}}, // checksum fails: warning only
		{"2012586975", []string{"person.duf_number"}, nil},
		{"20125869756X", []string{"person.duf_number"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.duf, func(t *testing.T) {
			body := set(validBody(), "person.national_id", nil)
			body = set(body, "person.duf_number", tt.duf)
			checkValidation(t, body, tt.wantFields, tt.wantWarnings)
		})
	}
}

func TestValidateNormalises(t *testing.T) {
	body := validBody()
	body = set(body, "test.parts", []any{"writing", "reading"})
	body = set(body, "person.passport_number", " ab 123-45 ")
	body = set(body, "person.passport_country", " se ")
	data, _ := json.Marshal(body)
	var req RegistrationRequest
	if p := decodeStrictBytes(data, &req); p != nil {
		t.Fatal(p)
	}
	out, errs, _ := req.Validate(ValidationOptions{Now: testNow})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if !slices.Equal(out.TestParts, []string{"reading", "writing"}) {
		t.Fatalf("parts = %v, want catalogue order [reading writing]", out.TestParts)
	}
	if out.Person.PassportNumber != "AB12345" || out.Person.PassportCountry != "SE" {
		t.Fatalf("passport = %q %q, want AB12345 SE", out.Person.PassportNumber, out.Person.PassportCountry)
	}
	single := set(validBody(), "test", map[string]any{"type": "citizenship"})
	data, _ = json.Marshal(single)
	req = RegistrationRequest{}
	_ = decodeStrictBytes(data, &req)
	out, errs, _ = req.Validate(ValidationOptions{Now: testNow})
	if len(errs) > 0 || !slices.Equal(out.TestParts, []string{"test"}) {
		t.Fatalf("citizenship parts = %v, errs %v; want [test]", out.TestParts, errs)
	}
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantField string
	}{
		{"not JSON", `{"person": `, ""},
		{"garbage", `hello`, ""},
		{"empty", ``, ""},
		{"array", `[]`, ""},
		{"two objects", `{} {}`, ""},
		{"null", `null`, ""},
		{"a stray bracket after the object", `{}]`, ""},
		{"a stray brace after the object", "{} }\n", ""},
		{"a NUL after the object", "{}\x00", ""},
		{"unknown top-level field", `{"country_of_origin": "X"}`, "country_of_origin"},
		{"unknown nested field", `{"person": {"mother_tongue": "X"}}`, "person.mother_tongue"},
		{"unknown field named by its path", `{"person": {"given_name": "Kari", "favourite_colour": "blue"}}`, "person.favourite_colour"},
		{"unknown field two levels down", `{"person": {"address": {"city": "Oslo", "floor": 3}}}`, "person.address.floor"},
		{"the same key twice", `{"test_centre": "OSLO-VO", "test_centre": "BERGEN"}`, "test_centre"},
		{"the same nested key twice", `{"person": {"given_name": "Kari", "family_name": "N", "given_name": "Ola"}}`, "person.given_name"},
		{"the same key twice in another case", `{"person": {"given_name": "Kari", "GIVEN_NAME": "Ola"}}`, "person.GIVEN_NAME"},
		{"the same object twice", `{"person": {"given_name": "Kari"}, "person": {"given_name": "Ola"}}`, "person"},
		{"wrong type", `{"session_date": 20270210}`, "session_date"},
		{"wrong nested type", `{"person": {"date_of_birth": true}}`, "person.date_of_birth"},
		{"parts not an array", `{"test": {"parts": "reading"}}`, "test.parts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req RegistrationRequest
			p := decodeStrictBytes([]byte(tt.body), &req)
			if p == nil {
				t.Fatal("accepted, want a 400 problem")
			}
			if p.Status != 400 || p.Type != ProblemMalformed {
				t.Fatalf("problem = %+v, want 400 %s", p, ProblemMalformed)
			}
			got := ""
			if len(p.Errors) > 0 {
				got = p.Errors[0].Field
			}
			if got != tt.wantField {
				t.Fatalf("field = %q, want %q (%+v)", got, tt.wantField, p)
			}
		})
	}
}

// TestDecodeStrictNamesThePath: a duplicated key or an unknown field is
// named by its JSON path, through maps and arrays, and nothing is decoded
// from a body with a key given twice (the last would otherwise win).
func TestDecodeStrictNamesThePath(t *testing.T) {
	type item struct {
		A string `json:"a"`
	}
	type body struct {
		Items []item            `json:"items"`
		Tags  map[string]string `json:"tags"`
		Raw   json.RawMessage   `json:"raw"`
	}
	tests := []struct {
		name, body, wantField, wantDetail string
	}{
		{"unknown field in an array element", `{"items": [{"a": "x"}, {"a": "y", "b": 1}]}`, "items[1].b", "unknown field"},
		{"a key twice in an array element", `{"items": [{"a": "x", "a": "y"}]}`, "items[0].a", "twice"},
		{"a map key twice", `{"tags": {"x": "1", "y": "2", "x": "3"}}`, "tags.x", "twice"},
		{"a key twice inside free JSON", `{"raw": {"k": [{"q": 1, "q": 2}]}}`, "raw.k[0].q", "twice"},
		{"the same key twice at the top", `{"items": [], "items": []}`, "items", "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v body
			p := decodeStrictBytes([]byte(tt.body), &v)
			if p == nil {
				t.Fatal("accepted, want a 400 problem")
			}
			if p.Status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != tt.wantField || !strings.Contains(p.Errors[0].Detail, tt.wantDetail) {
				t.Fatalf("problem = %+v, want 400 naming %s (%s)", p, tt.wantField, tt.wantDetail)
			}
			if v.Items != nil || v.Tags != nil || v.Raw != nil {
				t.Fatalf("decoded %+v from a refused body", v)
			}
		})
	}
	// Distinct keys, free JSON and maps still decode.
	var v body
	if p := decodeStrictBytes([]byte(`{"items": [{"a": "x"}, {"a": "y"}], "tags": {"x": "1", "X": "2"}, "raw": {"k": {"a": 1, "b": [1, {"a": 2}]}}}`), &v); p != nil {
		t.Fatalf("refused %+v", p)
	}
	if len(v.Items) != 2 || len(v.Tags) != 2 || len(v.Raw) == 0 {
		t.Fatalf("decoded %+v", v)
	}
}

// checkValidation decodes and validates body and compares the refused and
// warned fields.
func checkValidation(t *testing.T, body map[string]any, wantFields, wantWarnings []string) {
	t.Helper()
	data, _ := json.Marshal(body)
	var req RegistrationRequest
	if p := decodeStrictBytes(data, &req); p != nil {
		t.Fatalf("decode: %+v", p)
	}
	_, errs, warns := req.Validate(ValidationOptions{Now: testNow})
	if got := fieldsOf(errs); !slices.Equal(got, wantFields) {
		t.Fatalf("invalid fields = %v (%+v), want %v", got, errs, wantFields)
	}
	if got := fieldsOf(warns); !slices.Equal(got, wantWarnings) {
		t.Fatalf("warnings = %v, want %v", got, wantWarnings)
	}
}

// TestDateOfBirthMustMatchTheNationalID (accuracy): a date of birth that
// contradicts the birth date a fødselsnummer or D number encodes (a D
// number adds 40 to the day) is refused, naming both fields; a number whose
// scheme encodes no reliable birth date (a DUF number, a passport number, a
// number valid only under the post-2032 check rule) is not compared.
func TestDateOfBirthMustMatchTheNationalID(t *testing.T) {
	nid := func(nine string) string {
		n, ok := identity.WithCheckDigits(nine)
		if !ok {
			t.Fatalf("no number starts %s", nine)
		}
		return n
	}
	born1985 := nid("120385123") // 12 March 1985
	dNumber := nid("520385121")  // D number: 12 March 1985, day + 40
	born2005 := nid("120305512") // 12 March 2005 (individual number 500-999)
	post2032 := post2032Number(t, "120385124")
	both := []string{"person.national_id", "person.date_of_birth"}
	tests := []struct {
		name, nationalID, duf, dob string
		opts                       identity.Options
		wantFields                 []string
	}{
		{name: "fødselsnummer, same date", nationalID: born1985, dob: "1985-03-12"},
		{name: "fødselsnummer, a day later", nationalID: born1985, dob: "1985-03-13", wantFields: both},
		{name: "fødselsnummer, a month later", nationalID: born1985, dob: "1985-04-12", wantFields: both},
		{name: "fødselsnummer, a century earlier", nationalID: born1985, dob: "1905-03-12", wantFields: both},
		{name: "D number, the day less 40", nationalID: dNumber, dob: "1985-03-12"},
		{name: "D number, a day later", nationalID: dNumber, dob: "1985-03-13", wantFields: both},
		{name: "born 2005", nationalID: born2005, dob: "2005-03-12"},
		{name: "born 2005, given as 1905", nationalID: born2005, dob: "1905-03-12", wantFields: both},
		{name: "DUF number: no birth date", duf: "200205705502", dob: "1985-03-13"},
		{name: "post-2032 check rule: not compared", nationalID: post2032, dob: "1990-01-01", opts: identity.Options{AcceptPost2032Check: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := set(validBody(), "person.date_of_birth", tt.dob)
			body = set(body, "person.national_id", nil)
			if tt.nationalID != "" {
				body = set(body, "person.national_id", tt.nationalID)
			}
			if tt.duf != "" {
				body = set(body, "person.duf_number", tt.duf)
			}
			data, _ := json.Marshal(body)
			var req RegistrationRequest
			if p := decodeStrictBytes(data, &req); p != nil {
				t.Fatal(p)
			}
			_, errs, _ := req.Validate(ValidationOptions{Now: testNow, Identity: tt.opts})
			got := fieldsOf(errs)
			slices.Sort(got)
			want := slices.Clone(tt.wantFields)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("refused %v (%v), want %v", got, errs, want)
			}
			for _, e := range errs {
				other := "person.date_of_birth"
				if e.Field == other {
					other = "person.national_id"
				}
				if !strings.Contains(e.Detail, other) || strings.Contains(e.Detail, tt.nationalID) || strings.Contains(e.Detail, tt.dob) {
					t.Errorf("%s: %q should name %s and repeat neither value", e.Field, e.Detail, other)
				}
			}
		})
	}
}

// post2032Number completes nine digits with a first check digit valid only
// under the check rule announced for numbers issued from 2032 (remainder 1).
func post2032Number(t *testing.T, nine string) string {
	t.Helper()
	w1 := []int{3, 7, 6, 1, 8, 9, 4, 5, 2}
	w2 := []int{5, 4, 3, 2, 7, 6, 5, 4, 3, 2}
	d := make([]int, 0, 11)
	s1 := 0
	for i := range 9 {
		d = append(d, int(nine[i]-'0'))
		s1 += d[i] * w1[i]
	}
	k1 := ((1-s1)%11 + 11) % 11
	if k1 == 10 {
		t.Fatalf("no post-2032 first check digit for %s", nine)
	}
	d = append(d, k1)
	s2 := 0
	for i, w := range w2 {
		s2 += d[i] * w
	}
	k2 := (11 - s2%11) % 11
	if k2 == 10 {
		t.Fatalf("no second check digit for %s", nine)
	}
	d = append(d, k2)
	out := ""
	for _, x := range d {
		out += string(rune('0' + x))
	}
	if _, err := identity.ValidateNationalID(out, identity.Options{}); err == nil {
		t.Fatalf("%s is valid under the current rule too", out)
	}
	if _, err := identity.ValidateNationalID(out, identity.Options{AcceptPost2032Check: true}); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	return out
}
