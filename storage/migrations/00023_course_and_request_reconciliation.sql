-- +goose Up
-- Course registrations and subject requests are committed before their
-- workflow starts, as test registrations are: workflow_started_at records
-- that the start was confirmed, so the worker's reconciler starts whatever
-- did not start (Temporal down, the API killed between commit and start).
ALTER TABLE course_registrations ADD COLUMN workflow_started_at timestamptz;
ALTER TABLE subject_requests ADD COLUMN workflow_started_at timestamptz;
-- A request already answered had its workflow; one still open is looked
-- at once by the reconciler, whose start of a workflow that exists is a
-- no-op. Course registrations likewise: each row that exists still has
-- data, so a workflow must exist for it.
UPDATE subject_requests SET workflow_started_at = created_at WHERE answered_at IS NOT NULL;
CREATE INDEX course_registrations_unstarted ON course_registrations (registered_at) WHERE workflow_started_at IS NULL;
CREATE INDEX subject_requests_unstarted ON subject_requests (created_at) WHERE workflow_started_at IS NULL AND answered_at IS NULL;
-- The reconciliation looks for registrations whose 24 months since the
-- consent have passed (C06).
CREATE INDEX course_registrations_consent ON course_registrations (consent_at);

-- +goose Down
DROP INDEX course_registrations_consent;
DROP INDEX subject_requests_unstarted;
DROP INDEX course_registrations_unstarted;
ALTER TABLE subject_requests DROP COLUMN workflow_started_at;
ALTER TABLE course_registrations DROP COLUMN workflow_started_at;
