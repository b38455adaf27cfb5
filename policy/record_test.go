package policy

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs/record-of-processing.md is exactly what the code generates (T11).
func TestRecordOfProcessingDocIsGenerated(t *testing.T) {
	doc, err := os.ReadFile("../docs/record-of-processing.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != RecordOfProcessing() {
		t.Fatal("docs/record-of-processing.md differs from the code; regenerate it: go run ./cmd/examflow record-of-processing --write docs/record-of-processing.md")
	}
}

// The catalogue holds exactly the third parties of T10, under stable
// lowercase IDs, each with a legal basis and the categories it may receive.
func TestRecipientsCatalogue(t *testing.T) {
	wantIDs := []string{"imdi", "test_centre", "county_governor", "ssb", "udi", "ministry", "higher_education", "sikt"}
	var ids []string
	known := map[DataCategory]bool{}
	for _, d := range stateTests().PersonalData {
		known[d.Category] = true
	}
	id := regexp.MustCompile(`^[a-z][a-z_]*$`)
	for _, r := range Recipients() {
		ids = append(ids, r.ID)
		if !id.MatchString(r.ID) || r.Name == "" || r.LegalBasis == "" || r.Task == "" || len(r.Categories) == 0 {
			t.Errorf("incomplete recipient %+v", r)
		}
		seen := map[DataCategory]bool{}
		for _, c := range r.Categories {
			if !known[c] {
				t.Errorf("%s may receive %q, which the state-test process does not hold", r.ID, c)
			}
			if seen[c] {
				t.Errorf("%s lists %q twice", r.ID, c)
			}
			seen[c] = true
		}
		if r.Permits(DataCountryOfOrigin) || r.Permits(DataMotherTongue) {
			t.Errorf("%s may receive sensitive data", r.ID)
		}
	}
	if !slices.Equal(ids, wantIDs) {
		t.Fatalf("recipient IDs = %v, want %v", ids, wantIDs)
	}
	// What a publication to the Diploma Registry records (activities/lifecycle.go).
	if _, err := CheckRelease("sikt", []DataCategory{"national identity number", "type of test", "test results", "time the test was taken"}); err != nil {
		t.Errorf("a publication's categories are refused: %v", err)
	}
}

// Every release records the legal basis in the policy's own words, "§ 41
// (1) b) and/or c)" with the regulation's § 54 and GDPR Article 6(1)(e),
// and names the one letter that applies to the recipient's task: b) for
// the tests and their appeals (the test centre, the County Governor), c)
// for documenting results (T08).
func TestReleaseLegalBasisQuotesThePolicy(t *testing.T) {
	want := map[string]Section41Letter{
		"imdi": Section41C, "test_centre": Section41B, "county_governor": Section41B, "ssb": Section41C,
		"udi": Section41C, "ministry": Section41C, "higher_education": Section41C, "sikt": Section41C,
	}
	for _, r := range Recipients() {
		t.Run(r.ID, func(t *testing.T) {
			letter, ok := want[r.ID]
			if !ok {
				t.Fatalf("no letter decided for %s", r.ID)
			}
			if r.Section41 != letter {
				t.Errorf("letter %q, want %q", r.Section41, letter)
			}
			wantBasis := "GDPR Article 6(1)(e); integreringsloven § 41 (1) b) and/or c), here " + string(letter) + "; integreringsforskriften § 54"
			if r.LegalBasis != wantBasis {
				t.Errorf("legal basis %q, want %q", r.LegalBasis, wantBasis)
			}
		})
	}
	if !strings.Contains(StateTestsLegalBasis, "§ 41 (1) b) and/or c)") {
		t.Errorf("the process's legal basis %q does not quote the policy", StateTestsLegalBasis)
	}
	for _, l := range []Section41Letter{"", "a)", "b) and c)"} {
		if _, err := ReleaseLegalBasis(l); err == nil {
			t.Errorf("ReleaseLegalBasis(%q) accepted a letter the policy does not cite", l)
		}
	}
}

// Recipients returns a copy: a caller cannot widen the catalogue.
func TestRecipientsIsACopy(t *testing.T) {
	r := Recipients()
	r[0].Categories[0] = DataMotherTongue
	r[1].ID = "employer"
	if again := Recipients(); again[0].Categories[0] == DataMotherTongue || again[1].ID == "employer" {
		t.Fatal("changing the returned catalogue changed the catalogue")
	}
	if _, ok := LookupRecipient("employer"); ok {
		t.Fatal("LookupRecipient found a recipient that is not in the catalogue")
	}
}

func TestCheckRelease(t *testing.T) {
	tests := []struct {
		name       string
		recipient  string
		categories []DataCategory
		wantErr    error
	}{
		{"publication to Sikt", "sikt", []DataCategory{DataNationalID, DataTestResults}, nil},
		{"results to UDI", "udi", []DataCategory{DataName, DataPassportNumber, DataTestResults}, nil},
		{"answers to the County Governor", "county_governor", []DataCategory{DataTestAnswers, DataAppeal}, nil},
		{"unknown recipient", "employer", []DataCategory{DataName}, ErrUnknownRecipient},
		{"recipient by name, not ID", "Sikt", []DataCategory{DataTestResults}, ErrUnknownRecipient},
		{"empty recipient", "", []DataCategory{DataName}, ErrUnknownRecipient},
		{"category beyond the task", "sikt", []DataCategory{DataTestResults, DataAddress}, ErrCategoryNotPermitted},
		{"sensitive data", "ssb", []DataCategory{DataCountryOfOrigin}, ErrCategoryNotPermitted},
		{"unknown category", "imdi", []DataCategory{"shoe size"}, ErrCategoryNotPermitted},
		{"no categories", "imdi", nil, ErrCategoryNotPermitted},
		{"course data", "imdi", []DataCategory{DataCourseType}, ErrCategoryNotPermitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := CheckRelease(tt.recipient, tt.categories)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("CheckRelease(%q, %v) = %v, want %v", tt.recipient, tt.categories, err, tt.wantErr)
			}
			if err == nil && (r.ID != tt.recipient || r.LegalBasis == "") {
				t.Errorf("CheckRelease returned %+v", r)
			}
		})
	}
}

// The record says what the two policies say: T06/T07 and C01/C02 data,
// T01 and C03–C05 purposes, T05 sources as the database records them, T10
// recipients and none for courses (C08), and the retention tables as they
// are.
func TestRecordCoversThePolicies(t *testing.T) {
	rec := ProcessingRecord()
	if len(rec.Processes) != 2 || rec.Processes[0].ID != ProcessStateTests || rec.Processes[1].ID != ProcessCourses {
		t.Fatalf("processes = %+v", rec.Processes)
	}
	st, co := rec.Processes[0], rec.Processes[1]

	type want struct {
		categories []DataCategory
		sensitive  []DataCategory
		promises   []string // of the purposes
	}
	wants := map[string]want{
		ProcessStateTests: {
			categories: []DataCategory{"name", "address", "telephone number", "e-mail address", "date of birth", "national identity number",
				"DUF number", "D number", "passport number", "candidate number", "gender", "test answers", "test results", "type of test",
				"time the test was taken", "language or written form used", "test centre", "appeal", "discrepancies", "cheating",
				"country of origin", "mother tongue", "audio recordings", "payment status"},
			sensitive: []DataCategory{"country of origin", "mother tongue"},
			promises:  []string{"T01", "T01", "T01", "T01", "T01"},
		},
		ProcessCourses: {
			categories: []DataCategory{"name", "e-mail address", "date", "course type", "invoice address", "organisation number",
				"invoice e-mail address", "educational level", "years in the position", "company"},
			promises: []string{"C03", "C04", "C04", "C05"},
		},
	}
	for _, p := range rec.Processes {
		w := wants[p.ID]
		var cats, sens []DataCategory
		for _, d := range p.PersonalData {
			cats = append(cats, d.Category)
			if d.Sensitive {
				sens = append(sens, d.Category)
			}
			if d.Promise == "" {
				t.Errorf("%s: %s has no promise", p.ID, d.Category)
			}
		}
		if !slices.Equal(cats, w.categories) || !slices.Equal(sens, w.sensitive) {
			t.Errorf("%s: categories %q (sensitive %q), want %q (sensitive %q)", p.ID, cats, sens, w.categories, w.sensitive)
		}
		var promises []string
		for _, x := range p.Purposes {
			promises = append(promises, x.Promise)
		}
		if !slices.Equal(promises, w.promises) {
			t.Errorf("%s: purposes keep %v, want %v", p.ID, promises, w.promises)
		}
		if p.Controller == "" || p.LegalBasis == "" || p.DataSubjects == "" || p.Transfers == "" || len(p.Sources) == 0 {
			t.Errorf("%s: incomplete %+v", p.ID, p)
		}
	}

	// Sources: the values registrations.source accepts.
	mig, err := os.ReadFile("../storage/migrations/00007_sources.sql")
	if err != nil {
		t.Fatal(err)
	}
	check := regexp.MustCompile(`source IN \(([^)]*)\)`).FindSubmatch(mig)
	if check == nil {
		t.Fatal("no source check in 00007_sources.sql")
	}
	var dbSources, sources []string
	for _, s := range strings.Split(string(check[1]), ",") {
		dbSources = append(dbSources, strings.Trim(strings.TrimSpace(s), "'"))
	}
	for _, s := range st.Sources {
		sources = append(sources, s.ID)
	}
	if !slices.Equal(sources, dbSources) {
		t.Errorf("state-test sources %v, the database records %v", sources, dbSources)
	}

	if !slices.EqualFunc(st.Recipients, Recipients(), func(a, b Recipient) bool { return a.ID == b.ID && slices.Equal(a.Categories, b.Categories) }) {
		t.Error("the record's recipients are not the catalogue")
	}
	if len(co.Recipients) != 0 || !strings.Contains(co.RecipientsNote, "C08") {
		t.Errorf("courses have recipients %v (%q), want none (C08)", co.Recipients, co.RecipientsNote)
	}
	if !strings.Contains(st.Transfers, "T12") || !strings.Contains(co.Transfers, "adequacy") {
		t.Errorf("transfers: %q, %q", st.Transfers, co.Transfers)
	}

	for _, c := range []struct {
		got   []Retention
		table []Rule
	}{{st.Retention, Table}, {co.Retention, CourseTable}} {
		if len(c.got) != len(c.table) {
			t.Fatalf("retention %v, want the table %v", c.got, c.table)
		}
		for i, r := range c.table {
			g := c.got[i]
			if g.Category != r.Category || g.Years != r.Years || g.From != r.From || g.Promise != r.Promise || g.Holds != r.Holds {
				t.Errorf("retention %+v, want %+v", g, r)
			}
		}
	}

	if len(rec.Processors) < 4 || !strings.Contains(rec.ProcessorAgreement, "Article 28") {
		t.Errorf("processors %v, agreement %q", rec.Processors, rec.ProcessorAgreement)
	}
	for _, role := range []string{"PostgreSQL", "object storage", "Temporal", "SMTP"} {
		if !slices.ContainsFunc(rec.Processors, func(p Processor) bool { return strings.Contains(p.Role, role) }) {
			t.Errorf("no processor role for %s", role)
		}
	}
}

// Courses keep 24 months (C06) in a table of their own, which the state-test
// deletion and its overrides never see.
func TestCourseTableIsApartFromTable(t *testing.T) {
	if len(CourseTable) != 1 || CourseTable[0].Years*12 != 24 || CourseTable[0].Promise != "C06" {
		t.Fatalf("CourseTable = %+v", CourseTable)
	}
	if _, ok := Lookup(CourseRegistration); ok {
		t.Error("Lookup finds the course category: the state-test deletion would plan it")
	}
	if _, err := ParsePeriods("course_registration=1s"); err == nil {
		t.Error("ParsePeriods accepted a course category")
	}
}

// The structured record marshals to JSON for the API: courses have an empty
// list of recipients, not null.
func TestRecordJSON(t *testing.T) {
	b, err := json.Marshal(ProcessingRecord())
	if err != nil {
		t.Fatal(err)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Markdown() != RecordOfProcessing() {
		t.Error("the record does not survive a JSON round trip")
	}
	if !strings.Contains(string(b), `"recipients":[]`) || !strings.Contains(string(b), `"id":"sikt"`) {
		t.Errorf("JSON = %s", b)
	}
}

// The record says what the state-test policy says (T02, T11, T01) and
// carries each policy's version and date: the data processor the policy
// names, the data protection officer's contact, the legal basis of the
// automated decisions, what research and analysis may use, and the notice
// each process's data subjects were given.
func TestRecordSaysWhatThePolicySays(t *testing.T) {
	rec := ProcessingRecord()
	st, co := rec.Processes[0], rec.Processes[1]
	md := rec.Markdown()

	if len(st.NamedProcessors) != 1 || st.NamedProcessors[0].Name != "Enovate AS" || st.NamedProcessors[0].Service == "" || st.NamedProcessors[0].Agreement == "" {
		t.Errorf("state-test named processors = %+v, want Enovate AS, as the policy names it", st.NamedProcessors)
	}
	if !strings.Contains(md, "Enovate AS") {
		t.Error("the record's document does not name Enovate AS")
	}
	if !strings.Contains(st.DataProtectionOfficer, "Marita Ådnanes Helleland") || !strings.Contains(st.DataProtectionOfficer, "Sikt") ||
		!strings.Contains(md, "Marita Ådnanes Helleland") {
		t.Errorf("state-test data protection officer = %q", st.DataProtectionOfficer)
	}
	if co.DataProtectionOfficer == "" {
		t.Error("courses: the record says nothing about a data protection officer")
	}

	if AutomatedDecisionLegalBasis != "integreringsloven § 41 (1) e); integreringsforskriften § 64" {
		t.Errorf("automated decisions' legal basis = %q", AutomatedDecisionLegalBasis)
	}
	if !strings.Contains(st.AutomatedDecisions, AutomatedDecisionLegalBasis) || !strings.Contains(md, AutomatedDecisionLegalBasis) {
		t.Errorf("state-test automated decisions = %q", st.AutomatedDecisions)
	}
	if !strings.HasPrefix(co.AutomatedDecisions, "none") {
		t.Errorf("courses: automated decisions = %q, want none", co.AutomatedDecisions)
	}

	uses := map[string]string{}
	for _, p := range st.Purposes {
		uses[p.ID] = p.Uses
	}
	for _, id := range []string{"research", "statistics"} {
		if !strings.HasPrefix(uses[id], "anonymous data only") {
			t.Errorf("purpose %s may use %q, want anonymous data only", id, uses[id])
		}
	}

	for _, c := range []struct {
		p           Processing
		date, title string
	}{
		{st, "2026-11-23", "Privacy policy for handling personal data when administrating and executing the Norwegian language test, the Social studies test and the citizenship test"},
		{co, "2025-02-11", "Registration for courses, training, and events"},
	} {
		n := c.p.Notice
		if n.Title != c.title || n.Date != c.date || n.Version == "" || (c.p.ID == ProcessStateTests && n.URL == "") {
			t.Errorf("%s: notice %+v, want %q of %s", c.p.ID, n, c.title, c.date)
		}
		if !strings.Contains(md, "version "+n.Version+" of "+n.Date) {
			t.Errorf("%s: the record's document does not give the notice's version and date", c.p.ID)
		}
	}
}

// The audit log's purposes are a fixed catalogue that matches the policies'
// purposes (T01, C03–C05): every purpose of the record whose data is not
// anonymous only, and the controller's obligations the policies name
// besides (the data subject's rights, the data protection officer's
// oversight, the security of the data). Research and analysis use
// anonymous data only, so no one reads personal data for them. Every
// recipient's releases serve a purpose of the catalogue.
func TestAuditPurposesMatchThePolicies(t *testing.T) {
	recordPurposes := map[string]Purpose{}
	for _, p := range ProcessingRecord().Processes {
		for _, x := range p.Purposes {
			recordPurposes[x.ID] = x
		}
	}
	obligations := []string{AuditDataSubjectRights, AuditDPOOversight, AuditSecurity}
	var ids []string
	for _, a := range AuditPurposes() {
		ids = append(ids, a.ID)
		if a.Description == "" || a.Promise == "" {
			t.Errorf("incomplete audit purpose %+v", a)
		}
		if x, ok := recordPurposes[a.ID]; ok {
			if a.Description != x.Description || a.Promise != x.Promise {
				t.Errorf("audit purpose %s says %q (%s), the record %q (%s)", a.ID, a.Description, a.Promise, x.Description, x.Promise)
			}
		} else if !slices.Contains(obligations, a.ID) {
			t.Errorf("audit purpose %s is neither a purpose of the record nor an obligation of the controller", a.ID)
		}
		if !IsAuditPurpose(a.ID) {
			t.Errorf("IsAuditPurpose(%q) = false", a.ID)
		}
	}
	for id, x := range recordPurposes {
		anonymous := strings.HasPrefix(x.Uses, "anonymous data only")
		if slices.Contains(ids, id) == anonymous && id != "statistics" {
			t.Errorf("record purpose %s (uses %q): in the audit catalogue %v", id, x.Uses, slices.Contains(ids, id))
		}
	}
	for _, id := range []string{"research", "anonymous_statistics", "", "manual_review", "arranging the test", "curiosity"} {
		if IsAuditPurpose(id) {
			t.Errorf("IsAuditPurpose(%q) = true", id)
		}
	}
	for _, o := range obligations {
		if !slices.Contains(ids, o) {
			t.Errorf("no audit purpose %s", o)
		}
	}
	for _, r := range Recipients() {
		if !IsAuditPurpose(r.Purpose) {
			t.Errorf("releases to %s serve %q, not a purpose of the catalogue", r.ID, r.Purpose)
		}
	}
	if r, _ := LookupRecipient("county_governor"); r.Purpose != "appeals" {
		t.Errorf("releases to the County Governor serve %q, want appeals", r.Purpose)
	}
	if r, _ := LookupRecipient("test_centre"); r.Purpose != "test_centre" {
		t.Errorf("releases to the test centre serve %q, want test_centre", r.Purpose)
	}
}
