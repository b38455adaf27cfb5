package policy

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestTableKeepsThePromises(t *testing.T) {
	want := map[Category]struct {
		years   int
		from    Event
		promise string
	}{
		Address:       {2, TestDate, "T14"},
		Audio:         {1, Recorded, "T15"},
		PaymentStatus: {3, TestDate, "T16"},
		Cheating:      {3, Decided, "T17"},
		PersonalData:  {20, TestDate, "T13"},
	}
	if len(Table) != len(want) {
		t.Fatalf("table has %d rules, want %d", len(Table), len(want))
	}
	for c, w := range want {
		r, ok := Lookup(c)
		if !ok || r.Years != w.years || r.From != w.from || r.Promise != w.promise {
			t.Errorf("%s = %+v, want %d years from %s (%s)", c, r, w.years, w.from, w.promise)
		}
	}
}

func TestDue(t *testing.T) {
	test := time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC)
	short, err := ParsePeriods("address=10s, personal_data=1m")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		periods Periods
		c       Category
		want    time.Time
	}{
		{"twenty years", nil, PersonalData, time.Date(2047, 3, 15, 0, 0, 0, 0, time.UTC)},
		{"two years", nil, Address, time.Date(2029, 3, 15, 0, 0, 0, 0, time.UTC)},
		{"leap day", nil, Audio, time.Date(2029, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"shortened", short, Address, test.Add(10 * time.Second)},
		{"not shortened", short, Cheating, time.Date(2030, 3, 15, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := test
			if tt.name == "leap day" {
				from = time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)
			}
			got, err := tt.periods.Due(tt.c, from)
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("Due = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestParseRefusals(t *testing.T) {
	for _, s := range []string{"address", "nope=1s", "address=-1s", "address=soon", "audio=8761h", "personal_data=175201h"} {
		if _, err := ParsePeriods(s); err == nil {
			t.Errorf("ParsePeriods(%q) accepted", s)
		}
	}
	for _, s := range []string{"personal_data=registered", "audio=test_date", "address=decided", "x=test_date"} {
		if _, err := ParseEvents(s); err == nil {
			t.Errorf("ParseEvents(%q) accepted", s)
		}
	}
	if ev, err := ParseEvents("address=registered"); err != nil || ev[Address] != Registered {
		t.Fatalf("ParseEvents: %v %v", ev, err)
	}
}

// docs/retention.md shows the table as the code has it.
func TestRetentionDocMatchesTable(t *testing.T) {
	doc, err := os.ReadFile("../docs/retention.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), Markdown()) {
		t.Fatalf("docs/retention.md does not contain the table; regenerate it:\n%s", Markdown())
	}
}
