-- +goose Up
-- T18, an upheld objection stops the processing it objects to: one row per
-- purpose of each upheld objection (policy.ObjectionRules). IDs, a purpose
-- and a time: no personal data. Keyed by the request, so a merge moves a
-- duplicate's rows to the survivor without a conflict.
CREATE TABLE processing_objections (
    request_id   uuid NOT NULL,
    purpose      text NOT NULL,
    candidate_id uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    upheld_at    timestamptz NOT NULL,
    PRIMARY KEY (request_id, purpose)
);
CREATE INDEX processing_objections_candidate ON processing_objections (candidate_id, purpose);

-- +goose Down
DROP TABLE processing_objections;
