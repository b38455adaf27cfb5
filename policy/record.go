package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// This file is the record of processing (GDPR Article 30, promise T11) of
// both processes examflow runs, as data. docs/record-of-processing.md is
// generated from it (RecordOfProcessing) and checked against it by
// TestRecordOfProcessingDocIsGenerated; retention periods come from Table
// and CourseTable, never restated here.

// DataCategory is a category of personal data as the privacy policies name
// it (T06, T07, C01, C02). The values are the names disclosure records
// store (storage.Disclosure.Categories), so a release can be checked against
// the recipients catalogue by value.
type DataCategory string

// Categories of the state-test policy (T06), in the policy's order.
const (
	DataName            DataCategory = "name"
	DataAddress         DataCategory = "address"
	DataTelephone       DataCategory = "telephone number"
	DataEmail           DataCategory = "e-mail address"
	DataDateOfBirth     DataCategory = "date of birth"
	DataNationalID      DataCategory = "national identity number"
	DataDUFNumber       DataCategory = "DUF number"
	DataDNumber         DataCategory = "D number"
	DataPassportNumber  DataCategory = "passport number"
	DataCandidateNumber DataCategory = "candidate number"
	DataGender          DataCategory = "gender"
	DataTestAnswers     DataCategory = "test answers"
	DataTestResults     DataCategory = "test results"
	DataTestType        DataCategory = "type of test"
	DataTestTime        DataCategory = "time the test was taken"
	DataWrittenForm     DataCategory = "language or written form used"
	DataTestCentre      DataCategory = "test centre"
	DataAppeal          DataCategory = "appeal"
	DataDiscrepancies   DataCategory = "discrepancies"
	DataCheating        DataCategory = "cheating"
)

// Sensitive categories of the state-test policy, only for registrations
// before 15 February 2022 (T07).
const (
	DataCountryOfOrigin DataCategory = "country of origin"
	DataMotherTongue    DataCategory = "mother tongue"
)

// Categories the state-test policy names in its storage periods (T15, T16).
const (
	DataAudio         DataCategory = "audio recordings"
	DataPaymentStatus DataCategory = "payment status"
)

// Categories of the course policy (C01, C02) besides name and e-mail address.
const (
	DataCourseDate         DataCategory = "date"
	DataCourseType         DataCategory = "course type"
	DataInvoiceAddress     DataCategory = "invoice address"
	DataOrganisationNumber DataCategory = "organisation number"
	DataInvoiceEmail       DataCategory = "invoice e-mail address"
	DataEducationalLevel   DataCategory = "educational level"
	DataYearsInPosition    DataCategory = "years in the position"
	DataCompany            DataCategory = "company"
)

// Process IDs of the record.
const (
	// ProcessStateTests is the state tests for immigrants (promises T01–T22).
	ProcessStateTests = "state_tests"
	// ProcessCourses is the customs courses, training and events (C01–C11).
	ProcessCourses = "courses"
)

// StateTestsLegalBasis is the legal basis the state-test privacy policy
// gives for the processing, in its words: integreringsloven § 41 (1) b)
// and/or c) and integreringsforskriften § 54.
const StateTestsLegalBasis = "integreringsloven § 41 (1) b) and/or c); integreringsforskriften § 54"

// AutomatedDecisionLegalBasis is the legal basis the state-test policy
// gives for the automated decisions that mark the reading and listening
// parts, the social studies test and the citizenship test (T02): "Section
// 41 (1) e) of the Integration Act and Section 64 of the Integration
// Regulation". It is stored with every automated marking decision
// (results.legal_basis).
const AutomatedDecisionLegalBasis = "integreringsloven § 41 (1) e); integreringsforskriften § 64"

// Section41Letter is the letter of integreringsloven § 41 (1) a release
// rests on. The policy cites "b) and/or c)" for the whole processing; a
// release names the one of the two that its task falls under. The letters'
// wording was not retrieved (the shared domain facts mark it uncertain);
// examflow reads b) as carrying out the tests under the Act and c) as
// documenting and administering their results, and the controller
// confirms this before the first release to a recipient other than Sikt.
type Section41Letter string

const (
	// Section41B: carrying out the tests: arranging them, managing them at
	// the test centre, and the appeals against their decisions.
	Section41B Section41Letter = "b)"
	// Section41C: documenting and administering the results.
	Section41C Section41Letter = "c)"
)

// ReleaseLegalBasis is the legal basis recorded with a release resting on
// the letter: the policy's own words ("GDPR Article 6(1)(e)", "§ 41 (1)
// b) and/or c)", "integreringsforskriften § 54") with the letter that
// applies. Only b) and c) are letters the policy cites.
func ReleaseLegalBasis(l Section41Letter) (string, error) {
	if l != Section41B && l != Section41C {
		return "", fmt.Errorf("integreringsloven § 41 (1) %q: the policy cites only b) and c)", l)
	}
	return "GDPR Article 6(1)(e); integreringsloven § 41 (1) b) and/or c), here " + string(l) + "; integreringsforskriften § 54", nil
}

// mustReleaseLegalBasis is ReleaseLegalBasis for the catalogue's constants.
func mustReleaseLegalBasis(l Section41Letter) string {
	b, err := ReleaseLegalBasis(l)
	if err != nil {
		panic(err)
	}
	return b
}

// Record is the record of processing: each process, the data processors
// the deployment uses, and where the data is stored.
type Record struct {
	Processes []Processing `json:"processes"`
	// Processors are the roles this deployment gives to others when it does
	// not run them itself (T11).
	Processors []Processor `json:"processors"`
	// ProcessorAgreement is what a processor must have signed.
	ProcessorAgreement string `json:"processor_agreement"`
	// StorageLocation is where processing and storage take place (T12, C09).
	StorageLocation string `json:"storage_location"`
}

// Processing is one process of the record.
type Processing struct {
	// ID is ProcessStateTests or ProcessCourses.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Controller names the controller and how to reach it.
	Controller string `json:"controller"`
	// DataProtectionOfficer is the data protection officer and how to
	// reach them, as the policy names them.
	DataProtectionOfficer string `json:"data_protection_officer"`
	// Notice is the privacy policy the data subjects are given, with its
	// version and date.
	Notice Notice `json:"notice"`
	// NamedProcessors are the data processors the policy names.
	NamedProcessors []NamedProcessor `json:"named_processors"`
	// AutomatedDecisions says which decisions are automated and on what
	// legal basis, or "none".
	AutomatedDecisions string     `json:"automated_decisions"`
	LegalBasis         string     `json:"legal_basis"`
	DataSubjects       string     `json:"data_subjects"`
	Purposes           []Purpose  `json:"purposes"`
	PersonalData       []DataItem `json:"personal_data"`
	Sources            []Source   `json:"sources"`
	// Recipients are the third parties data may be released to; empty when
	// the policy allows none.
	Recipients []Recipient `json:"recipients"`
	// RecipientsNote says why there are no recipients, or what the legal
	// basis column means.
	RecipientsNote string `json:"recipients_note"`
	// Access says who inside the controller may see the data, where the
	// policy says so.
	Access string `json:"access,omitempty"`
	// Retention comes from the retention tables (Table, CourseTable).
	Retention []Retention `json:"retention"`
	// Transfers says whether data may leave the EU/EEA.
	Transfers string `json:"transfers"`
	// Status says what of the process is not built yet, if anything.
	Status string `json:"status,omitempty"`
}

// Purpose is one purpose of a process (T01, C03–C05).
type Purpose struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	Promise     string `json:"promise"`
	// Uses limits what the purpose may use, where the policy or examflow
	// limits it (statistics and research: anonymous data only).
	Uses string `json:"uses,omitempty"`
}

// Notice is a privacy policy as published to the data subjects.
type Notice struct {
	Title string `json:"title"`
	// URL is where the text is published, where examflow knows it.
	URL string `json:"url,omitempty"`
	// Version names the text; a changed text is a new version.
	Version string `json:"version"`
	// Date is the text's date (YYYY-MM-DD).
	Date string `json:"date"`
	// Note says where the date comes from, where the text gives none.
	Note string `json:"note,omitempty"`
}

// NamedProcessor is a data processor a policy names (T11).
type NamedProcessor struct {
	Name string `json:"name"`
	// Service is what it does for the controller.
	Service string `json:"service"`
	// Agreement is the agreement it works under.
	Agreement string `json:"agreement"`
}

// DataItem is one category of personal data a process holds.
type DataItem struct {
	Category  DataCategory `json:"category"`
	Sensitive bool         `json:"sensitive,omitempty"`
	// Condition limits when the category is held.
	Condition string `json:"condition,omitempty"`
	Promise   string `json:"promise"`
}

// Source is where personal data comes from (T05). The IDs are the values of
// registrations.source in the database.
type Source struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Ways data reaches examflow, and the people and systems that make data in
// it, as the access export names each section's sources beside the origins
// of Processing.Sources (T05): a registration's data comes from its origin
// (the candidate or an authority) through the registration portal or the
// legacy system.
const (
	SourceRegistrationPortal = "the registration portal"
	SourceLegacySystem       = "the legacy system"
	SourceTestSystem         = "the test system"
	SourceCaseHandler        = "a case handler"
	SourceExaminer           = "an examiner"
	// SourceAutomatedMarking: examflow's automated decisions (T02) on the
	// answers the test system sent.
	SourceAutomatedMarking = "examflow's automated marking of the answers"
	// SourceExamflow: what examflow records itself (stages, notices sent).
	SourceExamflow = "examflow itself"
)

// SourceName returns the name of a state-test origin (registrations.source,
// answer_sheets.source, discrepancies.source), or the ID itself when the
// record does not know it.
func SourceName(id string) string {
	for _, s := range stateTests().Sources {
		if s.ID == id {
			return s.Name
		}
	}
	return id
}

// Recipient is a third party personal data may be released to (T08, T10).
type Recipient struct {
	// ID is stable and lowercase; releases name their recipient by it.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Section41 is the letter of integreringsloven § 41 (1) the
	// recipient's task falls under.
	Section41 Section41Letter `json:"section_41_letter"`
	// LegalBasis is recorded with every release to the recipient (T08):
	// ReleaseLegalBasis(Section41).
	LegalBasis string `json:"legal_basis"`
	// Categories are the only categories examflow releases to the
	// recipient: what its task needs, no more.
	Categories []DataCategory `json:"categories"`
	// Task is why the recipient receives data.
	Task string `json:"task"`
	// Purpose is the purpose of the record a release to the recipient
	// serves, as the audit log records it (AuditPurposes).
	Purpose string `json:"purpose"`
}

// Processor is a role of the deployment that a data processor fills when
// the controller does not run it itself (T11).
type Processor struct {
	// Role names the service.
	Role string `json:"role"`
	// ConfiguredBy are the environment variables that point examflow at it.
	ConfiguredBy []string `json:"configured_by"`
	// Holds says what personal data it receives.
	Holds string `json:"holds"`
}

// Retention is a retention rule in the record: a Rule with JSON names.
type Retention struct {
	Category   Category `json:"category"`
	Years      int      `json:"years"`
	From       Event    `json:"from"`
	Promise    string   `json:"promise"`
	Holds      string   `json:"holds"`
	FromChosen string   `json:"from_chosen,omitempty"`
}

// Errors of CheckRelease.
var (
	// ErrUnknownRecipient: the recipient is not in the catalogue.
	ErrUnknownRecipient = errors.New("unknown recipient")
	// ErrCategoryNotPermitted: the recipient may not receive the category.
	ErrCategoryNotPermitted = errors.New("category not permitted for the recipient")
)

// Recipients is the catalogue of third parties state-test data may be
// released to (T10), in the policy's order. Each call returns a fresh copy.
// The course process has none (C08).
func Recipients() []Recipient {
	identity := []DataCategory{DataName, DataDateOfBirth, DataNationalID, DataDNumber, DataDUFNumber}
	with := func(base []DataCategory, more ...DataCategory) []DataCategory {
		return append(slices.Clone(base), more...)
	}
	return []Recipient{
		{ID: "imdi", Purpose: "arrange_tests", Name: "the Directorate of Integration and Diversity (IMDi)", Section41: Section41C, LegalBasis: mustReleaseLegalBasis(Section41C),
			Categories: with(identity, DataTestType, DataTestTime, DataTestCentre, DataTestResults),
			Task:       "follows up training in Norwegian and social studies under the Integration Act"},
		{ID: "test_centre", Purpose: "test_centre", Name: "municipalities and test centres", Section41: Section41B, LegalBasis: mustReleaseLegalBasis(Section41B),
			Categories: with(identity, DataAddress, DataTelephone, DataEmail, DataPassportNumber, DataCandidateNumber,
				DataTestType, DataTestTime, DataWrittenForm, DataTestCentre, DataTestResults, DataDiscrepancies, DataAppeal, DataCheating),
			Task: "arrange the test day, report discrepancies and handle formal-error complaints"},
		{ID: "county_governor", Purpose: "appeals", Name: "the County Governor (Statsforvalteren)", Section41: Section41B, LegalBasis: mustReleaseLegalBasis(Section41B),
			Categories: with(identity, DataCandidateNumber, DataTestType, DataTestTime, DataTestCentre, DataTestAnswers, DataAudio,
				DataTestResults, DataDiscrepancies, DataAppeal, DataCheating),
			Task: "final appeal instance"},
		{ID: "ssb", Purpose: "statistics", Name: "Statistics Norway (SSB)", Section41: Section41C, LegalBasis: mustReleaseLegalBasis(Section41C),
			Categories: []DataCategory{DataNationalID, DataDateOfBirth, DataGender, DataTestType, DataTestTime, DataWrittenForm, DataTestCentre, DataTestResults},
			Task:       "official statistics"},
		{ID: "udi", Purpose: "arrange_tests", Name: "the Directorate of Immigration (UDI)", Section41: Section41C, LegalBasis: mustReleaseLegalBasis(Section41C),
			Categories: with(identity, DataPassportNumber, DataTestType, DataTestTime, DataTestResults),
			Task:       "residence and citizenship applications that require the tests"},
		{ID: "ministry", Purpose: "arrange_tests", Name: "the Ministry of Labour and Social Inclusion", Section41: Section41C, LegalBasis: mustReleaseLegalBasis(Section41C),
			Categories: with(identity, DataCandidateNumber, DataTestType, DataTestTime, DataTestCentre, DataTestResults, DataDiscrepancies, DataAppeal, DataCheating),
			Task:       "the ministry responsible for the Integration Act, superior to the Directorate"},
		{ID: "higher_education", Purpose: "arrange_tests", Name: "higher education institutions", Section41: Section41C, LegalBasis: mustReleaseLegalBasis(Section41C),
			Categories: with(identity[:3], DataTestType, DataTestTime, DataTestResults),
			Task:       "admission: documented Norwegian skills"},
		{ID: "sikt", Purpose: "arrange_tests", Name: "Sikt – Norwegian Agency for Shared Services in Education and Research (the Diploma Registry, Vitnemålsportalen)", Section41: Section41C, LegalBasis: mustReleaseLegalBasis(Section41C),
			Categories: []DataCategory{DataName, DataDateOfBirth, DataNationalID, DataTestType, DataTestResults, DataTestTime},
			Task:       "publishes results of candidates with a national identity number in the Diploma Registry (T09)"},
	}
}

// Purposes of the audit log that are obligations of the controller, not
// purposes of the processing (T01): the policies name them besides.
const (
	// AuditDataSubjectRights: answering the person's requests (T18–T21,
	// the state-test policy's section 7; C06, C10, C11).
	AuditDataSubjectRights = "data_subject_rights"
	// AuditDPOOversight: the data protection officer's oversight (the
	// state-test policy's section 8), such as reading the audit log.
	AuditDPOOversight = "dpo_oversight"
	// AuditSecurity: keeping the data secure, such as rotating keys ("to
	// safeguard the security of the information", the state-test policy's
	// section 5; GDPR Article 32).
	AuditSecurity = "security"
)

// AuditPurpose is a purpose a person may read, change or release personal
// data for, as the audit log records it (T01).
type AuditPurpose struct {
	// ID is what the audit log stores.
	ID string `json:"id"`
	// Process is the process whose purpose it is; empty for an
	// obligation of the controller.
	Process     string `json:"process,omitempty"`
	Description string `json:"description"`
	Promise     string `json:"promise"`
}

// AuditPurposes is the fixed catalogue of the audit log's purposes: every
// purpose of the record of processing whose data is not anonymous only,
// then the controller's obligations. Research and analysis and the course
// statistics use anonymous data only, so no person reads personal data for
// them; statistics is in the catalogue for releases to Statistics Norway.
func AuditPurposes() []AuditPurpose {
	var out []AuditPurpose
	for _, p := range ProcessingRecord().Processes {
		for _, x := range p.Purposes {
			if strings.HasPrefix(x.Uses, "anonymous data only") && x.ID != "statistics" {
				continue
			}
			out = append(out, AuditPurpose{ID: x.ID, Process: p.ID, Description: x.Description, Promise: x.Promise})
		}
	}
	return append(out,
		AuditPurpose{ID: AuditDataSubjectRights, Description: "answering the person's requests to access, rectify, restrict, object, withdraw consent or be deleted", Promise: "T18–T21, C06, C10, C11"},
		AuditPurpose{ID: AuditDPOOversight, Description: "the data protection officer's oversight of the processing", Promise: "T11"},
		AuditPurpose{ID: AuditSecurity, Description: "keeping the data secure, such as rotating keys", Promise: "T11"},
	)
}

// IsAuditPurpose reports whether id is a purpose of the catalogue.
func IsAuditPurpose(id string) bool {
	return slices.ContainsFunc(AuditPurposes(), func(a AuditPurpose) bool { return a.ID == id })
}

// AuditPurposeDescription returns a catalogued purpose's description, or ""
// for an ID outside the catalogue (such as an entry written before it).
func AuditPurposeDescription(id string) string {
	for _, a := range AuditPurposes() {
		if a.ID == id {
			return a.Description
		}
	}
	return ""
}

// Process returns the record of one process by its ID.
func Process(id string) (Processing, bool) {
	for _, p := range ProcessingRecord().Processes {
		if p.ID == id {
			return p, true
		}
	}
	return Processing{}, false
}

// LookupRecipient returns the catalogue entry of a recipient ID.
func LookupRecipient(id string) (Recipient, bool) {
	for _, r := range Recipients() {
		if r.ID == id {
			return r, true
		}
	}
	return Recipient{}, false
}

// Permits says whether the recipient may receive the category.
func (r Recipient) Permits(c DataCategory) bool { return slices.Contains(r.Categories, c) }

// CheckRelease returns the recipient of a release of the given categories,
// or an error wrapping ErrUnknownRecipient or ErrCategoryNotPermitted. A
// release with no categories is refused: a release must say what it
// releases (T08).
func CheckRelease(recipientID string, categories []DataCategory) (Recipient, error) {
	r, ok := LookupRecipient(recipientID)
	if !ok {
		return Recipient{}, fmt.Errorf("release to %q: %w", recipientID, ErrUnknownRecipient)
	}
	if len(categories) == 0 {
		return Recipient{}, fmt.Errorf("release to %s: no categories named: %w", r.ID, ErrCategoryNotPermitted)
	}
	for _, c := range categories {
		if !r.Permits(c) {
			return Recipient{}, fmt.Errorf("release of %q to %s: %w", c, r.ID, ErrCategoryNotPermitted)
		}
	}
	return r, nil
}

// ProcessingRecord returns the record of processing of both processes.
func ProcessingRecord() Record {
	return Record{
		Processes: []Processing{stateTests(), courses()},
		Processors: []Processor{
			{Role: "PostgreSQL hosting (managed PostgreSQL or the servers it runs on), with its backups",
				ConfiguredBy: []string{"EXAMFLOW_DATABASE_URL"},
				Holds:        "the system of record: every state-test category above (audio recordings aside), identity, contact and address fields and legacy sensitive data sealed with each subject's own data key; the disclosure and deletion records"},
			{Role: "object storage (MinIO or another S3-compatible store)",
				ConfiguredBy: []string{"EXAMFLOW_MINIO_ENDPOINT", "EXAMFLOW_MINIO_BUCKET"},
				Holds:        "audio recordings of the C1 reading comprehension and oral communication parts, encrypted with the subject's data key; object keys hold UUIDs only"},
			{Role: "Temporal cluster hosting",
				ConfiguredBy: []string{"EXAMFLOW_TEMPORAL_ADDRESS", "EXAMFLOW_TEMPORAL_NAMESPACE"},
				Holds:        "workflow histories: opaque IDs and status values in the clear; inputs and results (such as answer sheets) encrypted with the payload key (EXAMFLOW_PAYLOAD_KEY), which the host does not hold"},
			{Role: "SMTP relay",
				ConfiguredBy: []string{"EXAMFLOW_SMTP_HOST", "EXAMFLOW_SMTP_PORT"},
				Holds:        "notifications in transit: the recipient's name and e-mail address, the type of test, and that a result or an appeal decision is ready (never the result)"},
		},
		ProcessorAgreement: "Whoever runs one of these roles for the controller is a data processor. It may receive personal data only under a data processing agreement with the controller (GDPR Article 28(3)) that keeps processing and storage where the storage location below allows; the controller's copy of this record names the provider of each role and its agreement. A role the controller runs on its own infrastructure has no processor.",
		StorageLocation:    "The EU/EEA. Every examflow process that uses the stores (api, worker, migrate, dev) reads the region of its stores from EXAMFLOW_STORAGE_REGION and refuses to start when it is not an EU/EEA region (config/region.go), unless EXAMFLOW_ALLOW_REGION_OUTSIDE_EEA gives a written reason, which each process logs at warn level at start-up. The state-test policy allows no processing outside the EU/EEA (T12); the course policy also allows countries with an EU adequacy decision (C09). Both processes share one deployment, so an override breaks T12 wherever state-test data is held: it is for a deployment that holds course data only, in a country with an adequacy decision, and its reason names that decision.",
	}
}

func stateTests() Processing {
	item := func(c DataCategory) DataItem { return DataItem{Category: c, Promise: "T06"} }
	var data []DataItem
	for _, c := range []DataCategory{DataName, DataAddress, DataTelephone, DataEmail, DataDateOfBirth, DataNationalID, DataDUFNumber,
		DataDNumber, DataPassportNumber, DataCandidateNumber, DataGender, DataTestAnswers, DataTestResults, DataTestType, DataTestTime,
		DataWrittenForm, DataTestCentre, DataAppeal, DataDiscrepancies, DataCheating} {
		data = append(data, item(c))
	}
	legacy := "only for candidates registered before 15 February 2022; never recorded for a later registration"
	data = append(data,
		DataItem{Category: DataCountryOfOrigin, Sensitive: true, Condition: legacy, Promise: "T07"},
		DataItem{Category: DataMotherTongue, Sensitive: true, Condition: legacy, Promise: "T07"},
		DataItem{Category: DataAudio, Condition: "the C1 reading comprehension and oral communication parts", Promise: "T15"},
		DataItem{Category: DataPaymentStatus, Promise: "T16"},
	)
	return Processing{
		ID:   ProcessStateTests,
		Name: "State tests for immigrants: the Norwegian language test, the social studies test and the citizenship test",
		Controller: "the Directorate for Higher Education and Skills (HK-dir), Fortunen 1, 5013 Bergen, post@hkdir.no, telephone 55 30 38 00, " +
			"organisation number 974788985; requests about personal data: proveadministrasjonen@hkdir.no",
		DataProtectionOfficer: "Marita Ådnanes Helleland, HK-dir's data protection officer at Sikt – Norwegian Agency for Shared Services " +
			"in Education and Research (the policy, section 8)",
		Notice: Notice{
			Title:   "Privacy policy for handling personal data when administrating and executing the Norwegian language test, the Social studies test and the citizenship test",
			URL:     "https://prove.hkdir.no/en/privacy-policy",
			Version: "2026-11-23", Date: "2026-11-23",
			Note: "the published text states no date of its own; this version is the text examflow implements, as taken into the project on " +
				"23 November 2026. When HK-dir changes the text (the policy, section 10), the new text is a new version with its date",
		},
		NamedProcessors: []NamedProcessor{{
			Name: "Enovate AS",
			Service: "the data processor the policy names (\"At present we use the following data processors: Enovate AS\"): the supplier of " +
				"PAD, the test administration system, whose registration portal and test system send examflow registrations, answer sheets " +
				"and recordings with the integration role, and where candidates log in",
			Agreement: "a data processing agreement with HK-dir (GDPR Article 28(3)), which the policy says is concluded \"to safeguard the " +
				"security of the information at all stages of the processing\"; processing within the EU/EEA (T12)",
		}},
		AutomatedDecisions: "the reading and listening parts of the Norwegian language test, the social studies test and the citizenship " +
			"test are marked by automated decisions (T02) under " + AutomatedDecisionLegalBasis + ", which is stored with every automated " +
			"marking decision (results.legal_basis); written and oral parts are assessed by examiners, never automatically (T03); a suspected " +
			"fault sends the result to manual review before it stands (T04)",
		LegalBasis: "GDPR Article 6(1)(e) with integreringsloven § 41 (1) b) and/or c) and integreringsforskriften § 54; " +
			"for the sensitive categories GDPR Article 9(2)(g) with integreringsloven § 41 (1) b) and/or c)",
		DataSubjects: "candidates who register for or take one of the three tests",
		Purposes: []Purpose{
			{ID: "arrange_tests", Description: "arranging the three tests and assuring their quality", Promise: "T01"},
			{ID: "test_centre", Description: "managing the tests at the test centre", Promise: "T01"},
			{ID: "appeals", Description: "safeguarding the right to appeal decisions that can be appealed", Promise: "T01"},
			{ID: "statistics", Description: "statistics", Promise: "T01",
				Uses: "anonymous data only inside examflow: counts per cell, cells below the minimum suppressed (role statistics, docs/statistics.md); " +
					"identified data only as a release to Statistics Norway, with the categories of the recipients below"},
			{ID: "research", Description: "research and analysis", Promise: "T01",
				Uses: "anonymous data only: the statistics cells above; no route, role or export gives research personal data, and no audit " +
					"purpose (the audit log's catalogue) lets a person read it for research. Research that needs personal data needs a legal basis and a release of its own"},
		},
		PersonalData: data,
		Sources: []Source{
			{ID: "candidate", Name: "the candidate"},
			{ID: "imdi", Name: "the Directorate of Integration and Diversity (IMDi)"},
			{ID: "test_centre", Name: "municipalities and test centres"},
			{ID: "county_governor", Name: "the County Governor (final appeal instance)"},
			{ID: "udi", Name: "the Directorate of Immigration (UDI)"},
			{ID: "ministry", Name: "the Ministry of Labour and Social Inclusion"},
			{ID: "population_register", Name: "the National Population Register"},
		},
		Recipients: Recipients(),
		RecipientsNote: "No release without a legal basis; every release records recipient, legal basis, categories and time (T08), " +
			"and only to a recipient below, with only its categories. The legal basis is the one the privacy policy gives for the processing, " +
			"in its words (integreringsloven § 41 (1) b) and/or c)), naming the letter the recipient's task falls under: b) carrying out the tests " +
			"and their appeals, c) documenting and administering their results. The policy names the recipients but not the provision behind " +
			"each release, and the letters' wording was not retrieved, so the controller confirms the letter before the first release to a " +
			"recipient other than Sikt. The categories are examflow's limit for each recipient's task.",
		Retention: retention(Table),
		Transfers: "none: all processing and storage stay within the EU/EEA (T12)",
	}
}

func courses() Processing {
	return Processing{
		ID:         ProcessCourses,
		Name:       "Customs courses, training and events",
		Controller: "the Norwegian Customs; daily responsibility: the Department for User Dialogue",
		DataProtectionOfficer: "not named in the course policy: the Norwegian Customs' data protection officer, whom the controller's copy " +
			"of this record names; requests go to the address the course policy gives",
		Notice: Notice{
			Title:   "Registration for courses, training, and events",
			Version: "2025-02-11", Date: "2025-02-11", Note: "the policy says \"Updated: 11/02/2025\"",
		},
		NamedProcessors:    []NamedProcessor{},
		AutomatedDecisions: "none: nothing about a participant is decided automatically",
		LegalBasis:         "consent: registering is consent to the processing needed to administer and follow up the chosen training (C03), and it can be withdrawn at any time (C06)",
		DataSubjects:       "participants who register for or complete a course, training or event",
		Purposes: []Purpose{
			{ID: "administer_training", Description: "administering and following up the training the participant chose", Promise: "C03"},
			{ID: "user_survey", Description: "inviting a previous participant to a user survey after the course", Promise: "C04"},
			{ID: "course_information", Description: "telling a previous participant about new relevant courses and training content", Promise: "C04"},
			{ID: "anonymous_statistics", Description: "statistics from registrations, used anonymously, also presented outside the department", Promise: "C05",
				Uses: "anonymous data only: counts per cell, cells below the minimum suppressed"},
		},
		PersonalData: []DataItem{
			{Category: DataName, Promise: "C01"},
			{Category: DataEmail, Promise: "C01"},
			{Category: DataCourseDate, Promise: "C01"},
			{Category: DataCourseType, Condition: "registered for or marked completed", Promise: "C01"},
			{Category: DataInvoiceAddress, Condition: "paid courses", Promise: "C01"},
			{Category: DataOrganisationNumber, Condition: "paid courses", Promise: "C01"},
			{Category: DataInvoiceEmail, Condition: "paid courses", Promise: "C01"},
			{Category: DataEducationalLevel, Condition: "optional, some course types", Promise: "C02"},
			{Category: DataYearsInPosition, Condition: "optional, some course types", Promise: "C02"},
			{Category: DataCompany, Condition: "optional, some course types", Promise: "C02"},
		},
		Sources:        []Source{{ID: "participant", Name: "the participant"}},
		Recipients:     []Recipient{},
		RecipientsNote: "none: who completed a course is never disclosed to others, such as the employer (C08)",
		Access:         "only employees working with courses and training in the Department for User Dialogue (C07)",
		Retention:      retention(CourseTable),
		Transfers:      "none outside the EU/EEA, except to countries with an EU adequacy decision (C09)",
	}
}

func retention(rules []Rule) []Retention {
	out := make([]Retention, 0, len(rules))
	for _, r := range rules {
		out = append(out, Retention(r))
	}
	return out
}

// RecordOfProcessing renders the record as docs/record-of-processing.md.
func RecordOfProcessing() string { return ProcessingRecord().Markdown() }

// Markdown renders the record as a Markdown document.
func (r Record) Markdown() string {
	var b strings.Builder
	b.WriteString("# Record of processing\n\n")
	b.WriteString("<!-- Generated from policy/record.go and policy/retention.go by\n" +
		"     `examflow record-of-processing --write docs/record-of-processing.md`; do not edit by hand.\n" +
		"     policy.TestRecordOfProcessingDocIsGenerated fails when this file and the code differ. -->\n\n")
	b.WriteString("The record of processing activities (GDPR Article 30) of the two processes examflow runs, " +
		"generated from the code (`policy.ProcessingRecord()`), so it names exactly the recipients, processors " +
		"and retention periods the code uses (T11).\n")
	for i, p := range r.Processes {
		fmt.Fprintf(&b, "\n## %d. %s\n\n", i+1, p.Name)
		if p.Status != "" {
			fmt.Fprintf(&b, "**Status:** %s.\n\n", p.Status)
		}
		b.WriteString("| | |\n|---|---|\n")
		row(&b, "process ID", "`"+p.ID+"`")
		row(&b, "controller", p.Controller)
		row(&b, "data protection officer", p.DataProtectionOfficer)
		notice := p.Notice.Title
		if p.Notice.URL != "" {
			notice += " (" + p.Notice.URL + ")"
		}
		notice += fmt.Sprintf(", version %s of %s", p.Notice.Version, p.Notice.Date)
		if p.Notice.Note != "" {
			notice += ": " + p.Notice.Note
		}
		row(&b, "privacy policy", notice)
		row(&b, "legal basis", p.LegalBasis)
		row(&b, "data subjects", p.DataSubjects)
		if p.Access != "" {
			row(&b, "who can see the data", p.Access)
		}
		row(&b, "automated decisions", p.AutomatedDecisions)
		row(&b, "transfers outside the EU/EEA", p.Transfers)

		b.WriteString("\n### Purposes\n\n| ID | purpose | may use | promise |\n|---|---|---|---|\n")
		for _, x := range p.Purposes {
			uses := x.Uses
			if uses == "" {
				uses = "the personal data below, as far as the purpose needs it"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", x.ID, cell(x.Description), cell(uses), x.Promise)
		}

		b.WriteString("\n### Data processors the policy names\n\n")
		if len(p.NamedProcessors) == 0 {
			b.WriteString("None named; the roles under Data processors below apply.\n")
		} else {
			b.WriteString("| processor | what it does | agreement |\n|---|---|---|\n")
			for _, x := range p.NamedProcessors {
				fmt.Fprintf(&b, "| %s | %s | %s |\n", cell(x.Name), cell(x.Service), cell(x.Agreement))
			}
		}

		b.WriteString("\n### Personal data\n\n| category | sensitive | held | promise |\n|---|---|---|---|\n")
		for _, x := range p.PersonalData {
			sensitive := "no"
			if x.Sensitive {
				sensitive = "yes"
			}
			held := x.Condition
			if held == "" {
				held = "always"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(string(x.Category)), sensitive, cell(held), x.Promise)
		}

		b.WriteString("\n### Sources\n\n| ID | source |\n|---|---|\n")
		for _, x := range p.Sources {
			fmt.Fprintf(&b, "| `%s` | %s |\n", x.ID, cell(x.Name))
		}

		b.WriteString("\n### Recipients\n\n")
		if len(p.Recipients) == 0 {
			fmt.Fprintf(&b, "None: %s.\n", strings.TrimPrefix(p.RecipientsNote, "none: "))
		} else {
			fmt.Fprintf(&b, "%s\n\n| ID | recipient | task | purpose | legal basis | categories |\n|---|---|---|---|---|---|\n", p.RecipientsNote)
			for _, x := range p.Recipients {
				cats := make([]string, len(x.Categories))
				for j, c := range x.Categories {
					cats[j] = string(c)
				}
				fmt.Fprintf(&b, "| `%s` | %s | %s | `%s` | %s | %s |\n", x.ID, cell(x.Name), cell(x.Task), x.Purpose, cell(x.LegalBasis), cell(strings.Join(cats, ", ")))
			}
		}

		b.WriteString("\n### Retention\n\n| category | kept | from | promise | holds | why this event |\n|---|---|---|---|---|---|\n")
		for _, x := range p.Retention {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", x.Category, Rule(x).Kept(), x.From.Text(), x.Promise, cell(x.Holds), cell(x.FromChosen))
		}
	}

	b.WriteString("\n## Purposes in the audit log\n\n")
	b.WriteString("Every read, change or release of personal data by a person, and every release examflow makes itself (a Diploma Registry " +
		"publication, an appeal handed to the test centre or the County Governor), is recorded with one of these purposes (`policy.AuditPurposes`); " +
		"the audit log refuses any other. They are the purposes above whose data is not anonymous only (statistics only for releases to " +
		"Statistics Norway), and the controller's obligations the policies name besides. A release is recorded as action `release`, " +
		"in the same transaction as its disclosure, with the purpose the recipients table gives the recipient and the categories released (docs/audit.md).\n\n")
	b.WriteString("| ID | process | purpose | promise |\n|---|---|---|---|\n")
	for _, a := range AuditPurposes() {
		process := a.Process
		if process == "" {
			process = "the controller's obligation"
		} else {
			process = "`" + process + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", a.ID, process, cell(a.Description), a.Promise)
	}

	b.WriteString("\n## Data processors\n\n")
	b.WriteString(r.ProcessorAgreement + "\n\n| role | configured by | what it receives |\n|---|---|---|\n")
	for _, x := range r.Processors {
		vars := make([]string, len(x.ConfiguredBy))
		for j, v := range x.ConfiguredBy {
			vars[j] = "`" + v + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", cell(x.Role), strings.Join(vars, ", "), cell(x.Holds))
	}

	b.WriteString("\n## Storage location\n\n" + r.StorageLocation + "\n")
	return b.String()
}

func row(b *strings.Builder, name, value string) {
	fmt.Fprintf(b, "| %s | %s |\n", name, cell(value))
}

// cell keeps a value inside one Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
