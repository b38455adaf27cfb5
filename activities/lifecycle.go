package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/appeals"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/registry"
	"github.com/examflow/examflow/storage"
)

// Registration holds the registration activities.
type Registration struct {
	Store registrationStore
}

// registrationStore is what the Registration activities need of the store: the
// methods they call, no more. *storage.Store is one (the worker passes it); a
// unit test passes a fake of its own.
type registrationStore interface {
	RecordStage(ctx context.Context, id uuid.UUID, stage string, at time.Time) error
}

var _ registrationStore = (*storage.Store)(nil)

// RecordStageInput is the input of the RecordStage activity.
type RecordStageInput struct {
	RegistrationID string      `json:"registration_id"`
	Stage          cases.Stage `json:"stage"`
	At             time.Time   `json:"at"`
}

// RecordStage writes a stage the lifecycle entered to PostgreSQL.
// Purpose (T01): arranging the test; the stage history is part of the case.
func (a *Registration) RecordStage(ctx context.Context, in RecordStageInput) error {
	id, err := uuid.Parse(in.RegistrationID)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("registration_id is not a UUID", cases.ErrorInvalidInput, err)
	}
	err = a.Store.RecordStage(ctx, id, string(in.Stage), in.At)
	if errors.Is(err, storage.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError("registration not found", cases.ErrorNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("record stage: %w", err)
	}
	return nil
}

// remarshal converts a decoded JSON value (map) into a typed value.
func remarshal(from, to any) error {
	data, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, to)
}

// Reasons a result is held for manual review (T04, T22).
const (
	ReasonTechnicalProblem   = "technical_problem"
	ReasonMalformedSheet     = "incomplete_or_malformed_sheet"
	ReasonKeyVersionMismatch = "key_version_mismatch"
	ReasonOutsideWindow      = "outside_session_window"
	ReasonPassRateDeviation  = "pass_rate_deviation"
)

// TestDay holds the activities of the test day: storing sheets and
// discrepancies, automated marking (T02), reviews (T04) and examiner
// results (T03).
type TestDay struct {
	Store     testDayStore
	Catalogue marking.Catalogue
	Config    config.TestDay
	// Appeals: a result is not final before the appeal window of its test
	// has passed, so FinalAfter is at least that window.
	Appeals appeals.Rules
	Logger  *slog.Logger
}

// testDayStore is what the TestDay activities need of the store: the methods
// they call, no more. *storage.Store is one (the worker passes it); a unit
// test passes a fake of its own.
type testDayStore interface {
	AnnulResults(ctx context.Context, regID uuid.UUID, part string, at time.Time) error
	AnswerKeyByForm(ctx context.Context, formID string, version int) (storage.AnswerKey, error)
	CurrentResult(ctx context.Context, regID uuid.UUID, part string) (storage.Result, error)
	DecideReview(ctx context.Context, id uuid.UUID, decision, reason, by string, at time.Time) error
	EnqueueNotification(ctx context.Context, n storage.Notification) (created bool, err error)
	GetAnswerSheet(ctx context.Context, regID uuid.UUID, part string) (storage.AnswerSheet, error)
	GetRegistration(ctx context.Context, id uuid.UUID) (storage.Registration, error)
	HasTechnicalProblem(ctx context.Context, regID uuid.UUID, sessionID uuid.UUID, part string) (bool, error)
	InsertResult(ctx context.Context, r storage.Result) (storage.Result, error)
	MarkAnswerKeyUsed(ctx context.Context, id uuid.UUID) error
	OpenReview(ctx context.Context, r storage.Review) (uuid.UUID, error)
	RecordCheatingDecision(ctx context.Context, d storage.CheatingDecision) error
	RecordDiscrepancy(ctx context.Context, d storage.Discrepancy) error
	RegistrationSession(ctx context.Context, regID uuid.UUID) (storage.Registration, storage.Session, error)
	Remark(ctx context.Context, regID uuid.UUID, part, formID string, version int) (storage.Remarking, error)
	RemindReview(ctx context.Context, id uuid.UUID) (bool, error)
	SessionPassRate(ctx context.Context, sessionID uuid.UUID, part string) (rate float64, n int, err error)
	StoreAnswerSheet(ctx context.Context, a storage.AnswerSheet) error
	StoreAssessment(ctx context.Context, regID uuid.UUID, part, role, assessor, level string, at time.Time) error
	SupersedeResult(ctx context.Context, old uuid.UUID, r storage.Result) error
}

var _ testDayStore = (*storage.Store)(nil)

func parseID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, temporal.NewNonRetryableApplicationError("not a UUID", cases.ErrorInvalidInput, err)
	}
	return id, nil
}

// stableID derives an ID that stays the same across retries of one
// activity, so a retried insert is a no-op; what names the row (its
// registration, part and kind).
func stableID(ctx context.Context, what ...string) uuid.UUID {
	info := activity.GetInfo(ctx)
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(info.WorkflowExecution.RunID+"/"+info.ActivityID+"/"+strings.Join(what, "/")))
}

// PartInfo describes one registered part of the test, as loaded at start.
// It holds no personal data: item IDs come from the answer-key form.
type PartInfo struct {
	Name      string   `json:"name"`
	Automated bool     `json:"automated"`
	FormID    string   `json:"form_id,omitempty"`
	ItemIDs   []string `json:"item_ids,omitempty"`
	// Levels are the results examiners may give (examiner-marked parts).
	Levels []string `json:"levels,omitempty"`
}

// RegistrationContext is what the workflow needs to know about its
// registration, loaded once by an activity.
type RegistrationContext struct {
	TestType    string     `json:"test_type"`
	Parts       []PartInfo `json:"parts"`
	WindowStart time.Time  `json:"window_start"`
	WindowEnd   time.Time  `json:"window_end"`
	// FinalAfter is how long after the test day closes the result becomes
	// final (the appeal window) and the retention phase begins.
	FinalAfter time.Duration `json:"final_after"`
	// QuarantineDefault is the quarantine a final cheating decision sets
	// unless it decides a shorter one.
	QuarantineDefault time.Duration `json:"quarantine_default"`
	// ReviewDue and ReviewReminder are the configured review periods.
	ReviewDue      time.Duration `json:"review_due"`
	ReviewReminder time.Duration `json:"review_reminder"`
	// CheatingEscalateAfter is how long a provisional cheating case may
	// stay undecided before it is escalated to case handlers
	// (EXAMFLOW_CHEATING_ESCALATE_AFTER); zero means
	// DefaultCheatingEscalateAfter.
	CheatingEscalateAfter time.Duration `json:"cheating_escalate_after,omitempty"`
}

// LoadRegistration returns what the workflow needs to know of its
// registration: the parts, each machine-marked part's form and item IDs, the
// session window and the review periods. No personal data.
// Purpose (T01): arranging the test.
func (a *TestDay) LoadRegistration(ctx context.Context, registrationID string) (RegistrationContext, error) {
	id, err := parseID(registrationID)
	if err != nil {
		return RegistrationContext{}, err
	}
	reg, sess, err := a.Store.RegistrationSession(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrNoSession) {
		return RegistrationContext{}, temporal.NewNonRetryableApplicationError("registration or session not found", cases.ErrorNotFound, err)
	}
	if err != nil {
		return RegistrationContext{}, err
	}
	tv, ok := a.Catalogue.Lookup(sess.TestType, sess.TestVersion)
	if !ok {
		return RegistrationContext{}, temporal.NewNonRetryableApplicationError("test version not in the catalogue", cases.ErrorNotFound, nil)
	}
	rc := RegistrationContext{
		TestType: reg.TestType, WindowStart: sess.WindowStart, WindowEnd: sess.WindowEnd,
		ReviewDue: a.Config.ReviewDue, ReviewReminder: a.Config.ReviewReminder, QuarantineDefault: a.Config.QuarantineDefault,
		FinalAfter: a.Config.FinalAfter, CheatingEscalateAfter: a.Config.CheatingEscalateAfter,
	}
	switch reg.TestType {
	case "norwegian_a1_b2":
		rc.FinalAfter = max(rc.FinalAfter, a.Appeals.WritingWindow)
	case "norwegian_c1":
		rc.FinalAfter = max(rc.FinalAfter, a.Appeals.C1Window)
	}
	for _, name := range reg.TestParts {
		def, ok := tv.Part(name)
		if !ok {
			return rc, temporal.NewNonRetryableApplicationError("part "+name+" not in test version "+tv.Version, cases.ErrorNotFound, nil)
		}
		info := PartInfo{Name: name, Automated: def.Automated()}
		if info.Automated {
			info.FormID = sess.Forms[name]
			key, err := a.Store.AnswerKeyByForm(ctx, info.FormID, 0)
			if err != nil {
				return rc, fmt.Errorf("answer key of form %s: %w", info.FormID, err)
			}
			for _, it := range key.Items {
				info.ItemIDs = append(info.ItemIDs, it.ID)
			}
		} else {
			info.Levels = slices.Clone(def.Results)
		}
		rc.Parts = append(rc.Parts, info)
	}
	return rc, nil
}

// StoreAnswerSheetInput is the StoreAnswerSheet activity's input.
type StoreAnswerSheetInput struct {
	RegistrationID string            `json:"registration_id"`
	Sheet          cases.AnswerSheet `json:"sheet"`
}

// StoreAnswerSheet stores a submitted answer sheet (test answers, T06).
func (a *TestDay) StoreAnswerSheet(ctx context.Context, in StoreAnswerSheetInput) error {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return err
	}
	answers := make(map[string]string, len(in.Sheet.Answers))
	for _, x := range in.Sheet.Answers {
		answers[x.Item] = x.Choice
	}
	return a.Store.StoreAnswerSheet(ctx, storage.AnswerSheet{
		RegistrationID: id, Part: in.Sheet.Part, FormID: in.Sheet.FormID, KeyVersion: in.Sheet.KeyVersion,
		Answers: answers, SubmittedAt: in.Sheet.SubmittedAt,
	})
}

// RecordDiscrepancyInput is the RecordDiscrepancy activity's input.
type RecordDiscrepancyInput struct {
	RegistrationID string            `json:"registration_id"`
	Discrepancy    cases.Discrepancy `json:"discrepancy"`
}

// RecordDiscrepancy stores a test centre's report for one registration.
func (a *TestDay) RecordDiscrepancy(ctx context.Context, in RecordDiscrepancyInput) error {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return err
	}
	return a.Store.RecordDiscrepancy(ctx, storage.Discrepancy{
		ID: stableID(ctx, in.RegistrationID, "discrepancy"), RegistrationID: &id, Part: in.Discrepancy.Part, Kind: in.Discrepancy.Kind, Note: in.Discrepancy.Note,
	})
}

// MarkPartInput asks the automated marking of one part.
type MarkPartInput struct {
	RegistrationID string `json:"registration_id"`
	Part           string `json:"part"`
}

// MarkOutcome says whether the automated result may stand. The score itself
// stays in PostgreSQL.
type MarkOutcome struct {
	ResultID string   `json:"result_id"`
	Hold     bool     `json:"hold"`
	Reasons  []string `json:"reasons,omitempty"`
}

// MarkPart marks a machine-marked part (T02): the score is the number of
// correct answers on scored items under the answer key, the result follows
// the key's rule, and the decision is recorded as automated with its basis
// (key version, rule, per-item correctness). It holds the result for review
// when a fault is suspected (T04).
func (a *TestDay) MarkPart(ctx context.Context, in MarkPartInput) (MarkOutcome, error) {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return MarkOutcome{}, err
	}
	reg, sess, err := a.Store.RegistrationSession(ctx, id)
	if err != nil {
		return MarkOutcome{}, err
	}
	sheet, err := a.Store.GetAnswerSheet(ctx, id, in.Part)
	if err != nil {
		return MarkOutcome{}, fmt.Errorf("answer sheet: %w", err)
	}
	key, err := a.Store.AnswerKeyByForm(ctx, sheet.FormID, 0)
	if err != nil {
		return MarkOutcome{}, fmt.Errorf("answer key: %w", err)
	}
	var reasons []string
	if sheet.KeyVersion != key.Version {
		reasons = append(reasons, ReasonKeyVersionMismatch)
	}
	problems := marking.CheckSheet(key.Items, sheet.Answers)
	if len(problems) > 0 {
		reasons = append(reasons, ReasonMalformedSheet)
	}
	if sheet.SubmittedAt.Before(sess.WindowStart) || sheet.SubmittedAt.After(sess.WindowEnd) {
		reasons = append(reasons, ReasonOutsideWindow)
	}
	tech, err := a.Store.HasTechnicalProblem(ctx, id, sess.ID, in.Part)
	if err != nil {
		return MarkOutcome{}, err
	}
	if tech {
		reasons = append(reasons, ReasonTechnicalProblem)
	}
	// Mark only the key's items; unknown items are a sheet problem above.
	out, err := marking.Mark(key.Items, key.Rule, sheet.Answers)
	if err != nil {
		return MarkOutcome{}, temporal.NewNonRetryableApplicationError("answer key cannot be applied", cases.ErrorInvalidKey, err)
	}
	res, err := a.Store.InsertResult(ctx, storage.Result{
		ID: stableID(ctx, in.RegistrationID, in.Part, "result"), RegistrationID: id, Part: in.Part, Result: out.Result,
		Score: &out.Score, MaxScore: &out.MaxScore, AnswerKeyID: &key.ID, KeyVersion: &key.Version,
		Rule: key.Rule, Items: out.Items, DecidedBy: "automated", LegalBasis: policy.AutomatedDecisionLegalBasis,
		Basis: map[string]any{"form_id": key.FormID, "key_version": key.Version, "answered": out.Answered,
			"sheet_key_version": sheet.KeyVersion, "sheet_problems": problems, "purpose": "arranging and quality-assuring the test"},
		DecidedAt: activity.GetInfo(ctx).StartedTime,
	})
	if err != nil {
		return MarkOutcome{}, err
	}
	if err := a.Store.MarkAnswerKeyUsed(ctx, key.ID); err != nil {
		return MarkOutcome{}, err
	}
	if norm, ok := a.Config.PassRateNorms[sess.TestType]; ok && key.Rule.Kind == marking.RulePassMark {
		rate, n, err := a.Store.SessionPassRate(ctx, sess.ID, in.Part)
		if err != nil {
			return MarkOutcome{}, err
		}
		if n >= a.Config.PassRateMinSample && math.Abs(rate-norm) > a.Config.PassRateMargin {
			reasons = append(reasons, ReasonPassRateDeviation)
		}
	}
	count(ctx, MetricMarkingOutcomes, map[string]string{"test_type": reg.TestType, "outcome": markingOutcome(out.Result, len(reasons) > 0)})
	return MarkOutcome{ResultID: res.ID.String(), Hold: len(reasons) > 0, Reasons: reasons}, nil
}

// OpenReviewInput opens a manual review of a held part.
type OpenReviewInput struct {
	RegistrationID string    `json:"registration_id"`
	Part           string    `json:"part"`
	ResultID       string    `json:"result_id,omitempty"`
	Reasons        []string  `json:"reasons"`
	OpenedAt       time.Time `json:"opened_at"`
	DueAt          time.Time `json:"due_at"`
}

// ReviewRef names an open review.
type ReviewRef struct {
	ReviewID string `json:"review_id"`
}

// OpenReview records a manual review of a held result.
func (a *TestDay) OpenReview(ctx context.Context, in OpenReviewInput) (ReviewRef, error) {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return ReviewRef{}, err
	}
	r := storage.Review{RegistrationID: id, Part: in.Part, Reasons: in.Reasons, OpenedAt: in.OpenedAt, DueAt: in.DueAt}
	if in.ResultID != "" {
		rid, err := parseID(in.ResultID)
		if err != nil {
			return ReviewRef{}, err
		}
		r.ResultID = &rid
	}
	rev, err := a.Store.OpenReview(ctx, r)
	if err != nil {
		return ReviewRef{}, err
	}
	a.Logger.InfoContext(ctx, "review opened", "review_id", rev.String(), "registration_id", in.RegistrationID, "part", in.Part, "reasons", in.Reasons)
	return ReviewRef{ReviewID: rev.String()}, nil
}

// RemindReview records the reminder of a review still open at its reminder time.
func (a *TestDay) RemindReview(ctx context.Context, in ReviewRef) error {
	id, err := parseID(in.ReviewID)
	if err != nil {
		return err
	}
	reminded, err := a.Store.RemindReview(ctx, id)
	if err != nil {
		return err
	}
	if reminded {
		a.Logger.WarnContext(ctx, "review reminder: a held result awaits a case handler", "review_id", in.ReviewID)
	}
	return nil
}

// DecideReviewInput records a review decision.
type DecideReviewInput struct {
	RegistrationID string               `json:"registration_id"`
	ReviewID       string               `json:"review_id"`
	Decision       cases.ReviewDecision `json:"decision"`
	DecidedAt      time.Time            `json:"decided_at"`
}

// DecideReview records a case handler's review decision: confirm lets the
// result stand, correct supersedes it with the corrected score (and the
// reason), annul annuls it so a new test can be offered.
func (a *TestDay) DecideReview(ctx context.Context, in DecideReviewInput) error {
	regID, err := parseID(in.RegistrationID)
	if err != nil {
		return err
	}
	d := in.Decision
	switch d.Decision {
	case cases.ReviewCorrect:
		cur, err := a.Store.CurrentResult(ctx, regID, d.Part)
		if err != nil {
			return fmt.Errorf("current result: %w", err)
		}
		var rule marking.Rule
		if err := remarshal(cur.Rule, &rule); err != nil {
			return temporal.NewNonRetryableApplicationError("stored rule unreadable", cases.ErrorInvalidKey, err)
		}
		score := *d.CorrectedScore
		if cur.MaxScore != nil && score > *cur.MaxScore {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("corrected score %d is above the maximum %d", score, *cur.MaxScore), cases.ErrorInvalidInput, nil)
		}
		answered := score
		if v, ok := cur.Basis["answered"].(float64); ok {
			answered = int(v)
		}
		err = a.Store.SupersedeResult(ctx, cur.ID, storage.Result{
			ID: stableID(ctx, in.RegistrationID, d.Part, "correction"), RegistrationID: regID, Part: d.Part, Result: marking.Decide(rule, score, answered),
			Score: &score, MaxScore: cur.MaxScore, AnswerKeyID: cur.AnswerKeyID, KeyVersion: cur.KeyVersion, Rule: rule,
			DecidedBy: "case_handler", Reason: d.Reason, DecidedAt: in.DecidedAt,
			Basis: map[string]any{"corrects": cur.ID.String(), "previous_score": cur.Score, "decided_by": d.DecidedBy},
		})
		if err != nil {
			return err
		}
	case cases.ReviewAnnul:
		if err := a.Store.AnnulResults(ctx, regID, d.Part, in.DecidedAt); err != nil {
			return err
		}
	}
	if in.ReviewID != "" {
		rid, err := parseID(in.ReviewID)
		if err != nil {
			return err
		}
		if err := a.Store.DecideReview(ctx, rid, d.Decision, d.Reason, d.DecidedBy, in.DecidedAt); err != nil {
			return err
		}
	}
	count(ctx, MetricReviewDecisions, map[string]string{"decision": oneOf(d.Decision, cases.ReviewConfirm, cases.ReviewCorrect, cases.ReviewAnnul)})
	return nil
}

// StoreAssessmentInput stores an assessment.
type StoreAssessmentInput struct {
	RegistrationID string           `json:"registration_id"`
	Assessment     cases.Assessment `json:"assessment"`
	At             time.Time        `json:"at"`
}

// StoreAssessment stores an examiner's assessment (T03).
func (a *TestDay) StoreAssessment(ctx context.Context, in StoreAssessmentInput) error {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return err
	}
	x := in.Assessment
	return a.Store.StoreAssessment(ctx, id, x.Part, x.Role, x.Assessor, x.Level, in.At)
}

// DecideAssessedPartInput records the result of an examiner-marked part.
type DecideAssessedPartInput struct {
	RegistrationID string    `json:"registration_id"`
	Part           string    `json:"part"`
	Level          string    `json:"level"`
	DecidedBy      string    `json:"decided_by"` // examiners or case_handler
	Reason         string    `json:"reason,omitempty"`
	At             time.Time `json:"at"`
}

// DecideAssessedPart records the result of an examiner-assessed part: the
// examiners' agreed level, the third examiner's, or the case handler's. A
// writing result is capped at the registered level band.
func (a *TestDay) DecideAssessedPart(ctx context.Context, in DecideAssessedPartInput) error {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return err
	}
	reg, err := a.Store.GetRegistration(ctx, id)
	if err != nil {
		return err
	}
	level := in.Level
	basis := map[string]any{"assessed_level": in.Level}
	if in.Part == "writing" && reg.LevelBand != "" {
		level = marking.CapWriting(level, reg.LevelBand)
		basis["level_band"] = reg.LevelBand
	}
	_, err = a.Store.InsertResult(ctx, storage.Result{
		ID:             uuid.NewSHA1(uuid.NameSpaceOID, []byte(in.RegistrationID+"/"+in.Part+"/"+in.At.UTC().String())),
		RegistrationID: id, Part: in.Part, Result: level, DecidedBy: in.DecidedBy, Reason: in.Reason, DecidedAt: in.At, Basis: basis,
	})
	return err
}

// ReleaseResultsInput releases the decided results and notifies the candidate.
type ReleaseResultsInput struct {
	RegistrationID string `json:"registration_id"`
}

// ReleaseResults puts the candidate's "result ready" notice in the outbox;
// the SMTP sender delivers it. Idempotent by registration.
func (a *TestDay) ReleaseResults(ctx context.Context, in ReleaseResultsInput) error {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return err
	}
	reg, err := a.Store.GetRegistration(ctx, id)
	if err != nil {
		return err
	}
	_, err = a.Store.EnqueueNotification(ctx, storage.Notification{
		DedupeKey: "result_ready/" + in.RegistrationID, CandidateID: reg.CandidateID, RegistrationID: id,
		Kind: "result_ready", Payload: map[string]string{"test_type": reg.TestType},
		Purpose: "arranging the test: telling the candidate the result is ready",
	})
	return err
}

// DecideCheatingInput records a cheating decision.
type DecideCheatingInput struct {
	RegistrationID string                 `json:"registration_id"`
	Decision       cases.CheatingDecision `json:"decision"`
	DecidedAt      time.Time              `json:"decided_at"`
}

// DecideCheating records a case handler's decision on a cheating case. A
// final decision deletes the test's results (all its parts) and sets the
// quarantine; the decision itself is kept.
func (a *TestDay) DecideCheating(ctx context.Context, in DecideCheatingInput) error {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return err
	}
	d := in.Decision
	return a.Store.RecordCheatingDecision(ctx, storage.CheatingDecision{
		ID: stableID(ctx, in.RegistrationID, "cheating"), RegistrationID: id, Decision: d.Decision, Reasons: d.Reasons,
		QuarantineUntil: d.QuarantineUntil, DecidedBy: d.DecidedBy, DecidedAt: in.DecidedAt,
	})
}

// ReapplyKeyInput re-marks a part with a key version.
type ReapplyKeyInput struct {
	RegistrationID string           `json:"registration_id"`
	Key            cases.ReapplyKey `json:"key"`
	At             time.Time        `json:"at"`
}

// ReapplyKey marks a decided part again with a corrected answer key and,
// if the outcome changes, supersedes the result with one that records the
// new key version and why. When the result was already released, the
// candidate is told that it (or only its score) changed.
func (a *TestDay) ReapplyKey(ctx context.Context, in ReapplyKeyInput) error {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return err
	}
	change, err := a.Store.Remark(ctx, id, in.Key.Part, in.Key.FormID, in.Key.KeyVersion)
	if err != nil {
		return err
	}
	if !change.Changed {
		return nil
	}
	newID := stableID(ctx, in.RegistrationID, in.Key.Part, "remark")
	reg, err := a.Store.GetRegistration(ctx, id)
	if err != nil {
		return err
	}
	// The notice goes into the outbox before the result is superseded: a
	// retry after the supersede would find nothing changed and never send
	// it. Its key is the new result's, so a retry enqueues it once.
	if reg.Stage == string(cases.StageResult) {
		outcome := "no"
		if change.New.Result != change.Old.Result {
			outcome = "yes"
		}
		if _, err := a.Store.EnqueueNotification(ctx, storage.Notification{
			DedupeKey: "result_changed/" + newID.String(), CandidateID: reg.CandidateID, RegistrationID: id,
			Kind: "result_changed", Payload: map[string]string{"test_type": reg.TestType, "outcome_changed": outcome},
			Purpose: "arranging the test: telling the candidate a corrected answer key changed the released result",
		}); err != nil {
			return err
		}
	}
	return a.Store.SupersedeResult(ctx, change.Old.ID, storage.Result{
		ID: newID, RegistrationID: id, Part: in.Key.Part, Result: change.New.Result,
		Score: &change.New.Score, MaxScore: &change.New.MaxScore, AnswerKeyID: &change.Key.ID, KeyVersion: &change.Key.Version,
		Rule: change.Key.Rule, Items: change.New.Items, DecidedBy: "automated", LegalBasis: policy.AutomatedDecisionLegalBasis,
		Reason:    fmt.Sprintf("answer key %s corrected to version %d", in.Key.FormID, change.Key.Version),
		DecidedAt: in.At,
		Basis:     map[string]any{"form_id": in.Key.FormID, "key_version": change.Key.Version, "answered": change.New.Answered, "corrects": change.Old.ID.String()},
	})
}

// registryCategories are what a publication releases to the Diploma Registry.
var registryCategories = []policy.DataCategory{policy.DataName, policy.DataDateOfBirth, policy.DataNationalID,
	policy.DataTestType, policy.DataTestResults, policy.DataTestTime}

// Publication publishes final results to the Diploma Registry (T09).
type Publication struct {
	Store    publicationStore
	Registry registry.Client
	Identity identity.Options
}

// publicationStore is what the Publication activities need of the store: the
// methods they call, no more. *storage.Store is one (the worker passes it); a
// unit test passes a fake of its own.
type publicationStore interface {
	FinalRegistrations(ctx context.Context, candidateID uuid.UUID) ([]uuid.UUID, error)
	GetRegistration(ctx context.Context, id uuid.UUID) (storage.Registration, error)
	PersonalDataOf(ctx context.Context, candidateID uuid.UUID) (storage.PersonalData, error)
	RecordDisclosure(ctx context.Context, d storage.Disclosure) error
	ReleasedResults(ctx context.Context, candidateID uuid.UUID) ([]storage.ReleasedResult, error)
	Restricted(ctx context.Context, candidateID uuid.UUID) (bool, error)
}

var _ publicationStore = (*storage.Store)(nil)

// PublishOutcome says what the publication did.
type PublishOutcome struct {
	Published bool   `json:"published"`
	Withdrawn bool   `json:"withdrawn,omitempty"`
	Parts     int    `json:"parts,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// PublishResults publishes the candidate's latest and best released result
// per test and part, under the candidate's publication key, so a retry or a
// later republication replaces and never duplicates. Only candidates with a
// fødselsnummer are published: a D number, DUF number or passport alone is
// not enough (T09). With no result left the publication is withdrawn. Each
// publication is recorded as a disclosure with its legal basis (T08).
func (a *Publication) PublishResults(ctx context.Context, registrationID string) (PublishOutcome, error) {
	id, err := parseID(registrationID)
	if err != nil {
		return PublishOutcome{}, err
	}
	reg, err := a.Store.GetRegistration(ctx, id)
	if err != nil {
		return PublishOutcome{}, err
	}
	pd, err := a.Store.PersonalDataOf(ctx, reg.CandidateID)
	if errors.Is(err, storage.ErrNotFound) {
		a.count(ctx, PublicationSkippedDeleted)
		return PublishOutcome{Reason: "the candidate's data is deleted"}, nil
	}
	if err != nil {
		return PublishOutcome{}, err
	}
	nid := pd.Person.NationalID
	if kind, err := identity.ValidateNationalID(nid, a.Identity); nid == "" || err != nil || kind != identity.KindFodselsnummer {
		a.count(ctx, PublicationSkippedNoFnr)
		return PublishOutcome{Reason: "no fødselsnummer: the Diploma Registry only has candidates with one"}, nil
	}
	// A restriction of processing (T18) stops publication until it is lifted.
	if restricted, err := a.Store.Restricted(ctx, reg.CandidateID); err != nil {
		return PublishOutcome{}, err
	} else if restricted {
		a.count(ctx, PublicationSkippedRestrict)
		return PublishOutcome{Reason: "processing restricted at the person's request"}, nil
	}
	recipient, err := policy.CheckRelease("sikt", registryCategories)
	if err != nil {
		return PublishOutcome{}, temporal.NewNonRetryableApplicationError(err.Error(), cases.ErrorReleaseRefused, err)
	}
	released, err := a.Store.ReleasedResults(ctx, reg.CandidateID)
	if err != nil {
		return PublishOutcome{}, err
	}
	byTest := map[string][]marking.PartResult{}
	for _, r := range released {
		byTest[r.TestType] = append(byTest[r.TestType], marking.PartResult{Part: r.Part, Result: r.Result, DecidedAt: r.DecidedAt})
	}
	var results []registry.Result
	for test, rs := range byTest {
		for part, best := range marking.LatestAndBest(rs) {
			results = append(results, registry.Result{TestType: test, Part: part, Result: best.Result, DecidedAt: best.DecidedAt})
		}
	}
	sort.Slice(results, func(i, j int) bool {
		if results[i].TestType != results[j].TestType {
			return results[i].TestType < results[j].TestType
		}
		return results[i].Part < results[j].Part
	})
	key := "candidate-" + reg.CandidateID.String()
	if len(results) == 0 {
		if err := a.Registry.Withdraw(ctx, key); err != nil {
			return PublishOutcome{}, a.registryError(ctx, err)
		}
		a.count(ctx, PublicationWithdrawn)
		return PublishOutcome{Withdrawn: true, Reason: "no released result left"}, nil
	}
	pub := registry.Publication{Key: key, NationalID: nid, GivenName: pd.Person.GivenName, FamilyName: pd.Person.FamilyName, Results: results}
	if !pd.Person.DateOfBirth.IsZero() {
		pub.DateOfBirth = pd.Person.DateOfBirth.Format(time.DateOnly)
	}
	if _, err := a.Registry.Publish(ctx, pub); err != nil {
		return PublishOutcome{}, a.registryError(ctx, err)
	}
	if err := a.Store.RecordDisclosure(ctx, storage.Disclosure{
		ID: stableID(ctx, registrationID, "publication"), CandidateID: reg.CandidateID, RegistrationID: &id,
		Recipient: recipient.ID, LegalBasis: recipient.LegalBasis, Action: "publish", Reference: key,
		Categories: categoryNames(registryCategories),
	}); err != nil {
		return PublishOutcome{}, err
	}
	a.count(ctx, PublicationPublished)
	return PublishOutcome{Published: true, Parts: len(results)}, nil
}

// SettleMergedPublication withdraws the publication of a candidate merged
// into another and publishes the survivor's final results, the merged
// ones among them, under the survivor's key (the survivor may only now
// have the fødselsnummer the registry needs). Withdrawing a publication
// that is not there is not an error, so a retry does no harm.
func (a *Publication) SettleMergedPublication(ctx context.Context, in cases.MergeInput) (PublishOutcome, error) {
	merged, err := parseID(in.MergedID)
	if err != nil {
		return PublishOutcome{}, err
	}
	survivor, err := parseID(in.SurvivorID)
	if err != nil {
		return PublishOutcome{}, err
	}
	if err := a.Registry.Withdraw(ctx, "candidate-"+merged.String()); err != nil {
		return PublishOutcome{}, a.registryError(ctx, err)
	}
	regs, err := a.Store.FinalRegistrations(ctx, survivor)
	if err != nil {
		return PublishOutcome{}, err
	}
	if len(regs) == 0 {
		return PublishOutcome{Withdrawn: true, Reason: "the survivor has no final result"}, nil
	}
	return a.PublishResults(ctx, regs[0].String())
}

// count adds one to examflow_publications{outcome}.
func (a *Publication) count(ctx context.Context, outcome string) {
	count(ctx, MetricPublications, map[string]string{"outcome": outcome})
}

// registryError classifies a Diploma Registry error and counts a refusal
// (a retryable failure is retried, and counted when it ends).
func (a *Publication) registryError(ctx context.Context, err error) error {
	if registry.IsPermanent(err) {
		a.count(ctx, PublicationRefused)
	}
	return registryError(err)
}

func registryError(err error) error {
	if registry.IsPermanent(err) {
		return temporal.NewNonRetryableApplicationError("the Diploma Registry refused the publication", cases.ErrorRegistryRefused, err)
	}
	return err
}

func categoryNames(cs []policy.DataCategory) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// Retention holds the activities of the retention phase (T13–T17).
type Retention struct {
	Store retentionStore
	// Objects holds the audio recordings (MinIO).
	Objects   *storage.Objects
	Temporal  client.Client
	Namespace string
	Periods   policy.Periods
	Events    map[policy.Category]policy.Event
	// HoldRecheck is how long a deletion on legal hold waits before it is
	// tried again.
	HoldRecheck time.Duration
	// CourseRetention overrides the courses' 24 months (tests and demos);
	// zero is the policy's (policy.CourseDeletionDue).
	CourseRetention time.Duration
	Logger          *slog.Logger
}

// retentionStore is what the Retention activities need of the store: the
// methods they call, no more. *storage.Store is one (the worker passes it); a
// unit test passes a fake of its own.
type retentionStore interface {
	CourseRegistrationsConsentedBefore(ctx context.Context, t time.Time, limit int) ([]storage.CourseStart, error)
	DeleteCategory(ctx context.Context, regID uuid.UUID, category string, due time.Time) (storage.Deletion, error)
	DeleteCourseRegistration(ctx context.Context, objects *storage.Objects, id uuid.UUID, reason string, at time.Time) (storage.CourseDeletion, error)
	EscalateCheatingCase(ctx context.Context, regID uuid.UUID, at time.Time) (bool, error)
	FirstRecording(ctx context.Context, regID uuid.UUID) (time.Time, bool, error)
	LegalHold(ctx context.Context, regID uuid.UUID, category string) (string, error)
	MarkFinal(ctx context.Context, regID uuid.UUID, at time.Time) error
	OverdueDeletions(ctx context.Context, cutoffs map[string]time.Time, addressFromRegistered bool, limit int) ([]storage.Overdue, error)
	RemoveRecordings(ctx context.Context, objects *storage.Objects, regID uuid.UUID) (int, error)
	RetentionFactsOf(ctx context.Context, regID uuid.UUID) (storage.RetentionFacts, error)
}

var _ retentionStore = (*storage.Store)(nil)

// RetentionPlan is the retention phase's input: opaque IDs and dates only.
// The milestones are computed once, from the policy table and the
// configured periods, so a replay sees the same plan.
type RetentionPlan struct {
	RegistrationID string      `json:"registration_id"`
	Milestones     []Milestone `json:"milestones"`
	// HoldRecheck is how long a held deletion waits before it is tried again.
	HoldRecheck time.Duration `json:"hold_recheck"`
	// Stages are the lifecycle's stages so far, for the status query.
	Stages []cases.Stage `json:"stages,omitempty"`
}

// PlanRetention computes a registration's deletion milestones from the
// policy table, the configured periods and the registration's events.
// Categories examflow holds nothing of for the registration get no
// milestone (payment status when known, audio when recorded).
func (a *Retention) PlanRetention(ctx context.Context, registrationID string) (RetentionPlan, error) {
	id, err := parseID(registrationID)
	if err != nil {
		return RetentionPlan{}, err
	}
	// The retention phase begins when the result is final.
	if err := a.Store.MarkFinal(ctx, id, time.Now()); err != nil {
		return RetentionPlan{}, err
	}
	f, err := a.Store.RetentionFactsOf(ctx, id)
	if err != nil {
		return RetentionPlan{}, err
	}
	plan := RetentionPlan{RegistrationID: registrationID, HoldRecheck: a.HoldRecheck}
	add := func(c policy.Category, from time.Time) error {
		due, err := a.Periods.Due(c, from)
		if err != nil {
			return err
		}
		plan.Milestones = append(plan.Milestones, Milestone{Category: string(c), Due: due})
		return nil
	}
	eventTime := func(c policy.Category) time.Time { return a.eventTime(f, c) }
	if err := add(policy.Address, eventTime(policy.Address)); err != nil {
		return plan, err
	}
	// Audio: a year from the first recording, so no recording is kept
	// longer; a later one goes with it (T15).
	if first, ok, err := a.Store.FirstRecording(ctx, id); err != nil {
		return plan, err
	} else if ok {
		if err := add(policy.Audio, first); err != nil {
			return plan, err
		}
	}
	if f.PaymentStatus {
		if err := add(policy.PaymentStatus, eventTime(policy.PaymentStatus)); err != nil {
			return plan, err
		}
	}
	if f.CheatingDecidedAt != nil {
		if err := add(policy.Cheating, *f.CheatingDecidedAt); err != nil {
			return plan, err
		}
	}
	if err := add(policy.PersonalData, eventTime(policy.PersonalData)); err != nil {
		return plan, err
	}
	return plan, nil
}

// eventTime is when the period of category c runs from for a registration
// with these facts: its registration or its test date, as the policy or
// EXAMFLOW_RETENTION_EVENTS says.
func (a *Retention) eventTime(f storage.RetentionFacts, c policy.Category) time.Time {
	r, _ := policy.Lookup(c)
	ev := r.From
	if e, ok := a.Events[c]; ok {
		ev = e
	}
	if ev == policy.Registered {
		return f.RegisteredAt
	}
	return f.TestDate
}

// Milestone is one category's deletion at its due time.
type Milestone struct {
	Category string    `json:"category"`
	Due      time.Time `json:"due"`
}

// PlanUnheldDeletions returns the milestones of the registration's
// categories that no legal hold keeps (policy.Unheld: the address, and the
// payment status when there is one), for the lifecycle to delete them on
// their dates while it is still open. No personal data.
// Purpose (T14, T16): deleting what is no longer needed.
func (a *Retention) PlanUnheldDeletions(ctx context.Context, registrationID string) ([]Milestone, error) {
	id, err := parseID(registrationID)
	if err != nil {
		return nil, err
	}
	f, err := a.Store.RetentionFactsOf(ctx, id)
	if err != nil {
		return nil, err
	}
	var ms []Milestone
	for _, c := range policy.Unheld() {
		if c == policy.PaymentStatus && !f.PaymentStatus {
			continue
		}
		due, err := a.Periods.Due(c, a.eventTime(f, c))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Milestone{Category: string(c), Due: due})
	}
	return ms, nil
}

// EscalateCheatingCaseInput escalates a registration's undecided cheating
// case: opaque IDs and times only.
type EscalateCheatingCaseInput struct {
	RegistrationID string    `json:"registration_id"`
	ReportedAt     time.Time `json:"reported_at"`
	At             time.Time `json:"at"`
}

// EscalateCheatingCase records that a provisional cheating case stayed
// undecided past EXAMFLOW_CHEATING_ESCALATE_AFTER and counts it in
// examflow_cheating_escalations_total; the case handlers find it in the
// Temporal UI (CheatingEscalated=true) and the operators by
// examflow_cheating_cases_escalated and its alert. No personal data.
// Purpose (T17): deciding cheating cases without undue delay.
func (a *Retention) EscalateCheatingCase(ctx context.Context, in EscalateCheatingCaseInput) (bool, error) {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return false, err
	}
	escalated, err := a.Store.EscalateCheatingCase(ctx, id, in.At)
	if err != nil {
		return false, err
	}
	if escalated {
		a.Logger.WarnContext(ctx, "undecided cheating case escalated to case handlers", "registration_id", in.RegistrationID,
			"reported_at", in.ReportedAt, "undecided_for", in.At.Sub(in.ReportedAt).Round(time.Hour).String())
		count(ctx, MetricCheatingEscalations, nil)
	}
	return escalated, nil
}

// LegalHoldInput asks whether a category's deletion must wait.
type LegalHoldInput struct {
	RegistrationID string `json:"registration_id"`
	Category       string `json:"category"`
}

// LegalHoldStatus says whether and why a deletion must wait.
type LegalHoldStatus struct {
	Held   bool   `json:"held"`
	Reason string `json:"reason,omitempty"`
}

// LegalHold says whether a deletion must wait: an open cheating case, or an
// open appeal that needs the category (T22).
func (a *Retention) LegalHold(ctx context.Context, in LegalHoldInput) (LegalHoldStatus, error) {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return LegalHoldStatus{}, err
	}
	reason, err := a.Store.LegalHold(ctx, id, in.Category)
	if err != nil {
		return LegalHoldStatus{}, err
	}
	if reason != "" {
		a.Logger.InfoContext(ctx, "deletion postponed by a legal hold", "registration_id", in.RegistrationID, "category", in.Category, "reason", reason)
	}
	return LegalHoldStatus{Held: reason != "", Reason: reason}, nil
}

// DeleteCategoryInput deletes one category.
type DeleteCategoryInput struct {
	RegistrationID string    `json:"registration_id"`
	Category       string    `json:"category"`
	Due            time.Time `json:"due"`
}

// DeletionResult reports a deletion.
type DeletionResult struct {
	RowsDeleted    int  `json:"rows_deleted"`
	SubjectDeleted bool `json:"subject_deleted"`
}

// DeleteCategory deletes one category of a registration's data and records
// the deletion. Idempotent.
func (a *Retention) DeleteCategory(ctx context.Context, in DeleteCategoryInput) (DeletionResult, error) {
	id, err := parseID(in.RegistrationID)
	if err != nil {
		return DeletionResult{}, err
	}
	d, err := a.deleteCategory(ctx, id, in.Category, in.Due)
	if err != nil {
		return DeletionResult{}, err
	}
	a.Logger.InfoContext(ctx, "retention deletion", "registration_id", in.RegistrationID, "category", in.Category,
		"rows", d.RowsDeleted, "subject_deleted", d.SubjectDeleted)
	count(ctx, MetricDeletions, map[string]string{"category": in.Category})
	return DeletionResult{RowsDeleted: d.RowsDeleted, SubjectDeleted: d.SubjectDeleted}, nil
}

// deleteCategory removes the audio objects in MinIO first, where the
// category covers them, then the rows in PostgreSQL with their record, and
// then closes the workflows of the subject requests deleted with the person
// (closeRequests). The retention phase and the reconciliation both delete
// through it.
func (a *Retention) deleteCategory(ctx context.Context, id uuid.UUID, category string, due time.Time) (storage.Deletion, error) {
	if category == string(policy.Audio) || category == string(policy.PersonalData) {
		if a.Objects == nil {
			return storage.Deletion{}, fmt.Errorf("no object store to delete %s from", category)
		}
		if _, err := a.Store.RemoveRecordings(ctx, a.Objects, id); err != nil {
			return storage.Deletion{}, err
		}
	}
	d, err := a.Store.DeleteCategory(ctx, id, category, due)
	if err != nil {
		return d, err
	}
	return d, a.closeRequests(ctx, d.SubjectRequests)
}

// closeRequests closes the workflows of the subject requests a final
// deletion deleted with their person (cases.UpdateCloseRequest, through
// the worker's client, which seals the Update like any payload): whatever
// each waits for, it ends in RequestClosedDataDeleted, off the case
// handlers' lists. The deletion record keeps the requests' IDs, so a
// retried deletion closes them again; the Update ID is the same on every
// attempt, and a workflow that has ended, or was never started (lost
// before the reconciliation started it), needs nothing. IDs only in the
// log.
func (a *Retention) closeRequests(ctx context.Context, ids []uuid.UUID) error {
	if len(ids) > 0 && a.Temporal == nil {
		return errors.New("no Temporal client to close the deleted subject requests with")
	}
	for _, id := range ids {
		wfID := cases.SubjectRequestWorkflowID(id)
		closed, err := cases.CloseSubjectRequest(ctx, a.Temporal, id)
		switch {
		case err != nil:
			return err
		case closed:
			a.Logger.InfoContext(ctx, "subject request closed: its person's data is deleted", "workflow_id", wfID)
		default:
			a.Logger.InfoContext(ctx, "deleted subject request has no running workflow", "workflow_id", wfID)
		}
	}
	return nil
}

// DeleteClosedHistories deletes the closed runs of the registration's
// workflow (the lifecycle run before the retention phase) and of its
// appeals' workflows: after the final deletion no history of the subject
// remains in Temporal but the running retention run, which holds IDs and
// dates only.
func (a *Retention) DeleteClosedHistories(ctx context.Context, registrationID string) error {
	id, err := parseID(registrationID)
	if err != nil {
		return err
	}
	wfID := storage.WorkflowIDFor(id)
	resp, err := a.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		// The registration's own runs and its appeals' (child workflows).
		Namespace: a.Namespace, Query: fmt.Sprintf(`(WorkflowId=%q OR ParentWorkflowId=%q) AND ExecutionStatus!="Running"`, wfID, wfID),
	})
	if err != nil {
		return fmt.Errorf("list closed runs: %w", err)
	}
	for _, e := range resp.GetExecutions() {
		_, err := a.Temporal.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace: a.Namespace, WorkflowExecution: e.GetExecution(),
		})
		var gone *serviceerror.NotFound
		if errors.As(err, &gone) {
			continue // the namespace's retention deleted it meanwhile
		}
		if err != nil {
			return fmt.Errorf("delete run: %w", err)
		}
	}
	return nil
}

// ReconcileResult counts what a reconciliation found and deleted.
