-- +goose Up
-- Every release of personal data to a third party (T08): recipient, legal
-- basis, data categories and time. Publications to the Diploma Registry are
-- recorded here with their publication key.
CREATE TABLE disclosures (
    id              uuid PRIMARY KEY,
    candidate_id    uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    registration_id uuid,
    recipient       text NOT NULL,
    legal_basis     text NOT NULL,
    categories      text[] NOT NULL,
    action          text NOT NULL CHECK (action IN ('publish', 'withdraw')),
    reference       text NOT NULL,
    disclosed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disclosures_candidate ON disclosures (candidate_id);

-- +goose Down
DROP TABLE disclosures;
