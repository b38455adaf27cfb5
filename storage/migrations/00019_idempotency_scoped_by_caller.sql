-- +goose Up
-- A course registration's Idempotency-Key is no longer one global column:
-- like every other key it lives in idempotency_keys, scoped by route and
-- caller and bound to a hash of its request. Keys stored here were global
-- and bound to no request; they are not carried over (a retry across the
-- upgrade registers again rather than returning somebody else's
-- registration). The registrations themselves are unchanged.
ALTER TABLE course_registrations DROP COLUMN idempotency_key;

-- +goose Down
ALTER TABLE course_registrations ADD COLUMN idempotency_key text UNIQUE;
