package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Roles an API key can have.
const (
	RoleAdmin     = "admin"
	RoleMember    = "member"
	RolePublisher = "publisher"
	// RoleReader reads events by id, nothing else: the key a thin
	// webhook's receiver fetches the full event with.
	RoleReader = "reader"
)

// APIKey is a stored key: only its hash and a short prefix are kept.
type APIKey struct {
	ID        uuid.UUID  `db:"id"`
	AccountID uuid.UUID  `db:"account_id"`
	Role      string     `db:"role"`
	Label     string     `db:"label"`
	KeyHash   []byte     `db:"key_hash"`
	KeyPrefix string     `db:"key_prefix"`
	CreatedAt time.Time  `db:"created_at"`
	RevokedAt *time.Time `db:"revoked_at"`
}

// NewAPIKey is a key to store: its hash and display prefix, never the key.
type NewAPIKey struct {
	AccountID uuid.UUID
	Role      string
	Label     string
	Hash      []byte
	Prefix    string
}

// CreateAPIKey stores a key.
func (s *Store) CreateAPIKey(ctx context.Context, k NewAPIKey) (APIKey, error) {
	return createAPIKey(ctx, s.db, k)
}

func createAPIKey(ctx context.Context, q queryer, nk NewAPIKey) (APIKey, error) {
	var k APIKey
	err := q.GetContext(ctx, &k, `
		INSERT INTO api_keys (id, account_id, role, label, key_hash, key_prefix)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+apiKeyColumns,
		uuid.New(), nk.AccountID, nk.Role, nk.Label, nk.Hash, nk.Prefix)
	if err != nil {
		return APIKey{}, fmt.Errorf("creating api key: %w", translate(err))
	}
	return k, nil
}

// APIKeyWithAccount is an active key joined with its account, for authentication.
type APIKeyWithAccount struct {
	KeyID       uuid.UUID `db:"key_id"`
	Role        string    `db:"role"`
	AccountID   uuid.UUID `db:"account_id"`
	AccountName string    `db:"account_name"`
	Plan        string    `db:"plan"`
}

// Authenticate finds the active key with this hash.
func (s *Store) Authenticate(ctx context.Context, keyHash []byte) (APIKeyWithAccount, error) {
	var k APIKeyWithAccount
	err := s.getPrepared(ctx, &k, `
		SELECT k.id AS key_id, k.role, a.id AS account_id, a.name AS account_name, a.plan
		FROM api_keys k JOIN accounts a ON a.id = k.account_id
		WHERE k.key_hash = $1 AND k.revoked_at IS NULL`, keyHash)
	if err != nil {
		return APIKeyWithAccount{}, fmt.Errorf("authenticating api key: %w", translate(err))
	}
	return k, nil
}

// ListAPIKeys returns the account's active keys, newest first.
func (s *Store) ListAPIKeys(ctx context.Context, accountID uuid.UUID) ([]APIKey, error) {
	keys := []APIKey{}
	err := s.db.SelectContext(ctx, &keys, `
		SELECT `+apiKeyColumns+` FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL
		ORDER BY created_at DESC, id DESC`, accountID)
	if err != nil {
		return nil, fmt.Errorf("listing api keys: %w", translate(err))
	}
	return keys, nil
}

// RevokeAPIKey revokes a key of the account; ErrNotFound when there is none.
func (s *Store) RevokeAPIKey(ctx context.Context, accountID, id uuid.UUID) error {
	res, err := s.db.ExecContext(ctx, `
		UPDATE api_keys SET revoked_at = now()
		WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL`, id, accountID)
	if err != nil {
		return fmt.Errorf("revoking api key: %w", translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoking api key: %w", ErrNotFound)
	}
	return nil
}

// apiKeyColumns lists APIKey's columns (see deliveryColumns).
const apiKeyColumns = `id, account_id, role, label, key_hash, key_prefix, created_at, revoked_at`
