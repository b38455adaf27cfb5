package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/sio"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// SubjectRequests carries out data subject requests (T18-T21).
// Purpose (T01): the data subject's rights.
type SubjectRequests struct {
	Store       subjectRequestStore
	Objects     exportObjects // the encrypted exports (MinIO, *storage.Objects)
	Publication *Publication
	Logger      *slog.Logger
}

// subjectRequestStore is what the SubjectRequests activities need of the
// store: the methods they call, no more. *storage.Store is one (the worker
// passes it); a unit test passes a fake of its own.
type subjectRequestStore interface {
	AnswerSubjectRequest(ctx context.Context, id uuid.UUID, status, outcome, reason, by string, at time.Time) error
	EnqueueNotification(ctx context.Context, n storage.Notification) (created bool, err error)
	ExtendSubjectRequest(ctx context.Context, id uuid.UUID, due time.Time, reason string) error
	FinalRegistrations(ctx context.Context, candidateID uuid.UUID) ([]uuid.UUID, error)
	GetSubjectRequest(ctx context.Context, id uuid.UUID) (storage.SubjectRequest, error)
	RecordObjection(ctx context.Context, candidateID, requestID uuid.UUID, purposes []string, at time.Time) error
	Rectify(ctx context.Context, candidateID uuid.UUID, r storage.Rectification) error
	RemindSubjectRequest(ctx context.Context, id uuid.UUID) error
	SetExportObject(ctx context.Context, id uuid.UUID, key string) error
	SetRestriction(ctx context.Context, candidateID uuid.UUID, restricted bool, requestID uuid.UUID, at time.Time) error
	SubjectDataOf(ctx context.Context, candidateID uuid.UUID) (storage.SubjectData, error)
	SubjectKey(ctx context.Context, candidateID uuid.UUID) ([]byte, error)
	VerifySubjectIdentity(ctx context.Context, id uuid.UUID, method, by string, at time.Time) error
}

var _ subjectRequestStore = (*storage.Store)(nil)

// exportObjects is where the SubjectRequests activities put an access
// export: *storage.Objects (MinIO).
type exportObjects interface {
	PutObject(ctx context.Context, key string, r io.Reader, size int64, contentType string) (minio.UploadInfo, error)
}

var _ exportObjects = (*storage.Objects)(nil)

// ComplaintNotice is what every reply says (T21).
const ComplaintNotice = "You can complain to the Norwegian Data Protection Authority (Datatilsynet) about how we process your personal data: www.datatilsynet.no."

// ExportSection is one category of the export: the data with why it is
// held, where it came from, who received it and how long it is kept.
type ExportSection struct {
	Category   string   `json:"category"`
	Purposes   []string `json:"purposes"`
	Sources    []string `json:"sources"`
	Recipients []string `json:"recipients"`
	Retention  string   `json:"retention"`
	Data       any      `json:"data"`
}

// ExportAbout is what an access export says about the processing itself
// (GDPR Article 15(1)): who is responsible, the data protection officer,
// the privacy policy in force and its version, and the automated decisions
// with their legal basis, as the record of processing says.
type ExportAbout struct {
	Controller            string        `json:"controller"`
	DataProtectionOfficer string        `json:"data_protection_officer"`
	PrivacyPolicy         policy.Notice `json:"privacy_policy"`
	AutomatedDecisions    string        `json:"automated_decisions"`
}

// Export is an access export: all the subject's data by category (T18).
type Export struct {
	RequestID   string           `json:"request_id"`
	GeneratedAt time.Time        `json:"generated_at"`
	About       ExportAbout      `json:"about"`
	Candidate   map[string]any   `json:"candidate"`
	Sections    []ExportSection  `json:"sections"`
	Disclosures []map[string]any `json:"disclosures"`
	Complaint   string           `json:"right_to_complain"`
}

func retentionOf(c policy.Category) string {
	if r, ok := policy.Lookup(c); ok {
		return r.Kept()
	}
	return ""
}

// sourceList is an ordered set of sources.
type sourceList []string

func (l *sourceList) add(names ...string) {
	for _, n := range names {
		if n != "" && !slices.Contains(*l, n) {
			*l = append(*l, n)
		}
	}
}

// rowsOf decodes a table's rows for the fields that name their source.
func rowsOf(d storage.SubjectData, table string) []map[string]any {
	var out []map[string]any
	for _, raw := range d.Tables[table] {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func text(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// registrationSources are where a candidate's registration data came from:
// each registration's origin (the candidate or an authority) and the way
// it came, the registration portal or, for a registration imported with
// its original date, the legacy system (T05).
func registrationSources(d storage.SubjectData) sourceList {
	l := sourceList{}
	for _, r := range rowsOf(d, "registrations") {
		channel := policy.SourceRegistrationPortal
		if r["original_registration_date"] != nil {
			channel = policy.SourceLegacySystem
		}
		l.add(policy.SourceName(text(r, "source")), channel)
	}
	return l
}

// resultSources are who made the answers and results: the test system sent
// the answers, examflow marked them automatically, examiners assessed,
// case handlers reviewed or corrected.
func resultSources(d storage.SubjectData) sourceList {
	l := sourceList{}
	if len(d.Tables["answer_sheets"]) > 0 {
		l.add(policy.SourceTestSystem)
	}
	for _, r := range rowsOf(d, "results") {
		switch text(r, "decided_by") {
		case "automated":
			l.add(policy.SourceAutomatedMarking)
		case "examiners", "appeal":
			l.add(policy.SourceExaminer)
		case "case_handler":
			l.add(policy.SourceCaseHandler)
		}
	}
	if len(d.Tables["assessments"]) > 0 {
		l.add(policy.SourceExaminer)
	}
	if len(d.Tables["reviews"]) > 0 {
		l.add(policy.SourceCaseHandler)
	}
	return l
}

// appealSources: the appeal is the candidate's; each decision is its
// instance's.
func appealSources(d storage.SubjectData) sourceList {
	l := sourceList{}
	if len(d.Tables["appeals"]) > 0 {
		l.add(policy.SourceName("candidate"))
	}
	for _, r := range rowsOf(d, "appeal_decisions") {
		switch text(r, "instance") {
		case "test_centre":
			l.add(policy.SourceName("test_centre"))
		case "first_instance":
			l.add(policy.SourceCaseHandler)
		case "reassessment":
			l.add(policy.SourceExaminer)
		case "county_governor":
			l.add(policy.SourceName("county_governor"))
		}
	}
	return l
}

// onlyIf is the source when the tables hold data, else none.
func onlyIf(d storage.SubjectData, source []string, tables ...string) sourceList {
	for _, t := range tables {
		if len(d.Tables[t]) > 0 {
			return slices.Clone(source)
		}
	}
	return sourceList{}
}

// buildExport arranges a subject's data by category, each with its own
// purposes, sources, recipients and retention.
func buildExport(req storage.SubjectRequest, d storage.SubjectData, now time.Time) Export {
	recipients := map[string]bool{}
	var discl []map[string]any
	for _, x := range d.Disclosures {
		recipients[x.Recipient] = true
		discl = append(discl, map[string]any{"recipient": x.Recipient, "legal_basis": x.LegalBasis, "categories": x.Categories,
			"action": x.Action, "reference": x.Reference, "at": x.DisclosedAt})
	}
	var rec []string
	for r := range recipients {
		rec = append(rec, r)
	}
	arranging := []string{"arranging and quality-assuring the test", "managing the test at the test centre"}
	person := map[string]any{"given_name": d.Person.GivenName, "family_name": d.Person.FamilyName, "national_id": d.Person.NationalID,
		"duf_number": d.Person.DUFNumber, "passport_number": d.Person.PassportNumber, "passport_country": d.Person.PassportCountry, "email": d.Person.Email, "phone": d.Person.Phone,
		"gender": d.Person.Gender}
	if !d.Person.DateOfBirth.IsZero() {
		person["date_of_birth"] = d.Person.DateOfBirth.Format(time.DateOnly)
	}
	sec := func(cat string, purposes []string, c policy.Category, sources sourceList, data any, recips []string) ExportSection {
		if recips == nil {
			recips = []string{}
		}
		if sources == nil {
			sources = sourceList{}
		}
		return ExportSection{Category: cat, Purposes: purposes, Sources: sources, Recipients: recips, Retention: retentionOf(c), Data: data}
	}
	tables := func(names ...string) map[string]any {
		out := map[string]any{}
		for _, n := range names {
			rows := d.Tables[n]
			if rows == nil {
				rows = []json.RawMessage{}
			}
			out[n] = rows
		}
		return out
	}
	appeals := tables("appeals", "appeal_decisions")
	appeals["grounds"] = d.AppealGrounds

	identity := registrationSources(d)
	if d.Merged {
		identity.add(policy.SourceCaseHandler)
	}
	// An identifier a case handler corrected came from the case handler;
	// the correction records (kind, reason, who, when) are the person's too.
	who := slices.Clone(identity)
	if corrections := d.Tables["identifier_corrections"]; len(corrections) > 0 {
		who.add(policy.SourceCaseHandler)
		person["identifier_corrections"] = corrections
	}
	stages := registrationSources(d)
	if len(d.Tables["stages"]) > 0 {
		stages.add(policy.SourceExamflow)
	}
	discrepancies := sourceList{}
	for _, r := range rowsOf(d, "discrepancies") {
		discrepancies.add(policy.SourceName(text(r, "source")))
	}
	st, _ := policy.Process(policy.ProcessStateTests)
	e := Export{
		RequestID: req.ID.String(), GeneratedAt: now,
		About: ExportAbout{Controller: st.Controller, DataProtectionOfficer: st.DataProtectionOfficer, PrivacyPolicy: st.Notice,
			AutomatedDecisions: st.AutomatedDecisions},
		Candidate: map[string]any{"candidate_id": d.CandidateID.String(), "candidate_number": d.CandidateNumber, "processing_restricted": d.Restricted,
			"objections_upheld": d.Objections},
		Sections: []ExportSection{
			sec("identity and contact details", arranging, policy.PersonalData, who, person, rec),
			sec("address", arranging, policy.Address, identity, d.Address, nil),
			sec("registrations and test days", arranging, policy.PersonalData, stages, tables("registrations", "stages"), nil),
			sec("test answers and results", append(arranging, "safeguarding the right to appeal", "statistics (anonymous)"), policy.PersonalData,
				resultSources(d), tables("answer_sheets", "results", "assessments", "reviews"), rec),
			sec("discrepancies", arranging, policy.PersonalData, discrepancies, tables("discrepancies"), nil),
			sec("cheating", arranging, policy.Cheating, onlyIf(d, []string{policy.SourceCaseHandler}, "cheating", "quarantines"), tables("cheating", "quarantines"), nil),
			sec("appeals", []string{"safeguarding the right to appeal"}, policy.PersonalData, appealSources(d), appeals, nil),
			sec("audio recordings", arranging, policy.Audio, onlyIf(d, []string{policy.SourceTestSystem}, "audio_recordings"), tables("audio_recordings"), nil),
			sec("notices sent to you", arranging, policy.PersonalData, onlyIf(d, []string{policy.SourceExamflow}, "notifications"), tables("notifications"), nil),
			sec("your requests", []string{"your rights as a data subject"}, policy.PersonalData,
				onlyIf(d, []string{policy.SourceName("candidate"), policy.SourceCaseHandler}, "subject_requests"), tables("subject_requests"), nil),
		},
		Disclosures: discl,
		Complaint:   ComplaintNotice,
	}
	if d.Sensitive != nil {
		e.Sections = append(e.Sections, sec("country of origin and mother tongue (registered before 15 February 2022)", arranging, policy.PersonalData,
			sourceList{policy.SourceLegacySystem}, d.Sensitive, nil))
	}
	if e.Disclosures == nil {
		e.Disclosures = []map[string]any{}
	}
	return e
}

// ExportObjectKey is where a request's encrypted export is stored.
func ExportObjectKey(requestID uuid.UUID) string {
	return storage.ExportPrefix + requestID.String() + ".json.sio"
}

// BuildAccessExport gathers everything held about the person, by category
// with purposes, sources, recipients and retention, encrypts it with the
// person's data key and stores it in MinIO. Idempotent: the same key.
func (a *SubjectRequests) BuildAccessExport(ctx context.Context, requestID string) error {
	req, err := a.request(ctx, requestID)
	if a.gone(ctx, err, requestID, "build access export") {
		return nil
	}
	if err != nil {
		return err
	}
	id := req.ID
	data, err := a.Store.SubjectDataOf(ctx, req.CandidateID)
	if err != nil {
		return err
	}
	doc, err := json.MarshalIndent(buildExport(req, data, time.Now().UTC()), "", "  ")
	if err != nil {
		return fmt.Errorf("encode export: %w", err)
	}
	dek, err := a.Store.SubjectKey(ctx, req.CandidateID)
	if err != nil {
		return err
	}
	var sealed bytes.Buffer
	if _, err := sio.Encrypt(&sealed, bytes.NewReader(doc), sio.Config{Key: dek}); err != nil {
		return fmt.Errorf("encrypt export: %w", err)
	}
	key := ExportObjectKey(id)
	if _, err := a.Objects.PutObject(ctx, key, &sealed, int64(sealed.Len()), "application/octet-stream"); err != nil {
		return err
	}
	return a.Store.SetExportObject(ctx, id, key)
}

// RequestStepInput asks the SubjectRequestStep activity to record a step
// and tell the person when the step calls for it.
type RequestStepInput struct {
	RequestID string                 `json:"request_id"`
	Step      string                 `json:"step"` // verified, extended, reminded, answered, restricted, lifting, lifted
	Decision  *cases.RequestDecision `json:"decision,omitempty"`
	Extension *cases.Extension       `json:"extension,omitempty"`
	Evidence  *cases.IdentityCheck   `json:"evidence,omitempty"`
	At        time.Time              `json:"at"`
}

// SubjectRequestStep records a step of a request and tells the person what
// the step calls for: an extension with its reason, the answer, a
// restriction about to be lifted. Each notice says how to complain (T21).
// A request deleted with its person records nothing and succeeds (gone).
func (a *SubjectRequests) SubjectRequestStep(ctx context.Context, in RequestStepInput) error {
	req, err := a.request(ctx, in.RequestID)
	if a.gone(ctx, err, in.RequestID, in.Step) {
		return nil
	}
	if err != nil {
		return err
	}
	id := req.ID
	notice := func(kind string, payload map[string]string) error {
		payload["request_kind"] = req.Kind
		_, err := a.Store.EnqueueNotification(ctx, storage.Notification{
			DedupeKey: fmt.Sprintf("%s/%s/%d", kind, req.ID, in.At.UnixNano()), CandidateID: req.CandidateID, Kind: kind, Payload: payload,
			Purpose: "the data subject's rights: answering the request",
		})
		return err
	}
	switch in.Step {
	case "verified":
		return a.Store.VerifySubjectIdentity(ctx, id, "evidence", in.Evidence.VerifiedBy, in.At)
	case "extended":
		if err := a.Store.ExtendSubjectRequest(ctx, id, in.Extension.Until, in.Extension.Reason); err != nil {
			return err
		}
		return notice("request_extended", map[string]string{"until": in.Extension.Until.UTC().Format(time.DateOnly), "reason": in.Extension.Reason})
	case "reminded":
		activity.GetMetricsHandler(ctx).Counter("examflow_subject_request_reminders").Inc(1)
		a.Logger.InfoContext(ctx, "subject request due soon", "request_id", in.RequestID, "kind", req.Kind, "due_at", req.DueAt)
		return a.Store.RemindSubjectRequest(ctx, id)
	case "restricted":
		return a.Store.SetRestriction(ctx, req.CandidateID, true, id, in.At)
	case "answered":
		outcome, reason, by := "", "", ""
		if d := in.Decision; d != nil {
			outcome, reason, by = d.Decision, d.Reason, d.DecidedBy
		}
		switch req.Kind {
		case cases.RequestAccess:
			outcome = "export_ready"
		case cases.RequestRestriction:
			outcome = "restricted"
		case cases.RequestRectification:
			if outcome == "approved" {
				var refused refusedRectification
				switch err := a.rectify(ctx, req); {
				case errors.As(err, &refused):
					// Approved, but the record contradicts it: the person
					// is told it was refused, and why.
					outcome, reason = "refused", refused.Error()
				case err != nil:
					return err
				}
			}
		case cases.RequestObjection:
			// An upheld objection stops the processing it objects to
			// (policy.ObjectionRules): recorded before the answer, so the
			// person is told only once it holds.
			if outcome == "upheld" {
				if !policy.CanUpholdObjection(req.Details.Purposes) {
					return temporal.NewNonRetryableApplicationError("an objection to these purposes cannot be upheld", cases.ErrorInvalidInput, nil)
				}
				if err := a.Store.RecordObjection(ctx, req.CandidateID, req.ID, req.Details.Purposes, in.At); err != nil {
					return err
				}
			}
		}
		status := "answered"
		if outcome == "refused" || outcome == "rejected" {
			status = "refused"
		}
		if err := a.Store.AnswerSubjectRequest(ctx, id, status, outcome, reason, by, in.At); err != nil {
			return err
		}
		return notice("request_answered", map[string]string{"outcome": outcome})
	case "lifting":
		return notice("restriction_lifting", map[string]string{"reason": in.Decision.Reason})
	case "lifted":
		return a.Store.SetRestriction(ctx, req.CandidateID, false, id, in.At)
	}
	return temporal.NewNonRetryableApplicationError("unknown step "+in.Step, cases.ErrorInvalidInput, nil)
}

// rectification turns the request's validated fields into the store's
// rectification.
func rectification(fields map[string]string) (storage.Rectification, error) {
	var r storage.Rectification
	for field, v := range fields {
		switch field {
		case "given_name":
			r.GivenName = v
		case "family_name":
			r.FamilyName = v
		case "email":
			r.Email = v
		case "phone":
			r.Phone = v
		case "gender":
			r.Gender = v
		case "written_form":
			r.WrittenForm = v
		case "date_of_birth":
			dob, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return r, temporal.NewNonRetryableApplicationError("rectification: date_of_birth is not a date", cases.ErrorInvalidInput, err)
			}
			r.DateOfBirth = dob
		default:
			part, ok := strings.CutPrefix(field, "address.")
			if !ok || !slices.Contains(policy.Rectifiable, field) {
				return r, temporal.NewNonRetryableApplicationError("rectification: "+field+" is not corrected this way", cases.ErrorInvalidInput, nil)
			}
			if r.Address == nil {
				r.Address = map[string]string{}
			}
			r.Address[part] = v
		}
	}
	return r, nil
}

// rectify applies an approved rectification. A correction the data on
// record contradicts (a date of birth against the national identity
// number, an address or written form examflow does not hold) changes
// nothing and is returned as refusedRectification with the reason.
func (a *SubjectRequests) rectify(ctx context.Context, req storage.SubjectRequest) error {
	r, err := rectification(req.Details.Rectification)
	if err != nil {
		return err
	}
	err = a.Store.Rectify(ctx, req.CandidateID, r)
	for _, refused := range []error{storage.ErrBirthDateContradicts, storage.ErrNoAddress, storage.ErrNoRegistration} {
		if errors.Is(err, refused) {
			return refusedRectification{refused}
		}
	}
	return err
}

// refusedRectification is a correction the data on record refuses.
type refusedRectification struct{ cause error }

func (e refusedRectification) Error() string { return e.cause.Error() }

// RepublishCandidate publishes the person's final results again, after a
// rectification or when a restriction is lifted: one publication for the
// candidate, under its key.
func (a *SubjectRequests) RepublishCandidate(ctx context.Context, requestID string) error {
	req, err := a.request(ctx, requestID)
	if a.gone(ctx, err, requestID, "republish") {
		return nil
	}
	if err != nil {
		return err
	}
	regs, err := a.Store.FinalRegistrations(ctx, req.CandidateID)
	if err != nil || len(regs) == 0 {
		return err
	}
	out, err := a.Publication.PublishResults(ctx, regs[0].String())
	if err != nil {
		return err
	}
	a.Logger.InfoContext(ctx, "republished after a subject request", "request_id", requestID, "published", out.Published, "reason", out.Reason)
	return nil
}

// gone reports whether reading a request found it deleted together with its
// person (the final deletion at the end of retention deletes the candidate,
// and its requests with it). The step then has nothing to record and no one
// to tell: it does nothing and succeeds, so the request's workflow finishes
// instead of retrying the step for ever. Only opaque IDs are logged.
func (a *SubjectRequests) gone(ctx context.Context, err error, requestID, step string) bool {
	if !errors.Is(err, storage.ErrNotFound) {
		return false
	}
	if a.Logger != nil {
		a.Logger.InfoContext(ctx, "subject request deleted with its person: nothing recorded", "request_id", requestID, "step", step)
	}
	return true
}

// request reads the subject request an activity works on.
func (a *SubjectRequests) request(ctx context.Context, requestID string) (storage.SubjectRequest, error) {
	id, err := parseID(requestID)
	if err != nil {
		return storage.SubjectRequest{}, err
	}
	return a.Store.GetSubjectRequest(ctx, id)
}
