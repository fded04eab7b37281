package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/notify"
	"github.com/esign-webhooks/esign-webhooks/internal/outbox"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// Endpoint health. Every attempt moves its webhook's health (in the same
// statement that records it, see db.FinishAttempt). A webhook failing
// continuously for HealthDisableAfter, or whose last HealthDisableExhausted
// deliveries all spent their schedule, whichever comes first, is disabled
// with the reason auto_disabled_failing; a 410 Gone disables it at once
// (receiver_gone). Its owners hear of it through operational events
// (events.WebhookFailing at 50, 75 and 90 % of the threshold,
// WebhookDisabled, WebhookRecovered after a warned failure,
// DeliveryExhausted), which the engine publishes into the outbox like any
// event and delivers to the account's webhooks subscribed to them — never
// to the webhook they are about.

// warnLevels are the percentages of the threshold that send a warning.
var warnLevels = []int{50, 75, 90}

func (a *Activities) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// healthLevel is how far a failing webhook is toward being disabled, in
// percent of the nearer threshold.
func (a *Activities) healthLevel(c db.HealthChange) int {
	level := 0.0
	if d := a.Settings.HealthDisableAfter; d > 0 && c.FailingSince != nil {
		level = max(level, float64(a.now().Sub(*c.FailingSince))/float64(d))
	}
	if n := a.Settings.HealthDisableExhausted; n > 0 {
		level = max(level, float64(c.ExhaustedStreak)/float64(n))
	}
	return int(level * 100)
}

// noticeOf is the data of c's operational event (the same type the
// notification channels render).
func noticeOf(c db.HealthChange) notify.Notice {
	return notify.Notice{WebhookID: c.WebhookID.String(), WebhookName: c.Name, URL: c.URL, ConsecutiveFailures: c.ConsecutiveFailures,
		ExhaustedDeliveries: c.ExhaustedStreak, FailingSince: c.FailingSince}
}

// health acts on a webhook's health after an attempt: disable, warn,
// tell of a recovery or of an exhausted delivery.
func (a *Activities) health(ctx context.Context, c db.HealthChange, at *attempt) error {
	gone := at.ans.status == http.StatusGone
	var errs []error
	switch {
	case gone && c.Enabled:
		n := noticeOf(c)
		n.Reason, n.Message = db.DisabledReceiverGone, "The receiver answered 410 Gone: it no longer wants deliveries. Enable the webhook again once it does."
		errs = append(errs, a.disable(ctx, c, n))
	case (at.signal == db.HealthFailure || at.signal == db.HealthExhausted) && c.Enabled:
		errs = append(errs, a.failing(ctx, c))
	case at.signal == db.HealthSuccess && c.WasFailingSince != nil && c.WasWarned > 0:
		n := noticeOf(c)
		n.FailingSince = c.WasFailingSince
		n.Message = "Delivering again after failing since " + c.WasFailingSince.UTC().Format(time.RFC3339) + "."
		e, ok, err := a.Store.PublishSystemEvent(ctx,
			systemEvent(c, fmt.Sprintf("webhook-recovered.%s.%d", c.WebhookID, c.WasFailingSince.Unix()), events.WebhookRecovered, n))
		errs = append(errs, err, a.announce(ctx, e, ok))
	}
	if at.signal == db.HealthExhausted && !gone {
		t := at.t
		n := noticeOf(c)
		n.DeliveryID, n.EventID, n.EventType = t.ID.String(), t.EventID, t.EventType
		n.Message = fmt.Sprintf("Delivery %s of event %s failed after %d attempts; resend it once the receiver is back.",
			t.ID, t.EventID, at.in.Attempt)
		e, ok, err := a.Store.PublishSystemEvent(ctx,
			systemEvent(c, fmt.Sprintf("delivery-exhausted.%s.%d", t.ID, at.in.Series), events.DeliveryExhausted, n))
		errs = append(errs, err, a.announce(ctx, e, ok))
	}
	return errors.Join(errs...)
}

// failing disables a failing webhook at its threshold, or warns its
// owners at each of warnLevels on the way.
func (a *Activities) failing(ctx context.Context, c db.HealthChange) error {
	level := a.healthLevel(c)
	if level >= 100 {
		n := noticeOf(c)
		n.Reason = db.DisabledFailing
		n.Message = fmt.Sprintf("Disabled after failing %d times in a row since %s (%d deliveries exhausted their retries).",
			c.ConsecutiveFailures, c.FailingSince.UTC().Format(time.RFC3339), c.ExhaustedStreak)
		return a.disable(ctx, c, n)
	}
	warn := 0
	for _, l := range warnLevels {
		if level >= l {
			warn = l
		}
	}
	if warn <= c.WasWarned || c.FailingSince == nil {
		return nil
	}
	n := noticeOf(c)
	n.ThresholdPercent = warn
	n.Message = fmt.Sprintf("Failing since %s: %d %% of the way to being disabled.", c.FailingSince.UTC().Format(time.RFC3339), warn)
	if d := a.Settings.HealthDisableAfter; d > 0 {
		at := c.FailingSince.Add(d).UTC()
		n.DisableAt = &at
	}
	e, ok, err := a.Store.WarnHealth(ctx, c.WebhookID, warn,
		systemEvent(c, fmt.Sprintf("webhook-failing.%s.%d.%d", c.WebhookID, c.FailingSince.Unix(), warn), events.WebhookFailing, n))
	return errors.Join(err, a.announce(ctx, e, ok))
}

// disable disables the webhook for n.Reason, tells its owners and stops
// its pending deliveries.
func (a *Activities) disable(ctx context.Context, c db.HealthChange, n notify.Notice) error {
	e, ok, err := a.Store.AutoDisable(ctx, c.WebhookID, n.Reason, n.Message,
		systemEvent(c, fmt.Sprintf("webhook-disabled.%s.%d", c.WebhookID, a.now().UnixNano()), events.WebhookDisabled, n))
	return errors.Join(err, a.announce(ctx, e, ok), a.stopPending(ctx, c, ok, n.Reason))
}

// systemEvent is an operational event about c's webhook.
func systemEvent(c db.HealthChange, id, typ string, data notify.Notice) db.SystemEvent {
	return db.SystemEvent{AccountID: c.AccountID, ID: id, Type: typ, Data: data}
}

// announce starts the workflow of a stored operational event now, when a
// publisher is at hand; otherwise (or if that fails) the dispatcher's sweep
// starts it from the outbox.
func (a *Activities) announce(ctx context.Context, e db.Event, stored bool) error {
	if !stored || a.Workflows == nil {
		return nil
	}
	_, err := outbox.Start(ctx, a.Workflows, e)
	return err
}

// stopPending tells the workflows of the webhook just disabled to stop
// waiting (each attempt also checks, so this only makes it sooner).
func (a *Activities) stopPending(ctx context.Context, c db.HealthChange, disabled bool, reason string) error {
	if !disabled || a.Workflows == nil {
		return nil
	}
	_, err := outbox.StopPending(ctx, a.Store, a.Workflows, c.WebhookID, "webhook was disabled: "+reason)
	return err
}
