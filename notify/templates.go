package notify

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"text/template"
)

// KindResultReady tells a candidate that the result of a test is available.
// Payload: test_type (citizenship, social_studies, norwegian_a1_b2,
// norwegian_c1). The result itself is not put in the e-mail: e-mail is not a
// secure channel, and the candidate reads the result after logging in.
const KindResultReady = "result_ready"

// KindAppealDecided tells a candidate that an instance has decided an
// appeal. Payload: test_type, outcome (upheld, rejected, reassessed,
// forwarded), new_test and final ("yes" or absent).
const KindAppealDecided = "appeal_decided"

// KindResultChanged tells a candidate that a corrected answer key changed a
// released result or its score. Payload: test_type, outcome_changed ("yes"
// when the result itself changed). Neither the result nor the score is put
// in the e-mail.
const KindResultChanged = "result_changed"

//go:embed templates/*.tmpl
var templateFiles embed.FS

// TemplateData is what a template sees. GivenName and FamilyName are
// personal data, for the greeting only.
type TemplateData struct {
	GivenName  string
	FamilyName string
	// Payload holds the notification's non-personal values.
	Payload map[string]string
}

// testNames are the test names in Norwegian bokmål and English.
var testNames = map[string][2]string{
	"citizenship":     {"statsborgerprøven", "citizenship test"},
	"social_studies":  {"samfunnskunnskapsprøven", "social studies test"},
	"norwegian_a1_b2": {"norskprøven (A1–B2)", "Norwegian language test (A1–B2)"},
	"norwegian_c1":    {"norskprøven C1 (høyere akademisk nivå)", "Norwegian language test C1 (higher academic level)"},
}

func testName(lang int) func(string) (string, error) {
	return func(testType string) (string, error) {
		n, ok := testNames[testType]
		if !ok {
			return "", fmt.Errorf("unknown test type %q", testType)
		}
		return n[lang], nil
	}
}

var funcs = template.FuncMap{
	"testNameNB": testName(0),
	"testNameEN": testName(1),
}

// templates maps each kind to its template, which defines "subject" and
// "body". Each kind is one embedded file, templates/<kind>.tmpl.
var templates = mustParseTemplates()

func mustParseTemplates() map[string]*template.Template {
	names, err := fs.Glob(templateFiles, "templates/*.tmpl")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, name := range names {
		kind := strings.TrimSuffix(path.Base(name), ".tmpl")
		t := template.Must(template.New(kind).Funcs(funcs).Option("missingkey=error").ParseFS(templateFiles, name))
		for _, part := range []string{"subject", "body"} {
			if t.Lookup(part) == nil {
				panic(fmt.Sprintf("notify: template %s has no %q", name, part))
			}
		}
		out[kind] = t
	}
	return out
}

// Kinds lists the notification kinds that have a template, sorted.
func Kinds() []string {
	out := make([]string, 0, len(templates))
	for k := range templates {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Render renders the subject and body of a notification kind. An unknown
// kind, or a payload the template cannot use, is a permanent *Error
// (matching ErrUnknownKind or ErrTemplate); its text names the kind only.
func Render(kind string, data TemplateData) (subject, body string, err error) {
	t, ok := templates[kind]
	if !ok {
		return "", "", &Error{Reason: "no template for kind", Permanent: true, cause: ErrUnknownKind}
	}
	if data.Payload == nil {
		data.Payload = map[string]string{}
	}
	var s, b bytes.Buffer
	if err := t.ExecuteTemplate(&s, "subject", data); err != nil {
		return "", "", &Error{Reason: "template " + kind + ": subject cannot be rendered from the payload", Permanent: true, cause: ErrTemplate}
	}
	if err := t.ExecuteTemplate(&b, "body", data); err != nil {
		return "", "", &Error{Reason: "template " + kind + ": body cannot be rendered from the payload", Permanent: true, cause: ErrTemplate}
	}
	// A subject is one header line.
	subject = strings.Join(strings.Fields(s.String()), " ")
	return subject, strings.TrimLeft(b.String(), "\n"), nil
}
