package policy

import (
	"testing"
	"time"
)

// TestCourseDeletionDueIsTwentyFourCalendarMonths (C06): a course
// registration's data is deleted 24 calendar months after the consent, at
// the same time of day; a consent on a day the 24th month lacks (29
// February) is deleted on that month's last day, never after it. An
// override (tests, demos) counts from the consent exactly.
func TestCourseDeletionDueIsTwentyFourCalendarMonths(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		consent  time.Time
		override time.Duration
		want     time.Time
	}{
		{"an ordinary day", at("2025-03-14T09:30:00Z"), 0, at("2027-03-14T09:30:00Z")},
		{"28 February 2026, into a leap year", at("2026-02-28T10:00:00Z"), 0, at("2028-02-28T10:00:00Z")},
		{"29 February 2024: the 24th month has 28 days", at("2024-02-29T10:00:00Z"), 0, at("2026-02-28T10:00:00Z")},
		{"29 February late in the day", at("2024-02-29T23:59:59Z"), 0, at("2026-02-28T23:59:59Z")},
		{"31 January", at("2025-01-31T08:00:00Z"), 0, at("2027-01-31T08:00:00Z")},
		{"the last moment of a year", at("2025-12-31T23:59:59Z"), 0, at("2027-12-31T23:59:59Z")},
		{"a consent given in Oslo's time zone is the same instant in UTC", at("2024-02-29T10:00:00Z").In(oslo), 0, at("2026-02-28T10:00:00Z")},
		{"an override counts from the consent", at("2024-02-29T10:00:00Z"), 4 * time.Second, at("2024-02-29T10:00:04Z")},
		{"a negative override is no override", at("2026-02-28T10:00:00Z"), -time.Hour, at("2028-02-28T10:00:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CourseDeletionDue(tt.consent, tt.override)
			if !got.Equal(tt.want) {
				t.Fatalf("CourseDeletionDue(%s, %s) = %s, want %s", tt.consent.Format(time.RFC3339), tt.override, got.UTC().Format(time.RFC3339), tt.want.Format(time.RFC3339))
			}
		})
	}
}

// TestCourseConsentCutoffMissesNoDeletion (C06): every consent whose
// deletion date has come by now is at or before CourseConsentCutoff, so a
// reconciler that lists the consents up to the cutoff finds each one,
// around leap days and month ends alike; with an override the cutoff is
// exact.
func TestCourseConsentCutoffMissesNoDeletion(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name     string
		now      time.Time
		override time.Duration
	}{
		{"28 February 2026, the day 29 February 2024 is due", at("2026-02-28T12:00:00Z"), 0},
		{"1 March 2026", at("2026-03-01T00:30:00Z"), 0},
		{"29 February 2028", at("2028-02-29T23:00:00Z"), 0},
		{"the last day of a 31-day month", at("2027-01-31T08:00:00Z"), 0},
		{"an ordinary day", at("2026-12-03T19:00:00Z"), 0},
		{"an override", at("2026-02-28T12:00:00Z"), 90 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cutoff := CourseConsentCutoff(tt.now, tt.override)
			// Every hour of the ten weeks around the cutoff.
			for c := cutoff.Add(-35 * 24 * time.Hour); c.Before(cutoff.Add(35 * 24 * time.Hour)); c = c.Add(time.Hour) {
				due := !CourseDeletionDue(c, tt.override).After(tt.now)
				if due && c.After(cutoff) {
					t.Fatalf("consent %s is due by %s but after the cutoff %s", c.Format(time.RFC3339), tt.now.Format(time.RFC3339), cutoff.Format(time.RFC3339))
				}
				if tt.override > 0 && !due && !c.After(cutoff) {
					t.Fatalf("with an override the cutoff is exact: consent %s is not due yet but at or before the cutoff %s", c.Format(time.RFC3339), cutoff.Format(time.RFC3339))
				}
			}
			if late := cutoff.Sub(AddCalendarMonths(tt.now, -24)); tt.override == 0 && late > 5*24*time.Hour {
				t.Errorf("the cutoff is %s after the count back; too many registrations are looked at", late)
			}
		})
	}
}
