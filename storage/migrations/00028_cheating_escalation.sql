-- +goose Up
-- T17, legal holds with an end: a provisional cheating report left
-- undecided past EXAMFLOW_CHEATING_ESCALATE_AFTER is escalated to case
-- handlers; escalated_at records when (a time, no personal data).
ALTER TABLE discrepancies ADD COLUMN escalated_at timestamptz;
ALTER TABLE discrepancies ADD CONSTRAINT discrepancies_escalated_cheating
    CHECK (escalated_at IS NULL OR kind = 'provisional_cheating');

-- +goose Down
ALTER TABLE discrepancies DROP CONSTRAINT discrepancies_escalated_cheating;
ALTER TABLE discrepancies DROP COLUMN escalated_at;
