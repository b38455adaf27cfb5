package policy

import (
	"testing"
	"time"
)

// TestQuarantined: a quarantine refuses a registration for a test of its
// type while it lasts, and for a session before it ends; one of another
// test type, or one that has ended by the earlier of now and the session
// date, does not.
func TestQuarantined(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	q := func(testType string, until time.Time) Quarantine { return Quarantine{TestType: testType, Until: until} }
	tests := []struct {
		name        string
		quarantines []Quarantine
		testType    string
		session     time.Time
		wantUntil   time.Time
		wantRefused bool
	}{
		{name: "no quarantine", testType: "citizenship", session: day(2026, 9, 1)},
		{name: "in force, a later session", quarantines: []Quarantine{q("citizenship", day(2027, 1, 1))}, testType: "citizenship",
			session: day(2027, 3, 1), wantUntil: day(2027, 1, 1), wantRefused: true},
		{name: "in force, a session before it ends", quarantines: []Quarantine{q("citizenship", day(2027, 1, 1))}, testType: "citizenship",
			session: day(2026, 9, 1), wantUntil: day(2027, 1, 1), wantRefused: true},
		{name: "another test type", quarantines: []Quarantine{q("social_studies", day(2027, 1, 1))}, testType: "citizenship",
			session: day(2026, 9, 1)},
		{name: "ended before now", quarantines: []Quarantine{q("citizenship", day(2026, 5, 1))}, testType: "citizenship",
			session: day(2026, 9, 1)},
		{name: "ends the moment the registration is made", quarantines: []Quarantine{q("citizenship", now)}, testType: "citizenship",
			session: day(2026, 9, 1)},
		{name: "a past session (legacy import) after the quarantine ended", quarantines: []Quarantine{q("citizenship", day(2025, 3, 1))},
			testType: "citizenship", session: day(2025, 4, 1)},
		{name: "a past session (legacy import) before the quarantine ended", quarantines: []Quarantine{q("citizenship", day(2026, 7, 1))},
			testType: "citizenship", session: day(2025, 4, 1), wantUntil: day(2026, 7, 1), wantRefused: true},
		{name: "the latest of several", quarantines: []Quarantine{q("citizenship", day(2026, 8, 1)), q("citizenship", day(2027, 2, 1)),
			q("citizenship", day(2026, 5, 1)), q("social_studies", day(2028, 1, 1))}, testType: "citizenship", session: day(2026, 9, 1),
			wantUntil: day(2027, 2, 1), wantRefused: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			until, refused := Quarantined(tc.quarantines, tc.testType, tc.session, now)
			if refused != tc.wantRefused || !until.Equal(tc.wantUntil) {
				t.Errorf("Quarantined = %v, %v; want %v, %v", until, refused, tc.wantUntil, tc.wantRefused)
			}
		})
	}
}
