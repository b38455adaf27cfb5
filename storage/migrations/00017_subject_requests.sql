-- +goose Up
-- Data subject requests (T18-T21): access, rectification, restriction and
-- objection. What the person asked for (changes, grounds) is sealed with the
-- subject's data key. Deleted with the candidate.
CREATE TABLE subject_requests (
    id                   uuid PRIMARY KEY,
    candidate_id         uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    kind                 text NOT NULL CHECK (kind IN ('access', 'rectification', 'restriction', 'objection')),
    received_at          timestamptz NOT NULL,
    original_due_at      timestamptz NOT NULL,
    due_at               timestamptz NOT NULL CHECK (due_at >= original_due_at),
    extension_reason     text,
    identity_method      text CHECK (identity_method IN ('evidence', 'upstream_login')),
    identity_verified_by text,
    identity_verified_at timestamptz,
    details              bytea,
    status               text NOT NULL CHECK (status IN ('awaiting_identity', 'in_progress', 'answered', 'refused')),
    outcome              text,
    outcome_reason       text,
    decided_by           text,
    answered_at          timestamptz,
    export_object        text,
    reminders            integer NOT NULL DEFAULT 0,
    workflow_id          text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subject_requests_open ON subject_requests (due_at) WHERE answered_at IS NULL;

-- A restriction of processing (T18): publication and releases stop while set.
ALTER TABLE candidates ADD COLUMN restricted_at timestamptz, ADD COLUMN restricted_by_request uuid;

-- When a registration's result became final (the appeal window passed and
-- no appeal open): what a republication after a request looks for.
ALTER TABLE registrations ADD COLUMN final_at timestamptz;

-- Releases to other recipients of the catalogue (T08, T10).
ALTER TABLE disclosures DROP CONSTRAINT disclosures_action_check;
ALTER TABLE disclosures ADD CONSTRAINT disclosures_action_check CHECK (action IN ('publish', 'withdraw', 'release'));

-- +goose Down
ALTER TABLE disclosures DROP CONSTRAINT disclosures_action_check;
ALTER TABLE disclosures ADD CONSTRAINT disclosures_action_check CHECK (action IN ('publish', 'withdraw', 'release')) NOT VALID;
ALTER TABLE registrations DROP COLUMN final_at;
ALTER TABLE candidates DROP COLUMN restricted_by_request, DROP COLUMN restricted_at;
DROP TABLE subject_requests;
