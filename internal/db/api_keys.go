package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
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
	// Audit is written with it, its resource id set to the key's; nil: none.
	Audit *Audit
}

// CreateAPIKey stores a key.
func (s *Store) CreateAPIKey(ctx context.Context, nk NewAPIKey) (APIKey, error) {
	var k APIKey
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if k, err = createAPIKey(ctx, tx, nk); err != nil || nk.Audit == nil {
			return err
		}
		nk.Audit.Entry.ResourceID = k.ID.String()
		return writeAudit(ctx, tx, nk.Audit)
	})
	return k, err
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
	KeyLabel    string    `db:"key_label"`
	Role        string    `db:"role"`
	AccountID   uuid.UUID `db:"account_id"`
	AccountName string    `db:"account_name"`
	Plan        string    `db:"plan"`
}

// Authenticate finds the active key with this hash.
func (s *Store) Authenticate(ctx context.Context, keyHash []byte) (APIKeyWithAccount, error) {
	var k APIKeyWithAccount
	err := s.getPrepared(ctx, &k, `
		SELECT k.id AS key_id, k.label AS key_label, k.role, a.id AS account_id, a.name AS account_name, a.plan
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

// RevokeAPIKey revokes a key of the account, with a's record; ErrNotFound
// when there is none.
func (s *Store) RevokeAPIKey(ctx context.Context, accountID, id uuid.UUID, a *Audit) error {
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var k APIKey
		if err := tx.GetContext(ctx, &k, `
			UPDATE api_keys SET revoked_at = now()
			WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL RETURNING `+apiKeyColumns, id, accountID); err != nil {
			return translate(err)
		}
		if a != nil {
			a.Entry.Details = AuditDetails{"role": k.Role, "label": k.Label, "prefix": k.KeyPrefix}
		}
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return fmt.Errorf("revoking api key: %w", err)
	}
	return nil
}

// apiKeyColumns lists APIKey's columns (see deliveryColumns).
const apiKeyColumns = `id, account_id, role, label, key_hash, key_prefix, created_at, revoked_at`
