package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/appeals"
	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/storage"
)

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
	Store     *storage.Store
	Catalogue marking.Catalogue
	Config    config.TestDay
	// Appeals: a result is not final before the appeal window of its test
	// has passed, so FinalAfter is at least that window.
	Appeals appeals.Rules
	Logger  *slog.Logger
}

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
