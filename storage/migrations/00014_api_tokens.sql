-- +goose Up
-- API keys: bearer tokens for people and integrations. Only a SHA-256 hash
-- of each token is stored (the tokens are 256-bit random, so a plain hash is
-- enough); the token itself is shown once, when it is created.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (name <> ''),
    roles        text[] NOT NULL CHECK (cardinality(roles) > 0
                     AND roles <@ ARRAY['integration', 'case_handler', 'examiner', 'appeals', 'course_admin', 'dpo', 'statistics']),
    hash         bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- +goose Down
DROP TABLE api_tokens;
