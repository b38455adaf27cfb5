-- +goose Up
-- The audit log (docs/audit.md): every read or change of personal data by a
-- person. It is append-only and hash-chained: each row's hash is SHA-256
-- over the previous row's hash and a canonical encoding of the row
-- (storage/audit.go, auditHash), so a changed or removed row shows when the
-- chain is verified (`examflow audit verify`).
--
-- Only Store.Audit appends: it takes pg_advisory_xact_lock, reads the last
-- hash, draws the next id from the identity sequence and inserts, all in one
-- transaction, so appends from several API replicas form one chain. Ids are
-- therefore consecutive, and a gap means a missing row (or an append that
-- failed after drawing its id, which VerifyAudit reports just the same).
--
-- Rows hold no personal data beyond the acting person's ID: the subject is an
-- opaque UUID and `fields` names fields or categories, never their values.
CREATE TABLE audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME audit_log_id_seq) PRIMARY KEY,
    occurred_at   timestamptz NOT NULL,
    who           text NOT NULL CHECK (who <> ''),
    role          text NOT NULL CHECK (role <> ''),
    purpose       text NOT NULL CHECK (purpose <> ''),
    action        text NOT NULL CHECK (action <> ''),
    subject_kind  text NOT NULL DEFAULT '' CHECK (subject_kind IN ('', 'candidate', 'registration')),
    subject_id    uuid,
    fields        text[] NOT NULL DEFAULT '{}',
    operation     text NOT NULL DEFAULT '',
    prev_hash     bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash          bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    CHECK ((subject_kind = '') = (subject_id IS NULL))
);
CREATE INDEX audit_log_subject ON audit_log (subject_id, id) WHERE subject_id IS NOT NULL;
CREATE INDEX audit_log_who ON audit_log (who, id);
CREATE INDEX audit_log_occurred_at ON audit_log (occurred_at);

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit entries are never changed or deleted; append a new entry instead.';
END;
$$;
-- +goose StatementEnd

-- One statement-level trigger refuses every UPDATE, DELETE and TRUNCATE,
-- whoever runs it (the table's owner and superusers included) and even when
-- no row matches. ENABLE ALWAYS makes it fire also under
-- session_replication_role = replica, so getting past it takes DDL
-- (ALTER TABLE ... DISABLE TRIGGER), which only the table's owner or a
-- superuser may run and which the server's DDL statement log records.
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;

-- Production. The triggers bind everyone, but the owner of a table can drop
-- or disable its triggers. So in production the migrations run as an owner
-- role (here `examflow_owner`) and the API and worker connect as another role
-- (here `examflow_app`) that does not own audit_log and holds only what
-- appending and reading need. After `examflow migrate`, the owner runs:
--
--   REVOKE ALL ON audit_log FROM PUBLIC, examflow_app;
--   GRANT SELECT, INSERT ON audit_log TO examflow_app;
--   GRANT USAGE, SELECT ON SEQUENCE audit_log_id_seq TO examflow_app;
--
-- (equivalently, if examflow_app had been granted more:
--   REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM examflow_app;)
-- so an UPDATE, DELETE or TRUNCATE by the application fails on privileges
-- before it even reaches the trigger. `SELECT` on the sequence lets
-- VerifyAudit see ids that were drawn but have no row (a deleted tail).
-- Verify the chain regularly with `examflow audit verify` and record the
-- printed head hash outside the database (docs/audit.md).

-- +goose Down
-- Dropping the table destroys the audit log: for development databases only.
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
