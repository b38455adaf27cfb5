// Package policy is examflow's retention policy table: how long each
// category of personal data is kept and from which event, with the promise
// it keeps. It is the single source for the deletion workflows and for the
// documentation (docs/retention.md is checked against it by a test).
package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Category is a category of personal data with its own retention period.
type Category string

// Categories of the state-test policy (T13–T17).
const (
	// Address: the candidate's postal address (T14).
	Address Category = "address"
	// Audio: recordings of the C1 reading comprehension and oral parts (T15).
	Audio Category = "audio"
	// PaymentStatus: whether the fee is paid (T16).
	PaymentStatus Category = "payment_status"
	// Cheating: provisional and final decisions on cheating (T17).
	Cheating Category = "cheating"
	// PersonalData: everything else about the registration; its deletion is
	// the subject's final deletion when no other registration remains (T13).
	PersonalData Category = "personal_data"
)

// Event is what a retention period runs from.
type Event string

// Events.
const (
	// TestDate is the date the test was taken (the session date).
	TestDate Event = "test_date"
	// Recorded is when the item was stored (an audio upload).
	Recorded Event = "recorded"
	// Decided is when the decision was made (a cheating decision).
	Decided Event = "decided"
	// Registered is when the registration was made.
	Registered Event = "registered"
)

// ChoosableEvents are the events a category whose event the policy does not
// name may be configured to run from.
var ChoosableEvents = []Event{TestDate, Registered}

// Rule is one row of the retention table.
type Rule struct {
	Category Category
	// Years is the period in calendar years.
	Years int
	// From is the event the period runs from.
	From Event
	// Promise is the policy promise the rule keeps.
	Promise string
	// Holds says what the category holds.
	Holds string
	// FromChosen says why From was chosen where the policy is silent.
	FromChosen string
}

// Table is the retention policy, one rule per category.
var Table = []Rule{
	{Category: Address, Years: 2, From: TestDate, Promise: "T14", Holds: "street, postal code, city, country",
		FromChosen: "the policy says two years without an event; the test date is when the address was last needed (sending the certificate)"},
	{Category: Audio, Years: 1, From: Recorded, Promise: "T15", Holds: "audio recordings of C1 reading comprehension and oral communication (MinIO)"},
	{Category: PaymentStatus, Years: 3, From: TestDate, Promise: "T16", Holds: "payment status",
		FromChosen: "the policy says three years without an event; the fee is owed for the test, so its date"},
	{Category: Cheating, Years: 3, From: Decided, Promise: "T17", Holds: "provisional and final decisions on cheating, with reasons; quarantines"},
	{Category: PersonalData, Years: 20, From: TestDate, Promise: "T13", Holds: "everything else: name, identifiers, contact details, test answers, results, discrepancies, reviews, assessments, appeals and their decisions"},
}

// CaseNeeds are the categories an open case (a provisional cheating report
// not yet decided, or an open appeal) needs, and so the only ones a legal
// hold postpones: the answers, results, identity and contact details
// (personal_data) to decide and to tell the candidate, the recordings
// (audio) as evidence of what happened in the test, and the cheating
// records themselves. The address and the payment status serve no case:
// they are deleted on their dates whatever is open (docs/retention.md,
// "Legal holds").
var CaseNeeds = map[Category]bool{PersonalData: true, Audio: true, Cheating: true}

// Unheld are the categories no legal hold postpones, in Table's order.
func Unheld() []Category {
	var out []Category
	for _, r := range Table {
		if !CaseNeeds[r.Category] {
			out = append(out, r.Category)
		}
	}
	return out
}

// CourseRegistration is a course participant's registration with everything
// stored for it (C01, C02): the customs department's policy gives it one
// period.
const CourseRegistration Category = "course_registration"

// CourseTable is the retention policy of course registrations (C06). It is
// kept apart from Table, which the state-test deletion workflows walk, so
// they never plan a course category; Lookup and the period overrides cover
// Table only.
var CourseTable = []Rule{
	{Category: CourseRegistration, Years: 2, From: Registered, Promise: "C06",
		Holds:      "name, e-mail address, date, course type; for paid courses the invoice address, organisation number and invoice e-mail address; the optional answers (educational level, years in the position, company). Deleted at once when consent is withdrawn or the participant deregisters (C06, C10)",
		FromChosen: "the policy says a course's data is processed for 24 months without naming the event; the registration is when the data is given and consent starts"},
}

// LookupCourse returns the rule of a course category.
func LookupCourse(c Category) (Rule, bool) {
	for _, r := range CourseTable {
		if r.Category == c {
			return r, true
		}
	}
	return Rule{}, false
}

// Lookup returns the rule of a category.
func Lookup(c Category) (Rule, bool) {
	for _, r := range Table {
		if r.Category == c {
			return r, true
		}
	}
	return Rule{}, false
}

// ParseEvents reads "address=registered,..." (empty: the table's events).
// Only categories whose event the policy leaves open (FromChosen) can be
// changed, and only to ChoosableEvents.
func ParseEvents(s string) (map[Category]Event, error) {
	out := map[Category]Event{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, ev, ok := strings.Cut(strings.TrimSpace(part), "=")
		r, known := Lookup(Category(name))
		switch {
		case !ok:
			return nil, fmt.Errorf("retention event %q: want category=event", part)
		case !known:
			return nil, fmt.Errorf("retention event %q: unknown category %q", part, name)
		case r.FromChosen == "":
			return nil, fmt.Errorf("retention event %q: the policy fixes the event of %s", part, name)
		case Event(ev) != TestDate && Event(ev) != Registered:
			return nil, fmt.Errorf("retention event %q: want test_date or registered", part)
		}
		out[Category(name)] = Event(ev)
	}
	return out, nil
}

// Periods overrides rule periods, for tests and the local demo: a category
// whose period is set here runs for that duration instead of its years. The
// effective periods are passed into workflows at start, so replays stay
// deterministic.
type Periods map[Category]time.Duration

// ParsePeriods reads "address=10s,audio=5s,..." (empty: no overrides). A
// period longer than the rule's Ceiling is refused.
func ParsePeriods(s string) (Periods, error) {
	p := Periods{}
	if strings.TrimSpace(s) == "" {
		return p, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, dur, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("retention period %q: want category=duration", part)
		}
		r, known := Lookup(Category(name))
		if !known {
			return nil, fmt.Errorf("retention period %q: unknown category %q", part, name)
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("retention period %q: want a positive duration such as 30s", part)
		}
		if d > r.Ceiling() {
			return nil, fmt.Errorf("retention period %q: longer than the policy's %s (at most %s); an override may only shorten it", part, r.Kept(), r.Ceiling())
		}
		p[Category(name)] = d
	}
	return p, nil
}

// Due is when a category's retention ends for an event at t.
func (p Periods) Due(c Category, t time.Time) (time.Time, error) {
	r, ok := Lookup(c)
	if !ok {
		return time.Time{}, fmt.Errorf("unknown retention category %q", c)
	}
	if d, ok := p[c]; ok {
		return t.Add(d), nil
	}
	return t.AddDate(r.Years, 0, 0), nil
}

// Markdown renders the table for docs/retention.md.
func Markdown() string {
	rules := append([]Rule(nil), Table...)
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].Years < rules[j].Years })
	var b strings.Builder
	b.WriteString("| category | kept | from | promise | holds | why this event |\n|---|---|---|---|---|---|\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", r.Category, r.Kept(), r.From.Text(), r.Promise, r.Holds, r.FromChosen)
	}
	return b.String()
}

// Ceiling is the longest a configured override of the rule's period may
// be: its years counted as 365 days each, the shortest a calendar year is,
// so an override can shorten the policy's period and never lengthen it.
func (r Rule) Ceiling() time.Duration {
	return time.Duration(r.Years) * 365 * 24 * time.Hour
}

// Kept is the rule's period in words: "1 year", "20 years".
func (r Rule) Kept() string {
	if r.Years == 1 {
		return "1 year"
	}
	return fmt.Sprintf("%d years", r.Years)
}

// Text is the event in words: "test date".
func (e Event) Text() string { return strings.ReplaceAll(string(e), "_", " ") }
