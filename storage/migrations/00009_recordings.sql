-- +goose Up
-- Audio recordings of the C1 reading comprehension and oral communication
-- part (T15). The audio is in MinIO under audio/<registration>/<recording>;
-- the key holds no personal data.
CREATE TABLE recordings (
    id              uuid PRIMARY KEY,
    registration_id uuid NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
    part            text NOT NULL,
    object_key      text NOT NULL UNIQUE,
    content_type    text NOT NULL,
    size_bytes      bigint NOT NULL,
    sha256          text NOT NULL,
    uploaded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recordings_registration ON recordings (registration_id);

-- +goose Down
DROP TABLE recordings;
