package storage

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// RequestHash is what an Idempotency-Key is bound to: a keyed hash (the
// blind index secret) of the operation (method and route), the request
// path with its parameters, and the body bytes. Keyed, so that a body carrying an
// identity number cannot be recovered from the hash by trying numbers.
func (s *Store) RequestHash(operation, path string, body []byte) []byte {
	return s.lookup("idempotency-request", operation+"\x00"+path+"\x00"+string(body))
}

// ClaimIdempotencyKey binds k to its request the first time it is used and
// records resource (what the request acts on or creates, so that the row
// is deleted with it). It reports whether this is the first use. The same
// key with another request hash is ErrIdempotencyMismatch; concurrent
// claims of one key are decided by the primary key, so exactly one request
// is bound.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, k IdempotencyKey, resource uuid.UUID) (first bool, err error) {
	// Twice at most: the row may be deleted with its resource in between.
	for range 2 {
		tag, err := s.pool.Exec(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, resource_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (scope, key) DO NOTHING`, k.Scope, k.Key, k.RequestHash, resource)
		if err != nil {
			return false, classify(fmt.Errorf("claim idempotency key: %w", err))
		}
		if tag.RowsAffected() == 1 {
			return true, nil
		}
		var hash []byte
		err = s.pool.QueryRow(ctx, `SELECT request_hash FROM idempotency_keys WHERE scope = $1 AND key = $2`, k.Scope, k.Key).Scan(&hash)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			continue
		case err != nil:
			return false, classify(fmt.Errorf("read idempotency key: %w", err))
		case !hmac.Equal(hash, k.RequestHash):
			return false, ErrIdempotencyMismatch
		}
		return false, nil
	}
	return false, classify(errors.New("claim idempotency key: the key was deleted twice while claimed"))
}

// idempotentResource returns the resource a key created before, inside tx
// and under an advisory lock on the key, so that concurrent requests with
// one key create one resource: found false when the key is new,
// ErrIdempotencyMismatch when it was used for another request.
func idempotentResource(ctx context.Context, tx pgx.Tx, k IdempotencyKey) (id uuid.UUID, found bool, err error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))`, k.Scope, k.Key); err != nil {
		return id, false, fmt.Errorf("lock idempotency key: %w", err)
	}
	var hash []byte
	err = tx.QueryRow(ctx, `SELECT request_hash, resource_id FROM idempotency_keys WHERE scope = $1 AND key = $2`, k.Scope, k.Key).Scan(&hash, &id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return id, false, nil
	case err != nil:
		return id, false, fmt.Errorf("read idempotency key: %w", err)
	case !hmac.Equal(hash, k.RequestHash):
		return id, false, ErrIdempotencyMismatch
	}
	return id, true, nil
}

// storeIdempotencyKey records k for resource inside tx.
func storeIdempotencyKey(ctx context.Context, tx pgx.Tx, k IdempotencyKey, resource uuid.UUID) error {
	if _, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash, resource_id) VALUES ($1, $2, $3, $4)`,
		k.Scope, k.Key, k.RequestHash, resource); err != nil {
		return fmt.Errorf("store idempotency key: %w", err)
	}
	return nil
}
