package policy

import "time"

// CourseDeletionDue is when a course registration's data must be deleted
// (C06): the consent plus the policy's 24 calendar months
// (AddCalendarMonths), or plus override when one is configured (shorter
// periods for tests and demos; zero or less means none). The API starts a
// registration's workflow with it and the worker's reconciler deletes by
// it, so the two never disagree.
func CourseDeletionDue(consentAt time.Time, override time.Duration) time.Time {
	if override > 0 {
		return consentAt.Add(override)
	}
	years := 2
	if r, ok := LookupCourse(CourseRegistration); ok {
		years = r.Years
	}
	return AddCalendarMonths(consentAt, 12*years)
}

// AddCalendarMonths is t plus months calendar months in UTC, at the same
// time of day. A day the target month lacks (29 February, the 31st) becomes
// that month's last day: the period never runs into the month after, as
// time.AddDate's normalisation would (2024-02-29 plus 24 months is
// 2026-02-28, not 2026-03-01). PostgreSQL's interval arithmetic agrees.
func AddCalendarMonths(t time.Time, months int) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, time.UTC)
	if last := first.AddDate(0, 1, -1).Day(); d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// CoursePolicyVersion is the version of the course privacy policy in force
// (seeds/000: "Updated: 11/02/2025", 11 February 2025): its date in ISO
// 8601, which sorts in time order and cannot be read as 2 November.
const CoursePolicyVersion = "2025-02-11"

// CourseConsentCutoff bounds the consents whose deletion date
// (CourseDeletionDue) has come by now: every such consent is at or before
// the cutoff, so a reconciler lists the consents up to it and checks each
// by CourseDeletionDue. With an override the bound is exact; with calendar
// months it is a few days late: a consent on 29 February is deleted on 28
// February, a day before counting back from the deletion would say.
func CourseConsentCutoff(now time.Time, override time.Duration) time.Time {
	if override > 0 {
		return now.Add(-override)
	}
	years := 2
	if r, ok := LookupCourse(CourseRegistration); ok {
		years = r.Years
	}
	return AddCalendarMonths(now, -12*years).AddDate(0, 0, 4)
}
