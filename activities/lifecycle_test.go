package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/config"
	"github.com/examflow/examflow/identity"
	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/policy"
	"github.com/examflow/examflow/registry"
	"github.com/examflow/examflow/storage"
)

// These tests run the activities' decisions on small fakes of the store
// interfaces the activities declare (testDayStore, publicationStore), in
// Temporal's test activity environment. What the store itself does is
// tested on PostgreSQL (storage, e2e).

// execute runs one activity method in a test activity environment and
// decodes its result into out (none when out is nil).
func execute(t *testing.T, activities any, fn any, out any, args ...any) error {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(activities)
	val, err := env.ExecuteActivity(fn, args...)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := val.Get(out); err != nil {
		t.Fatalf("decode result: %v", err)
	}
	return nil
}

// syntheticFnr returns a valid fødselsnummer born on 1 January 1990 (a D
// number when d is true) made of invented digits.
func syntheticFnr(t *testing.T, d bool) string {
	t.Helper()
	day := "01"
	if d {
		day = "41"
	}
	for i := 100; i < 500; i++ {
		if n, ok := identity.WithCheckDigits(fmt.Sprintf("%s0190%03d", day, i)); ok {
			return n
		}
	}
	t.Fatal("no synthetic number")
	return ""
}

// fakePublicationStore is a candidate with released results; an
// unimplemented method panics through the nil embedded interface.
type fakePublicationStore struct {
	publicationStore
	reg         storage.Registration
	person      storage.Person
	deleted     bool
	restricted  bool
	released    []storage.ReleasedResult
	disclosures []storage.Disclosure
}

func (f *fakePublicationStore) GetRegistration(_ context.Context, id uuid.UUID) (storage.Registration, error) {
	if id != f.reg.ID {
		return storage.Registration{}, storage.ErrNotFound
	}
	return f.reg, nil
}

func (f *fakePublicationStore) PersonalDataOf(_ context.Context, candidateID uuid.UUID) (storage.PersonalData, error) {
	if f.deleted || candidateID != f.reg.CandidateID {
		return storage.PersonalData{}, storage.ErrNotFound
	}
	return storage.PersonalData{Person: f.person}, nil
}

func (f *fakePublicationStore) Restricted(context.Context, uuid.UUID) (bool, error) {
	return f.restricted, nil
}

func (f *fakePublicationStore) ReleasedResults(context.Context, uuid.UUID) ([]storage.ReleasedResult, error) {
	return f.released, nil
}

func (f *fakePublicationStore) RecordDisclosure(_ context.Context, d storage.Disclosure) error {
	f.disclosures = append(f.disclosures, d)
	return nil
}

// fakeRegistry records what was published and withdrawn.
type fakeRegistry struct {
	refuse    bool
	published []registry.Publication
	withdrawn []string
}

func (r *fakeRegistry) Publish(_ context.Context, p registry.Publication) (registry.Receipt, error) {
	if r.refuse {
		return registry.Receipt{}, &registry.PermanentError{Status: 422, Body: "refused"}
	}
	r.published = append(r.published, p)
	return registry.Receipt{Key: p.Key}, nil
}

func (r *fakeRegistry) Withdraw(_ context.Context, key string) error {
	r.withdrawn = append(r.withdrawn, key)
	return nil
}

// TestPublishResultsDecides: what PublishResults sends to the Diploma
// Registry and records, for each state of the candidate: data deleted, no
// fødselsnummer, processing restricted (T18), results to publish (the
// latest and best per part, recorded as a disclosure), none left (the
// publication withdrawn), and a registry that refuses.
func TestPublishResultsDecides(t *testing.T) {
	day := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	results := []storage.ReleasedResult{
		{TestType: "citizenship", Part: "citizenship", Result: marking.ResultFailed, DecidedAt: day},
		{TestType: "citizenship", Part: "citizenship", Result: marking.ResultPassed, DecidedAt: day.AddDate(0, 2, 0)},
	}
	tests := []struct {
		name        string
		nationalID  string
		deleted     bool
		restricted  bool
		released    []storage.ReleasedResult
		refuse      bool
		want        PublishOutcome
		wantErrType string
		published   []registry.Result
		withdrawn   bool
		disclosures int
	}{
		{name: "the candidate's data is deleted", deleted: true, released: results,
			want: PublishOutcome{Reason: "the candidate's data is deleted"}},
		{name: "a D number only", nationalID: syntheticFnr(t, true), released: results,
			want: PublishOutcome{Reason: "no fødselsnummer: the Diploma Registry only has candidates with one"}},
		{name: "no national identity number", released: results,
			want: PublishOutcome{Reason: "no fødselsnummer: the Diploma Registry only has candidates with one"}},
		{name: "processing restricted", nationalID: syntheticFnr(t, false), restricted: true, released: results,
			want: PublishOutcome{Reason: "processing restricted at the person's request"}},
		{name: "the latest and best result published", nationalID: syntheticFnr(t, false), released: results,
			want:      PublishOutcome{Published: true, Parts: 1},
			published: []registry.Result{{TestType: "citizenship", Part: "citizenship", Result: marking.ResultPassed, DecidedAt: day.AddDate(0, 2, 0)}}, disclosures: 1},
		{name: "no released result left", nationalID: syntheticFnr(t, false),
			want: PublishOutcome{Withdrawn: true, Reason: "no released result left"}, withdrawn: true},
		{name: "the registry refuses", nationalID: syntheticFnr(t, false), released: results, refuse: true,
			wantErrType: cases.ErrorRegistryRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := storage.Registration{ID: uuid.New(), CandidateID: uuid.New(), TestType: "citizenship"}
			store := &fakePublicationStore{reg: reg, deleted: tc.deleted, restricted: tc.restricted, released: tc.released,
				person: storage.Person{GivenName: "Kari", FamilyName: "Nordmann", NationalID: tc.nationalID}}
			reg2 := &fakeRegistry{refuse: tc.refuse}
			pub := &Publication{Store: store, Registry: reg2}
			var got PublishOutcome
			err := execute(t, pub, pub.PublishResults, &got, reg.ID.String())
			if tc.wantErrType != "" {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != tc.wantErrType || !appErr.NonRetryable() {
					t.Fatalf("error %v, want a non-retryable %s", err, tc.wantErrType)
				}
			} else if err != nil {
				t.Fatalf("PublishResults: %v", err)
			} else if got != tc.want {
				t.Errorf("outcome %+v, want %+v", got, tc.want)
			}
			var sent []registry.Result
			for _, p := range reg2.published {
				if p.Key != "candidate-"+reg.CandidateID.String() || p.NationalID != tc.nationalID {
					t.Errorf("published under %q for %q", p.Key, p.NationalID)
				}
				sent = append(sent, p.Results...)
			}
			if !slices.EqualFunc(sent, tc.published, func(a, b registry.Result) bool {
				return a.TestType == b.TestType && a.Part == b.Part && a.Result == b.Result && a.DecidedAt.Equal(b.DecidedAt)
			}) {
				t.Errorf("published %+v, want %+v", sent, tc.published)
			}
			if withdrawn := len(reg2.withdrawn) > 0; withdrawn != tc.withdrawn {
				t.Errorf("withdrawn %v, want %v", reg2.withdrawn, tc.withdrawn)
			}
			if len(store.disclosures) != tc.disclosures {
				t.Fatalf("%d disclosures recorded, want %d", len(store.disclosures), tc.disclosures)
			}
			for _, d := range store.disclosures {
				if d.Recipient != "sikt" || d.Action != "publish" || d.CandidateID != reg.CandidateID {
					t.Errorf("disclosure %+v, want a publication to sikt for the candidate", d)
				}
			}
		})
	}
}

// fakeTestDayStore holds one registration's session, answer sheet and key.
type fakeTestDayStore struct {
	testDayStore
	reg       storage.Registration
	sess      storage.Session
	sheet     storage.AnswerSheet
	key       storage.AnswerKey
	technical bool
	passRate  float64
	marked    int
	results   []storage.Result
	keysUsed  []uuid.UUID
}

func (f *fakeTestDayStore) RegistrationSession(context.Context, uuid.UUID) (storage.Registration, storage.Session, error) {
	return f.reg, f.sess, nil
}

func (f *fakeTestDayStore) GetAnswerSheet(_ context.Context, _ uuid.UUID, part string) (storage.AnswerSheet, error) {
	if part != f.sheet.Part {
		return storage.AnswerSheet{}, storage.ErrNotFound
	}
	return f.sheet, nil
}

func (f *fakeTestDayStore) AnswerKeyByForm(_ context.Context, formID string, version int) (storage.AnswerKey, error) {
	if formID != f.key.FormID || version != 0 {
		return storage.AnswerKey{}, storage.ErrNotFound
	}
	return f.key, nil
}

func (f *fakeTestDayStore) HasTechnicalProblem(context.Context, uuid.UUID, uuid.UUID, string) (bool, error) {
	return f.technical, nil
}

func (f *fakeTestDayStore) InsertResult(_ context.Context, r storage.Result) (storage.Result, error) {
	f.results = append(f.results, r)
	return r, nil
}

func (f *fakeTestDayStore) MarkAnswerKeyUsed(_ context.Context, id uuid.UUID) error {
	f.keysUsed = append(f.keysUsed, id)
	return nil
}

func (f *fakeTestDayStore) SessionPassRate(context.Context, uuid.UUID, string) (float64, int, error) {
	return f.passRate, f.marked, nil
}

// TestMarkPartHoldReasons: MarkPart records the automated result and holds
// it for review (T04) for each fault it suspects, in a fixed order: a sheet
// marked against another key version, a malformed sheet, a sheet submitted
// outside the session window, a technical problem the test centre
// reported, a session pass rate far from the norm (once the sample is
// large enough).
func TestMarkPartHoldReasons(t *testing.T) {
	start := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	items := []marking.Item{
		{ID: "q1", Correct: "a", Scored: true, Choices: []string{"a", "b"}},
		{ID: "q2", Correct: "b", Scored: true, Choices: []string{"a", "b"}},
		{ID: "q3", Correct: "a", Scored: true, Choices: []string{"a", "b"}},
	}
	complete := map[string]string{"q1": "a", "q2": "b", "q3": "b"}
	tests := []struct {
		name       string
		keyVersion int
		answers    map[string]string
		submitted  time.Time
		technical  bool
		passRate   float64
		marked     int
		wantResult string
		want       []string
	}{
		{name: "nothing suspected", keyVersion: 2, answers: complete, submitted: start.Add(time.Hour), passRate: 0.9, marked: 30,
			wantResult: marking.ResultPassed},
		{name: "another key version", keyVersion: 1, answers: complete, submitted: start.Add(time.Hour), wantResult: marking.ResultPassed,
			want: []string{ReasonKeyVersionMismatch}},
		{name: "an item unanswered", keyVersion: 2, answers: map[string]string{"q1": "a", "q2": "b"}, submitted: start.Add(time.Hour),
			wantResult: marking.ResultPassed, want: []string{ReasonMalformedSheet}},
		{name: "an unknown item", keyVersion: 2, answers: map[string]string{"q1": "a", "q2": "a", "q3": "b", "q9": "a"}, submitted: start.Add(time.Hour),
			wantResult: marking.ResultFailed, want: []string{ReasonMalformedSheet}},
		{name: "submitted after the window", keyVersion: 2, answers: complete, submitted: start.Add(5 * time.Hour), wantResult: marking.ResultPassed,
			want: []string{ReasonOutsideWindow}},
		{name: "a technical problem reported", keyVersion: 2, answers: complete, submitted: start.Add(time.Hour), technical: true,
			wantResult: marking.ResultPassed, want: []string{ReasonTechnicalProblem}},
		{name: "the pass rate far from the norm", keyVersion: 2, answers: complete, submitted: start.Add(time.Hour), passRate: 0.2, marked: 30,
			wantResult: marking.ResultPassed, want: []string{ReasonPassRateDeviation}},
		{name: "the pass rate of too small a sample", keyVersion: 2, answers: complete, submitted: start.Add(time.Hour), passRate: 0.2, marked: 9,
			wantResult: marking.ResultPassed},
		{name: "every fault at once", keyVersion: 1, answers: map[string]string{"q1": "a"}, submitted: start.Add(-time.Minute), technical: true,
			passRate: 0.1, marked: 10, wantResult: marking.ResultFailed,
			want: []string{ReasonKeyVersionMismatch, ReasonMalformedSheet, ReasonOutsideWindow, ReasonTechnicalProblem, ReasonPassRateDeviation}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			regID := uuid.New()
			store := &fakeTestDayStore{
				reg:       storage.Registration{ID: regID, TestType: "citizenship"},
				sess:      storage.Session{ID: uuid.New(), TestType: "citizenship", WindowStart: start, WindowEnd: start.Add(3 * time.Hour)},
				sheet:     storage.AnswerSheet{RegistrationID: regID, Part: "citizenship", FormID: "form-1", KeyVersion: tc.keyVersion, Answers: tc.answers, SubmittedAt: tc.submitted},
				key:       storage.AnswerKey{ID: uuid.New(), FormID: "form-1", Version: 2, Items: items, Rule: marking.Rule{Kind: marking.RulePassMark, PassMark: 2}},
				technical: tc.technical, passRate: tc.passRate, marked: tc.marked,
			}
			td := &TestDay{Store: store, Config: config.TestDay{PassRateNorms: map[string]float64{"citizenship": 0.9}, PassRateMargin: 0.3, PassRateMinSample: 10}}
			var got MarkOutcome
			if err := execute(t, td, td.MarkPart, &got, MarkPartInput{RegistrationID: regID.String(), Part: "citizenship"}); err != nil {
				t.Fatalf("MarkPart: %v", err)
			}
			if got.Hold != (len(tc.want) > 0) || !slices.Equal(got.Reasons, tc.want) {
				t.Errorf("hold %v for %v, want reasons %v", got.Hold, got.Reasons, tc.want)
			}
			if len(store.results) != 1 {
				t.Fatalf("%d results recorded, want 1 (a held result is recorded too)", len(store.results))
			}
			r := store.results[0]
			if r.Result != tc.wantResult || r.DecidedBy != "automated" || r.ID.String() != got.ResultID || *r.KeyVersion != 2 {
				t.Errorf("recorded %s decided by %s under key version %d, want %s, automated, key version 2", r.Result, r.DecidedBy, *r.KeyVersion, tc.wantResult)
			}
			if !slices.Equal(store.keysUsed, []uuid.UUID{store.key.ID}) {
				t.Errorf("keys marked used %v, want the key", store.keysUsed)
			}
		})
	}
}

// fakeRetentionStore holds one registration's retention facts.
type fakeRetentionStore struct {
	retentionStore
	facts     storage.RetentionFacts
	recording time.Time // zero: nothing recorded
	finals    int
}

func (f *fakeRetentionStore) MarkFinal(context.Context, uuid.UUID, time.Time) error {
	f.finals++
	return nil
}

func (f *fakeRetentionStore) RetentionFactsOf(context.Context, uuid.UUID) (storage.RetentionFacts, error) {
	return f.facts, nil
}

func (f *fakeRetentionStore) FirstRecording(context.Context, uuid.UUID) (time.Time, bool, error) {
	return f.recording, !f.recording.IsZero(), nil
}

// TestPlanRetentionMilestones: the retention phase plans a deletion for
// each category examflow holds of the registration, from the event the
// policy (or EXAMFLOW_RETENTION_EVENTS) names: the address and the
// personal data always, the audio from the first recording when there is
// one, the payment status when it is known, the cheating decisions from
// the latest decision when there is one.
func TestPlanRetentionMilestones(t *testing.T) {
	registered := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	testDate := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	recorded := time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)
	decided := time.Date(2026, 4, 2, 14, 0, 0, 0, time.UTC)
	periods := policy.Periods{policy.Address: 10 * time.Hour, policy.Audio: time.Hour, policy.PaymentStatus: 3 * time.Hour,
		policy.Cheating: 5 * time.Hour, policy.PersonalData: 20 * time.Hour}
	tests := []struct {
		name      string
		facts     storage.RetentionFacts
		recording time.Time
		events    map[policy.Category]policy.Event
		want      []Milestone
	}{
		{name: "the address and the personal data", facts: storage.RetentionFacts{TestDate: testDate, RegisteredAt: registered},
			want: []Milestone{{"address", testDate.Add(10 * time.Hour)}, {"personal_data", testDate.Add(20 * time.Hour)}}},
		{name: "an audio recording", facts: storage.RetentionFacts{TestDate: testDate, RegisteredAt: registered}, recording: recorded,
			want: []Milestone{{"address", testDate.Add(10 * time.Hour)}, {"audio", recorded.Add(time.Hour)}, {"personal_data", testDate.Add(20 * time.Hour)}}},
		{name: "a payment status and a cheating decision",
			facts: storage.RetentionFacts{TestDate: testDate, RegisteredAt: registered, PaymentStatus: true, CheatingDecidedAt: &decided},
			want: []Milestone{{"address", testDate.Add(10 * time.Hour)}, {"payment_status", testDate.Add(3 * time.Hour)},
				{"cheating", decided.Add(5 * time.Hour)}, {"personal_data", testDate.Add(20 * time.Hour)}}},
		{name: "the address from the registration (EXAMFLOW_RETENTION_EVENTS)", facts: storage.RetentionFacts{TestDate: testDate, RegisteredAt: registered},
			events: map[policy.Category]policy.Event{policy.Address: policy.Registered},
			want:   []Milestone{{"address", registered.Add(10 * time.Hour)}, {"personal_data", testDate.Add(20 * time.Hour)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := &fakeRetentionStore{facts: tc.facts, recording: tc.recording}
			r := &Retention{Store: store, Periods: periods, Events: tc.events, HoldRecheck: time.Minute}
			regID := uuid.NewString()
			var got RetentionPlan
			if err := execute(t, r, r.PlanRetention, &got, regID); err != nil {
				t.Fatalf("PlanRetention: %v", err)
			}
			if got.RegistrationID != regID || got.HoldRecheck != time.Minute || store.finals != 1 {
				t.Errorf("plan of %s rechecking after %s, marked final %d times; want %s, 1m, once", got.RegistrationID, got.HoldRecheck, store.finals, regID)
			}
			if !slices.EqualFunc(got.Milestones, tc.want, func(a, b Milestone) bool { return a.Category == b.Category && a.Due.Equal(b.Due) }) {
				t.Errorf("milestones %v, want %v", got.Milestones, tc.want)
			}
		})
	}
}
