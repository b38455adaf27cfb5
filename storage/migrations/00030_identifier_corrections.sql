-- +goose Up
-- T18: identifiers are the lookup index, so a person does not rectify them
-- through a request; a case handler corrects one with evidence, and each
-- correction is recorded here (which kind, by whom, why, when; never the
-- old or new value). The record goes with the candidate. reason may hold
-- personal data, so it is never logged.
CREATE TABLE identifier_corrections (
    id           uuid PRIMARY KEY,
    candidate_id uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('national_id', 'duf_number', 'passport_number')),
    reason       text NOT NULL CHECK (reason <> ''),
    corrected_by text NOT NULL CHECK (corrected_by <> ''),
    corrected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identifier_corrections_candidate ON identifier_corrections (candidate_id);

-- +goose Down
DROP TABLE identifier_corrections;
