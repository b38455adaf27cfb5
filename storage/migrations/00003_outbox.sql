-- +goose Up
-- Transactional outbox of candidate notifications. An activity enqueues a
-- row (idempotent by dedupe_key); the drainer in the worker claims due rows,
-- renders and sends them, and records the outcome. The recipient address is
-- not copied here: it is read from candidates.email when the row is sent, so
-- a rectified address takes effect and a deleted candidate (whose rows
-- cascade away) is never mailed. payload holds non-personal template values
-- only, such as {"test_type": "citizenship"}.
CREATE TABLE notification_outbox (
    id              uuid PRIMARY KEY,
    dedupe_key      text NOT NULL UNIQUE,
    candidate_id    uuid NOT NULL REFERENCES candidates (id) ON DELETE CASCADE,
    registration_id uuid REFERENCES registrations (id) ON DELETE CASCADE,
    kind            text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(payload) = 'object'),
    purpose         text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Delivery attempts that reached an outcome (sent or failed).
    attempts        integer NOT NULL DEFAULT 0,
    -- When the row is next due. A claim pushes it forward by the lease, so
    -- two drainers never send the same row at once.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Set once the mail server accepted the message.
    sent_at         timestamptz,
    -- Set when sending failed for good (no address, address refused, unknown
    -- kind): the row is never tried again. sent_at stays NULL, so it always
    -- means "a mail was delivered to the server".
    failed_at       timestamptz,
    -- The last failure, as a classified message without any address.
    last_error      text,
    CHECK (sent_at IS NULL OR failed_at IS NULL)
);

CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX notification_outbox_registration ON notification_outbox (registration_id) WHERE registration_id IS NOT NULL;
CREATE INDEX notification_outbox_candidate ON notification_outbox (candidate_id);

-- +goose Down
DROP TABLE notification_outbox;
