package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// statsQuery reads ?window= and ?by=.
func statsQuery(c echo.Context) service.StatsQuery {
	return service.StatsQuery{Window: c.QueryParam("window"), By: c.QueryParam("by")}
}

// webhookStats answers a webhook's delivery statistics from the rollups.
func (h *Handler) webhookStats(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	r, err := h.svc.WebhookStats(c.Request().Context(), caller(c), id, statsQuery(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resource.FromStats(r))
}

// accountStats answers the delivery statistics of all the account's
// webhooks, with each one's totals on ?by=webhook.
func (h *Handler) accountStats(c echo.Context) error {
	r, err := h.svc.AccountStats(c.Request().Context(), caller(c), statsQuery(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resource.FromStats(r))
}
