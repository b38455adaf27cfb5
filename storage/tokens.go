package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TokenPrefix starts every examflow API key, so a leaked one is easy to
// recognise (secret scanners, logs).
const TokenPrefix = "efk_"

// ErrInvalidToken: no such token, or it is revoked or expired.
var ErrInvalidToken = errors.New("invalid, revoked or expired token")

// Token is an API key's record. The secret itself is never stored.
type Token struct {
	ID         uuid.UUID
	Name       string
	Roles      []string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

func hashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateToken creates an API key for a person or an integration with the
// given roles and returns the secret, which is shown only this once.
func (s *Store) CreateToken(ctx context.Context, name string, roles []string, expiresAt *time.Time) (string, Token, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", Token{}, fmt.Errorf("generate token: %w", err)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(buf)
	t := Token{ID: uuid.Must(uuid.NewV7()), Name: name, Roles: roles, ExpiresAt: expiresAt}
	err := s.pool.QueryRow(ctx, `INSERT INTO api_tokens (id, name, roles, hash, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
		t.ID, name, roles, hashToken(secret), expiresAt).Scan(&t.CreatedAt)
	if err != nil {
		return "", Token{}, classify(fmt.Errorf("create token: %w", err))
	}
	return secret, t, nil
}

// AuthenticateToken returns the token a secret belongs to if it is valid
// now, and notes its use.
func (s *Store) AuthenticateToken(ctx context.Context, secret string, now time.Time) (Token, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return Token{}, ErrInvalidToken
	}
	var t Token
	err := s.pool.QueryRow(ctx, `UPDATE api_tokens SET last_used_at = $2
		WHERE hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
		RETURNING id, name, roles, created_at, expires_at, revoked_at, last_used_at`, hashToken(secret), now).
		Scan(&t.ID, &t.Name, &t.Roles, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, ErrInvalidToken
	}
	if err != nil {
		return Token{}, classify(fmt.Errorf("authenticate token: %w", err))
	}
	return t, nil
}

// Tokens lists every API key, newest first, without secrets.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, roles, created_at, expires_at, revoked_at, last_used_at FROM api_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, classify(fmt.Errorf("list tokens: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Token, error) {
		var t Token
		err := row.Scan(&t.ID, &t.Name, &t.Roles, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.LastUsedAt)
		return t, err
	})
	if err != nil {
		return nil, classify(fmt.Errorf("list tokens: %w", err))
	}
	return out, nil
}

// RevokeToken revokes an API key at once. Revoking it again is no error;
// an unknown ID is ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return classify(fmt.Errorf("revoke token: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
