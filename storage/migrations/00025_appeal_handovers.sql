-- +goose Up
-- T08: an appeal handed to the instance that decides it outside HK-dir (a
-- formal-error complaint to the test centre, a maintained decision to the
-- County Governor) is a release of personal data, recorded as a disclosure
-- with action 'forward' in the same transaction as the step that hands it
-- over.
ALTER TABLE disclosures DROP CONSTRAINT disclosures_action_check;
ALTER TABLE disclosures ADD CONSTRAINT disclosures_action_check CHECK (action IN ('publish', 'withdraw', 'release', 'forward'));

-- +goose Down
-- Rows already forwarded stay; the older code writes no new ones.
ALTER TABLE disclosures DROP CONSTRAINT disclosures_action_check;
ALTER TABLE disclosures ADD CONSTRAINT disclosures_action_check CHECK (action IN ('publish', 'withdraw', 'release')) NOT VALID;
