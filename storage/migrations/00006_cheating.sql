-- +goose Up
-- Provisional and final decisions on cheating (kept three years: T17, see
-- the retention work) and the quarantines they set.
CREATE TABLE cheating_decisions (
    id               uuid PRIMARY KEY,
    registration_id  uuid NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    candidate_id     uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    test_type        text NOT NULL,
    decision         text NOT NULL CHECK (decision IN ('final', 'dismissed')),
    reasons          text NOT NULL,
    quarantine_until date,
    decided_by       text NOT NULL,
    decided_at       timestamptz NOT NULL
);
CREATE INDEX cheating_decisions_candidate ON cheating_decisions (candidate_id);

-- A candidate under quarantine cannot register for a test of that kind.
CREATE TABLE quarantines (
    candidate_id uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    test_type    text NOT NULL,
    until        date NOT NULL,
    decision_id  uuid NOT NULL REFERENCES cheating_decisions (id) ON DELETE CASCADE,
    PRIMARY KEY (candidate_id, test_type, decision_id)
);

-- +goose Down
DROP TABLE quarantines;
DROP TABLE cheating_decisions;
