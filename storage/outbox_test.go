package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/marking"
)

// testRegistration stores a citizenship registration of a new fictional
// person, with the answer key and session it needs.
func testRegistration(t *testing.T, s *Store) Registration {
	t.Helper()
	ctx := context.Background()
	centre := fmt.Sprintf("ST-%08d", rand.IntN(100_000_000))
	date := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 30)
	form := "st-" + centre
	var items []marking.Item
	for i := range 36 {
		items = append(items, marking.Item{ID: fmt.Sprintf("q%d", i+1), Correct: "a", Scored: i < 32, Choices: []string{"a", "b", "c"}})
	}
	if _, err := s.CreateAnswerKey(ctx, NewAnswerKey{FormID: form, TestType: "citizenship", TestVersion: "2024", Part: "test", Items: items}); err != nil {
		t.Fatalf("answer key: %v", err)
	}
	if _, err := s.CreateSession(ctx, NewSession{TestType: "citizenship", TestCentre: centre, SessionDate: date, TestVersion: "2024",
		Forms: map[string]string{"test": form}, WindowStart: date, WindowEnd: date.Add(24 * time.Hour)}); err != nil {
		t.Fatalf("session: %v", err)
	}
	born := time.Date(1960+rand.IntN(40), time.Month(1+rand.IntN(12)), 1+rand.IntN(28), 0, 0, 0, 0, time.UTC)
	var nid string
	for ok := false; !ok; {
		nid, ok = identity.WithCheckDigits(born.Format("020106") + fmt.Sprintf("%03d", rand.IntN(500)))
	}
	n := rand.IntN(1_000_000)
	reg, _, err := s.CreateRegistration(ctx, NewRegistration{
		Person:   Person{GivenName: fmt.Sprintf("Given%06d", n), FamilyName: fmt.Sprintf("Family%06d", n), DateOfBirth: born, NationalID: nid, Email: fmt.Sprintf("p%06d@example.org", n)},
		TestType: "citizenship", TestParts: []string{"test"}, TestCentre: centre, SessionDate: date, Source: "candidate",
	}, nil)
	if err != nil {
		t.Fatalf("registration: %v", err)
	}
	return reg
}

// TestReleaseNotificationsHandsBackOnlyItsOwnLease: released rows are due
// again at once; a release by a claim whose lease another claim has since
// replaced changes nothing.
func TestReleaseNotificationsHandsBackOnlyItsOwnLease(t *testing.T) {
	s := dbStore(t)
	ctx := context.Background()
	reg := testRegistration(t, s)
	for i := range 2 {
		if _, err := s.EnqueueNotification(ctx, Notification{DedupeKey: fmt.Sprintf("release:%s:%d", reg.ID, i), CandidateID: reg.CandidateID,
			RegistrationID: reg.ID, Kind: "result_ready", Payload: map[string]string{"test_type": "citizenship"}, Purpose: "arranging_tests"}); err != nil {
			t.Fatal(err)
		}
	}
	mine := func(ns []PendingNotification) []PendingNotification {
		var out []PendingNotification
		for _, n := range ns {
			if n.RegistrationID == reg.ID {
				out = append(out, n)
			}
		}
		return out
	}
	claim := func(lease time.Duration) []PendingNotification {
		t.Helper()
		ns, err := s.ClaimNotifications(ctx, 1000, lease)
		if err != nil {
			t.Fatal(err)
		}
		return mine(ns)
	}
	first := claim(time.Hour)
	if len(first) != 2 || first[0].Email == "" {
		t.Fatalf("claimed %+v, want both rows with their address", first)
	}
	if again := claim(time.Hour); len(again) != 0 {
		t.Fatalf("%d leased rows claimed again", len(again))
	}
	if err := s.ReleaseNotifications(ctx, first[:1]); err != nil {
		t.Fatal(err)
	}
	second := claim(time.Hour)
	if len(second) != 1 || second[0].ID != first[0].ID {
		t.Fatalf("after releasing one row, claimed %+v", second)
	}
	// The first claim's lease on that row is gone: releasing it again by
	// that claim does not hand back the second claim's row.
	if err := s.ReleaseNotifications(ctx, first[:1]); err != nil {
		t.Fatal(err)
	}
	if stale := claim(time.Hour); len(stale) != 0 {
		t.Fatalf("a stale release handed back %d rows", len(stale))
	}
}

// resultReady is a result notice of reg.
func resultReady(reg Registration) Notification {
	return Notification{
		DedupeKey:   "result_ready:" + reg.ID.String(),
		CandidateID: reg.CandidateID, RegistrationID: reg.ID,
		Kind:    "result_ready",
		Payload: map[string]string{"test_type": reg.TestType, "result": "passed"},
		Purpose: "arranging_tests",
	}
}

func TestOutboxClaimLeasesRows(t *testing.T) {
	s := dbStore(t)
	ctx := context.Background()
	reg := testRegistration(t, s)
	const rows = 20
	mine := map[uuid.UUID]bool{}
	for i := range rows {
		nt := resultReady(reg)
		nt.DedupeKey = fmt.Sprintf("lease-test:%s:%d", reg.ID, i)
		if created, err := s.EnqueueNotification(ctx, nt); err != nil || !created {
			t.Fatalf("enqueue: %v %v", created, err)
		}
	}
	ns, err := s.NotificationsFor(ctx, reg.ID)
	if err != nil || len(ns) != rows {
		t.Fatalf("%d rows, %v", len(ns), err)
	}
	for _, n := range ns {
		mine[n.ID] = true
	}
	// claimMine claims as four concurrent drainers would and returns how
	// often each of this test's rows was handed out.
	const lease = 2 * time.Second
	claimMine := func() map[uuid.UUID]int {
		var mu sync.Mutex
		var wg sync.WaitGroup
		seen := map[uuid.UUID]int{}
		for range 4 {
			wg.Go(func() {
				claimed, err := s.ClaimNotifications(ctx, 10, lease)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, c := range claimed {
					if mine[c.ID] {
						seen[c.ID]++
						if c.Email == "" || c.GivenName == "" || c.Attempts != 0 {
							t.Errorf("claimed row %+v", c)
						}
					}
				}
			})
		}
		wg.Wait()
		return seen
	}
	seen := claimMine()
	if len(seen) != rows {
		t.Fatalf("concurrent claims handed out %d of %d rows", len(seen), rows)
	}
	for id, times := range seen {
		if times != 1 {
			t.Fatalf("row %s handed out %d times", id, times)
		}
	}
	// While leased, nobody else gets them.
	if again := claimMine(); len(again) != 0 {
		t.Fatalf("%d leased rows claimed again", len(again))
	}
	// A drainer that crashed holds them only until the lease ends.
	time.Sleep(lease + 500*time.Millisecond)
	if again := claimMine(); len(again) != rows {
		t.Fatalf("%d of %d rows claimable after the lease", len(again), rows)
	}

	// Outcomes: a failure text is stored without addresses, and a sent row
	// is never claimed again.
	var first uuid.UUID
	for id := range mine {
		first = id
		break
	}
	if err := s.MarkNotificationFailed(ctx, first, "550 <someone@example.org>: no such user", time.Now()); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := testDB.pool.QueryRow(ctx, `SELECT COALESCE(last_error, '') FROM notification_outbox WHERE id = $1`, first).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != "550 <[address]>: no such user" {
		t.Errorf("stored failure text %q", stored)
	}
	for id := range mine {
		if err := s.MarkNotificationSent(ctx, id); err != nil {
			t.Fatal(err)
		}
		// Idempotent.
		if err := s.MarkNotificationSent(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	ns, _ = s.NotificationsFor(ctx, reg.ID)
	for _, n := range ns {
		if n.Status != NotificationSent {
			t.Fatalf("row %s is %s", n.ID, n.Status)
		}
		if n.ID == first && n.Attempts != 2 {
			t.Errorf("attempts %d after a failure and a send", n.Attempts)
		}
	}
	if err := testDB.pool.QueryRow(ctx, `SELECT COALESCE(last_error, '') FROM notification_outbox WHERE id = $1`, first).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != "" {
		t.Errorf("last error kept after sending: %q", stored)
	}
	if again := claimMine(); len(again) != 0 {
		t.Fatalf("%d sent rows claimed again", len(again))
	}
}

func TestOutboxEnqueueRefusals(t *testing.T) {
	s := dbStore(t)
	ctx := context.Background()
	reg := testRegistration(t, s)
	other := testRegistration(t, s)

	tests := []struct {
		name     string
		edit     func(*Notification)
		notFound bool
	}{
		{"unknown candidate", func(n *Notification) { n.CandidateID, n.RegistrationID = uuid.New(), uuid.Nil }, true},
		{"registration of an unknown candidate", func(n *Notification) { n.CandidateID = uuid.New() }, true},
		{"registration of another candidate", func(n *Notification) { n.RegistrationID = other.ID }, true},
		{"unknown registration", func(n *Notification) { n.RegistrationID = uuid.New() }, true},
		{"no dedupe key", func(n *Notification) { n.DedupeKey = "" }, false},
		{"no kind", func(n *Notification) { n.Kind = "" }, false},
		{"no purpose", func(n *Notification) { n.Purpose = "" }, false},
		{"no candidate", func(n *Notification) { n.CandidateID = uuid.Nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := resultReady(reg)
			n.DedupeKey = "refusal:" + uuid.NewString()
			tt.edit(&n)
			created, err := s.EnqueueNotification(ctx, n)
			if err == nil || created {
				t.Fatalf("enqueued: %v %v", created, err)
			}
			if errors.Is(err, ErrNotFound) != tt.notFound {
				t.Fatalf("err %v, want not found %v", err, tt.notFound)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Fatalf("refusal reported as unavailable: %v", err)
			}
		})
	}
	for _, regID := range []uuid.UUID{reg.ID, other.ID} {
		if ns, err := s.NotificationsFor(ctx, regID); err != nil || len(ns) != 0 {
			t.Fatalf("refused notifications stored: %+v %v", ns, err)
		}
	}
	for name, mark := range map[string]func(uuid.UUID) error{
		"sent":      func(id uuid.UUID) error { return s.MarkNotificationSent(ctx, id) },
		"failed":    func(id uuid.UUID) error { return s.MarkNotificationFailed(ctx, id, "x", time.Now()) },
		"abandoned": func(id uuid.UUID) error { return s.MarkNotificationAbandoned(ctx, id, "x") },
	} {
		if err := mark(uuid.New()); !errors.Is(err, ErrNotFound) {
			t.Errorf("mark %s of an unknown row: %v", name, err)
		}
	}
}
