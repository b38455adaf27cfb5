-- +goose Up
-- Sensitive data (T07): country of origin and mother tongue exist only for
-- candidates registered before 15 February 2022. They have their own table,
-- so nothing else can hold them, and the database itself refuses a later
-- registration date. original_registration_date is the date of the legacy
-- registration under which they were recorded.
CREATE TABLE candidate_sensitive (
    candidate_id               uuid PRIMARY KEY REFERENCES candidates (id) ON DELETE CASCADE,
    country_of_origin          text CHECK (country_of_origin ~ '^[A-Z]{2}$'),
    mother_tongue              text CHECK (mother_tongue ~ '^[a-z]{2,3}$'),
    original_registration_date date NOT NULL,
    recorded_at                timestamptz NOT NULL DEFAULT now(),
    CHECK (original_registration_date < DATE '2022-02-15'),
    CHECK (country_of_origin IS NOT NULL OR mother_tongue IS NOT NULL)
);

-- The original date of a registration imported from the legacy system; NULL
-- for registrations made in examflow.
ALTER TABLE registrations ADD COLUMN original_registration_date date;

-- Merges of duplicate candidates found to be one person. merged_id is not a
-- foreign key: the duplicate's row is deleted by the merge. A record goes
-- with its survivor when the survivor is deleted, and follows the survivor
-- into a later merge. reason may hold personal data, so it is never logged.
CREATE TABLE candidate_merges (
    id                  uuid PRIMARY KEY,
    survivor_id         uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    merged_id           uuid NOT NULL UNIQUE,
    reason              text NOT NULL CHECK (reason <> ''),
    decided_by          text NOT NULL CHECK (decided_by <> ''),
    registrations_moved integer NOT NULL,
    identifiers_moved   integer NOT NULL,
    merged_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (survivor_id <> merged_id)
);
CREATE INDEX candidate_merges_survivor ON candidate_merges (survivor_id);

-- +goose Down
DROP TABLE candidate_merges;
ALTER TABLE registrations DROP COLUMN original_registration_date;
DROP TABLE candidate_sensitive;
