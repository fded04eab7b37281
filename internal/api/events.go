package api

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// publishEvent stores the event and answers; the dispatcher starts its
// workflow (see package dispatch). Both are idempotent on the event id, so a
// client retrying after any failure gets the same ids and one delivery per
// webhook, and a slow or unreachable Temporal never delays the answer.
func (h *Handler) publishEvent(c echo.Context) error {
	var e events.Event
	if err := decodeWithin(c, &e, eventBody); err != nil {
		return err
	}
	if len(e.Data) > h.cfg.MaxEventData {
		return apiError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge,
			fmt.Sprintf("data must be at most %d bytes.", h.cfg.MaxEventData))
	}
	// Absent (zero) stays zero: PublishEvent makes it now.
	e.OccurredAt = e.OccurredAt.UTC()
	stored, created, err := h.svc.PublishEvent(c.Request().Context(), caller(c).AccountID, e)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, resource.Published{EventID: stored.ID, WorkflowID: stored.WorkflowID, Duplicate: !created})
}

func (h *Handler) getEvent(c echo.Context) error {
	// No stored event has an id outside the rule; one with a NUL byte would
	// make PostgreSQL fail.
	if !events.ValidID(c.Param("id")) {
		return notFound("event")
	}
	acct := caller(c).AccountID
	e, err := h.store.Event(c.Request().Context(), acct, c.Param("id"))
	if err != nil {
		return notFoundOr(err, "event")
	}
	ds, err := h.store.ListDeliveries(c.Request().Context(), acct, db.DeliveryFilter{EventID: e.ID})
	if err != nil {
		return err
	}
	out := resource.Event{
		ID: e.ID, Type: e.Type, TriggerSource: e.TriggerSource, AppID: e.AppID, OccurredAt: e.OccurredAt.UTC(),
		Data: e.Data, WorkflowID: e.WorkflowID, CreatedAt: e.CreatedAt.UTC(), Deliveries: make([]resource.Delivery, 0, len(ds)),
	}
	if e.DispatchedAt != nil {
		at := e.DispatchedAt.UTC()
		out.DispatchedAt = &at
	} else {
		out.DispatchError = e.DispatchError
	}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, toDeliveryJSON(d))
	}
	return c.JSON(http.StatusOK, out)
}
