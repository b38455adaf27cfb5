package api

import (
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/appeals"
	"github.com/examflow/examflow/cases"
)

// actorOf returns the field of a decoded request body that names the staff
// member who acts (decided_by, assessor, accepted_by, verified_by,
// completed_by) and its JSON path, or nil when the body has none.
func actorOf(body any) (string, *string) {
	switch b := body.(type) {
	case *cases.ReviewDecision:
		return "decided_by", &b.DecidedBy
	case *cases.Assessment:
		return "assessor", &b.Assessor
	case *cases.Settlement:
		return "decided_by", &b.DecidedBy
	case *cases.CheatingDecision:
		return "decided_by", &b.DecidedBy
	case *cases.AppealRequest:
		if b.LateAcceptance != nil {
			return "late_acceptance.accepted_by", &b.LateAcceptance.AcceptedBy
		}
	case *cases.AppealDecision:
		return "decided_by", &b.DecidedBy
	case *cases.Reassessment:
		return "assessor", &b.Assessor
	case *cases.IdentityCheck:
		return "verified_by", &b.VerifiedBy
	case *cases.RequestDecision:
		return "decided_by", &b.DecidedBy
	case *cases.Completion:
		return "completed_by", &b.CompletedBy
	case *MergeRequest:
		return "decided_by", &b.DecidedBy
	case *IdentifierCorrectionRequest:
		return "corrected_by", &b.CorrectedBy
	}
	return "", nil
}

// recordsAnothersDecision reports whether the principal may record, in
// body, a decision somebody else made: the decisions of bodies outside the
// directorate that have no examflow role of their own, which a case
// handler or the appeals process records. That is the County Governor's
// decision on an appeal and a test centre's decision on a formal-error
// complaint. Every other decision is made by the person who sends it.
func recordsAnothersDecision(p Principal, body any) bool {
	switch b := body.(type) {
	case *cases.AppealDecision:
		return (b.Instance == appeals.InstanceCountyGovernor || b.Instance == appeals.InstanceTestCentre) &&
			p.Has(RoleCaseHandler, RoleAppeals)
	}
	return false
}

// maxActorName bounds the name of a person that a system or a recorder
// gives.
const maxActorName = 200

// checkActorName says what is wrong with a person's identifier given in a
// request body, or "" when nothing is: it is required, at most 200 bytes of
// UTF-8, without control or invisible formatting characters and without
// surrounding spaces, so that two spellings of one name cannot pass an
// independence rule as two people.
func checkActorName(name string) string {
	switch {
	case name == "":
		return "is required: the identifier of the person who acts"
	case len(name) > maxActorName || !utf8.ValidString(name):
		return "must be at most 200 bytes of UTF-8"
	case strings.TrimSpace(name) != name:
		return "must not start or end with a space"
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }):
		return "must not contain control or invisible formatting characters"
	}
	return ""
}

// checksActorItself is a body whose handler checks the actor's name among
// its other fields (with checkActorName), so that one refusal lists every
// invalid field.
type checksActorItself interface{ checksActorItself() }

// resolveActor makes the actor field of a decoded body the authenticated
// person who acts, or refuses the request (the problem is returned, nothing
// is written):
//
//   - a signed-in person (OIDC token) is the actor, always: an empty field
//     or their own subject becomes their subject; a field naming somebody
//     else is refused with 403. When the principal records a decision
//     somebody else made (recordsAnothersDecision), the field must name
//     that person instead (422 when it is empty or malformed);
//   - a system (API key) acts for a person and must name them: an empty or
//     malformed name is refused with 422.
//
// The independence rules (examiner and external examiner are different
// people, a re-assessment is by somebody new) then compare these
// identities. The audit log records the caller in every case, so the
// recorder of somebody else's decision is known too.
func resolveActor(c *gin.Context, body any) *Problem {
	field, value := actorOf(body)
	if value == nil {
		return nil
	}
	p := principal(c)
	if p.Via == viaOIDC && p.Subject != "" {
		switch {
		case recordsAnothersDecision(p, body):
			// The decider's name is required and checked below: the
			// recorder did not decide.
		case *value == "" || *value == p.Subject:
			*value = p.Subject
			return nil
		default:
			return &Problem{Type: ProblemForbidden, Title: "Acting for somebody else", Status: http.StatusForbidden,
				Detail: field + " names somebody else: a signed-in person acts as themselves; leave " + field + " out or give your own identity",
				Errors: []FieldError{{Field: field, Detail: "must be empty or the signed-in person's own identity"}}}
		}
	}
	if _, itself := body.(checksActorItself); itself {
		return nil
	}
	if msg := checkActorName(*value); msg != "" {
		return &Problem{Type: ProblemValidation, Title: "Invalid request", Status: http.StatusUnprocessableEntity,
			Detail: field + " " + msg, Errors: []FieldError{{Field: field, Detail: msg}}}
	}
	return nil
}
