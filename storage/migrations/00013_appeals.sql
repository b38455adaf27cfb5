-- +goose Up
-- Appeals (T22): each is lodged once, decided by its instances, and
-- deleted with the registration (T13). The candidate's grounds are sealed
-- with the subject's data key like every other free text from the candidate.
CREATE TABLE appeals (
    id                  uuid PRIMARY KEY,
    registration_id     uuid NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('formal_error', 'writing_reassessment', 'norwegian_c1', 'decision_appeal')),
    part                text NOT NULL DEFAULT '',
    against             text NOT NULL DEFAULT '' CHECK (against IN ('', 'cheating', 'quarantine', 'formal_error_rejection')),
    received_at         timestamptz NOT NULL,
    deadline            timestamptz NOT NULL,
    late_accepted_by    text,
    late_reason         text,
    grounds             bytea,
    status              text NOT NULL CHECK (status IN ('open', 'county_governor', 'upheld', 'rejected', 'reassessed')),
    workflow_id         text NOT NULL,
    lodged_at           timestamptz NOT NULL,
    closed_at           timestamptz,
    CHECK ((late_accepted_by IS NULL) = (late_reason IS NULL)),
    -- The same thing is appealed once: a rejected complaint is appealed as a decision.
    UNIQUE (registration_id, kind, part, against)
);

-- Each instance's decision on an appeal.
CREATE TABLE appeal_decisions (
    appeal_id   uuid NOT NULL REFERENCES appeals (id) ON DELETE CASCADE,
    instance    text NOT NULL CHECK (instance IN ('test_centre', 'reassessment', 'first_instance', 'county_governor')),
    decision    text NOT NULL CHECK (decision IN ('upheld', 'rejected', 'maintained', 'reassessed')),
    reasons     text NOT NULL,
    decided_by  text NOT NULL CHECK (decided_by <> ''),
    level       text,
    result_id   uuid,
    decided_at  timestamptz NOT NULL,
    PRIMARY KEY (appeal_id, instance)
);

-- A result decided on appeal, and who re-assessed it.
ALTER TABLE results DROP CONSTRAINT results_decided_by_check;
ALTER TABLE results ADD CONSTRAINT results_decided_by_check CHECK (decided_by IN ('automated', 'examiners', 'case_handler', 'appeal'));
ALTER TABLE assessments DROP CONSTRAINT assessments_role_check;
ALTER TABLE assessments ADD CONSTRAINT assessments_role_check CHECK (role IN ('examiner', 'external_examiner', 'third_examiner', 'appeal_examiner'));

-- A final cheating decision reversed on appeal.
ALTER TABLE cheating_decisions ADD COLUMN reversed_at timestamptz, ADD COLUMN reversed_by_appeal uuid;

-- +goose Down
ALTER TABLE cheating_decisions DROP COLUMN reversed_by_appeal, DROP COLUMN reversed_at;
DELETE FROM assessments WHERE role = 'appeal_examiner';
ALTER TABLE assessments DROP CONSTRAINT assessments_role_check;
ALTER TABLE assessments ADD CONSTRAINT assessments_role_check CHECK (role IN ('examiner', 'external_examiner', 'third_examiner'));
ALTER TABLE results DROP CONSTRAINT results_decided_by_check;
ALTER TABLE results ADD CONSTRAINT results_decided_by_check CHECK (decided_by IN ('automated', 'examiners', 'case_handler', 'appeal')) NOT VALID;
DROP TABLE appeal_decisions;
DROP TABLE appeals;
