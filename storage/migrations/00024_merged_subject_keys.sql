-- +goose Up
-- A merge keeps the duplicate's data key, wrapped as before, as a key of the
-- survivor: it still opens what was encrypted with it outside the database
-- (audio recordings and access exports in MinIO), which the merge cannot
-- re-encrypt inside its transaction. What the database holds sealed (the
-- person, address, sensitive data, appeal grounds and request details) is
-- sealed again with the survivor's key in the merge. The key goes with the
-- survivor's final deletion (crypto-shredding), like the survivor's own.
CREATE TABLE merged_subject_keys (
    merged_id     uuid PRIMARY KEY,
    candidate_id  uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    wrapped_key   bytea NOT NULL,
    master_key_id text NOT NULL,
    merged_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merged_subject_keys_candidate ON merged_subject_keys (candidate_id);

-- +goose Down
DROP TABLE merged_subject_keys;
