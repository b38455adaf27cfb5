-- +goose Up
-- T18: the final deletion deletes the person's subject requests with them.
-- A request's workflow still open then is closed by the deletion, after it
-- commits; the record keeps the requests' IDs (opaque, no personal data)
-- so that a retried deletion, which finds the rows gone, closes them too.
ALTER TABLE deletion_records ADD COLUMN subject_requests uuid[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE deletion_records DROP COLUMN subject_requests;
