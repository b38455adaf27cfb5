package api

import (
	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/workflows"
)

// actorOf returns the field of a decoded request body that names the staff
// member who acts (decided_by, assessor, accepted_by, verified_by,
// completed_by), or nil when the body has none.
func actorOf(body any) *string {
	switch b := body.(type) {
	case *workflows.ReviewDecision:
		return &b.DecidedBy
	case *workflows.Assessment:
		return &b.Assessor
	case *workflows.Settlement:
		return &b.DecidedBy
	case *workflows.CheatingDecision:
		return &b.DecidedBy
	case *workflows.AppealRequest:
		if b.LateAcceptance != nil {
			return &b.LateAcceptance.AcceptedBy
		}
	case *workflows.AppealDecision:
		return &b.DecidedBy
	case *workflows.Reassessment:
		return &b.Assessor
	case *workflows.IdentityCheck:
		return &b.VerifiedBy
	case *workflows.RequestDecision:
		return &b.DecidedBy
	case *workflows.Completion:
		return &b.CompletedBy
	case *MergeRequest:
		return &b.DecidedBy
	}
	return nil
}

// fillActor names the caller as the one who acts when the body leaves its
// actor field out and the caller is a signed-in person (an OIDC token): a
// case handler deciding in a user interface need not type their own name.
// A system calling with an API key acts for somebody and must name them;
// a field given is kept as given (a case handler records the County
// Governor's decision, say). Either way the audit log records the caller.
func fillActor(c *gin.Context, body any) {
	field := actorOf(body)
	if field == nil || *field != "" {
		return
	}
	if p := principal(c); p.Via == viaOIDC && p.Subject != "" {
		*field = p.Subject
	}
}
