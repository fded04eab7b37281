package resource

import (
	"encoding/base64"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// The conversions from the store's rows: the API answers with them and the
// console renders them, so both show a webhook, a delivery and an event
// the same way.

// FromWebhook shows w as it is at now (a throttle may have ended).
func FromWebhook(w db.Webhook, now time.Time) Webhook {
	status := "disabled"
	if w.Enabled {
		status = "enabled"
	}
	out := Webhook{
		ID: w.ID.String(), Name: w.Name, URL: w.URL, EventTypes: w.EventTypes, TriggerSources: w.TriggerSources,
		AppIDs: nonNil(w.AppIDs), Filter: w.Filter, Status: status, CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(),
		Health: Health{State: "healthy", ConsecutiveFailures: w.ConsecutiveFailures, ExhaustedDeliveries: w.ExhaustedStreak,
			FailingSince: utc(w.FailingSince), LastSuccessAt: utc(w.LastSuccessAt)},
		MaxConcurrency: w.MaxConcurrency, RateLimitPerSecond: w.RateLimitPerSecond,
		Throttle: Throttle{Step: w.ThrottleStep}, Ordered: w.Ordered, OrderedOnFailure: w.OnFailure,
	}
	out.TimeoutSeconds, out.RetrySchedule, out.Payload = w.TimeoutSeconds, scheduleOf(w.DeliveryOptions), w.Payload
	out.TraceContext = w.TraceContext
	out.Headers, out.Auth = fromReceiver(w.Receiver)
	out.TLS = fromTLS(w.Receiver, now)
	if w.ThrottledUntil != nil && w.ThrottledUntil.After(now) {
		out.Throttle.Throttled, out.Throttle.Until = true, utc(w.ThrottledUntil)
	}
	switch {
	case !w.Enabled:
		out.Health.State = "disabled"
		out.DisabledReason, out.DisabledMessage, out.DisabledAt = w.DisabledReason, w.DisabledMessage, utc(w.DisabledAt)
	case w.FailingSince != nil:
		out.Health.State = "failing"
	}
	return out
}

// FromDelivery shows d.
func FromDelivery(d db.Delivery) Delivery {
	out := Delivery{
		ID: d.ID.String(), EventID: d.EventID, EventType: d.EventType, WebhookID: d.WebhookID.String(), MessageID: d.MessageID,
		Status: d.Status, StatusReason: d.StatusReason, AttemptCount: d.AttemptCount, Series: d.Series,
		LastStatusCode: d.LastStatusCode, NextAttemptAt: utc(d.NextAttemptAt), WorkflowID: d.WorkflowID,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), TriggerSource: d.TriggerSource,
		OrderingKey: d.OrderingKey, Sequence: d.Sequence, OrderReleased: d.OrderReleased,
		// A WEBHOOK_TEST delivery made before the column existed is a test too.
		Test: d.Test || d.EventType == events.WebhookTest,
	}
	if d.Waiting() {
		out.Status, out.WaitingFor = delivery.Waiting, &WaitingFor{}
		if d.WaitingForEvent != nil {
			out.WaitingFor.EventID = *d.WaitingForEvent
		}
		if d.WaitingForDelivery != nil {
			out.WaitingFor.DeliveryID = d.WaitingForDelivery.String()
		}
	}
	return out
}

// FromDeliveryLog shows d with every attempt at it.
func FromDeliveryLog(d db.Delivery, attempts []db.Attempt) Delivery {
	out := FromDelivery(d)
	out.Attempts = make([]Attempt, 0, len(attempts))
	for _, a := range attempts {
		out.Attempts = append(out.Attempts, FromAttempt(a))
	}
	return out
}

// FromDeliveries shows each of ds.
func FromDeliveries(ds []db.Delivery) []Delivery {
	out := make([]Delivery, 0, len(ds))
	for _, d := range ds {
		out = append(out, FromDelivery(d))
	}
	return out
}

// FromAttempt shows a: an attempt without a recorded end is "unknown", and
// an answer that is not UTF-8 comes in base64 too.
func FromAttempt(a db.Attempt) Attempt {
	out := Attempt{Series: a.Series, Number: a.Number, Try: a.Try, URL: a.URL, StartedAt: a.StartedAt.UTC(),
		FinishedAt: utc(a.FinishedAt), DurationMS: a.DurationMS, ResponseStatus: a.ResponseStatus,
		ResponseBody: string(a.ResponseBody), Error: a.Error, AuthMethod: a.AuthMethod,
		Proxy: a.Proxy, ClientCertificateSHA256: a.ClientCertSHA256}
	switch {
	case a.FinishedAt == nil:
		out.Outcome = "unknown"
		if out.Error == "" {
			out.Error = "no outcome recorded (yet): the request is in flight, or its worker stopped before recording the answer; the receiver may have received it"
		}
	case a.ResponseStatus != nil:
		out.Outcome = "answered"
	default:
		out.Outcome = "error"
	}
	if !utf8.Valid(a.ResponseBody) {
		out.ResponseBody = strings.ToValidUTF8(out.ResponseBody, "\uFFFD")
		out.ResponseBodyBase64 = base64.StdEncoding.EncodeToString(a.ResponseBody)
	}
	return out
}

// FromEvent shows e with its deliveries.
func FromEvent(e db.Event, ds []db.Delivery) Event {
	return Event{EventHead: FromEventHead(e), Deliveries: FromDeliveries(ds)}
}

// FromEventHead shows e without its deliveries.
func FromEventHead(e db.Event) EventHead {
	out := EventHead{
		ID: e.ID, Type: e.Type, TriggerSource: e.TriggerSource, AppID: e.AppID, OccurredAt: e.OccurredAt.UTC(),
		Data: e.Data, WorkflowID: e.WorkflowID, CreatedAt: e.CreatedAt.UTC(), DispatchedAt: utc(e.DispatchedAt),
		OrderingKey: e.OrderingKey, Sequence: e.Sequence, SchemaVersion: e.SchemaVersion,
		Test: e.Test || e.Type == events.WebhookTest,
	}
	if e.DispatchedAt == nil {
		out.DispatchError = e.DispatchError
	}
	return out
}

// scheduleOf is a webhook's retry schedule as the API shows it (nil: the
// global one): a preset by its name, as chosen; waits as schedule.Format
// writes them.
func scheduleOf(o db.DeliveryOptions) *schedule.Spec {
	switch {
	case o.RetryPreset != nil:
		return &schedule.Spec{Preset: *o.RetryPreset}
	case len(o.RetryWaits) > 0:
		return &schedule.Spec{Waits: schedule.FormatAll(schedule.FromSeconds(o.RetryWaits))}
	}
	return nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
