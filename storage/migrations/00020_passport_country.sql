-- +goose Up
-- A passport number is unique only within its issuing country. Registration
-- now records a passport under kind 'passport': the blind index of the
-- issuing country and the number together, which is what matches a
-- candidate. The number alone ('passport_number') is still recorded, for a
-- weak match only: a registration whose passport number is known with
-- another country (or none, as every passport registered before this
-- migration) gets a new candidate, and the pair is flagged here for a case
-- handler, who merges or dismisses it. The issuing country is not stored
-- anywhere else. Identifiers recorded before stay as they are.
ALTER TABLE candidate_identifiers DROP CONSTRAINT candidate_identifiers_kind_check;
ALTER TABLE candidate_identifiers ADD CONSTRAINT candidate_identifiers_kind_check
    CHECK (kind IN ('national_id', 'duf_number', 'passport_number', 'passport'));

-- Possible duplicates for a case handler: candidate_id was created by a
-- registration whose identifiers only weakly match other_id. No personal
-- data: the reason names the kind of match, never a value. A merge of the
-- pair removes the flag; a dismissal keeps it, resolved.
CREATE TABLE candidate_possible_duplicates (
    id           uuid PRIMARY KEY,
    candidate_id uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    other_id     uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    reason       text NOT NULL CHECK (reason <> ''),
    flagged_at   timestamptz NOT NULL DEFAULT now(),
    dismissed_at timestamptz,
    dismissed_by text,
    dismissal_reason text,
    CHECK (candidate_id <> other_id),
    CHECK ((dismissed_at IS NULL) = (dismissed_by IS NULL)),
    UNIQUE (candidate_id, other_id)
);
CREATE INDEX candidate_possible_duplicates_open ON candidate_possible_duplicates (flagged_at) WHERE dismissed_at IS NULL;
CREATE INDEX candidate_possible_duplicates_other ON candidate_possible_duplicates (other_id);

-- +goose Down
DROP TABLE candidate_possible_duplicates;
DELETE FROM candidate_identifiers WHERE kind = 'passport';
ALTER TABLE candidate_identifiers DROP CONSTRAINT candidate_identifiers_kind_check;
ALTER TABLE candidate_identifiers ADD CONSTRAINT candidate_identifiers_kind_check
    CHECK (kind IN ('national_id', 'duf_number', 'passport_number'));
