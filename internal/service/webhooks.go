package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/signing"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
)

// CreateWebhook creates a webhook of acct with a new secret, which it
// returns: the only time besides Secret that it leaves the store.
func (s *Service) CreateWebhook(ctx context.Context, acct uuid.UUID, f db.WebhookFields, enabled bool) (db.Webhook, string, error) {
	secret, err := signing.NewSecret()
	if err != nil {
		return db.Webhook{}, "", err
	}
	id := uuid.New()
	enc, err := s.box.Seal([]byte(secret), db.SecretAAD(id))
	if err != nil {
		return db.Webhook{}, "", fmt.Errorf("encrypting secret: %w", err)
	}
	w, err := s.store.CreateWebhookLimited(ctx, db.NewWebhook{ID: id, AccountID: acct, Fields: f, Enabled: enabled,
		SecretEnc: enc, Limit: s.cfg.MaxWebhooksPerAccount})
	switch {
	case errors.Is(err, db.ErrConflict):
		return db.Webhook{}, "", nameTaken()
	case errors.Is(err, db.ErrLimitReached):
		return db.Webhook{}, "", fail(LimitReached, fmt.Sprintf(
			"This account has reached its limit of %d webhooks; delete one it no longer needs first.", s.cfg.MaxWebhooksPerAccount))
	case err != nil:
		return db.Webhook{}, "", err
	}
	return w, secret, nil
}

func nameTaken() error { return invalid("name", "is already used by another webhook of this account") }

// Webhook is one webhook of acct.
func (s *Service) Webhook(ctx context.Context, acct, id uuid.UUID) (db.Webhook, error) {
	w, err := s.store.Webhook(ctx, acct, id)
	return w, notFoundOr(err, "webhook")
}

// UpdateWebhook applies edit to a webhook of acct: only while it is
// disabled, unless limitsOnly (concurrency and rate limits may change while
// it delivers).
func (s *Service) UpdateWebhook(ctx context.Context, acct, id uuid.UUID, limitsOnly bool, edit func(*db.WebhookFields)) (db.Webhook, error) {
	check := mustBeDisabled
	if limitsOnly {
		check = func(db.Webhook) error { return nil }
	}
	w, err := s.store.UpdateWebhook(ctx, acct, id, check, edit)
	if errors.Is(err, db.ErrConflict) {
		return db.Webhook{}, nameTaken()
	}
	return w, notFoundOr(err, "webhook")
}

// Enabled is a webhook just enabled, what it missed while disabled, and
// what was replayed of that.
type Enabled struct {
	Webhook db.Webhook
	Missed  int
	Replay  *BulkResult // nil unless asked
}

// Replay asks Enable to resend what a webhook missed while disabled
// (skipped_disabled deliveries), since Since or, by default, since it was
// disabled last.
type Replay struct {
	Missed bool
	Since  *time.Time
}

// EnableWebhook enables a webhook of acct and, as r asks, replays what it
// missed (in event order, MaxBulkResend per call).
func (s *Service) EnableWebhook(ctx context.Context, acct, id uuid.UUID, r Replay) (Enabled, error) {
	w, err := s.store.SetWebhookEnabled(ctx, acct, id, true)
	if err != nil {
		return Enabled{}, notFoundOr(err, "webhook")
	}
	since := r.Since
	if since == nil {
		since = w.DisabledAt
	}
	if since == nil {
		since = &w.CreatedAt
	}
	missed, err := s.store.ListDeliveries(ctx, acct, db.DeliveryFilter{
		WebhookID: &id, Status: delivery.SkippedDisabled, CreatedFrom: since, Limit: MaxBulkResend + 1, Oldest: true,
	})
	if err != nil {
		return Enabled{}, err
	}
	out := Enabled{Webhook: w, Missed: len(missed)}
	if r.Missed || r.Since != nil {
		replay := s.resendMany(ctx, acct, missed)
		out.Replay = &replay
	}
	return out, nil
}

// DisableWebhook disables a webhook of acct; its pending deliveries stop
// (cancelled, in the background).
func (s *Service) DisableWebhook(ctx context.Context, acct, id uuid.UUID) (db.Webhook, error) {
	w, err := s.store.SetWebhookEnabled(ctx, acct, id, false)
	if err != nil {
		return db.Webhook{}, notFoundOr(err, "webhook")
	}
	s.outbox.StopDeliveries(id, "webhook was disabled")
	return w, nil
}

// DeleteWebhook deletes a disabled webhook of acct; confirm must repeat its
// id, as deleting is permanent.
func (s *Service) DeleteWebhook(ctx context.Context, acct, id uuid.UUID, confirm string) error {
	// Look first so an unknown id is a 404 whatever confirm says.
	if _, err := s.Webhook(ctx, acct, id); err != nil {
		return err
	}
	if confirm != id.String() {
		return fail(Confirmation, "Deleting is permanent: repeat the webhook's id in ?confirm= to confirm.")
	}
	if err := s.store.DeleteWebhook(ctx, acct, id, mustBeDisabled); err != nil {
		return notFoundOr(err, "webhook")
	}
	s.outbox.StopDeliveries(id, "webhook was deleted")
	return nil
}

// DefaultSecretGrace is how long a reset secret keeps signing by default.
const DefaultSecretGrace = 24 * time.Hour

// SecretReset is a webhook with its new secret, and when the previous one
// stops signing (nil: at once).
type SecretReset struct {
	Webhook        db.Webhook
	Secret         string
	PreviousExpiry *time.Time
}

// ResetSecret gives a webhook of acct a new secret; the previous one keeps
// signing for grace, so receivers can switch without losing a message.
func (s *Service) ResetSecret(ctx context.Context, acct, id uuid.UUID, grace time.Duration) (SecretReset, error) {
	secret, err := signing.NewSecret()
	if err != nil {
		return SecretReset{}, err
	}
	enc, err := s.box.Seal([]byte(secret), db.SecretAAD(id))
	if err != nil {
		return SecretReset{}, fmt.Errorf("encrypting secret: %w", err)
	}
	until := s.now().Add(grace)
	w, err := s.store.RotateWebhookSecret(ctx, acct, id, enc, until, grace > 0)
	if err != nil {
		return SecretReset{}, notFoundOr(err, "webhook")
	}
	out := SecretReset{Webhook: w, Secret: secret}
	if grace > 0 {
		u := until.UTC()
		out.PreviousExpiry = &u
	}
	return out, nil
}

// Secret is the current signing secret of a webhook of acct.
func (s *Service) Secret(ctx context.Context, acct, id uuid.UUID) (string, error) {
	w, err := s.Webhook(ctx, acct, id)
	if err != nil {
		return "", err
	}
	secret, err := s.box.Open(w.SecretEnc, db.SecretAAD(w.ID))
	if err != nil {
		return "", fmt.Errorf("decrypting secret: %w", err)
	}
	return string(secret), nil
}
