-- +goose Up
-- The catalogue of test versions (marking/catalogue.json), seeded by
-- `examflow migrate`. definition is the whole marking.TestVersion.
CREATE TABLE test_versions (
    test_type  text NOT NULL CHECK (test_type <> ''),
    version    text NOT NULL CHECK (version <> ''),
    valid_from date NOT NULL,
    valid_to   date CHECK (valid_to >= valid_from),
    definition jsonb NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    PRIMARY KEY (test_type, version)
);

-- Answer keys of machine-marked parts, versioned per form. A key that has
-- marked anything (first_used_at set) never changes, so every marked result
-- can be traced to the exact key; a correction is a new version of the form.
-- No personal data.
CREATE TABLE answer_keys (
    id            uuid PRIMARY KEY,
    form_id       text NOT NULL CHECK (form_id <> ''),
    version       integer NOT NULL CHECK (version >= 1),
    test_type     text NOT NULL,
    test_version  text NOT NULL,
    part          text NOT NULL,
    items         jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array'),
    rule          jsonb NOT NULL CHECK (jsonb_typeof(rule) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    first_used_at timestamptz,
    UNIQUE (form_id, version),
    FOREIGN KEY (test_type, test_version) REFERENCES test_versions (test_type, version)
);
CREATE INDEX answer_keys_test_version ON answer_keys (test_type, test_version, part);

-- +goose StatementBegin
CREATE FUNCTION answer_keys_immutable_once_used() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.first_used_at IS NULL THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'answer key % version % has marked results and cannot be deleted', OLD.form_id, OLD.version
            USING ERRCODE = 'restrict_violation', HINT = 'Create a new version of the form instead.';
    END IF;
    IF NEW IS DISTINCT FROM OLD THEN
        RAISE EXCEPTION 'answer key % version % has marked results and cannot be changed', OLD.form_id, OLD.version
            USING ERRCODE = 'restrict_violation', HINT = 'Create a new version of the form instead.';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER answer_keys_immutable_once_used
    BEFORE UPDATE OR DELETE ON answer_keys
    FOR EACH ROW EXECUTE FUNCTION answer_keys_immutable_once_used();

-- +goose Down
DROP TABLE answer_keys;
DROP FUNCTION answer_keys_immutable_once_used();
DROP TABLE test_versions;
