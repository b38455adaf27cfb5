-- +goose Up
-- A test session: one test type at one test centre on one date, with the
-- answer-key form of each machine-marked part fixed before it starts.
CREATE TABLE test_sessions (
    id           uuid PRIMARY KEY,
    test_type    text NOT NULL,
    test_centre  text NOT NULL,
    session_date date NOT NULL,
    test_version text NOT NULL,
    forms        jsonb NOT NULL,           -- {"reading": "form-id", ...} for machine-marked parts
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (test_type, test_centre, session_date),
    CHECK (window_end > window_start)
);

ALTER TABLE registrations ADD COLUMN session_id uuid REFERENCES test_sessions (id);

-- A lifecycle may enter a stage more than once (Tested, UnderReview, Tested).
ALTER TABLE registration_stages DROP CONSTRAINT registration_stages_pkey;
ALTER TABLE registration_stages ADD PRIMARY KEY (registration_id, stage, entered_at);

-- Discrepancies reported by the test centre, for one registration (and
-- optionally one part) or for a whole session.
CREATE TABLE discrepancies (
    id              uuid PRIMARY KEY,
    registration_id uuid REFERENCES registrations (id) ON DELETE CASCADE,
    session_id      uuid REFERENCES test_sessions (id),
    part            text,
    kind            text NOT NULL CHECK (kind IN ('technical_problem', 'did_not_attend', 'valid_absence', 'provisional_cheating')),
    note            text,
    reported_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (registration_id IS NOT NULL OR session_id IS NOT NULL)
);
CREATE INDEX discrepancies_registration ON discrepancies (registration_id);
CREATE INDEX discrepancies_session ON discrepancies (session_id);

-- Test answers, one sheet per registration and part (no second submission).
CREATE TABLE answer_sheets (
    registration_id uuid NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    part            text NOT NULL,
    form_id         text NOT NULL,
    key_version     integer NOT NULL,
    answers         jsonb NOT NULL,
    submitted_at    timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (registration_id, part)
);

-- Results: every decision on a part, automated or human, with its basis.
-- A correction supersedes a result; it is never overwritten.
CREATE TABLE results (
    id              uuid PRIMARY KEY,
    registration_id uuid NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    part            text NOT NULL,
    result          text NOT NULL,
    score           integer,
    max_score       integer,
    answer_key_id   uuid,
    key_version     integer,
    rule            jsonb,
    items           jsonb,
    decided_by      text NOT NULL CHECK (decided_by IN ('automated', 'examiners', 'case_handler')),
    basis           jsonb NOT NULL,
    reason          text,
    decided_at      timestamptz NOT NULL,
    superseded_by   uuid REFERENCES results (id),
    annulled_at     timestamptz
);
CREATE INDEX results_registration ON results (registration_id, part);

-- Examiner assessments of writing and oral parts (T03).
CREATE TABLE assessments (
    registration_id uuid NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    part            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('examiner', 'external_examiner', 'third_examiner')),
    assessor        text NOT NULL,
    level           text NOT NULL,
    assessed_at     timestamptz NOT NULL,
    PRIMARY KEY (registration_id, part, role)
);

-- Manual reviews of results held on a suspected fault (T04, T22).
CREATE TABLE reviews (
    id              uuid PRIMARY KEY,
    registration_id uuid NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    part            text NOT NULL,
    result_id       uuid REFERENCES results (id),
    reasons         text[] NOT NULL,
    opened_at       timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    reminded_at     timestamptz,
    decision        text CHECK (decision IN ('confirm', 'correct', 'annul')),
    reason          text,
    decided_by      text,
    decided_at      timestamptz,
    UNIQUE (registration_id, part, opened_at)
);

-- +goose Down
DROP TABLE reviews;
DROP TABLE assessments;
DROP TABLE results;
DROP TABLE answer_sheets;
DROP TABLE discrepancies;
ALTER TABLE registration_stages DROP CONSTRAINT registration_stages_pkey;
ALTER TABLE registration_stages ADD PRIMARY KEY (registration_id, stage);
ALTER TABLE registrations DROP COLUMN session_id;
DROP TABLE test_sessions;
