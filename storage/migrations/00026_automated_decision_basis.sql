-- +goose Up
-- T02: every automated marking decision is stored with the legal basis the
-- state-test policy gives for automated decisions (integreringsloven § 41
-- (1) e) and integreringsforskriften § 64). Decisions by people carry none.
ALTER TABLE results ADD COLUMN legal_basis text;
UPDATE results SET legal_basis = 'integreringsloven § 41 (1) e); integreringsforskriften § 64' WHERE decided_by = 'automated';
ALTER TABLE results ADD CONSTRAINT results_automated_legal_basis
    CHECK ((decided_by = 'automated') = (legal_basis IS NOT NULL AND legal_basis <> ''));

-- +goose Down
ALTER TABLE results DROP CONSTRAINT results_automated_legal_basis;
ALTER TABLE results DROP COLUMN legal_basis;
