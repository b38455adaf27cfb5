// Package appeals holds the rules for admitting a candidate's appeal: which
// kinds exist, who decides them, and their deadlines (domain-facts section
// 2). It is plain Go with no I/O, so the rules are tested on their own; the
// activities feed it facts read from PostgreSQL.
package appeals

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind is a kind of appeal.
type Kind string

// The appeal kinds.
const (
	// FormalError is a complaint about a formal error (such as a technical
	// fault on the test day), for any test, to the test centre. Upheld, it
	// annuls the result and a new test is offered.
	FormalError Kind = "formal_error"
	// WritingReassessment is the appeal of a Norwegian A1–B2 writing result:
	// a new independent assessment that may raise or lower it and is final.
	WritingReassessment Kind = "writing_reassessment"
	// C1Appeal is the appeal of a Norwegian C1 part: the result can only stay
	// or rise.
	C1Appeal Kind = "norwegian_c1"
	// DecisionAppeal is the appeal of an individual decision (a final cheating
	// decision, its quarantine, a rejected formal-error complaint): the first
	// instance reconsiders; if it does not uphold the appeal, the County
	// Governor decides, finally.
	DecisionAppeal Kind = "decision_appeal"
)

// Kinds lists the appeal kinds.
func Kinds() []Kind { return []Kind{FormalError, WritingReassessment, C1Appeal, DecisionAppeal} }

// Decisions a decision appeal can be against.
const (
	AgainstCheating           = "cheating"
	AgainstQuarantine         = "quarantine"
	AgainstComplaintRejection = "formal_error_rejection"
)

// Instances that decide appeals, as recorded with each decision.
const (
	InstanceTestCentre     = "test_centre"
	InstanceReassessment   = "reassessment"
	InstanceFirstInstance  = "first_instance"
	InstanceCountyGovernor = "county_governor"
)

// Decisions.
const (
	Upheld     = "upheld"     // the appeal succeeds
	Rejected   = "rejected"   // the appeal fails, finally
	Maintained = "maintained" // the first instance keeps its decision: the County Governor decides
	Reassessed = "reassessed" // a new assessment was made
)

// Rules are the configurable deadlines. Defaults are in config.Appeals.
type Rules struct {
	// FormalErrorWindow runs from the test date.
	FormalErrorWindow time.Duration
	// FormalErrorUntilResult: a formal-error complaint is also refused once
	// the candidate has been told the result (PAD guidance; uncertain).
	FormalErrorUntilResult bool
	// WritingWindow runs from the release of the result.
	WritingWindow time.Duration
	// C1Window runs from the release of the result (period-based; about 4 weeks).
	C1Window time.Duration
	// DecisionWindow runs from the decision (forvaltningsloven § 29: 3 weeks).
	DecisionWindow time.Duration
	// LateLimit: a late appeal cannot be accepted this long after its
	// deadline's start (forvaltningsloven § 31: not after one year).
	LateLimit time.Duration
}

// Part is what the rules need to know about one registered part.
type Part struct {
	Name string
	// Examiner: assessed by examiners, not machine-marked.
	Examiner bool
	// Result is the standing result, empty when there is none.
	Result string
	// Levels are the results the part can have, lowest first.
	Levels []string
}

// Lodged is an appeal already lodged for the registration.
type Lodged struct {
	Kind    Kind
	Part    string
	Against string
}

// Facts are what the rules need to know about a registration.
type Facts struct {
	TestType string
	// TestDate is the date the test was taken.
	TestDate time.Time
	// ResultAt is when the result was released; nil if not yet.
	ResultAt *time.Time
	Parts    []Part
	// CheatingFinalAt is when a final cheating decision was taken, if any.
	CheatingFinalAt *time.Time
	// QuarantineActive: the decision's quarantine still runs.
	QuarantineActive bool
	// ComplaintRejectedAt is when a formal-error complaint was rejected, if any.
	ComplaintRejectedAt *time.Time
	// Lodged are the appeals lodged before, open or decided.
	Lodged []Lodged
}

// Request is an appeal as it arrives.
type Request struct {
	Kind    Kind
	Part    string
	Against string
	// ReceivedAt is when the appeal was received (it counts for the deadline).
	ReceivedAt time.Time
	// LateAcceptedBy names the case handler who accepts a late appeal.
	LateAcceptedBy string
	LateReason     string
}

// Admission is an admitted appeal.
type Admission struct {
	Kind     Kind
	Part     string
	Against  string
	Deadline time.Time
	Late     bool
	// FirstInstance decides first: test_centre, reassessment or first_instance.
	FirstInstance string
	// Levels are the part's results, for a re-assessment.
	Levels []string
}

// Refusal says why an appeal is not admitted and which request field it is about.
type Refusal struct {
	Field  string
	Reason string
}

func (r *Refusal) Error() string { return r.Field + ": " + r.Reason }

func refuse(field, format string, args ...any) *Refusal {
	return &Refusal{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Admit applies the rules to an appeal. It returns the admission, or a
// *Refusal with the reason: wrong kind for the test, nothing to appeal,
// lodged twice, or late without a case handler's acceptance.
func Admit(r Rules, f Facts, q Request) (Admission, error) {
	a := Admission{Kind: q.Kind, Part: q.Part, Against: q.Against}
	if q.ReceivedAt.Before(dayStart(f.TestDate)) {
		return a, refuse("received_at", "the appeal cannot be received before the test date %s", f.TestDate.Format(time.DateOnly))
	}
	if q.Kind != DecisionAppeal && q.Against != "" {
		return a, refuse("against", "against goes with kind decision_appeal")
	}
	var from time.Time // the event the deadline runs from
	switch q.Kind {
	case FormalError:
		if q.Part != "" && part(f, q.Part) == nil {
			return a, refuse("part", "part %q is not registered for this test", q.Part)
		}
		from, a.Deadline, a.FirstInstance = dayStart(f.TestDate), dayEnd(f.TestDate).Add(r.FormalErrorWindow), InstanceTestCentre
		if r.FormalErrorUntilResult && f.ResultAt != nil && f.ResultAt.Before(a.Deadline) {
			a.Deadline = *f.ResultAt
		}
	case WritingReassessment, C1Appeal:
		wantTest, window := "norwegian_a1_b2", r.WritingWindow
		if q.Kind == C1Appeal {
			wantTest, window = "norwegian_c1", r.C1Window
		}
		if f.TestType != wantTest {
			return a, refuse("kind", "%s is for the %s test; results of the %s test cannot be appealed, only a formal error complained of", q.Kind, wantTest, f.TestType)
		}
		if q.Kind == WritingReassessment && q.Part == "" {
			a.Part, q.Part = "writing", "writing"
		}
		p := part(f, q.Part)
		switch {
		case p == nil:
			return a, refuse("part", "part %q is not registered for this test", q.Part)
		case q.Kind == WritingReassessment && p.Name != "writing":
			return a, refuse("part", "only the writing result of the A1–B2 test can be appealed; reading, listening and oral cannot")
		case !p.Examiner:
			return a, refuse("part", "part %q has no assessment to appeal", q.Part)
		case p.Result == "" || f.ResultAt == nil:
			return a, refuse("part", "part %q has no released result to appeal", q.Part)
		}
		from = *f.ResultAt
		a.Deadline, a.FirstInstance, a.Levels = from.Add(window), InstanceReassessment, slices.Clone(p.Levels)
	case DecisionAppeal:
		switch q.Against {
		case AgainstCheating, AgainstQuarantine:
			if f.CheatingFinalAt == nil {
				return a, refuse("against", "there is no final cheating decision to appeal")
			}
			if q.Against == AgainstQuarantine && !f.QuarantineActive {
				return a, refuse("against", "there is no quarantine in force to appeal")
			}
			from = *f.CheatingFinalAt
		case AgainstComplaintRejection:
			if f.ComplaintRejectedAt == nil {
				return a, refuse("against", "there is no rejected formal-error complaint to appeal")
			}
			from = *f.ComplaintRejectedAt
		default:
			return a, refuse("against", "against must be cheating, quarantine or formal_error_rejection")
		}
		if q.Part != "" {
			return a, refuse("part", "a decision appeal is about the whole test; leave part empty")
		}
		a.Deadline, a.FirstInstance = from.Add(r.DecisionWindow), InstanceFirstInstance
	default:
		return a, refuse("kind", "kind must be one of %s", joinKinds())
	}
	for _, l := range f.Lodged {
		if l.Kind == a.Kind && l.Part == a.Part && l.Against == a.Against {
			if a.Kind == WritingReassessment {
				return a, refuse("kind", "the writing result has been appealed already; the new assessment is final")
			}
			return a, refuse("kind", "this has been appealed already; a rejected complaint is appealed with kind decision_appeal")
		}
	}
	if q.ReceivedAt.After(a.Deadline) {
		if q.LateAcceptedBy == "" {
			return a, refuse("received_at", "the appeal is late: the deadline was %s; a case handler may accept it late (late_acceptance)", a.Deadline.UTC().Format(time.RFC3339))
		}
		if r.LateLimit > 0 && q.ReceivedAt.After(from.Add(r.LateLimit)) {
			return a, refuse("late_acceptance", "a late appeal cannot be accepted more than %s after %s", r.LateLimit, from.UTC().Format(time.DateOnly))
		}
		if strings.TrimSpace(q.LateReason) == "" {
			return a, refuse("late_acceptance.reason", "accepting a late appeal needs a reason")
		}
		a.Late = true
	}
	return a, nil
}

// AtLeast reports whether level a is at or above level b on the scale.
// Unknown levels are never at least anything.
func AtLeast(levels []string, a, b string) bool {
	ia, ib := slices.Index(levels, a), slices.Index(levels, b)
	return ia >= 0 && ib >= 0 && ia >= ib
}

func part(f Facts, name string) *Part {
	for i := range f.Parts {
		if f.Parts[i].Name == name {
			return &f.Parts[i]
		}
	}
	return nil
}

func joinKinds() string {
	var s []string
	for _, k := range Kinds() {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

func dayStart(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// dayEnd is the end of the test day: a deadline counted in weeks from a day
// includes the whole of the last day.
func dayEnd(t time.Time) time.Time { return dayStart(t).AddDate(0, 0, 1) }
