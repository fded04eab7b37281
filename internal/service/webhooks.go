package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/signing"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
)

// CreateWebhook creates a webhook with a new secret, which it returns: the
// only time besides Secret that it leaves the store.
func (s *Service) CreateWebhook(ctx context.Context, c Caller, in WebhookInput) (db.Webhook, string, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return db.Webhook{}, "", err
	}
	in.Name = strings.TrimSpace(in.Name)
	if err := joinInvalid(s.check(in), invalidOrNil(in.optionErrors()), invalidOrNil(filterErrors(&in.Filter)),
		s.checkReceiver(in.receiverEdit(), &db.Receiver{})); err != nil {
		return db.Webhook{}, "", err
	}
	secret, err := signing.NewSecret()
	if err != nil {
		return db.Webhook{}, "", err
	}
	id := uuid.New()
	enc, err := s.box.Seal([]byte(secret), db.SecretAAD(id))
	if err != nil {
		return db.Webhook{}, "", fmt.Errorf("encrypting secret: %w", err)
	}
	fields := in.fields()
	if fields.Receiver, err = s.receiverFor(id, db.Receiver{}, in.receiverEdit()); err != nil {
		return db.Webhook{}, "", err
	}
	a := webhookAudit(c, ActionWebhookCreate, id)
	w, err := s.store.CreateWebhookLimited(ctx, db.NewWebhook{ID: id, AccountID: c.AccountID, Fields: fields,
		Enabled:   in.Enabled == nil || *in.Enabled,
		SecretEnc: enc, Limit: s.cfg.MaxWebhooksPerAccount, Audit: a})
	switch {
	case errors.Is(err, db.ErrConflict):
		return db.Webhook{}, "", nameTaken()
	case errors.Is(err, db.ErrLimitReached):
		return db.Webhook{}, "", fail(LimitReached, fmt.Sprintf(
			"This account has reached its limit of %d webhooks; delete one it no longer needs first.", s.cfg.MaxWebhooksPerAccount))
	case err != nil:
		return db.Webhook{}, "", err
	}
	s.Logged(a)
	return w, secret, nil
}

func nameTaken() error { return invalid("name", "is already used by another webhook of this account") }

// Webhook is one webhook of the caller's account.
func (s *Service) Webhook(ctx context.Context, c Caller, id uuid.UUID) (db.Webhook, error) {
	if err := Authorize(c, ReadWebhooks); err != nil {
		return db.Webhook{}, err
	}
	w, err := s.store.Webhook(ctx, c.AccountID, id)
	return w, notFoundOr(err, "webhook")
}

// UpdateWebhook applies p to a webhook: only while it is disabled, unless
// it changes the limits only (concurrency and rate limits, the attempt
// timeout and the retry schedule may change while it delivers).
func (s *Service) UpdateWebhook(ctx context.Context, c Caller, id uuid.UUID, p WebhookPatch) (db.Webhook, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return db.Webhook{}, err
	}
	trimName(p.Name)
	if err := joinInvalid(s.check(p), invalidOrNil(p.optionErrors()), invalidOrNil(filterErrors(p.Filter.Value)),
		s.checkReceiver(p.receiverEdit(), nil)); err != nil {
		return db.Webhook{}, err
	}
	if err := validRate(p.RateLimitPerSecond.Value); err != nil {
		return db.Webhook{}, err
	}
	check := mustBeDisabled
	if p.limitsOnly() && !p.receiverEdit().changes() {
		check = func(db.Webhook) error { return nil }
	}
	check, apply := s.editReceiver(p.receiverEdit(), check, p.apply)
	a := webhookAudit(c, ActionWebhookUpdate, id)
	w, err := s.store.UpdateWebhook(ctx, c.AccountID, id, check, apply, a)
	if errors.Is(err, db.ErrConflict) {
		return db.Webhook{}, nameTaken()
	}
	if err != nil {
		return db.Webhook{}, notFoundOr(err, "webhook")
	}
	s.Logged(a)
	return w, nil
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

// EnableWebhook enables a webhook and, as r asks, replays what it missed
// (in event order, MaxBulkResend per call).
func (s *Service) EnableWebhook(ctx context.Context, c Caller, id uuid.UUID, r Replay) (Enabled, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return Enabled{}, err
	}
	acct := c.AccountID
	a := webhookAudit(c, ActionWebhookEnable, id)
	if r.Missed || r.Since != nil {
		// The replay is part of the enable: its record says it was asked.
		a.Entry.Details = db.AuditDetails{"replayMissed": true}
		if r.Since != nil {
			a.Entry.Details["replayMissedSince"] = r.Since.UTC()
		}
	}
	w, err := s.store.SetWebhookEnabled(ctx, acct, id, true, a)
	if err != nil {
		return Enabled{}, notFoundOr(err, "webhook")
	}
	s.Logged(a)
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

// DisableWebhook disables a webhook; its pending deliveries stop
// (cancelled, in the background).
func (s *Service) DisableWebhook(ctx context.Context, c Caller, id uuid.UUID) (db.Webhook, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return db.Webhook{}, err
	}
	a := webhookAudit(c, ActionWebhookDisable, id)
	a.Entry.Details = db.AuditDetails{"reason": db.DisabledManual}
	w, err := s.store.SetWebhookEnabled(ctx, c.AccountID, id, false, a)
	if err != nil {
		return db.Webhook{}, notFoundOr(err, "webhook")
	}
	s.Logged(a)
	s.outbox.StopDeliveries(id, "webhook was disabled")
	return w, nil
}

// DeleteWebhook deletes a disabled webhook; confirm must repeat its id, as
// deleting is permanent.
func (s *Service) DeleteWebhook(ctx context.Context, c Caller, id uuid.UUID, confirm string) error {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return err
	}
	// Look first so an unknown id is a 404 whatever confirm says.
	if _, err := s.Webhook(ctx, c, id); err != nil {
		return err
	}
	if confirm != id.String() {
		return fail(Confirmation, "Deleting is permanent: repeat the webhook's id in ?confirm= to confirm.")
	}
	a := webhookAudit(c, ActionWebhookDelete, id)
	if err := s.store.DeleteWebhook(ctx, c.AccountID, id, mustBeDisabled, a); err != nil {
		return notFoundOr(err, "webhook")
	}
	s.Logged(a)
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

// ResetSecret gives a webhook a new secret; the previous one keeps signing
// for the grace period, so receivers can switch without losing a message.
func (s *Service) ResetSecret(ctx context.Context, c Caller, id uuid.UUID, in SecretResetInput) (SecretReset, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return SecretReset{}, err
	}
	if err := s.check(in); err != nil {
		return SecretReset{}, err
	}
	grace := DefaultSecretGrace
	if in.GracePeriodSeconds != nil {
		grace = time.Duration(*in.GracePeriodSeconds) * time.Second
	}
	secret, err := signing.NewSecret()
	if err != nil {
		return SecretReset{}, err
	}
	enc, err := s.box.Seal([]byte(secret), db.SecretAAD(id))
	if err != nil {
		return SecretReset{}, fmt.Errorf("encrypting secret: %w", err)
	}
	until := s.now().Add(grace)
	a := NewAudit(c, ActionSecretReset, ResourceWebhook, id.String())
	a.Entry.Changes = db.AuditChanges{"secret": {Changed: true}}
	a.Entry.Details = db.AuditDetails{"gracePeriodSeconds": int64(grace / time.Second)}
	w, err := s.store.RotateWebhookSecret(ctx, c.AccountID, id, enc, until, grace > 0, a)
	if err != nil {
		return SecretReset{}, notFoundOr(err, "webhook")
	}
	s.Logged(a)
	out := SecretReset{Webhook: w, Secret: secret}
	if grace > 0 {
		u := until.UTC()
		out.PreviousExpiry = &u
	}
	return out, nil
}

// Secret is the current signing secret of a webhook: for admins only.
func (s *Service) Secret(ctx context.Context, c Caller, id uuid.UUID) (string, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return "", err
	}
	w, err := s.Webhook(ctx, c, id)
	if err != nil {
		return "", err
	}
	secret, err := s.box.Open(w.SecretEnc, db.SecretAAD(w.ID))
	if err != nil {
		return "", fmt.Errorf("decrypting secret: %w", err)
	}
	if err := s.record(ctx, NewAudit(c, ActionSecretView, ResourceWebhook, id.String())); err != nil {
		return "", err
	}
	return string(secret), nil
}
