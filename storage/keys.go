package storage

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrKeyDestroyed: the subject's data key is gone (crypto-shredded).
var ErrKeyDestroyed = errors.New("the subject's data key has been destroyed")

// KeyRing wraps and unwraps the subjects' data keys with a master key.
// LocalKeyRing keeps the master key in configuration; a KMS can implement
// the same interface.
type KeyRing interface {
	Wrap(ctx context.Context, dataKey []byte) (wrapped []byte, masterKeyID string, err error)
	Unwrap(ctx context.Context, wrapped []byte, masterKeyID string) ([]byte, error)
}

// LocalKeyRing is a KeyRing with AES-256-GCM master keys held in memory.
type LocalKeyRing struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewLocalKeyRing returns a key ring with the master keys (ID to 32 bytes)
// that wraps with current; the others still unwrap (rotation).
func NewLocalKeyRing(keys map[string][]byte, current string) (*LocalKeyRing, error) {
	k := &LocalKeyRing{current: current, aeads: map[string]cipher.AEAD{}}
	for id, key := range keys {
		a, err := newAEAD(key)
		if err != nil {
			return nil, fmt.Errorf("master key %q: %w", id, err)
		}
		k.aeads[id] = a
	}
	if _, ok := k.aeads[current]; !ok {
		return nil, fmt.Errorf("no master key with the current id %q", current)
	}
	return k, nil
}

// Wrap seals a data key with the current master key.
func (k *LocalKeyRing) Wrap(_ context.Context, dataKey []byte) ([]byte, string, error) {
	sealed, err := seal(k.aeads[k.current], dataKey, []byte("subject-key/"+k.current))
	return sealed, k.current, err
}

// Unwrap opens a wrapped data key.
func (k *LocalKeyRing) Unwrap(_ context.Context, wrapped []byte, id string) ([]byte, error) {
	a, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("unknown master key %q", id)
	}
	return open(a, wrapped, []byte("subject-key/"+id))
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func seal(a cipher.AEAD, plain, ad []byte) ([]byte, error) {
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return a.Seal(nonce, nonce, plain, ad), nil
}

func open(a cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < a.NonceSize() {
		return nil, errors.New("ciphertext too short")
	}
	plain, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], ad)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	return plain, nil
}

// subjectKey returns the candidate's data key inside a transaction. With
// create it makes one if there is none; without, a missing key is
// ErrKeyDestroyed.
func (s *Store) subjectKey(ctx context.Context, tx pgx.Tx, candidateID uuid.UUID, create bool) ([]byte, error) {
	return s.dataKey(ctx, tx, "subject_keys", "candidate_id", candidateID, create)
}

// dataKey reads (or creates) a data key wrapped by the master key from a
// key table: subject_keys for candidates, course_keys for course
// registrations. Deleting the row shreds what the key sealed.
func (s *Store) dataKey(ctx context.Context, tx pgx.Tx, table, column string, id uuid.UUID, create bool) ([]byte, error) {
	if s.keys == nil {
		return nil, errors.New("no key ring configured")
	}
	var wrapped []byte
	var keyID string
	err := tx.QueryRow(ctx, `SELECT wrapped_key, master_key_id FROM `+table+` WHERE `+column+` = $1`, id).Scan(&wrapped, &keyID)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && create:
		dek := make([]byte, 32)
		if _, err := rand.Read(dek); err != nil {
			return nil, fmt.Errorf("data key: %w", err)
		}
		if wrapped, keyID, err = s.keys.Wrap(ctx, dek); err != nil {
			return nil, fmt.Errorf("wrap data key: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (`+column+`, wrapped_key, master_key_id) VALUES ($1, $2, $3)`,
			id, wrapped, keyID); err != nil {
			return nil, fmt.Errorf("store data key: %w", err)
		}
		return dek, nil
	case errors.Is(err, pgx.ErrNoRows):
		return nil, ErrKeyDestroyed
	case err != nil:
		return nil, fmt.Errorf("read data key: %w", err)
	}
	return s.keys.Unwrap(ctx, wrapped, keyID)
}

// sealJSON encrypts a value as JSON with a subject's data key; the
// candidate ID and what the value is are bound as additional data, so a
// sealed value cannot be moved to another subject or column.
func sealJSON(dek []byte, candidateID uuid.UUID, what string, v any) ([]byte, error) {
	a, err := newAEAD(dek)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", what, err)
	}
	return seal(a, plain, append(candidateID[:], what...))
}

// openJSON decrypts a value sealed with sealJSON.
func openJSON(dek []byte, candidateID uuid.UUID, what string, sealed []byte, v any) error {
	a, err := newAEAD(dek)
	if err != nil {
		return err
	}
	plain, err := open(a, sealed, append(candidateID[:], what...))
	if err != nil {
		return fmt.Errorf("open %s: %w", what, err)
	}
	return json.Unmarshal(plain, v)
}

// RegistrationKey returns the data key of a registration's subject,
// creating it if needed: what its audio is encrypted with.
func (s *Store) RegistrationKey(ctx context.Context, regID uuid.UUID) ([]byte, error) {
	var dek []byte
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var candidateID uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT candidate_id FROM registrations WHERE id = $1`, regID).Scan(&candidateID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("read registration: %w", err)
		}
		var err error
		dek, err = s.subjectKey(ctx, tx, candidateID, true)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return dek, classify(err)
}
