-- +goose Up
-- Crypto-shredding. Every data subject (candidate) has its own data key,
-- stored only wrapped by a master key that lives outside the database
-- (EXAMFLOW_MASTER_KEY, or a KMS). The identity, contact details, address
-- and sensitive data are sealed with it (AES-256-GCM); the final deletion
-- destroys it, so copies of the rows in backups can no longer be read. In
-- production this table belongs in a key store whose backups expire quickly.
CREATE TABLE subject_keys (
    candidate_id  uuid PRIMARY KEY REFERENCES candidates (id) ON DELETE CASCADE,
    wrapped_key   bytea NOT NULL,
    master_key_id text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Plaintext personal columns give way to one sealed column each. Rows
-- written before this migration (local development data only) lose them.
ALTER TABLE candidates ADD COLUMN sealed bytea;
ALTER TABLE candidates DROP COLUMN given_name, DROP COLUMN family_name, DROP COLUMN date_of_birth,
    DROP COLUMN national_id, DROP COLUMN duf_number, DROP COLUMN passport_number,
    DROP COLUMN email, DROP COLUMN phone, DROP COLUMN gender;

DELETE FROM candidate_addresses;
ALTER TABLE candidate_addresses DROP COLUMN street, DROP COLUMN postal_code, DROP COLUMN city, DROP COLUMN country;
ALTER TABLE candidate_addresses ADD COLUMN sealed bytea NOT NULL;

-- The date CHECK (T07: nothing sensitive from 15 February 2022) stays.
DELETE FROM candidate_sensitive;
ALTER TABLE candidate_sensitive DROP COLUMN country_of_origin, DROP COLUMN mother_tongue;
ALTER TABLE candidate_sensitive ADD COLUMN sealed bytea NOT NULL;

-- +goose Down
ALTER TABLE candidate_sensitive DROP COLUMN sealed;
ALTER TABLE candidate_sensitive ADD COLUMN country_of_origin text, ADD COLUMN mother_tongue text;
ALTER TABLE candidate_addresses DROP COLUMN sealed;
ALTER TABLE candidate_addresses ADD COLUMN street text, ADD COLUMN postal_code text, ADD COLUMN city text, ADD COLUMN country text;
ALTER TABLE candidates DROP COLUMN sealed;
ALTER TABLE candidates ADD COLUMN given_name text, ADD COLUMN family_name text, ADD COLUMN date_of_birth date,
    ADD COLUMN national_id text, ADD COLUMN duf_number text, ADD COLUMN passport_number text,
    ADD COLUMN email text, ADD COLUMN phone text, ADD COLUMN gender text;
DROP TABLE subject_keys;
