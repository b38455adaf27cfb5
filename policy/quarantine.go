package policy

import "time"

// Quarantine bars a candidate from tests of one type after a final decision
// on cheating (T17), until it ends.
type Quarantine struct {
	TestType string
	// Until is when the quarantine ends.
	Until time.Time
}

// Quarantined decides whether a candidate's quarantines refuse a
// registration for a test of testType on sessionDate, made at now. A
// quarantine covers registering while it lasts and sitting a test before it
// ends: it refuses the registration when it ends after the earlier of now
// and the session date (a past session date is a legacy import's). It
// returns the latest end of the quarantines that refuse it.
func Quarantined(quarantines []Quarantine, testType string, sessionDate, now time.Time) (until time.Time, refused bool) {
	on := sessionDate
	if now.Before(on) {
		on = now
	}
	for _, q := range quarantines {
		if q.TestType == testType && q.Until.After(on) && q.Until.After(until) {
			until, refused = q.Until, true
		}
	}
	return until, refused
}
