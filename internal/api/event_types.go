package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

func (h *Handler) listEventTypes(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{
		"data":           events.Catalogue,
		"triggerSources": events.TriggerSources,
		// Operational events (endpoint health): subscribable by type,
		// whatever the webhook's trigger sources; never published by clients.
		"system": events.SystemCatalogue,
	})
}
