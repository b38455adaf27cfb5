package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/examflow/examflow/activities"
	"github.com/examflow/examflow/appeals"
	"github.com/examflow/examflow/cases"
)

// What each workflow page in the Temporal UI says (docs/temporal-ui.md,
// "What a workflow page shows"): the current details, Markdown built here
// from the workflow's state by one pure function per workflow, and the
// descriptions of its Updates and Queries. They hold IDs, statuses, part
// names, categories and dates only: never a candidate's data.

// uiRefusal ends every details text: the worker refuses payloads examflow
// did not seal (docs/temporal-ui.md, "Temporal is a trust boundary").
const uiRefusal = "_Changes sent from the Temporal UI are refused (the worker opens only payloads examflow sealed): act on the case through examflow's API._"

// detailsDate is how the details show a date and time.
const detailsDate = "2006-01-02 15:04 UTC"

func day(t time.Time) string { return t.UTC().Format(detailsDate) }

// act names who acts and through which route.
func act(roles, method, route string) string {
	return fmt.Sprintf("Act: %s, `%s %s`", roles, method, route)
}

// details assembles a details text: the heading, the lines, the refusal.
func details(heading string, lines ...string) string {
	var b strings.Builder
	b.WriteString(heading)
	b.WriteString("\n\n")
	for _, l := range lines {
		if l != "" {
			b.WriteString("- " + l + "\n")
		}
	}
	b.WriteString("\n" + uiRefusal)
	return b.String()
}

// headingOf is a stage's heading in words, or the stage's name in bold
// for a stage the table does not name.
func headingOf(headings map[cases.Stage]string, stage cases.Stage) string {
	if h, ok := headings[stage]; ok {
		return h
	}
	return "**" + string(stage) + "**"
}

// API routes the details name (api/server.go).
const (
	routeRegistration   = "/v1/registrations/{id}"
	routeAnswerSheets   = routeRegistration + "/answer-sheets"
	routeAssessments    = routeRegistration + "/assessments"
	routeSettlements    = routeRegistration + "/settlements"
	routeReviews        = routeRegistration + "/review-decisions"
	routeCheating       = routeRegistration + "/cheating-decisions"
	routeDiscrepancies  = routeRegistration + "/discrepancies"
	routeAppeals        = routeRegistration + "/appeals"
	routeAppealDecision = routeAppeals + "/{appeal_id}/decisions"
	routeReassessments  = routeAppeals + "/{appeal_id}/reassessments"
	routeCourse         = "/v1/course-registrations/{id}"
	routeRequest        = "/v1/subject-requests/{id}"
)

var lifecycleHeadings = map[cases.Stage]string{
	cases.StageRegistered:  "**Registered**: waits for the test day",
	cases.StageTested:      "**Tested**: the test day is under way",
	cases.StageUnderReview: "**Held for review**: a result waits for a case handler's review decision",
	cases.StageResult:      "**Result released**: the appeal window runs",
	cases.StageAbsent:      "**Absent**: the candidate did not attend; the appeal window runs",
	cases.StageAnnulled:    "**Annulled**: a new test is offered; the appeal window runs",
	cases.StagePublished:   "**Published**: the final result is in the Diploma Registry; the retention phase follows",
}

// lifecycleDetails is a registration's current details: its stage, what
// each part waits for, the cheating case, the appeal window and open
// appeals, with who acts through which route.
func lifecycleDetails(l *lifecycle, appealWindowEnds time.Time, openAppeals int) string {
	heading := headingOf(lifecycleHeadings, l.trail.stage)
	lines := []string{fmt.Sprintf("Registration `%s` (`{id}` in the routes).", l.in.RegistrationID)}
	if l.ctx == nil && l.trail.stage == cases.StageRegistered {
		lines = append(lines, "Loading the registration.")
	}
	for _, p := range l.parts {
		lines = append(lines, partLine(p))
	}
	if l.cheated && !l.cheatingDecided {
		esc := ""
		if l.status.CheatingEscalated {
			esc = " It is escalated: undecided past its escalation time."
		}
		lines = append(lines, "Provisional cheating reported: a case handler decides it."+esc+" "+act("`case_handler`", "POST", routeCheating))
	}
	switch l.trail.stage {
	case cases.StageRegistered, cases.StageTested, cases.StageUnderReview:
		lines = append(lines, "A test centre reports a discrepancy: "+act("`integration` or `case_handler`", "POST", routeDiscrepancies))
	}
	if !appealWindowEnds.IsZero() {
		lines = append(lines, fmt.Sprintf("Appeal window until %s; then, with no appeal open, the result is final and published. %s",
			day(appealWindowEnds), act("`appeals` or `case_handler`", "POST", routeAppeals)))
	}
	if openAppeals > 0 {
		lines = append(lines, fmt.Sprintf("%d appeal(s) open: each is a CandidateAppeal child workflow; the result is not final before they close.", openAppeals))
	}
	return details(heading, lines...)
}

// partLine says what one part waits for.
func partLine(p *partRun) string {
	name := fmt.Sprintf("Part `%s`: ", p.info.Name)
	switch p.status {
	case cases.PartAwaiting:
		if p.info.Automated {
			return name + "waits for its answer sheet. " + act("`integration`", "POST", routeAnswerSheets)
		}
		return name + "waits for examiner assessments, 0 of 2 in. " + act("`examiner`", "POST", routeAssessments)
	case cases.PartAssessing:
		return fmt.Sprintf("%swaits for examiner assessments, %d of 2 in. %s", name, min(len(p.assessments), 2), act("`examiner`", "POST", routeAssessments))
	case cases.PartDisputed:
		return name + "the examiners disagree: a third examiner assesses (role `third_examiner`, " + act("`examiner`", "POST", routeAssessments) +
			") or a case handler settles it (" + act("`case_handler`", "POST", routeSettlements) + ")."
	case cases.PartSubmitted:
		return name + "answer sheet in, being marked."
	case cases.PartHeld:
		return fmt.Sprintf("%sheld for review%s: a case handler decides the review by %s. %s", name, heldBecause(p.reasons), day(p.reviewDue), act("`case_handler`", "POST", routeReviews))
	case cases.PartDecided:
		return name + "decided."
	case cases.PartAbsent:
		return name + "absent."
	case cases.PartAnnulled:
		return name + "annulled."
	}
	return name + p.status + "."
}

// holdReasons says in words why a result is held (the reason codes the
// status query and GET …/results give, activities.Reason*).
var holdReasons = map[string]string{
	activities.ReasonTechnicalProblem:   "a technical problem was reported",
	activities.ReasonMalformedSheet:     "the answer sheet is incomplete or malformed",
	activities.ReasonKeyVersionMismatch: "the sheet was marked against another answer key version",
	activities.ReasonOutsideWindow:      "the sheet was submitted outside the session window",
	activities.ReasonPassRateDeviation:  "the session's pass rate is off the norm",
}

// heldBecause is " because …" with each reason in words, or nothing.
func heldBecause(reasons []string) string {
	words := make([]string, 0, len(reasons))
	for _, r := range reasons {
		if w, ok := holdReasons[r]; ok {
			words = append(words, w)
		} else if !slices.Contains(words, "another reason") {
			// Only the known codes are shown: a reason this does not
			// know could hold anything.
			words = append(words, "another reason")
		}
	}
	if len(words) == 0 {
		return ""
	}
	return " because " + strings.Join(words, " and ")
}

// retentionDetails is the retention phase's current details: the next
// deletion milestone and its category, a legal hold and its reason.
func retentionDetails(registrationID string, st RetentionStatus, recheckAt time.Time) string {
	lines := []string{fmt.Sprintf("Registration `%s` (`{id}` in the routes).", registrationID)}
	var heading string
	switch st.Stage {
	case cases.StageDeletionOnHold:
		heading = "**Deletion on hold**: a legal hold postpones a deletion"
		if len(st.Pending) > 0 {
			lines = append(lines, fmt.Sprintf("Legal hold on `%s` (due %s): %s. Checked again at %s; the hold ends when its case is decided.",
				st.Pending[0].Category, day(st.Pending[0].Due), st.Hold, day(recheckAt)))
		}
	case cases.StageDeleted:
		heading = "**Deleted**: the final deletion is done; the registration's closed histories are deleted"
	default:
		heading = "**Retained**: the result is final; the data waits for its deletion milestones"
	}
	if st.Stage != cases.StageDeleted {
		for i, m := range st.Pending {
			if i == 0 {
				lines = append(lines, fmt.Sprintf("Next deletion: `%s` at %s.", m.Category, day(m.Due)))
				continue
			}
			lines = append(lines, fmt.Sprintf("Then: `%s` at %s.", m.Category, day(m.Due)))
		}
		lines = append(lines, fmt.Sprintf("%d categories deleted so far.", len(st.Done)),
			"A late appeal a case handler accepts, or one against a late decision: "+act("`appeals` or `case_handler`", "POST", routeAppeals))
	}
	return details(heading, lines...)
}

var appealHeadings = map[cases.Stage]string{
	cases.StageAppealAtTestCentre:   "**Appeal at the test centre**: the test centre decides",
	cases.StageAppealReassessment:   "**Appeal: re-assessment**: an examiner re-assesses the part",
	cases.StageAppealFirstInstance:  "**Appeal at the first instance**: the first instance decides",
	cases.StageAppealCountyGovernor: "**Appeal at the County Governor**: the County Governor decides",
	cases.StageAppealUpheld:         "**Appeal upheld**: decided",
	cases.StageAppealRejected:       "**Appeal rejected**: decided",
	cases.StageAppealReassessed:     "**Appeal re-assessed**: decided",
}

// appealDetails is an appeal's current details: who decides it now, and
// through which route.
func appealDetails(a *appealRun) string {
	heading := headingOf(appealHeadings, a.trail.stage)
	adm := a.in.Admission
	lines := []string{
		fmt.Sprintf("Appeal `%s` of registration `%s` (`{appeal_id}` and `{id}` in the routes).", a.in.AppealID, a.in.RegistrationID),
		fmt.Sprintf("Kind `%s`, test type `%s`%s; appeal deadline %s%s.", adm.Kind, adm.TestType, partOf(adm.Part), day(adm.Deadline), lateText(adm.Late)),
	}
	switch inst := a.instance(); {
	case a.outcome != nil && a.outcome.Closed:
		lines = append(lines, "Closed: the outcome is returned to the registration's workflow.")
	case a.deciding:
		lines = append(lines, "A decision is being recorded.")
	case inst == appeals.InstanceReassessment:
		lines = append(lines, "Waits for the re-assessment. "+act("`examiner`", "POST", routeReassessments))
	case inst != "":
		lines = append(lines, fmt.Sprintf("Waits for the decision of the %s (instance `%s`). %s", strings.ReplaceAll(inst, "_", " "), inst,
			act("`appeals` or `case_handler`", "POST", routeAppealDecision)))
	}
	return details(heading, lines...)
}

func partOf(part string) string {
	if part == "" {
		return ""
	}
	return fmt.Sprintf(", part `%s`", part)
}

func lateText(late bool) string {
	if late {
		return " (lodged late, accepted by a case handler)"
	}
	return ""
}

var courseHeadings = map[cases.Stage]string{
	cases.StageCourseRegistered: "**Course registered**: waits for the event",
	cases.StageEventHeld:        "**Event held**: waits for a course administrator to mark completion",
	cases.StageCourseCompleted:  "**Course completed**: the certificate is issued; the survey invitation follows",
	cases.StageSurveyInvited:    "**Survey invited**: course news is sent while consent stands",
	cases.StageConsentWithdrawn: "**Consent withdrawn**: everything is deleted",
	cases.StageCourseDeleted:    "**Course data deleted**: the retention period has ended",
}

// courseDetails is a course registration's current details.
func courseDetails(r *courseRegistration) string {
	heading := headingOf(courseHeadings, r.trail.stage)
	in := r.in
	lines := []string{fmt.Sprintf("Course registration `%s` (`{id}` in the routes), course type `%s`.", in.RegistrationID, in.CourseType)}
	switch r.trail.stage {
	case cases.StageConsentWithdrawn, cases.StageCourseDeleted:
		return details(heading, lines...)
	case cases.StageCourseRegistered:
		lines = append(lines, fmt.Sprintf("The event ends at %s.", day(in.EventEnds)))
	case cases.StageEventHeld:
		if r.completed == nil {
			lines = append(lines, "Waits for completion. "+act("`course_admin`", "POST", routeCourse+"/completion"))
		}
	case cases.StageSurveyInvited, cases.StageCourseCompleted:
		if in.NewsEvery > 0 {
			lines = append(lines, fmt.Sprintf("News of new `%s` courses every %s while consent stands.", in.CourseType, in.NewsEvery))
		}
	}
	lines = append(lines, fmt.Sprintf("Everything is deleted at %s (the end of its retention period, 24 months after consent).", day(in.DeleteAt)),
		"Consent withdrawn deletes everything at once: "+act("`course_admin` or `integration`", "POST", routeCourse+"/withdrawal"))
	return details(heading, lines...)
}

var requestHeadings = map[cases.Stage]string{
	cases.StageAwaitingIdentity:  "**Awaiting identity**: a case handler confirms the person's identity",
	cases.StageRequestInProgress: "**In progress**: the request is being carried out",
	cases.StageAwaitingDecision:  "**Awaiting decision**: a case handler decides the request",
	cases.StageRestricted:        "**Restricted**: publication is stopped until a case handler lifts the restriction",
	cases.StageRequestAnswered:   "**Answered**: the request is answered",
	cases.StageRequestClosedDataDeleted: "**Closed, data deleted**: the final deletion deleted the person's data, and this request with it, " +
		"while it was open",
}

// requestDetails is a data subject request's current details: the due
// date, what it waits for, and who acts through which route.
func requestDetails(r *subjectRequest, liftAt time.Time) string {
	heading := headingOf(requestHeadings, r.trail.stage)
	lines := []string{fmt.Sprintf("Subject request `%s` (`{id}` in the routes), kind `%s`.", r.in.RequestID, r.in.Kind)}
	switch r.trail.stage {
	case cases.StageAwaitingIdentity:
		lines = append(lines, "Waits for the identity check. "+act("`case_handler`", "POST", routeRequest+"/identity"))
	case cases.StageRequestInProgress:
		if r.in.Kind == cases.RequestAccess {
			lines = append(lines, "The access export is being built; a link to it: "+act("`case_handler` or `dpo`", "POST", routeRequest+"/export-link"))
		}
	case cases.StageAwaitingDecision:
		lines = append(lines, "Waits for the decision. "+act("`case_handler`", "POST", routeRequest+"/decision"))
	case cases.StageRestricted:
		if r.lift == nil {
			lines = append(lines, "Waits for a case handler to lift it. "+act("`case_handler`", "POST", routeRequest+"/lift"))
		} else if !liftAt.IsZero() {
			lines = append(lines, fmt.Sprintf("Being lifted: the person is told first; the restriction ends at %s.", day(liftAt)))
		}
	case cases.StageRequestAnswered:
		if r.in.Kind == cases.RequestAccess {
			lines = append(lines, "The export's link: "+act("`case_handler` or `dpo`", "POST", routeRequest+"/export-link"))
		}
	case cases.StageRequestClosedDataDeleted:
		lines = append(lines, "The retention period ended; nothing about the person or the request is left to answer with. Nothing to act on here.")
	}
	if !r.answered && !r.closed {
		lines = append(lines, fmt.Sprintf("Due %s; extendable, with a reason, while the first period runs (until %s). %s",
			day(r.due), day(r.in.DueAt), act("`case_handler`", "POST", routeRequest+"/extension")))
	}
	return details(heading, lines...)
}

// mergeDetails is the current details of CandidateMerge and
// IdentifierCorrection (kind "Merge" or "Identifier correction").
func mergeDetails(kind, id string) string {
	what := "the duplicate's publication is withdrawn and the survivor's results are published, retried until the Diploma Registry takes both"
	if kind != "Merge" {
		what = "the candidate's publication is updated with the corrected identifier, retried until the Diploma Registry takes it"
	}
	return details("**Settling the Diploma Registry publication**", fmt.Sprintf("%s `%s`: %s.", kind, id, what), "Nothing to act on here.")
}

// statisticsDetails is MonthlyStatistics' current details.
func statisticsDetails(month string) string {
	return details("**Monthly statistics**", fmt.Sprintf("Materialises the anonymous statistics of `%s`.", month),
		"Read them: `statistics`, `GET /v1/statistics`")
}

// reconciliationDetails is RetentionReconciliation's current details.
func reconciliationDetails() string {
	return details("**Retention reconciliation**",
		"Deletes whatever PostgreSQL holds past its deletion deadline, even where the registration's workflow was lost.",
		"Nothing to act on here.")
}

// milestoneSummary is the summary of a deletion's timer or activity.
func milestoneSummary(verb string, m activities.Milestone) string {
	return fmt.Sprintf("%s %s at %s", verb, m.Category, day(m.Due))
}

// handlerDescriptions describe the Updates and Queries in the Temporal UI's
// pickers: what each does and the API route that sends it. The UI cannot
// send them (uiRefusal).
var handlerDescriptions = map[string]string{
	cases.UpdateSubmitAnswerSheet: "A machine-marked part's answer sheet; sent by `POST " + routeAnswerSheets + "` (integration).",
	cases.UpdateReportDiscrepancy: "A test centre's discrepancy (absence, technical problem, provisional cheating); sent by `POST " + routeDiscrepancies + "`.",
	cases.UpdateReviewDecision:    "A case handler's decision on a result held for review (confirm, correct or annul); sent by `POST " + routeReviews + "` (case_handler).",
	cases.UpdateAssessment:        "An examiner's assessment of a part; sent by `POST " + routeAssessments + "` (examiner).",
	cases.UpdateSettleAssessment:  "A case handler settles a part the examiners disagree on; sent by `POST " + routeSettlements + "` (case_handler).",
	cases.UpdateCheatingDecision:  "A case handler decides a provisional cheating case; sent by `POST " + routeCheating + "` (case_handler).",
	cases.UpdateReapplyKey:        "A corrected answer key is re-applied to a machine-marked part; sent by `POST /v1/answer-keys/{form_id}/reapply` (case_handler).",
	cases.UpdateLodgeAppeal:       "Lodges an appeal, started as a CandidateAppeal child workflow; sent by `POST " + routeAppeals + "` (appeals, case_handler).",
	cases.UpdateAppealDecision:    "An instance's decision on the appeal; sent by `POST " + routeAppealDecision + "` (appeals, case_handler).",
	cases.UpdateReassessment:      "An examiner's re-assessment of the appealed part; sent by `POST " + routeReassessments + "` (examiner).",
	cases.UpdateCompleteCourse:    "Marks the course completed; sent by `POST " + routeCourse + "/completion` (course_admin) or the self-service link.",
	cases.UpdateWithdrawConsent:   "Withdraws consent: everything is deleted at once; sent by `POST " + routeCourse + "/withdrawal` (course_admin, integration) or the self-service link.",
	cases.UpdateVerifyIdentity:    "A case handler confirms the person's identity; sent by `POST " + routeRequest + "/identity` (case_handler).",
	cases.UpdateExtendRequest:     "Extends the due date, with a reason, within the first period; sent by `POST " + routeRequest + "/extension` (case_handler).",
	cases.UpdateDecideRequest:     "A case handler decides a rectification or objection; sent by `POST " + routeRequest + "/decision` (case_handler).",
	cases.UpdateLiftRestriction:   "A case handler lifts a restriction (the person is told first); sent by `POST " + routeRequest + "/lift` (case_handler).",
	cases.UpdateCloseRequest:      "Closes the request when the final deletion has deleted its person; sent by the deletion itself (no API route).",
	cases.QueryStatus:             "The registration's stage, since when, the stages passed and each part's status (statuses only); read by `GET " + routeRegistration + "`.",
	cases.QueryRetention:          "The retention phase: deletion milestones done and pending (category, date) and a legal hold's reason.",
	cases.QueryAppeal:             "The appeal's stage, kind and stages passed; read by `GET " + routeAppeals + "/{appeal_id}`.",
	cases.QueryCourse:             "The course registration's stage and stages passed; read by `GET " + routeCourse + "`.",
	cases.QuerySubjectRequest:     "The request's stage, kind, due date and stages passed; read by `GET " + routeRequest + "`.",
}

// describedQuery installs a Query handler with its description.
func describedQuery(ctx workflow.Context, name string, handler any) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, name, handler, workflow.QueryHandlerOptions{Description: handlerDescriptions[name]}); err != nil {
		return fmt.Errorf("set query handler %s: %w", name, err)
	}
	return nil
}

// updateOptions are an Update's options: its validator and description.
func updateOptions(name string, validator any) workflow.UpdateHandlerOptions {
	return workflow.UpdateHandlerOptions{Validator: validator, Description: handlerDescriptions[name]}
}
