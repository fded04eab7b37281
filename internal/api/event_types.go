package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
)

// listEventTypes is the event catalogue: each type with its data's JSON
// Schema, the schema's version and a sample event.
func (h *Handler) listEventTypes(c echo.Context) error {
	return c.JSON(http.StatusOK, resource.Catalogue())
}

// getEventType is one type of the catalogue (WEBHOOK_TEST too).
func (h *Handler) getEventType(c echo.Context) error {
	t, ok := resource.EventTypeOf(c.Param("type"))
	if !ok {
		return notFound("event type")
	}
	return c.JSON(http.StatusOK, t)
}
