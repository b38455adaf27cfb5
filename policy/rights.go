package policy

import "slices"

// ObjectionRule says what an upheld objection (GDPR Article 21, T18) to
// one purpose of the state-test process does. The processing rests on
// Article 6(1)(e) with integreringsloven § 41, so the person may object to
// each purpose; the controller stops the processing unless it shows
// compelling grounds that override the person's interests.
type ObjectionRule struct {
	// Purpose is a purpose ID of the state-test process (stateTests).
	Purpose string `json:"purpose"`
	// CanUphold says whether a case handler may uphold an objection to the
	// purpose; where not, the law itself is the compelling ground.
	CanUphold bool `json:"can_uphold"`
	// Effect is what upholding stops, or why it cannot be upheld.
	Effect string `json:"effect"`
}

// ObjectionRules are the rules for every purpose of the state-test process,
// in the policy's order.
func ObjectionRules() []ObjectionRule {
	statutory := "cannot be upheld while the registration stands: integreringsloven § 41 obliges the Directorate to arrange, " +
		"mark and document the test the person registered for, which is the compelling ground; a case handler rejects the " +
		"objection with that reason, and the person who no longer wants the test withdraws the registration"
	return []ObjectionRule{
		{Purpose: "arrange_tests", Effect: statutory},
		{Purpose: "test_centre", Effect: statutory},
		{Purpose: "appeals", Effect: "cannot be upheld: the processing serves the person's own appeal, which the person stops by " +
			"withdrawing it"},
		{Purpose: "statistics", CanUphold: true, Effect: "the person's results are left out of every statistics month computed " +
			"after the decision, and nothing about the person is released to Statistics Norway (a release answers 409); cells " +
			"computed before it are anonymous and stay"},
		{Purpose: "research", CanUphold: true, Effect: "the person's results are left out of the statistics cells, the only data " +
			"research and analysis use, of every month computed after the decision"},
	}
}

// ObjectionPurposes are the purposes a person may object to: every purpose
// of the state-test process.
func ObjectionPurposes() []string {
	var out []string
	for _, r := range ObjectionRules() {
		out = append(out, r.Purpose)
	}
	return out
}

// CanUpholdObjection reports whether an objection to every one of the
// purposes may be upheld.
func CanUpholdObjection(purposes []string) bool {
	rules := ObjectionRules()
	for _, p := range purposes {
		i := slices.IndexFunc(rules, func(r ObjectionRule) bool { return r.Purpose == p })
		if i < 0 || !rules[i].CanUphold {
			return false
		}
	}
	return len(purposes) > 0
}

// StatisticsObjections are the purposes an upheld objection to which leaves
// the person out of the statistics cells.
var StatisticsObjections = []string{"statistics", "research"}

// Rectifiable are the fields a rectification request may correct: every
// field the candidate gives at registration but the identifiers, which are
// the lookup index and are corrected by a case handler
// (PUT /v1/candidates/{id}/identifiers/{kind}) or a merge (T18, C11). An address part
// is named address.<part>.
var Rectifiable = []string{"given_name", "family_name", "email", "phone", "date_of_birth", "gender", "written_form",
	"address.street", "address.postal_code", "address.city", "address.country"}
