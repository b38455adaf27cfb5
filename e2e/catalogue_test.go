package e2e

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/examflow/examflow/marking"
	"github.com/examflow/examflow/storage"
)

var seedOnce struct {
	sync.Once
	cat marking.Catalogue
	err error
}

// seedCatalogue seeds the embedded catalogue once per test binary and
// returns it. (TestMain will do this once `examflow migrate` seeds.)
func seedCatalogue(t *testing.T) marking.Catalogue {
	t.Helper()
	seedOnce.Do(func() {
		if seedOnce.cat, seedOnce.err = marking.LoadCatalogue(); seedOnce.err == nil {
			seedOnce.err = env.store.SeedCatalogue(context.Background(), seedOnce.cat)
		}
	})
	if seedOnce.err != nil {
		t.Fatalf("seed catalogue: %v", seedOnce.err)
	}
	return seedOnce.cat
}

// keyItems is a key of n three-option items whose items at the (1-based)
// positions in pilot are unscored.
func keyItems(n int, pilot ...int) []marking.Item {
	items := make([]marking.Item, n)
	for i := range items {
		items[i] = marking.Item{
			ID:      fmt.Sprintf("q%02d", i+1),
			Correct: string(rune('a' + i%3)),
			Scored:  !slices.Contains(pilot, i+1),
			Choices: []string{"a", "b", "c"},
		}
	}
	return items
}

func citizenshipKey(formID string) storage.NewAnswerKey {
	return storage.NewAnswerKey{FormID: formID, TestType: "citizenship", TestVersion: "2024", Part: "test", Items: keyItems(36, 9, 18, 27, 36)}
}

func newFormID() string { return "e2e-form-" + uuid.NewString() }

func TestCatalogueSeedIsIdempotent(t *testing.T) {
	ctx := context.Background()
	cat := seedCatalogue(t)

	rowVersions := func() map[string]string {
		rows, err := env.pool.Query(ctx, `SELECT test_type || ' ' || version, xmin::text FROM test_versions`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var name, xmin string
			if err := rows.Scan(&name, &xmin); err != nil {
				t.Fatal(err)
			}
			out[name] = xmin
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := rowVersions()
	if len(before) != len(cat.Tests) {
		t.Fatalf("%d test versions stored, want %d", len(before), len(cat.Tests))
	}
	for range 2 {
		if err := env.store.SeedCatalogue(ctx, cat); err != nil {
			t.Fatalf("seed again: %v", err)
		}
	}
	if after := rowVersions(); !reflect.DeepEqual(before, after) {
		t.Fatalf("seeding again rewrote rows: before %v, after %v", before, after)
	}

	for _, want := range cat.Tests {
		got, err := env.store.TestVersion(ctx, want.TestType, want.Version)
		if err != nil {
			t.Fatalf("%s %s: %v", want.TestType, want.Version, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("stored %s %s = %+v, want %+v", want.TestType, want.Version, got, want)
		}
	}
	var validTo string
	if err := env.pool.QueryRow(ctx, `SELECT valid_to::text FROM test_versions WHERE test_type = 'social_studies' AND version = '2013'`).Scan(&validTo); err != nil {
		t.Fatal(err)
	}
	if validTo != "2022-11-30" {
		t.Fatalf("social_studies 2013 valid_to = %s", validTo)
	}
	if _, err := env.store.TestVersion(ctx, "citizenship", "1999"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown version: err = %v, want ErrNotFound", err)
	}
}

func TestAnswerKeyCreate(t *testing.T) {
	ctx := context.Background()
	seedCatalogue(t)
	in := citizenshipKey(newFormID())
	k, err := env.store.CreateAnswerKey(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID == uuid.Nil || k.FormID != in.FormID || k.Version != 1 || k.TestType != "citizenship" || k.TestVersion != "2024" || k.Part != "test" ||
		k.Used || !k.FirstUsedAt.IsZero() || k.CreatedAt.IsZero() {
		t.Fatalf("key = %+v", k)
	}
	if !reflect.DeepEqual(k.Items, in.Items) {
		t.Fatalf("items = %+v, want %+v", k.Items, in.Items)
	}
	if want := (marking.Rule{Kind: marking.RulePassMark, PassMark: 24}); !reflect.DeepEqual(k.Rule, want) {
		t.Fatalf("rule = %+v, want the catalogue's %+v", k.Rule, want)
	}
	got, err := env.store.AnswerKeyByID(ctx, k.ID)
	if err != nil || !reflect.DeepEqual(got, k) {
		t.Fatalf("by id = %+v, %v; want %+v", got, err, k)
	}

	// The stored key marks a sheet: 24 of the 32 scored items pass, the
	// pilot items do not count.
	answers := marking.Answers{}
	right := 0
	for _, it := range k.Items {
		switch {
		case it.Scored && right < 24:
			answers[it.ID] = it.Correct
			right++
		default:
			answers[it.ID] = "x"
		}
	}
	out, err := marking.Mark(k.Items, k.Rule, answers)
	if err != nil || out.Result != marking.ResultPassed || out.Score != 24 || out.MaxScore != 32 {
		t.Fatalf("mark = %+v, %v", out, err)
	}

	// A levels part of adaptive length, with the form's own bands.
	reading := storage.NewAnswerKey{FormID: newFormID(), TestType: "norwegian_a1_b2", TestVersion: "2024", Part: "reading", Items: keyItems(22, 1),
		Rule: marking.Rule{Kind: marking.RuleLevels, MinAnswered: 3, Bands: []marking.Band{{MinScore: 5, Level: "A1"}, {MinScore: 10, Level: "A2"}, {MinScore: 15, Level: "B1"}, {MinScore: 19, Level: "B2"}}}}
	rk, err := env.store.CreateAnswerKey(ctx, reading)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rk.Rule, reading.Rule) || len(rk.Items) != 22 {
		t.Fatalf("reading key = %+v", rk)
	}
}

func TestAnswerKeyRefused(t *testing.T) {
	ctx := context.Background()
	seedCatalogue(t)
	with := func(f func(*storage.NewAnswerKey)) storage.NewAnswerKey {
		k := citizenshipKey(newFormID())
		f(&k)
		return k
	}
	tests := []struct {
		name   string
		key    storage.NewAnswerKey
		fields []string // each must be named
	}{
		{"too few items", with(func(k *storage.NewAnswerKey) { k.Items = k.Items[:35] }), []string{"items"}},
		{"too many items", with(func(k *storage.NewAnswerKey) { k.Items = keyItems(37, 9, 18, 27, 36) }), []string{"items"}},
		{"wrong scored count", with(func(k *storage.NewAnswerKey) { k.Items = keyItems(36, 9, 18) }), []string{"items"}},
		{"no form", with(func(k *storage.NewAnswerKey) { k.FormID = "" }), []string{"form_id"}},
		{"unknown test type", with(func(k *storage.NewAnswerKey) { k.TestType = "driving" }), []string{"test_type"}},
		{"unknown test version", with(func(k *storage.NewAnswerKey) { k.TestVersion = "1999" }), []string{"test_version"}},
		{"unknown part", with(func(k *storage.NewAnswerKey) { k.Part = "oral" }), []string{"part"}},
		{"examiner part", with(func(k *storage.NewAnswerKey) {
			k.TestType, k.Part = "norwegian_a1_b2", "writing"
		}), []string{"part"}},
		{"correct not among choices", with(func(k *storage.NewAnswerKey) { k.Items[3].Correct = "d" }), []string{"items[3].correct"}},
		{"duplicate item", with(func(k *storage.NewAnswerKey) { k.Items[5].ID = k.Items[4].ID }), []string{"items[5].id"}},
		{"another pass mark", with(func(k *storage.NewAnswerKey) {
			k.Rule = marking.Rule{Kind: marking.RulePassMark, PassMark: 20}
		}), []string{"rule.pass_mark"}},
		{"another rule kind", with(func(k *storage.NewAnswerKey) {
			k.Rule = marking.Rule{Kind: marking.RuleLevels, Bands: []marking.Band{{MinScore: 1, Level: "A1"}}}
		}), []string{"rule.kind"}},
		{"catalogue band out of the form's reach", storage.NewAnswerKey{FormID: newFormID(), TestType: "norwegian_a1_b2", TestVersion: "2024", Part: "listening",
			Items: keyItems(20)}, []string{"rule.bands[3].min_score"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := env.store.CreateAnswerKey(ctx, tt.key)
			var invalid *storage.KeyValidationError
			if !errors.As(err, &invalid) {
				t.Fatalf("got %+v, %v; want a KeyValidationError", k, err)
			}
			t.Log(err)
			var fields []string
			for _, p := range invalid.Problems {
				fields = append(fields, p.Field)
			}
			for _, f := range tt.fields {
				if !slices.Contains(fields, f) {
					t.Fatalf("problems %+v do not name %s", invalid.Problems, f)
				}
			}
			if tt.key.FormID != "" {
				if _, err := env.store.AnswerKeyVersions(ctx, tt.key.FormID); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("a refused key was stored: %v", err)
				}
			}
		})
	}
}

func TestAnswerKeyVersions(t *testing.T) {
	ctx := context.Background()
	seedCatalogue(t)
	form := newFormID()
	v1, err := env.store.CreateAnswerKey(ctx, citizenshipKey(form))
	if err != nil {
		t.Fatal(err)
	}
	corrected := citizenshipKey(form)
	corrected.Items[0].Correct = "b"
	v2, err := env.store.CreateAnswerKey(ctx, corrected)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v2.Version != 2 || v1.ID == v2.ID {
		t.Fatalf("versions %d and %d", v1.Version, v2.Version)
	}

	tests := []struct {
		version int
		want    *storage.AnswerKey
	}{
		{0, &v2}, {1, &v1}, {2, &v2}, {3, nil}, {-1, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("version ", tt.version), func(t *testing.T) {
			got, err := env.store.AnswerKeyByForm(ctx, form, tt.version)
			if tt.want == nil {
				if !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("got %+v, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, *tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, *tt.want)
			}
		})
	}
	if got, _ := env.store.AnswerKeyByForm(ctx, form, 0); got.Items[0].Correct != "b" {
		t.Fatalf("latest key has the uncorrected answer %q", got.Items[0].Correct)
	}
	all, err := env.store.AnswerKeyVersions(ctx, form)
	if err != nil || len(all) != 2 || all[0].ID != v1.ID || all[1].ID != v2.ID {
		t.Fatalf("versions = %+v, %v", all, err)
	}
	if _, err := env.store.AnswerKeyByForm(ctx, newFormID(), 0); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown form: %v", err)
	}

	// A form's versions are all of one test version and part.
	other := storage.NewAnswerKey{FormID: form, TestType: "social_studies", TestVersion: "2022", Part: "test", Items: keyItems(38, 1, 2, 3, 4)}
	var invalid *storage.KeyValidationError
	if _, err := env.store.CreateAnswerKey(ctx, other); !errors.As(err, &invalid) || invalid.Problems[0].Field != "form_id" {
		t.Fatalf("a version of another test: err = %v", err)
	}
}

func TestAnswerKeyImmutableOnceUsed(t *testing.T) {
	ctx := context.Background()
	seedCatalogue(t)
	used, err := env.store.CreateAnswerKey(ctx, citizenshipKey(newFormID()))
	if err != nil {
		t.Fatal(err)
	}
	unused, err := env.store.CreateAnswerKey(ctx, citizenshipKey(newFormID()))
	if err != nil {
		t.Fatal(err)
	}

	if err := env.store.MarkAnswerKeyUsed(ctx, used.ID); err != nil {
		t.Fatal(err)
	}
	first, err := env.store.AnswerKeyByID(ctx, used.ID)
	if err != nil || !first.Used || first.FirstUsedAt.IsZero() {
		t.Fatalf("after MarkAnswerKeyUsed: %+v, %v", first, err)
	}
	if err := env.store.MarkAnswerKeyUsed(ctx, used.ID); err != nil {
		t.Fatalf("second MarkAnswerKeyUsed: %v", err)
	}
	if again, _ := env.store.AnswerKeyByID(ctx, used.ID); !again.FirstUsedAt.Equal(first.FirstUsedAt) {
		t.Fatalf("first_used_at moved from %s to %s", first.FirstUsedAt, again.FirstUsedAt)
	}
	if err := env.store.MarkAnswerKeyUsed(ctx, uuid.New()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}

	refused := []struct {
		name, sql string
		unusedToo bool // the statement also runs on the unused key, which allows it
	}{
		{"change items", `UPDATE answer_keys SET items = jsonb_set(items, '{0,correct}', '"c"') WHERE id = $1`, true},
		{"change rule", `UPDATE answer_keys SET rule = '{"kind": "pass_mark", "pass_mark": 20}' WHERE id = $1`, true},
		{"change version", `UPDATE answer_keys SET version = 9 WHERE id = $1`, true},
		{"reset first_used_at", `UPDATE answer_keys SET first_used_at = NULL WHERE id = $1`, false},
		{"move first_used_at", `UPDATE answer_keys SET first_used_at = now() - interval '1 day' WHERE id = $1`, false},
		{"delete", `DELETE FROM answer_keys WHERE id = $1`, false},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.pool.Exec(ctx, tt.sql, used.ID)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "23001" {
				t.Fatalf("err = %v, want the trigger's restrict_violation", err)
			}
			if !tt.unusedToo {
				return
			}
			tag, err := env.pool.Exec(ctx, tt.sql, unused.ID)
			if err != nil || tag.RowsAffected() != 1 {
				t.Fatalf("on the unused key: %v, %d rows", err, tag.RowsAffected())
			}
		})
	}
	after, err := env.store.AnswerKeyByID(ctx, used.ID)
	if err != nil || !reflect.DeepEqual(after, first) {
		t.Fatalf("the used key changed: %+v, %v; want %+v", after, err, first)
	}
	changed, err := env.store.AnswerKeyByID(ctx, unused.ID)
	if err != nil || changed.Items[0].Correct != "c" || changed.Rule.PassMark != 20 || changed.Version != 9 || changed.Used {
		t.Fatalf("the unused key = %+v, %v; want it updated", changed, err)
	}
	if _, err := env.pool.Exec(ctx, `DELETE FROM answer_keys WHERE id = $1`, unused.ID); err != nil {
		t.Fatalf("delete the unused key: %v", err)
	}
	if _, err := env.store.AnswerKeyByID(ctx, unused.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the unused key was not deleted: %v", err)
	}

	// A correction of the used key is a new version, which is not frozen.
	corrected := citizenshipKey(used.FormID)
	corrected.Items[0].Correct = "c"
	v2, err := env.store.CreateAnswerKey(ctx, corrected)
	if err != nil || v2.Version != 2 || v2.Used {
		t.Fatalf("correction = %+v, %v", v2, err)
	}
}
