package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/appeals"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

// Appeals admits and decides appeals (T22). Purpose (T01): safeguarding
// the right to appeal.
type Appeals struct {
	Store     appealStore
	Catalogue marking.Catalogue
	Rules     appeals.Rules
	Logger    *slog.Logger
}

// appealStore is what the Appeals activities need of the store: the methods
// they call, no more. *storage.Store is one (the worker passes it); a unit
// test passes a fake of its own.
type appealStore interface {
	AppealRecordOf(ctx context.Context, regID uuid.UUID, now time.Time) (storage.AppealRecord, error)
	Assessors(ctx context.Context, regID uuid.UUID, part string) ([]string, error)
	DecideAppeal(ctx context.Context, appealID uuid.UUID, d storage.AppealDecision, fx storage.AppealEffects) (applied bool, err error)
	EnqueueNotification(ctx context.Context, n storage.Notification) (created bool, err error)
	GetAppeal(ctx context.Context, id uuid.UUID) (storage.Appeal, error)
	GetRegistration(ctx context.Context, id uuid.UUID) (storage.Registration, error)
	LodgeAppeal(ctx context.Context, a storage.Appeal) error
	RegistrationSession(ctx context.Context, regID uuid.UUID) (storage.Registration, storage.Session, error)
}

var _ appealStore = (*storage.Store)(nil)

// refused is an appeal the rules do not admit: not retried; its details
// name the field, and the message says why ("field: reason").
func refused(r *appeals.Refusal) error {
	return cases.Refuse(cases.ErrorAppealRefused, r.Field, "%s", r.Error())
}

// facts reads what the rules need about a registration.
func (a *Appeals) facts(ctx context.Context, regID uuid.UUID, now time.Time, skip uuid.UUID) (appeals.Facts, storage.AppealRecord, error) {
	reg, sess, err := a.Store.RegistrationSession(ctx, regID)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrNoSession) {
		return appeals.Facts{}, storage.AppealRecord{}, temporal.NewNonRetryableApplicationError("registration or session not found", cases.ErrorNotFound, err)
	}
	if err != nil {
		return appeals.Facts{}, storage.AppealRecord{}, err
	}
	rec, err := a.Store.AppealRecordOf(ctx, regID, now)
	if err != nil {
		return appeals.Facts{}, rec, err
	}
	tv, ok := a.Catalogue.Lookup(sess.TestType, sess.TestVersion)
	if !ok {
		return appeals.Facts{}, rec, temporal.NewNonRetryableApplicationError("test version not in the catalogue", cases.ErrorNotFound, nil)
	}
	f := appeals.Facts{TestType: reg.TestType, TestDate: rec.TestDate, ResultAt: rec.ResultAt,
		QuarantineActive: rec.QuarantineActive, ComplaintRejectedAt: rec.ComplaintRejectedAt}
	for _, name := range reg.TestParts {
		def, _ := tv.Part(name)
		f.Parts = append(f.Parts, appeals.Part{Name: name, Examiner: !def.Automated(), Result: rec.Results[name].Result, Levels: def.Results})
	}
	if rec.CheatingFinal != nil {
		at := rec.CheatingFinal.DecidedAt
		f.CheatingFinalAt = &at
	}
	for _, ap := range rec.Appeals {
		if ap.ID != skip {
			f.Lodged = append(f.Lodged, appeals.Lodged{Kind: appeals.Kind(ap.Kind), Part: ap.Part, Against: ap.Against})
		}
	}
	return f, rec, nil
}

// AdmitAppealInput asks the AdmitAppeal activity to check an appeal against
// the rules and store it.
type AdmitAppealInput struct {
	RegistrationID string              `json:"registration_id"`
	AppealID       string              `json:"appeal_id"`
	WorkflowID     string              `json:"workflow_id"`
	Request        cases.AppealRequest `json:"request"`
	Now            time.Time           `json:"now"`
}

// AppealAdmission is an admitted appeal: no personal data.
type AppealAdmission struct {
	Kind          string    `json:"kind"`
	Part          string    `json:"part,omitempty"`
	Against       string    `json:"against,omitempty"`
	Deadline      time.Time `json:"deadline"`
	Late          bool      `json:"late"`
	FirstInstance string    `json:"first_instance"`
	Levels        []string  `json:"levels,omitempty"`
	TestType      string    `json:"test_type"`
}

// AdmitAppeal checks an appeal against the rules (kind, deadline, late
// acceptance, lodged twice) and stores it with its grounds sealed. A
// refusal is a non-retryable AppealRefused error naming the field. A retry
// with the same appeal ID admits the stored appeal again.
func (a *Appeals) AdmitAppeal(ctx context.Context, in AdmitAppealInput) (AppealAdmission, error) {
	regID, err := parseID(in.RegistrationID)
	if err != nil {
		return AppealAdmission{}, err
	}
	appealID, err := parseID(in.AppealID)
	if err != nil {
		return AppealAdmission{}, err
	}
	q := in.Request
	received := in.Now
	if q.ReceivedAt != nil {
		if q.ReceivedAt.After(in.Now.Add(time.Minute)) {
			return AppealAdmission{}, refused(&appeals.Refusal{Field: "received_at", Reason: "the appeal cannot be received in the future"})
		}
		received = *q.ReceivedAt
	}
	f, _, err := a.facts(ctx, regID, in.Now, appealID)
	if err != nil {
		return AppealAdmission{}, err
	}
	req := appeals.Request{Kind: appeals.Kind(q.Kind), Part: q.Part, Against: q.Against, ReceivedAt: received}
	if q.LateAcceptance != nil {
		req.LateAcceptedBy, req.LateReason = q.LateAcceptance.AcceptedBy, q.LateAcceptance.Reason
	}
	adm, err := appeals.Admit(a.Rules, f, req)
	var refusal *appeals.Refusal
	if errors.As(err, &refusal) {
		a.Logger.InfoContext(ctx, "appeal refused", "registration_id", in.RegistrationID, "kind", q.Kind, "field", refusal.Field)
		return AppealAdmission{}, refused(refusal)
	}
	if err != nil {
		return AppealAdmission{}, err
	}
	ap := storage.Appeal{ID: appealID, RegistrationID: regID, Kind: string(adm.Kind), Part: adm.Part, Against: adm.Against,
		ReceivedAt: received, Deadline: adm.Deadline, Grounds: q.Grounds, WorkflowID: in.WorkflowID, LodgedAt: in.Now}
	if adm.Late {
		ap.LateAcceptedBy, ap.LateReason = req.LateAcceptedBy, req.LateReason
	}
	// A formal-error complaint goes straight to the test centre that
	// decides it: a release, recorded with the appeal (T08).
	if adm.FirstInstance == appeals.InstanceTestCentre {
		if ap.Handover, err = appealHandover(appealID, appeals.InstanceTestCentre, adm.Against, in.Now); err != nil {
			return AppealAdmission{}, err
		}
	}
	if err := a.Store.LodgeAppeal(ctx, ap); errors.Is(err, storage.ErrDuplicate) {
		return AppealAdmission{}, refused(&appeals.Refusal{Field: "kind", Reason: "this has been appealed already"})
	} else if err != nil {
		return AppealAdmission{}, err
	}
	return AppealAdmission{Kind: string(adm.Kind), Part: adm.Part, Against: adm.Against, Deadline: adm.Deadline,
		Late: adm.Late, FirstInstance: adm.FirstInstance, Levels: adm.Levels, TestType: f.TestType}, nil
}

// DecideAppealInput records a decision and applies it.
type DecideAppealInput struct {
	AppealID       string               `json:"appeal_id"`
	RegistrationID string               `json:"registration_id"`
	Admission      AppealAdmission      `json:"admission"`
	Decision       cases.AppealDecision `json:"decision"`
	Reassessment   *cases.Reassessment  `json:"reassessment,omitempty"`
	At             time.Time            `json:"at"`
}

// DecideAppeal records an instance's decision and applies it in the same
// transaction: a formal-error complaint upheld annuls the result (a new
// test is offered); a re-assessment replaces the writing result whether
// higher or lower, and a C1 result only if it is at least as good; an
// appeal against a decision that is upheld reverses it, and one the first
// instance maintains goes to the County Governor. The candidate is told
// through the outbox. Idempotent: a retry returns the recorded outcome.
func (a *Appeals) DecideAppeal(ctx context.Context, in DecideAppealInput) (cases.AppealOutcome, error) {
	regID, err := parseID(in.RegistrationID)
	if err != nil {
		return cases.AppealOutcome{}, err
	}
	appealID, err := parseID(in.AppealID)
	if err != nil {
		return cases.AppealOutcome{}, err
	}
	ap, err := a.Store.GetAppeal(ctx, appealID)
	if errors.Is(err, storage.ErrNotFound) {
		return cases.AppealOutcome{}, temporal.NewNonRetryableApplicationError("appeal not found", cases.ErrorNotFound, err)
	}
	if err != nil {
		return cases.AppealOutcome{}, err
	}
	_, rec, err := a.facts(ctx, regID, in.At, uuid.Nil)
	if err != nil {
		return cases.AppealOutcome{}, err
	}
	x := in.Decision
	d := storage.AppealDecision{Instance: x.Instance, Decision: x.Decision, Reasons: x.Reasons, DecidedBy: x.DecidedBy, DecidedAt: in.At}
	var fx storage.AppealEffects
	annul := func(part string) {
		if part == "" {
			fx.AnnulAll = true
		} else {
			fx.AnnulParts = []string{part}
		}
	}
	if !slices.ContainsFunc(ap.Decisions, func(p storage.AppealDecision) bool { return p.Instance == x.Instance }) {
		switch appeals.Kind(ap.Kind) {
		case appeals.FormalError:
			fx.Status, fx.Closed = x.Decision, true
			if x.Decision == appeals.Upheld {
				annul(ap.Part)
			}
		case appeals.WritingReassessment, appeals.C1Appeal:
			if err := a.reassess(ctx, in, ap, rec, &d, &fx); err != nil {
				return cases.AppealOutcome{}, err
			}
		case appeals.DecisionAppeal:
			switch x.Decision {
			case appeals.Maintained:
				// Maintained, the appeal goes to the County Governor:
				// a release, recorded with the decision (T08).
				fx.Status = "county_governor"
				if fx.Handover, err = appealHandover(appealID, appeals.InstanceCountyGovernor, ap.Against, in.At); err != nil {
					return cases.AppealOutcome{}, err
				}
			case appeals.Rejected:
				fx.Status, fx.Closed = appeals.Rejected, true
			case appeals.Upheld:
				fx.Status, fx.Closed = appeals.Upheld, true
				switch ap.Against {
				case appeals.AgainstCheating:
					if rec.CheatingFinal != nil {
						fx.ReverseCheating = &rec.CheatingFinal.ID
					}
				case appeals.AgainstQuarantine:
					if rec.CheatingFinal != nil {
						fx.LiftQuarantine = &rec.CheatingFinal.ID
					}
				case appeals.AgainstComplaintRejection:
					annul(rec.ComplaintPart)
				}
			}
		}
		if _, err := a.Store.DecideAppeal(ctx, appealID, d, fx); err != nil {
			return cases.AppealOutcome{}, err
		}
		if ap, err = a.Store.GetAppeal(ctx, appealID); err != nil {
			return cases.AppealOutcome{}, err
		}
	}
	out := outcomeOf(ap, x.Instance, rec.ComplaintPart)
	if err := a.notify(ctx, ap, rec, x.Instance, out); err != nil {
		return out, err
	}
	return out, nil
}

// appealHandover is the release of an appeal to the instance outside the
// controller that decides it (T08): a formal-error complaint to the test
// centre, an appeal the first instance maintained to the County Governor.
// It names only what the instance needs to identify the case and decide
// it: the candidate, the test sitting and the appeal, and for an appeal
// against a cheating decision or its quarantine, the cheating case. The
// legal basis is the recipient's in the catalogue, § 41 (1) b) (carrying
// out the tests and their appeals). The ID follows from the appeal and the
// recipient, so a retry records it once; the reference is the appeal.
func appealHandover(appealID uuid.UUID, instance, against string, at time.Time) (*storage.Disclosure, error) {
	var cats []policy.DataCategory
	switch instance {
	case appeals.InstanceTestCentre:
		cats = []policy.DataCategory{policy.DataName, policy.DataCandidateNumber, policy.DataTestType, policy.DataTestTime,
			policy.DataTestCentre, policy.DataAppeal}
	case appeals.InstanceCountyGovernor:
		cats = []policy.DataCategory{policy.DataName, policy.DataDateOfBirth, policy.DataCandidateNumber, policy.DataTestType,
			policy.DataTestTime, policy.DataTestCentre, policy.DataAppeal}
		if against == appeals.AgainstCheating || against == appeals.AgainstQuarantine {
			cats = append(cats, policy.DataCheating)
		}
	}
	r, err := policy.CheckRelease(instance, cats)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), cases.ErrorReleaseRefused, err)
	}
	return &storage.Disclosure{
		ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(appealID.String()+"/handover/"+r.ID)), Recipient: r.ID, LegalBasis: r.LegalBasis,
		Categories: categoryNames(cats), Action: storage.DisclosureForward, Reference: "appeal-" + appealID.String(), DisclosedAt: at,
	}, nil
}

// reassess applies a new independent assessment. The examiner must not
// have assessed the part before.
func (a *Appeals) reassess(ctx context.Context, in DecideAppealInput, ap storage.Appeal, rec storage.AppealRecord, d *storage.AppealDecision, fx *storage.AppealEffects) error {
	r := in.Reassessment
	if r == nil {
		return cases.Refuse(cases.ErrorAppealRefused, "decision", "decision: this appeal is decided by a re-assessment")
	}
	old, ok := rec.Results[ap.Part]
	if !ok {
		return cases.Refuse(cases.ErrorAppealRefused, "part", "part: the appealed part has no standing result")
	}
	before, err := a.Store.Assessors(ctx, ap.RegistrationID, ap.Part)
	if err != nil {
		return err
	}
	if slices.Contains(before, r.Assessor) {
		return cases.Refuse(cases.ErrorAppealRefused, "assessor", "assessor: the re-assessment must be independent: this examiner has assessed the part before")
	}
	reg, err := a.Store.GetRegistration(ctx, ap.RegistrationID)
	if err != nil {
		return err
	}
	level := r.Level
	basis := map[string]any{"appeal_id": ap.ID.String(), "previous_result": old.Result, "reassessed_level": r.Level}
	if ap.Kind == string(appeals.WritingReassessment) && reg.LevelBand != "" {
		level = marking.CapWriting(level, reg.LevelBand)
		basis["level_band"] = reg.LevelBand
	}
	newResult, reason := level, "re-assessed on appeal; the new result is final"
	if ap.Kind == string(appeals.C1Appeal) {
		reason = "re-assessed on appeal; a C1 result can only stay or rise"
		if !appeals.AtLeast(in.Admission.Levels, level, old.Result) {
			newResult = old.Result
		}
	}
	d.Level, d.DecidedBy = r.Level, r.Assessor
	fx.Status, fx.Closed, fx.Assessor = appeals.Reassessed, true, r.Assessor
	if newResult != old.Result {
		fx.NewResult = &storage.Result{
			ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(ap.ID.String()+"/result")), RegistrationID: ap.RegistrationID, Part: ap.Part,
			Result: newResult, DecidedBy: "appeal", Basis: basis, Reason: reason, DecidedAt: in.At,
		}
	}
	return nil
}

// outcomeOf reads an appeal's outcome from what is recorded, so a retried
// decision answers the same.
func outcomeOf(ap storage.Appeal, instance, complaintPart string) cases.AppealOutcome {
	out := cases.AppealOutcome{Status: ap.Status, Closed: ap.ClosedAt != nil}
	switch ap.Status {
	case "county_governor":
		out.Stage = cases.StageAppealCountyGovernor
	case appeals.Upheld:
		out.Stage = cases.StageAppealUpheld
	case appeals.Rejected:
		out.Stage = cases.StageAppealRejected
	case appeals.Reassessed:
		out.Stage = cases.StageAppealReassessed
	}
	for _, d := range ap.Decisions {
		if d.Instance != instance {
			continue
		}
		if d.ResultID != nil {
			out.ResultsChanged = true
		}
		if d.Decision != appeals.Upheld {
			continue
		}
		part, annuls := ap.Part, ap.Kind == string(appeals.FormalError)
		if ap.Against == appeals.AgainstComplaintRejection {
			part, annuls = complaintPart, true
		}
		if annuls {
			out.ResultsChanged = true
			if part == "" {
				out.AnnulledAll = true
			} else {
				out.AnnulledParts = []string{part}
			}
		}
	}
	return out
}

// notify tells the candidate what was decided. The e-mail says only the
// outcome; the candidate reads the details after logging in.
func (a *Appeals) notify(ctx context.Context, ap storage.Appeal, rec storage.AppealRecord, instance string, out cases.AppealOutcome) error {
	outcome := out.Status
	if outcome == "county_governor" {
		outcome = "forwarded"
	}
	payload := map[string]string{"test_type": rec.TestType, "outcome": outcome}
	if outcome == appeals.Upheld && (out.AnnulledAll || len(out.AnnulledParts) > 0 || ap.Against == appeals.AgainstCheating) {
		payload["new_test"] = "yes"
	}
	if instance == appeals.InstanceCountyGovernor || ap.Kind == string(appeals.WritingReassessment) {
		payload["final"] = "yes"
	}
	_, err := a.Store.EnqueueNotification(ctx, storage.Notification{
		DedupeKey: fmt.Sprintf("appeal_decided/%s/%s", ap.ID, instance), CandidateID: rec.CandidateID, RegistrationID: ap.RegistrationID,
		Kind: "appeal_decided", Payload: payload, Purpose: "safeguarding the right to appeal: telling the candidate the decision",
	})
	return err
}
