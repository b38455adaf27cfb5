package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/examflow/examflow/marking"
)

// NewAnswerKey is an answer key to store for one form of a machine-marked part.
type NewAnswerKey struct {
	// FormID names the form (the set of items a candidate sees); a
	// correction is a new version of the same form.
	FormID      string
	TestType    string
	TestVersion string
	Part        string
	Items       []marking.Item
	// Rule is the rule to mark with. The zero Rule takes the part's rule from
	// the catalogue. A rule given must be of the part's kind, with the part's
	// pass mark; a levels rule may carry the form's own bands.
	Rule marking.Rule
}

// AnswerKey is a stored answer key.
type AnswerKey struct {
	ID          uuid.UUID
	FormID      string
	Version     int
	TestType    string
	TestVersion string
	Part        string
	Items       []marking.Item
	Rule        marking.Rule
	CreatedAt   time.Time
	// Used: the key has marked a sheet and can no longer change.
	Used bool
	// FirstUsedAt is when it first marked a sheet (zero if unused).
	FirstUsedAt time.Time
}

// KeyValidationError lists what is wrong with an answer key, by field path
// ("form_id", "part", "items", "items[3].correct", "rule.pass_mark"), so the
// API can answer 422 naming each field.
type KeyValidationError struct {
	Problems []marking.FieldProblem
}

func (e *KeyValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Problem
	}
	return "invalid answer key: " + strings.Join(parts, "; ")
}

// SeedCatalogue stores the catalogue's test versions, inserting new ones and
// updating changed ones; unchanged rows are not touched, so it is idempotent.
// Versions missing from the catalogue are kept (answer keys refer to them).
func (s *Store) SeedCatalogue(ctx context.Context, c marking.Catalogue) error {
	if problems := c.Check(); len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.Field + ": " + p.Problem
		}
		return fmt.Errorf("seed catalogue: invalid catalogue: %s", strings.Join(msgs, "; "))
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, v := range c.Tests {
			def, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("encode %s %s: %w", v.TestType, v.Version, err)
			}
			var validTo *time.Time
			if !v.ValidTo.IsZero() {
				t := v.ValidTo.Time()
				validTo = &t
			}
			if _, err := tx.Exec(ctx, `
				INSERT INTO test_versions (test_type, version, valid_from, valid_to, definition) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (test_type, version) DO UPDATE
					SET valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to, definition = EXCLUDED.definition
					WHERE (test_versions.valid_from, test_versions.valid_to, test_versions.definition)
						IS DISTINCT FROM (EXCLUDED.valid_from, EXCLUDED.valid_to, EXCLUDED.definition)`,
				v.TestType, v.Version, v.ValidFrom.Time(), validTo, json.RawMessage(def)); err != nil {
				return fmt.Errorf("upsert test version %s %s: %w", v.TestType, v.Version, err)
			}
		}
		return nil
	})
	if err != nil {
		return classify(fmt.Errorf("seed catalogue: %w", err))
	}
	return nil
}

// TestVersion reads one stored test version.
func (s *Store) TestVersion(ctx context.Context, testType, version string) (marking.TestVersion, error) {
	var v marking.TestVersion
	err := s.pool.QueryRow(ctx, `SELECT definition FROM test_versions WHERE test_type = $1 AND version = $2`, testType, version).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return marking.TestVersion{}, ErrNotFound
	}
	if err != nil {
		return marking.TestVersion{}, classify(fmt.Errorf("read test version: %w", err))
	}
	return v, nil
}

// CreateAnswerKey validates and stores an answer key as the next version of
// its form (the first is 1). The part must exist in that test version and be
// machine-marked; the items must match the part's item and scored-item counts
// and be sound (see marking.CheckKey), and a form's versions must all be of
// the same test version and part. Problems come back as a *KeyValidationError.
func (s *Store) CreateAnswerKey(ctx context.Context, in NewAnswerKey) (AnswerKey, error) {
	var key AnswerKey
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rule, problems, err := validateAnswerKey(ctx, tx, in)
		if err != nil {
			return err
		}
		if len(problems) > 0 {
			return &KeyValidationError{Problems: problems}
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('answer_key:' || $1, 0))`, in.FormID); err != nil {
			return fmt.Errorf("lock form: %w", err)
		}
		var prevType, prevVersion, prevPart string
		var prev int
		err = tx.QueryRow(ctx, `SELECT test_type, test_version, part, version FROM answer_keys WHERE form_id = $1 ORDER BY version DESC LIMIT 1`,
			in.FormID).Scan(&prevType, &prevVersion, &prevPart, &prev)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read previous key version: %w", err)
		case prevType != in.TestType || prevVersion != in.TestVersion || prevPart != in.Part:
			return &KeyValidationError{Problems: []marking.FieldProblem{{Field: "form_id",
				Problem: fmt.Sprintf("form %q is a form of %s %s part %s; a new version must be of the same test version and part", in.FormID, prevType, prevVersion, prevPart)}}}
		}
		items, err := json.Marshal(in.Items)
		if err != nil {
			return fmt.Errorf("encode items: %w", err)
		}
		ruleJSON, err := json.Marshal(rule)
		if err != nil {
			return fmt.Errorf("encode rule: %w", err)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("new answer key id: %w", err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO answer_keys (id, form_id, version, test_type, test_version, part, items, rule)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			id, in.FormID, prev+1, in.TestType, in.TestVersion, in.Part, json.RawMessage(items), json.RawMessage(ruleJSON)); err != nil {
			return fmt.Errorf("insert answer key: %w", err)
		}
		key, err = scanAnswerKey(tx.QueryRow(ctx, `SELECT `+answerKeyColumns+` FROM answer_keys WHERE id = $1`, id))
		return err
	})
	var invalid *KeyValidationError
	if errors.As(err, &invalid) {
		return AnswerKey{}, err
	}
	if err != nil {
		return AnswerKey{}, classify(err)
	}
	return key, nil
}

// validateAnswerKey reads the catalogue's version of the key's test and
// checks the key against it (marking.CheckAnswerKey), returning the rule to
// store with it.
func validateAnswerKey(ctx context.Context, tx pgx.Tx, in NewAnswerKey) (marking.Rule, []marking.FieldProblem, error) {
	spec := marking.AnswerKeySpec{FormID: in.FormID, TestType: in.TestType, TestVersion: in.TestVersion, Part: in.Part, Items: in.Items, Rule: in.Rule}
	if in.TestType == "" || in.TestVersion == "" {
		rule, problems := marking.CheckAnswerKey(spec, nil, false)
		return rule, problems, nil
	}
	var def marking.TestVersion
	err := tx.QueryRow(ctx, `SELECT definition FROM test_versions WHERE test_type = $1 AND version = $2`, in.TestType, in.TestVersion).Scan(&def)
	if errors.Is(err, pgx.ErrNoRows) {
		var known bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM test_versions WHERE test_type = $1)`, in.TestType).Scan(&known); err != nil {
			return marking.Rule{}, nil, fmt.Errorf("read test types: %w", err)
		}
		rule, problems := marking.CheckAnswerKey(spec, nil, known)
		return rule, problems, nil
	}
	if err != nil {
		return marking.Rule{}, nil, fmt.Errorf("read test version: %w", err)
	}
	rule, problems := marking.CheckAnswerKey(spec, &def, true)
	return rule, problems, nil
}

const answerKeyColumns = `id, form_id, version, test_type, test_version, part, items, rule, created_at, first_used_at`

func scanAnswerKey(row pgx.Row) (AnswerKey, error) {
	var k AnswerKey
	var used *time.Time
	err := row.Scan(&k.ID, &k.FormID, &k.Version, &k.TestType, &k.TestVersion, &k.Part, &k.Items, &k.Rule, &k.CreatedAt, &used)
	if errors.Is(err, pgx.ErrNoRows) {
		return AnswerKey{}, ErrNotFound
	}
	if err != nil {
		return AnswerKey{}, fmt.Errorf("read answer key: %w", err)
	}
	if used != nil {
		k.Used, k.FirstUsedAt = true, *used
	}
	return k, nil
}

// AnswerKeyByID reads one answer key.
func (s *Store) AnswerKeyByID(ctx context.Context, id uuid.UUID) (AnswerKey, error) {
	k, err := scanAnswerKey(s.pool.QueryRow(ctx, `SELECT `+answerKeyColumns+` FROM answer_keys WHERE id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return k, classify(err)
	}
	return k, err
}

// AnswerKeyByForm reads one version of a form's answer key; version 0 reads
// the latest. ErrNotFound if there is no such form or version.
func (s *Store) AnswerKeyByForm(ctx context.Context, formID string, version int) (AnswerKey, error) {
	if version < 0 {
		return AnswerKey{}, ErrNotFound
	}
	k, err := scanAnswerKey(s.pool.QueryRow(ctx, `SELECT `+answerKeyColumns+` FROM answer_keys
		WHERE form_id = $1 AND ($2 = 0 OR version = $2) ORDER BY version DESC LIMIT 1`, formID, version))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return k, classify(err)
	}
	return k, err
}

// AnswerKeyVersions lists every version of a form's answer key, oldest
// first. ErrNotFound if the form has none.
func (s *Store) AnswerKeyVersions(ctx context.Context, formID string) ([]AnswerKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+answerKeyColumns+` FROM answer_keys WHERE form_id = $1 ORDER BY version`, formID)
	if err != nil {
		return nil, classify(fmt.Errorf("list answer keys: %w", err))
	}
	defer rows.Close()
	var out []AnswerKey
	for rows.Next() {
		k, err := scanAnswerKey(rows)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("list answer keys: %w", err))
	}
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	return out, nil
}

// MarkAnswerKeyUsed records that the key has marked a sheet, which freezes
// it. It sets first_used_at once and is idempotent; ErrNotFound if there is
// no such key.
func (s *Store) MarkAnswerKeyUsed(ctx context.Context, id uuid.UUID) error {
	var found bool
	err := s.pool.QueryRow(ctx, `
		WITH marked AS (UPDATE answer_keys SET first_used_at = now() WHERE id = $1 AND first_used_at IS NULL RETURNING id)
		SELECT EXISTS (SELECT 1 FROM marked) OR EXISTS (SELECT 1 FROM answer_keys WHERE id = $1)`, id).Scan(&found)
	if err != nil {
		return classify(fmt.Errorf("mark answer key used: %w", err))
	}
	if !found {
		return ErrNotFound
	}
	return nil
}
