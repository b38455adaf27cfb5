-- +goose Up
-- Secrets a notification carries to its recipient (a course participant's
-- self-service link) are sealed with the recipient's data key, not kept in
-- the clear in payload, and cleared once the notification is sent or has
-- failed for good. A destroyed key makes any left unreadable.
ALTER TABLE notification_outbox ADD COLUMN sealed_secrets bytea;
-- Confirmations sent before kept their link in the clear: drop it. A row
-- still pending keeps it until it is sent (the drainer clears it then).
UPDATE notification_outbox SET payload = payload - 'withdraw_url'
WHERE payload ? 'withdraw_url' AND (sent_at IS NOT NULL OR failed_at IS NOT NULL);

-- +goose Down
ALTER TABLE notification_outbox DROP COLUMN sealed_secrets;
