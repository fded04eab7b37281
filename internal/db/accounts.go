package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// Plans an account can be on. Only Professional includes webhooks.
const (
	PlanTrial        = "trial"
	PlanBasic        = "basic"
	PlanProfessional = "professional"
)

// Account is a company account (a tenant).
type Account struct {
	ID        uuid.UUID `db:"id"`
	Name      string    `db:"name"`
	Plan      string    `db:"plan"`
	CreatedAt time.Time `db:"created_at"`
}

// WebhooksAllowed reports whether the account's plan includes webhooks.
func (a Account) WebhooksAllowed() bool { return a.Plan == PlanProfessional }

// CreateAccount inserts an account and its first admin key in one transaction.
func (s *Store) CreateAccount(ctx context.Context, name, plan string, admin NewAPIKey) (Account, error) {
	var a Account
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &a,
			`INSERT INTO accounts (id, name, plan) VALUES ($1, $2, $3) RETURNING `+accountColumns,
			uuid.New(), name, plan)
		if err != nil {
			return translate(err)
		}
		admin.AccountID = a.ID
		admin.Role = RoleAdmin
		k, err := createAPIKey(ctx, tx, admin)
		if err != nil || admin.Audit == nil {
			return err
		}
		admin.Audit.Entry.AccountID, admin.Audit.Entry.ResourceID = a.ID, k.ID.String()
		return writeAudit(ctx, tx, admin.Audit)
	})
	if err != nil {
		return Account{}, fmt.Errorf("creating account: %w", err)
	}
	return a, nil
}

// Account returns one account.
func (s *Store) Account(ctx context.Context, id uuid.UUID) (Account, error) {
	var a Account
	if err := s.db.GetContext(ctx, &a, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id); err != nil {
		return Account{}, fmt.Errorf("getting account: %w", translate(err))
	}
	return a, nil
}

// accountColumns lists Account's columns (see deliveryColumns).
const accountColumns = `id, name, plan, created_at`
