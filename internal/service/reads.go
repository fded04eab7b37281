package service

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// WebhookQuery lists webhooks: Status "" (all), "enabled" or "disabled".
type WebhookQuery struct {
	PageQuery
	Status string
}

// ListWebhooks lists the caller's webhooks, newest first.
func (s *Service) ListWebhooks(ctx context.Context, c Caller, q WebhookQuery) (Page[db.Webhook], error) {
	if err := Authorize(c, ReadWebhooks); err != nil {
		return Page[db.Webhook]{}, err
	}
	limit, after, err := q.read()
	if err != nil {
		return Page[db.Webhook]{}, err
	}
	f := db.WebhookFilter{Limit: limit + 1, After: after}
	switch q.Status {
	case "":
	case "enabled", "disabled":
		enabled := q.Status == "enabled"
		f.Enabled = &enabled
	default:
		return Page[db.Webhook]{}, invalid("status", "must be enabled or disabled")
	}
	hooks, err := s.store.ListWebhooks(ctx, c.AccountID, f)
	if err != nil {
		return Page[db.Webhook]{}, err
	}
	return pageOf(hooks, limit, func(w db.Webhook) (time.Time, uuid.UUID) { return w.CreatedAt, w.ID }), nil
}

// DeliveryLog is one delivery with every attempt at it.
type DeliveryLog struct {
	db.Delivery
	Attempts []db.Attempt
}

// Delivery is one delivery of the caller's account with its attempts.
func (s *Service) Delivery(ctx context.Context, c Caller, id uuid.UUID) (DeliveryLog, error) {
	if err := Authorize(c, ReadWebhooks); err != nil {
		return DeliveryLog{}, err
	}
	d, err := s.store.Delivery(ctx, c.AccountID, id)
	if err != nil {
		return DeliveryLog{}, notFoundOr(err, "delivery")
	}
	attempts, err := s.store.Attempts(ctx, d.ID)
	return DeliveryLog{Delivery: d, Attempts: attempts}, err
}

// EventLog is a published event with its deliveries.
type EventLog struct {
	db.Event
	Deliveries []db.Delivery
}

// Event is one event of the caller's account with its deliveries.
func (s *Service) Event(ctx context.Context, c Caller, id string) (EventLog, error) {
	if err := Authorize(c, ReadEvents); err != nil {
		return EventLog{}, err
	}
	// No stored event has an id outside the rule; one with a NUL byte
	// would make PostgreSQL fail.
	if !events.ValidID(id) {
		return EventLog{}, notFound("event")
	}
	e, err := s.store.Event(ctx, c.AccountID, id)
	if err != nil {
		return EventLog{}, notFoundOr(err, "event")
	}
	if Authorize(c, ReadEventLog) != nil {
		// A reader: the event as published, without its deliveries or
		// why its workflow could not start (an operator's matter).
		e.DispatchError = ""
		return EventLog{Event: e}, nil
	}
	ds, err := s.store.ListDeliveries(ctx, c.AccountID, db.DeliveryFilter{EventID: e.ID})
	return EventLog{Event: e, Deliveries: ds}, err
}
