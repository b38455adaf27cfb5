-- +goose Up
-- Candidates: one row per person known to the test system. Personal fields
-- live here and in candidate_addresses only; Temporal sees the UUIDs.
CREATE SEQUENCE candidate_number_seq START 100000;

CREATE TABLE candidates (
    id               uuid PRIMARY KEY,
    candidate_number text NOT NULL UNIQUE,
    given_name       text NOT NULL,
    family_name      text NOT NULL,
    date_of_birth    date NOT NULL,
    national_id      text,
    duf_number       text,
    passport_number  text,
    email            text,
    phone            text,
    gender           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The address has its own retention period (two years), so its own table.
CREATE TABLE candidate_addresses (
    candidate_id uuid PRIMARY KEY REFERENCES candidates (id) ON DELETE CASCADE,
    street       text NOT NULL,
    postal_code  text NOT NULL,
    city         text NOT NULL,
    country      text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- Blind index: an HMAC of each identifier finds the candidate without an
-- index over the identifier itself. The same identifier is the same candidate.
CREATE TABLE candidate_identifiers (
    kind         text NOT NULL CHECK (kind IN ('national_id', 'duf_number', 'passport_number')),
    lookup       bytea NOT NULL,
    candidate_id uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, lookup)
);
CREATE INDEX candidate_identifiers_candidate ON candidate_identifiers (candidate_id);

-- A registration is one candidate's sitting of one test; one lifecycle
-- workflow each.
CREATE TABLE registrations (
    id           uuid PRIMARY KEY,
    candidate_id uuid NOT NULL REFERENCES candidates (id),
    test_type    text NOT NULL CHECK (test_type IN ('citizenship', 'social_studies', 'norwegian_a1_b2', 'norwegian_c1')),
    test_parts   text[] NOT NULL,
    level_band   text,
    language     text,
    written_form text,
    test_centre  text NOT NULL,
    session_date date NOT NULL,
    workflow_id  text NOT NULL UNIQUE,
    stage        text NOT NULL DEFAULT 'Registered',
    workflow_started_at timestamptz,
    registered_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (candidate_id, test_type, session_date)
);
CREATE INDEX registrations_unstarted ON registrations (registered_at) WHERE workflow_started_at IS NULL;

-- Every stage a registration's workflow has entered, written by an idempotent activity.
CREATE TABLE registration_stages (
    registration_id uuid NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    stage           text NOT NULL,
    entered_at      timestamptz NOT NULL,
    PRIMARY KEY (registration_id, stage)
);

-- Idempotency-Key header: the same key and request return the resource the
-- first call created; a different request with the same key is refused.
CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    resource_id  uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE registration_stages;
DROP TABLE registrations;
DROP TABLE candidate_identifiers;
DROP TABLE candidate_addresses;
DROP TABLE candidates;
DROP SEQUENCE candidate_number_seq;
