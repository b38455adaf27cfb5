-- +goose Up
-- What was deleted, when, for which registration: no personal data, so it
-- stays when everything else about the subject is gone.
CREATE TABLE deletion_records (
    id              uuid PRIMARY KEY,
    registration_id uuid NOT NULL,
    category        text NOT NULL,
    due_at          timestamptz NOT NULL,
    deleted_at      timestamptz NOT NULL DEFAULT now(),
    rows_deleted    integer NOT NULL,
    subject_deleted boolean NOT NULL DEFAULT false,
    UNIQUE (registration_id, category)
);

-- +goose Down
DROP TABLE deletion_records;
