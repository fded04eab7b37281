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
	"github.com/esign-webhooks/esign-webhooks/internal/service"
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

// logParams are the query parameters of both GET /v1/deliveries and GET
// /v1/events (besides limit and cursor).
var logParams = []string{"limit", "cursor", "from", "to", "eventId", "eventType", "triggerSource", "orderingKey",
	"envelopeId"}

// logSearch reads logParams.
func logSearch(c echo.Context) service.LogSearch {
	return service.LogSearch{From: c.QueryParam("from"), To: c.QueryParam("to"), EventID: c.QueryParam("eventId"),
		EventType: c.QueryParam("eventType"), TriggerSource: c.QueryParam("triggerSource"),
		OrderingKey: c.QueryParam("orderingKey"), EnvelopeID: c.QueryParam("envelopeId")}
}

func (h *Handler) listEvents(c echo.Context) error {
	if err := onlyParams(c, logParams); err != nil {
		return err
	}
	q, err := pageQuery(c)
	if err != nil {
		return err
	}
	pg, err := h.svc.ListEvents(c.Request().Context(), caller(c), service.EventQuery{PageQuery: q, LogSearch: logSearch(c)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageJSON(pg, resource.FromEventHead))
}

// onlyParams refuses a query naming a parameter not in known: a misspelt
// filter would otherwise be ignored, and the answer look like a match.
func onlyParams(c echo.Context, known []string) error {
	bad := map[string]string{}
	for name := range c.QueryParams() {
		if !slices.Contains(known, name) {
			bad[name] = "unknown query parameter; this route takes " + strings.Join(known, ", ")
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeUnknownParameter,
		Message: "The query has unknown parameters; see fields.", Fields: bad}
}
