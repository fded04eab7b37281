package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Webhook is a stored webhook. Secrets are ciphertexts (see secretbox).
type Webhook struct {
	ID                      uuid.UUID      `db:"id"`
	AccountID               uuid.UUID      `db:"account_id"`
	Name                    string         `db:"name"`
	URL                     string         `db:"url"`
	EventTypes              pq.StringArray `db:"event_types"`
	TriggerSources          pq.StringArray `db:"trigger_sources"`
	AppIDs                  pq.StringArray `db:"app_ids"`
	Enabled                 bool           `db:"enabled"`
	SecretEnc               []byte         `db:"secret_enc"`
	PreviousSecretEnc       []byte         `db:"previous_secret_enc"`
	PreviousSecretExpiresAt *time.Time     `db:"previous_secret_expires_at"`
	CreatedAt               time.Time      `db:"created_at"`
	UpdatedAt               time.Time      `db:"updated_at"`
	// Filter is the payload filter, a CEL expression (package filter);
	// "" is none: every event of its types and sources matches.
	Filter string `db:"filter"`
	Health
	Throttle
	Ordering
	DeliveryOptions
	Receiver // custom headers and receiver authentication (receiver.go)
}

// Ordering is whether a webhook gets each ordering key's events in order
// (see db.TakeTurn), and what a give-up does to the key.
type Ordering struct {
	Ordered bool `db:"ordered"`
	// OnFailure: OnFailureContinue lets the next event of the key go after
	// a give-up; OnFailureHold keeps it waiting until the failed one is
	// resent and succeeds, or is released.
	OnFailure string `db:"ordered_on_failure"`
}

// What a give-up does to an ordered webhook's key.
const (
	OnFailureContinue = "continue"
	OnFailureHold     = "hold"
)

// Throttle is how a webhook's receiver is protected (see db.StartAttempt):
// its limits, and the back-off its answers asked for.
type Throttle struct {
	MaxConcurrency     int      `db:"max_concurrency"`
	RateLimitPerSecond *float64 `db:"rate_limit_per_second"` // nil: no rate limit
	// ThrottledUntil: nothing is sent before it (a 429/502/503/504 or a
	// Retry-After); ThrottleStep counts those answers in a row.
	ThrottledUntil *time.Time `db:"throttled_until"`
	ThrottleStep   int        `db:"throttle_step"`
	// RateNextAt is the rate limit's next free slot.
	RateNextAt *time.Time `db:"rate_next_at"`
}

// DefaultMaxConcurrency is a new webhook's requests in flight at most.
const DefaultMaxConcurrency = 10

// Health is a webhook's endpoint health (see activities/health.go).
type Health struct {
	ConsecutiveFailures int        `db:"consecutive_failures"`
	ExhaustedStreak     int        `db:"exhausted_streak"`
	FailingSince        *time.Time `db:"failing_since"`
	LastSuccessAt       *time.Time `db:"last_success_at"`
	HealthWarned        int        `db:"health_warned"`
	// DisabledReason is why it is disabled: DisabledManual, or one of the
	// automatic reasons; "" while enabled.
	DisabledReason  string     `db:"disabled_reason"`
	DisabledMessage string     `db:"disabled_message"`
	DisabledAt      *time.Time `db:"disabled_at"`
}

// Why a webhook is disabled.
const (
	DisabledManual       = "manual"
	DisabledFailing      = "auto_disabled_failing"
	DisabledReceiverGone = "receiver_gone"
)

// WebhookFields are the editable fields of a webhook.
type WebhookFields struct {
	Name           string
	URL            string
	EventTypes     []string
	TriggerSources []string
	AppIDs         []string
	Filter         string // "": none
	// MaxConcurrency: 0 keeps the default (creating) or the current value.
	MaxConcurrency     int
	RateLimitPerSecond *float64 // nil: no rate limit
	Ordering                    // OnFailure "": OnFailureContinue
	DeliveryOptions             // Payload "": PayloadFull
	Receiver                    // AuthType "": AuthNone (receiver.go)
}

// CreateWebhook inserts a webhook with its id chosen by the caller (the id is
// the additional data of the secret's encryption, so it must be known first).
// It applies no limit on the account's number of webhooks; the API uses
// CreateWebhookLimited.
func (s *Store) CreateWebhook(ctx context.Context, id, accountID uuid.UUID, f WebhookFields, enabled bool, secretEnc []byte) (Webhook, error) {
	return s.CreateWebhookLimited(ctx, NewWebhook{ID: id, AccountID: accountID, Fields: f, Enabled: enabled, SecretEnc: secretEnc})
}

// NewWebhook is a webhook to create.
type NewWebhook struct {
	ID        uuid.UUID // chosen by the caller: the secret's additional data
	AccountID uuid.UUID
	Fields    WebhookFields
	Enabled   bool
	SecretEnc []byte
	// Limit is how many webhooks the account may have (<= 0: no limit).
	Limit int
	Audit *Audit // written with it; nil: none
}

// CreateWebhookLimited is CreateWebhook refusing with ErrLimitReached when
// the account already has in.Limit webhooks. The account row is locked for
// the count and the insert, so concurrent creates of one account take turns
// and cannot exceed the limit together.
func (s *Store) CreateWebhookLimited(ctx context.Context, in NewWebhook) (Webhook, error) {
	var w Webhook
	f := in.Fields
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if in.Limit > 0 {
			// Lock the account, not the webhooks: a count cannot lock rows
			// that do not exist yet. The count is its own statement so it
			// sees the rows committed by whoever held the lock before
			// (in one statement it would use the snapshot taken before
			// waiting).
			if _, err := tx.ExecContext(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`, in.AccountID); err != nil {
				return translate(err)
			}
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM webhooks WHERE account_id = $1`, in.AccountID); err != nil {
				return translate(err)
			}
			if n >= in.Limit {
				return fmt.Errorf("%w: %d webhooks", ErrLimitReached, n)
			}
		}
		err := translate(tx.GetContext(ctx, &w, `
			INSERT INTO webhooks (id, account_id, name, url, event_types, trigger_sources, app_ids, enabled, secret_enc,
				max_concurrency, rate_limit_per_second, ordered, ordered_on_failure, filter)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING `+webhookColumns,
			in.ID, in.AccountID, f.Name, f.URL, pq.StringArray(f.EventTypes), pq.StringArray(f.TriggerSources),
			pq.StringArray(nonNil(f.AppIDs)), in.Enabled, in.SecretEnc, orDefault(f.MaxConcurrency), f.RateLimitPerSecond,
			f.Ordered, onFailure(f.OnFailure), f.Filter))
		if err != nil {
			return err
		}
		if w, err = setDeliveryOptions(ctx, tx, in.ID, f.DeliveryOptions); err != nil {
			return err
		}
		if err := setReceiver(ctx, tx, &w, f.Receiver); err != nil {
			return err
		}
		in.Audit.diff(nil, &w)
		return writeAudit(ctx, tx, in.Audit)
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("creating webhook: %w", err)
	}
	return w, nil
}

func onFailure(s string) string {
	if s == "" {
		return OnFailureContinue
	}
	return s
}

func orDefault(maxConcurrency int) int {
	if maxConcurrency <= 0 {
		return DefaultMaxConcurrency
	}
	return maxConcurrency
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Webhook returns one webhook of the account.
func (s *Store) Webhook(ctx context.Context, accountID, id uuid.UUID) (Webhook, error) {
	var w Webhook
	err := s.db.GetContext(ctx, &w, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1 AND account_id = $2`, id, accountID)
	if err != nil {
		return Webhook{}, fmt.Errorf("getting webhook: %w", translate(err))
	}
	return w, nil
}

// Cursor marks a position in a newest-first listing.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// WebhookFilter narrows ListWebhooks.
type WebhookFilter struct {
	Enabled *bool
	After   *Cursor
	Limit   int
}

// ListWebhooks returns the account's webhooks, newest first.
func (s *Store) ListWebhooks(ctx context.Context, accountID uuid.UUID, f WebhookFilter) ([]Webhook, error) {
	q := `SELECT ` + webhookColumns + ` FROM webhooks WHERE account_id = $1`
	args := []any{accountID}
	if f.Enabled != nil {
		args = append(args, *f.Enabled)
		q += fmt.Sprintf(" AND enabled = $%d", len(args))
	}
	if f.After != nil {
		args = append(args, f.After.CreatedAt, f.After.ID)
		q += fmt.Sprintf(" AND (created_at, id) < ($%d, $%d)", len(args)-1, len(args))
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(" ORDER BY created_at DESC, id DESC LIMIT $%d", len(args))
	hooks := []Webhook{}
	if err := s.db.SelectContext(ctx, &hooks, q, args...); err != nil {
		return nil, fmt.Errorf("listing webhooks: %w", translate(err))
	}
	return hooks, nil
}

// UpdateWebhook changes a webhook's fields, with a's record. check runs
// inside the transaction on the locked row, so the API's "edit only while
// disabled" rule cannot race with an enable.
func (s *Store) UpdateWebhook(ctx context.Context, accountID, id uuid.UUID, check func(Webhook) error, apply func(*WebhookFields), a *Audit) (Webhook, error) {
	var w Webhook
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &w, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1 AND account_id = $2 FOR UPDATE`, id, accountID); err != nil {
			return translate(err)
		}
		if err := check(w); err != nil {
			return err
		}
		before := w
		f := WebhookFields{Name: w.Name, URL: w.URL, EventTypes: w.EventTypes, TriggerSources: w.TriggerSources, AppIDs: w.AppIDs,
			Filter: w.Filter, MaxConcurrency: w.MaxConcurrency, RateLimitPerSecond: w.RateLimitPerSecond, Ordering: w.Ordering,
			DeliveryOptions: w.DeliveryOptions}
		f.Receiver = w.Receiver
		apply(&f)
		err := translate(tx.GetContext(ctx, &w, `
			UPDATE webhooks SET name = $3, url = $4, event_types = $5, trigger_sources = $6, app_ids = $7,
				max_concurrency = $8, rate_limit_per_second = $9, ordered = $10, ordered_on_failure = $11,
				filter = $12, updated_at = now()
			WHERE id = $1 AND account_id = $2 RETURNING `+webhookColumns,
			id, accountID, f.Name, f.URL, pq.StringArray(f.EventTypes), pq.StringArray(f.TriggerSources), pq.StringArray(nonNil(f.AppIDs)),
			orDefault(f.MaxConcurrency), f.RateLimitPerSecond, f.Ordered, onFailure(f.OnFailure), f.Filter))
		if err != nil {
			return err
		}
		if w, err = setDeliveryOptions(ctx, tx, id, f.DeliveryOptions); err != nil {
			return err
		}
		if err := setReceiver(ctx, tx, &w, f.Receiver); err != nil {
			return err
		}
		a.diff(&before, &w)
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("updating webhook: %w", err)
	}
	return w, nil
}

// SetWebhookEnabled enables or disables a webhook (idempotent), with a's
// record.
func (s *Store) SetWebhookEnabled(ctx context.Context, accountID, id uuid.UUID, enabled bool, a *Audit) (Webhook, error) {
	var w Webhook
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var before Webhook
		if err := tx.GetContext(ctx, &before, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1 AND account_id = $2 FOR UPDATE`,
			id, accountID); err != nil {
			return translate(err)
		}
		if err := setEnabled(ctx, tx, &w, id, accountID, enabled); err != nil {
			return err
		}
		a.diff(&before, &w)
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("setting webhook status: %w", err)
	}
	return w, nil
}

func setEnabled(ctx context.Context, q queryer, w *Webhook, id, accountID uuid.UUID, enabled bool) error {
	// In SET, "enabled" is the value before this update. Disabling by hand
	// records when and why; enabling clears the reason and starts the
	// webhook's health afresh (disabled_at stays: replay starts there).
	return translate(q.GetContext(ctx, w, `
		UPDATE webhooks SET enabled = $3,
			updated_at = CASE WHEN enabled = $3 THEN updated_at ELSE now() END,
			disabled_reason = CASE WHEN $3 THEN '' WHEN enabled THEN 'manual' ELSE disabled_reason END,
			disabled_message = CASE WHEN $3 THEN '' WHEN enabled THEN 'disabled by an admin' ELSE disabled_message END,
			disabled_at = CASE WHEN NOT $3 AND enabled THEN now() ELSE disabled_at END,
			consecutive_failures = CASE WHEN $3 AND NOT enabled THEN 0 ELSE consecutive_failures END,
			exhausted_streak = CASE WHEN $3 AND NOT enabled THEN 0 ELSE exhausted_streak END,
			failing_since = CASE WHEN $3 AND NOT enabled THEN NULL ELSE failing_since END,
			health_warned = CASE WHEN $3 AND NOT enabled THEN 0 ELSE health_warned END,
			throttled_until = CASE WHEN $3 AND NOT enabled THEN NULL ELSE throttled_until END,
			throttle_step = CASE WHEN $3 AND NOT enabled THEN 0 ELSE throttle_step END
		WHERE id = $1 AND account_id = $2 RETURNING `+webhookColumns, id, accountID, enabled))
}

// DeleteWebhook deletes a webhook after check passes on the locked row,
// with a's record.
func (s *Store) DeleteWebhook(ctx context.Context, accountID, id uuid.UUID, check func(Webhook) error, a *Audit) error {
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var w Webhook
		if err := tx.GetContext(ctx, &w, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1 AND account_id = $2 FOR UPDATE`, id, accountID); err != nil {
			return translate(err)
		}
		if err := check(w); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = $1`, id); err != nil {
			return translate(err)
		}
		a.diff(&w, nil)
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return fmt.Errorf("deleting webhook: %w", err)
	}
	return nil
}

// RotateWebhookSecret stores a new secret, with a's record. With
// keepPrevious the current one stays valid for signing until graceUntil;
// without, it is erased now.
func (s *Store) RotateWebhookSecret(ctx context.Context, accountID, id uuid.UUID, newEnc []byte, graceUntil time.Time, keepPrevious bool, a *Audit) (Webhook, error) {
	var w Webhook
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := translate(tx.GetContext(ctx, &w, rotateSecret, id, accountID, newEnc, graceUntil, keepPrevious)); err != nil {
			return err
		}
		return writeAudit(ctx, tx, a)
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("rotating webhook secret: %w", err)
	}
	return w, nil
}

const rotateSecret = `
		UPDATE webhooks SET
			previous_secret_enc = CASE WHEN $5 THEN secret_enc END,
			previous_secret_expires_at = CASE WHEN $5 THEN $4::timestamptz END,
			secret_enc = $3, updated_at = now()
		WHERE id = $1 AND account_id = $2 RETURNING ` + webhookColumns

// EraseExpiredSecrets erases previous secrets whose grace period has ended.
func (s *Store) EraseExpiredSecrets(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `
		UPDATE webhooks SET previous_secret_enc = NULL, previous_secret_expires_at = NULL
		WHERE previous_secret_expires_at IS NOT NULL AND previous_secret_expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("erasing expired secrets: %w", translate(err))
	}
	return res.RowsAffected()
}

// SecretAAD binds a webhook's secret ciphertext to its row, so a ciphertext
// copied onto another webhook fails to decrypt.
func SecretAAD(webhookID uuid.UUID) []byte {
	return []byte("webhook-secret:" + webhookID.String())
}

// webhookColumns lists Webhook's columns (see deliveryColumns).
const webhookColumns = `id, account_id, name, url, event_types, trigger_sources, app_ids, enabled, secret_enc,
	previous_secret_enc, previous_secret_expires_at, created_at, updated_at,
	consecutive_failures, exhausted_streak, failing_since, last_success_at, health_warned,
	disabled_reason, disabled_message, disabled_at,
	max_concurrency, rate_limit_per_second, throttled_until, throttle_step, rate_next_at,
	ordered, ordered_on_failure, filter,
	headers, auth_type, auth_params, auth_secret_enc, tls_client_cert, tls_client_key_enc, tls_ca_bundle,
	tls_client_cert_sha256, ` + deliveryOptionColumns
