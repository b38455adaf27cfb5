-- +goose Up
-- Courses, training and events of the customs department for user dialogue
-- (C01-C11). No personal data in courses.
CREATE TABLE courses (
    id                uuid PRIMARY KEY,
    title             text NOT NULL CHECK (title <> ''),
    course_type       text NOT NULL CHECK (course_type ~ '^[a-z0-9_]{1,40}$'),
    event_date        date NOT NULL,
    paid              boolean NOT NULL,
    profile_questions boolean NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- A registration is consent (C03): its time and the policy version are
-- kept with it. Everything personal (name, e-mail, invoice details, profile
-- answers) is in sealed, encrypted with the registration's own data key
-- (course_keys): deleting the key shreds it (C06, C10).
CREATE TABLE course_registrations (
    id              uuid PRIMARY KEY,
    course_id       uuid NOT NULL REFERENCES courses (id),
    sealed          bytea NOT NULL,
    consent_at      timestamptz NOT NULL,
    policy_version  text NOT NULL,
    stage           text NOT NULL DEFAULT 'CourseRegistered',
    completed_at    timestamptz,
    completed_by    text,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    workflow_id     text NOT NULL,
    idempotency_key text UNIQUE
);
CREATE INDEX course_registrations_course ON course_registrations (course_id);

CREATE TABLE course_keys (
    registration_id uuid PRIMARY KEY REFERENCES course_registrations (id) ON DELETE CASCADE,
    wrapped_key     bytea NOT NULL,
    master_key_id   text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- What is left after a deletion: that it happened, why and when. No
-- personal data.
CREATE TABLE course_deletions (
    registration_id uuid PRIMARY KEY,
    course_id       uuid NOT NULL,
    reason          text NOT NULL CHECK (reason IN ('consent_withdrawn', 'retention_expired')),
    rows_deleted    integer NOT NULL,
    objects_removed integer NOT NULL,
    deleted_at      timestamptz NOT NULL
);

-- Anonymous course statistics (C05): registrations and completions per
-- course type and month of the event; counts under five are not stored.
CREATE TABLE course_statistics_cells (
    month       date NOT NULL,
    course_type text NOT NULL,
    registered  integer CHECK (registered >= 5),
    completed   integer CHECK (completed >= 0),
    suppressed  boolean NOT NULL,
    computed_at timestamptz NOT NULL,
    PRIMARY KEY (month, course_type),
    CHECK (suppressed = (registered IS NULL) AND (registered IS NULL) = (completed IS NULL))
);

-- Notices go to candidates or to course participants.
ALTER TABLE notification_outbox ALTER COLUMN candidate_id DROP NOT NULL;
ALTER TABLE notification_outbox ADD COLUMN course_registration_id uuid REFERENCES course_registrations (id) ON DELETE CASCADE;
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_one_recipient CHECK ((candidate_id IS NULL) <> (course_registration_id IS NULL));

-- The audit log names course participants as subjects too.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_subject_kind_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_subject_kind_check CHECK (subject_kind IN ('', 'candidate', 'registration', 'course_registration'));

-- +goose Down
ALTER TABLE audit_log DROP CONSTRAINT audit_log_subject_kind_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_subject_kind_check CHECK (subject_kind IN ('', 'candidate', 'registration', 'course_registration')) NOT VALID;
DELETE FROM notification_outbox WHERE course_registration_id IS NOT NULL;
ALTER TABLE notification_outbox DROP CONSTRAINT notification_outbox_one_recipient;
ALTER TABLE notification_outbox DROP COLUMN course_registration_id;
ALTER TABLE notification_outbox ALTER COLUMN candidate_id SET NOT NULL;
DROP TABLE course_statistics_cells;
DROP TABLE course_deletions;
DROP TABLE course_keys;
DROP TABLE course_registrations;
DROP TABLE courses;
