package api

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// publishEvent stores the event and answers; the dispatcher starts its
// workflow (see package dispatch). Both are idempotent on the event id, so a
// client retrying after any failure gets the same ids and one delivery per
// webhook, and a slow or unreachable Temporal never delays the answer.
func (h *Handler) publishEvent(c echo.Context) error {
	var e events.Event
	if err := decodeWithin(c, &e, eventBody); err != nil {
		return withPointers(err)
	}
	if len(e.Data) > h.cfg.MaxEventData {
		return apiError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge,
			fmt.Sprintf("data must be at most %d bytes.", h.cfg.MaxEventData))
	}
	// Absent (zero) stays zero: PublishEvent makes it now.
	e.OccurredAt = e.OccurredAt.UTC()
	stored, created, err := h.svc.PublishEvent(c.Request().Context(), caller(c), e)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, resource.Published{EventID: stored.ID, WorkflowID: stored.WorkflowID, Duplicate: !created})
}

func (h *Handler) getEvent(c echo.Context) error {
	e, err := h.svc.Event(c.Request().Context(), caller(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resource.FromEvent(e.Event, e.Deliveries))
}

// pointerEscape escapes a member name as a JSON pointer token (RFC 6901):
// an unknown member's name is the client's own text.
var pointerEscape = strings.NewReplacer("~", "~0", "/", "~1")

// withPointers gives a validation error of the event's body (a member of
// the wrong JSON type, an unknown member) the errors list the event's own
// validation answers with: the body's members are top-level, so each
// field's pointer is "/" + its name.
func withPointers(err error) error {
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeValidationFailed || len(e.Errors) > 0 {
		return err
	}
	for _, f := range slices.Sorted(maps.Keys(e.Fields)) {
		e.Errors = append(e.Errors, ErrorDetail{Field: f, Pointer: "/" + pointerEscape.Replace(f), Message: e.Fields[f]})
	}
	return e
}
