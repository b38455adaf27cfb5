-- +goose Up
-- T05: the source of each datum. A registration's personal data comes from
-- the candidate (the registration portal) or a public authority; test-day
-- data has a fixed source recorded with it.
ALTER TABLE registrations ADD COLUMN source text NOT NULL DEFAULT 'candidate'
    CHECK (source IN ('candidate', 'imdi', 'test_centre', 'county_governor', 'udi', 'ministry', 'population_register'));
ALTER TABLE answer_sheets ADD COLUMN source text NOT NULL DEFAULT 'test_centre';
ALTER TABLE discrepancies ADD COLUMN source text NOT NULL DEFAULT 'test_centre';
ALTER TABLE assessments ADD COLUMN source text NOT NULL DEFAULT 'examiner';

-- +goose Down
ALTER TABLE assessments DROP COLUMN source;
ALTER TABLE discrepancies DROP COLUMN source;
ALTER TABLE answer_sheets DROP COLUMN source;
ALTER TABLE registrations DROP COLUMN source;
