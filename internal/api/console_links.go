package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

type consoleLinkResponse struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// createConsoleLink mints a one-time console link (see
// service.CreateConsoleLink).
func (h *Handler) createConsoleLink(c echo.Context) error {
	var in service.ConsoleLinkInput
	if err := decode(c, &in); err != nil {
		return err
	}
	link, expires, err := h.svc.CreateConsoleLink(c.Request().Context(), caller(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, consoleLinkResponse{URL: link, ExpiresAt: expires})
}
