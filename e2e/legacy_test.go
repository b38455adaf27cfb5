package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/examflow/examflow/process"
	"github.com/examflow/examflow/storage"
)

// Sessions of legacy registrations: one before the T07 cut-off (15 February
// 2022), one after. social_studies has catalogue versions for both.
const (
	legacySession2021 = "2021-06-10"
	legacySession2023 = "2023-05-10"
)

// legacyBody is p's legacy registration for a session that exists, with the
// original registration date and the extra top-level fields given.
func legacyBody(t *testing.T, p person, centre, sessionDate, original string, extra map[string]any) map[string]any {
	t.Helper()
	body := p.reg(t, "social_studies", centre, sessionDate)
	if original != "" {
		body["original_registration_date"] = original
	}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

func TestLegacyRegistrationBefore2022RecordsSensitiveData(t *testing.T) {
	ctx := context.Background()
	p := newPerson(t)
	centre := uniqueCentre()
	body := legacyBody(t, p, centre, legacySession2021, "2021-03-01", map[string]any{"country_of_origin": "ER", "mother_tongue": "tir", "source": "udi"})

	a := postJSON(t, "/v1/legacy/registrations", body, "legacy-"+centre)
	if a.Status != http.StatusCreated {
		t.Fatalf("status %d: %s", a.Status, a.Raw)
	}
	if a.Body["legacy"] != true || a.Body["stage"] != "Registered" || a.Body["candidate_number"] == "" {
		t.Fatalf("answer = %s", a.Raw)
	}
	if strings.Contains(string(a.Raw), `"ER"`) || strings.Contains(string(a.Raw), `"tir"`) {
		t.Fatalf("the answer echoes sensitive data: %s", a.Raw)
	}
	regID := uuid.MustParse(a.Body["registration_id"].(string))
	candidateID := uuid.MustParse(a.Body["candidate_id"].(string))
	wfID := a.Body["workflow_id"].(string)

	pd, err := env.store.PersonalDataOf(ctx, candidateID)
	if err != nil || pd.Sensitive == nil {
		t.Fatalf("sensitive data: %+v %v", pd.Sensitive, err)
	}
	if sd := pd.Sensitive; sd.CountryOfOrigin != "ER" || sd.MotherTongue != "tir" || sd.OriginalDate.Format(time.DateOnly) != "2021-03-01" {
		t.Fatalf("sensitive data = %+v", sd)
	}
	// At rest it is sealed: the row holds no plaintext.
	var sealed []byte
	if err := env.pool.QueryRow(ctx, `SELECT sealed FROM candidate_sensitive WHERE candidate_id = $1`, candidateID).Scan(&sealed); err != nil ||
		strings.Contains(string(sealed), "tir") && strings.Contains(string(sealed), "ER") {
		t.Fatalf("candidate_sensitive is not sealed: %v", err)
	}
	var originalDate time.Time
	var source string
	if err := env.pool.QueryRow(ctx, `SELECT original_registration_date, source FROM registrations WHERE id = $1`, regID).Scan(&originalDate, &source); err != nil {
		t.Fatal(err)
	}
	if originalDate.Format(time.DateOnly) != "2021-03-01" || source != "udi" {
		t.Fatalf("registration: original_registration_date %s, source %q", originalDate, source)
	}

	// The same Idempotency-Key answers the same registration.
	again := postJSON(t, "/v1/legacy/registrations", body, "legacy-"+centre)
	if again.Status != http.StatusCreated || again.Body["registration_id"] != regID.String() || again.Body["legacy"] != true {
		t.Fatalf("replay: %d %s", again.Status, again.Raw)
	}

	// The workflow knows the registration's UUID and nothing sensitive.
	desc, err := env.temporal.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil {
		t.Fatal(err)
	}
	sensitive := []string{`"ER"`, `"tir"`, "country_of_origin", "mother_tongue", "2021-03-01"}
	info := desc.GetWorkflowExecutionInfo()
	fields := info.GetSearchAttributes().GetIndexedFields()
	if len(fields) == 0 {
		t.Fatal("the workflow has no search attributes; the check would see nothing")
	}
	for name, payload := range fields {
		for _, s := range sensitive {
			if strings.Contains(name, s) || strings.Contains(string(payload.GetData()), s) {
				t.Fatalf("search attribute %s=%s holds %s", name, payload.GetData(), s)
			}
		}
	}
	for name, payload := range info.GetMemo().GetFields() {
		for _, s := range sensitive {
			if strings.Contains(string(payload.GetData()), s) {
				t.Fatalf("memo %s holds %s", name, s)
			}
		}
	}
	iter := env.temporal.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first, err := iter.Next()
	if err != nil {
		t.Fatal(err)
	}
	started := first.GetWorkflowExecutionStartedEventAttributes()
	if started == nil || len(started.GetInput().GetPayloads()) != 1 {
		t.Fatalf("first event = %v", first)
	}
	// The input is encrypted; decrypt it to see what it holds.
	codec, err := process.CodecFor(env.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var input map[string]any
	if err := codec.DataConverter().FromPayload(started.GetInput().GetPayloads()[0], &input); err != nil {
		t.Fatalf("workflow input: %v", err)
	}
	if len(input) != 1 || input["registration_id"] != regID.String() {
		t.Fatalf("workflow input = %v, want only the registration_id", input)
	}
	history := first.String()
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		history += "\n" + ev.String()
	}
	for _, s := range []string{"country_of_origin", "mother_tongue"} {
		if strings.Contains(history, s) {
			t.Fatalf("the workflow history mentions %s", s)
		}
	}
	assertNoPersonalDataInTemporal(t, wfID, p)

	logs := env.apiLogs.String()
	for _, s := range sensitive[:2] {
		if strings.Contains(logs, s) {
			t.Fatalf("API logs contain %s", s)
		}
	}
}

func TestLegacyRegistrationOnTheCutoffEveWithoutSensitiveDataFromLater(t *testing.T) {
	// 14 February 2022 is the last day sensitive data may be recorded; a
	// legacy registration from later is accepted without it.
	for _, tt := range []struct {
		name, original string
		extra          map[string]any
		wantSensitive  bool
	}{
		{"last day before the cut-off", "2022-02-14", map[string]any{"mother_tongue": "so"}, true},
		{"after the cut-off, no sensitive fields", "2023-01-20", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := postJSON(t, "/v1/legacy/registrations", legacyBody(t, newPerson(t), uniqueCentre(), legacySession2023, tt.original, tt.extra), "")
			if a.Status != http.StatusCreated || a.Body["legacy"] != true {
				t.Fatalf("status %d: %s", a.Status, a.Raw)
			}
			var n int
			if err := env.pool.QueryRow(context.Background(), `SELECT count(*) FROM candidate_sensitive WHERE candidate_id = $1`,
				a.Body["candidate_id"]).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if (n == 1) != tt.wantSensitive {
				t.Fatalf("candidate_sensitive rows = %d, want sensitive %v", n, tt.wantSensitive)
			}
		})
	}
}

func TestLegacySensitiveDataRefusedFromFebruary2022(t *testing.T) {
	centre := uniqueCentre()
	tomorrow := time.Now().AddDate(0, 0, 1).Format(time.DateOnly)
	tests := []struct {
		name       string
		original   string
		extra      map[string]any
		wantStatus int
		wantFields []string
	}{
		{"2023 with mother tongue", "2023-01-20", map[string]any{"mother_tongue": "tir"}, 422, []string{"mother_tongue"}},
		{"on the cut-off day with country", "2022-02-15", map[string]any{"country_of_origin": "ER"}, 422, []string{"country_of_origin"}},
		{"2023 with both", "2023-01-20", map[string]any{"country_of_origin": "ER", "mother_tongue": "tir"}, 422,
			[]string{"country_of_origin", "mother_tongue"}},
		{"2023 with both empty", "2023-01-20", map[string]any{"country_of_origin": "", "mother_tongue": ""}, 422,
			[]string{"country_of_origin", "mother_tongue"}},
		{"no original date", "", map[string]any{"mother_tongue": "tir"}, 422, []string{"original_registration_date", "mother_tongue"}},
		{"original date in the future", tomorrow, nil, 422, []string{"original_registration_date"}},
		{"original date not a date", "01.03.2021", nil, 422, []string{"original_registration_date"}},
		{"country not a code", "2021-03-01", map[string]any{"country_of_origin": "Eritrea"}, 422, []string{"country_of_origin"}},
		{"mother tongue not a code", "2021-03-01", map[string]any{"mother_tongue": "TI"}, 422, []string{"mother_tongue"}},
		{"unknown field", "2021-03-01", map[string]any{"religion": "x"}, 400, []string{"religion"}},
	}
	// Addresses are compared by candidate, not counted: the lifecycles of
	// earlier tests' 2023 registrations delete theirs, two years past the
	// test date, while this test runs.
	tables := []string{"candidates", "candidate_identifiers", "registrations", "candidate_sensitive", "idempotency_keys"}
	before := map[string]int{}
	for _, table := range tables {
		before[table] = countRows(t, table)
	}
	var addressed []string
	if err := env.pool.QueryRow(context.Background(), `SELECT coalesce(array_agg(candidate_id::text), '{}') FROM candidate_addresses`).Scan(&addressed); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := legacyBody(t, newPerson(t), centre, legacySession2023, tt.original, tt.extra)
			a := postJSON(t, "/v1/legacy/registrations", body, "refused-"+centre+"-"+strings.ReplaceAll(tt.name, " ", "-"))
			if a.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", a.Status, tt.wantStatus, a.Raw)
			}
			if a.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("Content-Type = %q", a.Header.Get("Content-Type"))
			}
			if !slices.Equal(fieldNames(a), tt.wantFields) {
				t.Fatalf("fields = %v, want %v: %s", fieldNames(a), tt.wantFields, a.Raw)
			}
			if tt.wantStatus == 422 && len(tt.extra) > 0 && tt.original >= "2022-02-15" &&
				!strings.Contains(string(a.Raw), "may only be recorded for registrations before 15 February 2022") {
				t.Fatalf("the refusal does not say why: %s", a.Raw)
			}
		})
	}
	for _, table := range tables {
		if n := countRows(t, table); n != before[table] {
			t.Errorf("%s has %d rows, had %d", table, n, before[table])
		}
	}
	if n := rowCount(t, `SELECT count(*) FROM candidate_addresses WHERE candidate_id::text <> ALL($1::text[])`, addressed); n != 0 {
		t.Errorf("%d addresses stored by refused registrations", n)
	}
}

func TestNormalRegistrationRefusesSensitiveFields(t *testing.T) {
	centre := uniqueCentre()
	before := countRows(t, "registrations")
	for _, field := range []string{"country_of_origin", "mother_tongue", "original_registration_date"} {
		t.Run(field, func(t *testing.T) {
			body := newPerson(t).reg(t, "citizenship", centre, session)
			body[field] = "NO"
			a := postRegistration(t, body, "")
			if a.Status != http.StatusBadRequest || !slices.Equal(fieldNames(a), []string{field}) {
				t.Fatalf("status %d, fields %v: %s", a.Status, fieldNames(a), a.Raw)
			}
		})
	}
	if n := countRows(t, "registrations"); n != before {
		t.Fatalf("registrations went from %d to %d", before, n)
	}
}

func TestSensitiveDataAfterCutoffRefusedByTheDatabase(t *testing.T) {
	ctx := context.Background()
	a := postRegistration(t, newPerson(t).reg(t, "citizenship", uniqueCentre(), session), "")
	if a.Status != http.StatusCreated {
		t.Fatalf("registration: %d %s", a.Status, a.Raw)
	}
	candidateID := a.Body["candidate_id"].(string)
	// The values are sealed, so the database checks the date: no sensitive
	// row can be dated on or after the cut-off, whatever it holds.
	tests := []struct {
		name, date     string
		wantConstraint string
	}{
		{"2023 date", "2023-01-20", "candidate_sensitive_original_registration_date_check"},
		{"cut-off day", "2022-02-15", "candidate_sensitive_original_registration_date_check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pgx.BeginFunc(ctx, env.pool, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO candidate_sensitive (candidate_id, sealed, original_registration_date)
					VALUES ($1, '\x00', $2)`, candidateID, tt.date)
				return err
			})
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "23514" || pgErr.ConstraintName != tt.wantConstraint {
				t.Fatalf("insert: %v, want check violation of %s", err, tt.wantConstraint)
			}
		})
	}
	// Through the store, too.
	if err := env.store.RecordSensitive(ctx, uuid.MustParse(candidateID), storage.Sensitive{MotherTongue: "tir",
		OriginalDate: time.Date(2023, 1, 20, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Fatal("the store recorded sensitive data dated 2023")
	}
	var n int
	if err := env.pool.QueryRow(ctx, `SELECT count(*) FROM candidate_sensitive WHERE candidate_id = $1`, candidateID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("candidate_sensitive rows = %d, %v", n, err)
	}
}

func TestLegacyImportKeepsTheCandidatesNewerData(t *testing.T) {
	ctx := context.Background()
	// The candidate registered in examflow first; the legacy system then
	// brings an older name, e-mail and address, and a new identifier.
	p := newPerson(t)
	_, candidateID := mustRegister(t, p.reg(t, "citizenship", uniqueCentre(), session))
	old := p
	old.Given, old.Family, old.Email = "Legacy"+p.Given, "Legacy"+p.Family, "legacy-"+p.Email
	body := legacyBody(t, old, uniqueCentre(), legacySession2021, "2021-03-01", map[string]any{"country_of_origin": "ER"})
	person := body["person"].(map[string]any)
	person["address"].(map[string]any)["street"] = "Gamleveien 1"
	person["passport_number"] = "LEG12345"
	a := postJSON(t, "/v1/legacy/registrations", body, "")
	if a.Status != http.StatusCreated || a.Body["candidate_id"] != candidateID {
		t.Fatalf("legacy import: %d %s, want candidate %s", a.Status, a.Raw, candidateID)
	}
	pd, err := env.store.PersonalDataOf(ctx, uuid.MustParse(candidateID))
	if err != nil || pd.Address == nil {
		t.Fatalf("personal data: %+v %v", pd, err)
	}
	given, family, email, passport, street := pd.Person.GivenName, pd.Person.FamilyName, pd.Person.Email, pd.Person.PassportNumber, pd.Address.Street
	if given != p.Given || family != p.Family || email != p.Email || street != "Eksempelveien 7" {
		t.Fatal("the legacy import overwrote the candidate's newer name, e-mail or address")
	}
	if passport != "LEG12345" {
		t.Fatalf("passport_number = %q: the legacy import did not fill an empty field", passport)
	}
	var n int
	if err := env.pool.QueryRow(ctx, `SELECT count(*) FROM candidate_identifiers WHERE candidate_id = $1 AND kind = 'passport_number'`, candidateID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("passport identifier rows = %d, %v", n, err)
	}
	if pd.Sensitive == nil || pd.Sensitive.CountryOfOrigin != "ER" {
		t.Fatalf("sensitive data = %+v", pd.Sensitive)
	}
	// The 2021 test's address period ended in 2023, so its lifecycle deletes
	// its address at once; the candidate's address is the newer
	// registration's, needed for its own test, and stays (T14).
	legacyReg := a.Body["registration_id"].(string)
	eventually(t, 30*time.Second, func() error {
		if n := rowCount(t, `SELECT count(*) FROM deletion_records WHERE registration_id = $1 AND category = 'address'`, legacyReg); n != 1 {
			return fmt.Errorf("the old registration's address milestone has not run")
		}
		return nil
	})
	if n := rowCount(t, `SELECT count(*) FROM candidate_addresses WHERE candidate_id = $1`, candidateID); n != 1 {
		t.Fatal("the old registration's address deletion took the address a newer registration needs")
	}
}
