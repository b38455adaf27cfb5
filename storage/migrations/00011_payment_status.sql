-- +goose Up
-- Payment status of a registration's fee (T16: kept three years).
ALTER TABLE registrations ADD COLUMN payment_status text
    CHECK (payment_status IN ('paid', 'unpaid', 'free', 'waived'));

-- +goose Down
ALTER TABLE registrations DROP COLUMN payment_status;
