package marking

// Decide applies a rule to a score: what a case handler's corrected score
// gives, and what Mark gives for a marked sheet. answered is the number of
// scored items answered (for MinAnswered).
func Decide(rule Rule, score, answered int) string {
	switch rule.Kind {
	case RulePassMark:
		if score >= rule.PassMark {
			return ResultPassed
		}
		return ResultFailed
	case RuleLevels:
		if answered < rule.MinAnswered {
			return ResultNotEnoughBasis
		}
		result := LevelUnderA1
		for _, b := range rule.Bands {
			if score >= b.MinScore {
				result = b.Level
			}
		}
		return result
	}
	return ""
}
