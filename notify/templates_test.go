package notify

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRenderTemplates(t *testing.T) {
	data := func(payload map[string]string) TemplateData {
		return TemplateData{GivenName: "Kari", FamilyName: "Nordmann", Payload: payload}
	}
	const subject = "Resultatet ditt er klart / Your test result is available"
	common := []string{
		"Hei Kari Nordmann,", "Hello Kari Nordmann,", "Min side",
		"Du kan klage til Datatilsynet", "Norwegian Data Protection Authority (Datatilsynet)", "www.datatilsynet.no",
	}
	tests := []struct {
		name    string
		kind    string
		payload map[string]string
		want    []string
		notWant []string
		wantErr error
	}{
		{
			name: "citizenship", kind: KindResultReady,
			payload: map[string]string{"test_type": "citizenship", "result": "passed"},
			want:    []string{"Resultatet ditt fra statsborgerprøven er nå tilgjengelig", "Your result for the citizenship test is now available"},
			// The result itself stays out of the e-mail.
			notWant: []string{"passed", "bestått", "ikke bestått"},
		},
		{
			name: "social studies", kind: KindResultReady,
			payload: map[string]string{"test_type": "social_studies"},
			want:    []string{"samfunnskunnskapsprøven", "social studies test"},
		},
		{
			name: "norwegian a1-b2", kind: KindResultReady,
			payload: map[string]string{"test_type": "norwegian_a1_b2", "result": "B1"},
			want:    []string{"norskprøven (A1–B2)", "Norwegian language test (A1–B2)"},
			notWant: []string{"B1"},
		},
		{
			name: "norwegian c1", kind: KindResultReady,
			payload: map[string]string{"test_type": "norwegian_c1"},
			want:    []string{"norskprøven C1", "Norwegian language test C1"},
		},
		{name: "unknown kind", kind: "birthday_greeting", payload: map[string]string{"test_type": "citizenship"}, wantErr: ErrUnknownKind},
		{name: "empty kind", kind: "", wantErr: ErrUnknownKind},
		{name: "missing test type", kind: KindResultReady, payload: map[string]string{"result": "passed"}, wantErr: ErrTemplate},
		{name: "nil payload", kind: KindResultReady, payload: nil, wantErr: ErrTemplate},
		{name: "unknown test type", kind: KindResultReady, payload: map[string]string{"test_type": "driving"}, wantErr: ErrTemplate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotSubject, body, err := Render(tt.kind, data(tt.payload))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !IsPermanent(err) {
					t.Fatalf("err = %v, want permanent %v", err, tt.wantErr)
				}
				if msg := err.Error(); strings.Contains(msg, "Kari") || strings.Contains(msg, "Nordmann") {
					t.Fatalf("error text carries the name: %q", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if gotSubject != subject {
				t.Errorf("subject = %q, want %q", gotSubject, subject)
			}
			for _, w := range append(common, tt.want...) {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(body, nw) {
					t.Errorf("body contains %q:\n%s", nw, body)
				}
			}
			if strings.HasPrefix(body, "\n") || strings.Contains(body, "<no value>") {
				t.Errorf("body badly rendered:\n%s", body)
			}
		})
	}
}

func TestKindsHaveSubjectAndBody(t *testing.T) {
	kinds := Kinds()
	if !slices.Contains(kinds, KindResultReady) || !slices.Contains(kinds, KindAppealDecided) {
		t.Fatalf("kinds = %v", kinds)
	}
	for _, k := range kinds {
		for _, part := range []string{"subject", "body"} {
			if templates[k].Lookup(part) == nil {
				t.Errorf("%s has no %s", k, part)
			}
		}
	}
}

func TestSubjectIsOneLine(t *testing.T) {
	for _, k := range Kinds() {
		s, _, err := Render(k, TemplateData{GivenName: "A", FamilyName: "B", Payload: map[string]string{"test_type": "citizenship"}})
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if strings.ContainsAny(s, "\r\n") || s == "" {
			t.Errorf("%s: subject %q", k, s)
		}
	}
}

// TestEveryReplyNamesTheRightToComplain (T21): every notice, whatever its
// kind, tells the person they can complain to Datatilsynet, in Norwegian
// and English.
func TestEveryReplyNamesTheRightToComplain(t *testing.T) {
	payloads := []map[string]string{
		{"test_type": "citizenship", "request_kind": "access", "outcome": "export_ready", "until": "2027-03-01", "reason": "many requests"},
		{"test_type": "norwegian_c1", "request_kind": "objection", "outcome": "rejected"},
		{"test_type": "social_studies", "request_kind": "rectification", "outcome": "approved"},
		{"test_type": "citizenship", "request_kind": "restriction", "outcome": "restricted", "reason": "the case is closed"},
	}
	for _, k := range Kinds() {
		for _, p := range payloads {
			_, body, err := Render(k, TemplateData{GivenName: "Kari", FamilyName: "Nordmann", Payload: p})
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			for _, want := range []string{"Du kan klage til Datatilsynet", "Norwegian Data Protection Authority (Datatilsynet)", "www.datatilsynet.no"} {
				if !strings.Contains(body, want) {
					t.Errorf("%s (%v) lacks %q", k, p, want)
				}
			}
			if strings.Contains(body, "<no value>") {
				t.Errorf("%s (%v) renders <no value>", k, p)
			}
		}
	}
}

// TestResultChangedNotice: a corrected answer key that changes a released
// result says so; one that changes only the score says the result stands.
// Neither says what the result or the score is.
func TestResultChangedNotice(t *testing.T) {
	tests := []struct {
		name    string
		payload map[string]string
		want    []string
		notWant []string
	}{
		{"outcome changed", map[string]string{"test_type": "citizenship", "outcome_changed": "yes"},
			[]string{"fasiten til statsborgerprøven", "Resultatet ditt er derfor endret.", "answer key of the citizenship test", "Your result has therefore changed."},
			[]string{"resultatet er det samme", "your result is the same"}},
		{"score only", map[string]string{"test_type": "social_studies"},
			[]string{"samfunnskunnskapsprøven", "Poengsummen din er derfor endret; resultatet er det samme.", "Your score has therefore changed; your result is the same."},
			[]string{"Resultatet ditt er derfor endret", "Your result has therefore changed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subject, body, err := Render(KindResultChanged, TemplateData{GivenName: "Kari", FamilyName: "Nordmann", Payload: tt.payload})
			if err != nil {
				t.Fatal(err)
			}
			if subject != "Resultatet ditt er endret / Your test result has changed" {
				t.Errorf("subject = %q", subject)
			}
			for _, w := range append(tt.want, "Hei Kari Nordmann,", "Min side") {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, nw := range append(tt.notWant, "passed", "bestått", "<no value>") {
				if strings.Contains(body, nw) {
					t.Errorf("body contains %q:\n%s", nw, body)
				}
			}
		})
	}
}
