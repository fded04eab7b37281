package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

func (h *Handler) webhookJSON(w db.Webhook) resource.Webhook { return resource.FromWebhook(w, h.now()) }

func (h *Handler) createWebhook(c echo.Context) error {
	var in service.WebhookInput
	if err := decode(c, &in); err != nil {
		return err
	}
	w, secret, err := h.svc.CreateWebhook(c.Request().Context(), caller(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, resource.WebhookWithSecret{Webhook: h.webhookJSON(w), Secret: secret})
}

// webhookID parses the :id parameter; a malformed id is simply not found.
func webhookID(c echo.Context) (uuid.UUID, error) { return service.ParseID(c.Param("id"), "webhook") }

func (h *Handler) getWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	w, err := h.svc.Webhook(c.Request().Context(), caller(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.webhookJSON(w))
}

func (h *Handler) listWebhooks(c echo.Context) error {
	q, err := pageQuery(c)
	if err != nil {
		return err
	}
	pg, err := h.svc.ListWebhooks(c.Request().Context(), caller(c), service.WebhookQuery{PageQuery: q, Status: c.QueryParam("status")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageJSON(pg, h.webhookJSON))
}

func (h *Handler) updateWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	var p service.WebhookPatch
	if err := decode(c, &p); err != nil {
		return err
	}
	w, err := h.svc.UpdateWebhook(c.Request().Context(), caller(c), id, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.webhookJSON(w))
}

// enableRequest is the optional body of POST /v1/webhooks/{id}/enable:
// replay the deliveries missed while it was disabled (skipped_disabled),
// since ReplayMissedSince or, by default, since it was last disabled.
type enableRequest struct {
	ReplayMissed      bool       `json:"replayMissed"`
	ReplayMissedSince *time.Time `json:"replayMissedSince"`
}

func (h *Handler) enableWebhook(c echo.Context) error {
	var req enableRequest
	if err := decodeOptional(c, &req); err != nil {
		return err
	}
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	r, err := h.svc.EnableWebhook(c.Request().Context(), caller(c), id,
		service.Replay{Missed: req.ReplayMissed, Since: req.ReplayMissedSince})
	if err != nil {
		return err
	}
	out := resource.Enabled{Webhook: h.webhookJSON(r.Webhook), Missed: r.Missed}
	if r.Replay != nil {
		replay := bulkResendJSON(*r.Replay)
		out.Replay = &replay
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) disableWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	w, err := h.svc.DisableWebhook(c.Request().Context(), caller(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.webhookJSON(w))
}

func (h *Handler) deleteWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteWebhook(c.Request().Context(), caller(c), id, c.QueryParam("confirm")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *Handler) resetSecret(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	var in service.SecretResetInput
	if err := decodeOptional(c, &in); err != nil {
		return err
	}
	r, err := h.svc.ResetSecret(c.Request().Context(), caller(c), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resource.SecretReset{Webhook: h.webhookJSON(r.Webhook), Secret: r.Secret,
		PreviousSecretExpiresAt: r.PreviousExpiry})
}

func (h *Handler) getSecret(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	secret, err := h.svc.Secret(c.Request().Context(), caller(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"secret": secret})
}

// pageQuery reads ?limit= and ?cursor= (the service checks them).
func pageQuery(c echo.Context) (service.PageQuery, error) {
	q := service.PageQuery{Cursor: c.QueryParam("cursor")}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, validationError(map[string]string{"limit": "must be a whole number from 1 to 100"})
		}
		q.Limit = n
	}
	return q, nil
}

// pageJSON shows a page of the service's rows as the API's page.
func pageJSON[R, T any](pg service.Page[R], show func(R) T) resource.Page[T] {
	out := resource.Page[T]{Data: make([]T, 0, len(pg.Items))}
	for _, r := range pg.Items {
		out.Data = append(out.Data, show(r))
	}
	if pg.Next != "" {
		out.NextCursor = &pg.Next
	}
	return out
}

// releaseKey lets an ordered webhook's key go past its failed deliveries
// (orderedOnFailure "hold").
func (h *Handler) releaseKey(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	var in service.ReleaseInput
	if err := decode(c, &in); err != nil {
		return err
	}
	r, err := h.svc.ReleaseKey(c.Request().Context(), caller(c), id, in)
	if err != nil {
		return err
	}
	out := resource.Released{Released: make([]string, 0, len(r.Deliveries)), Woken: r.Woken}
	for _, d := range r.Deliveries {
		out.Released = append(out.Released, d.String())
	}
	return c.JSON(http.StatusOK, out)
}

// testFilter says whether a payload filter passes a sample event, as the
// worker would decide (a filter that cannot be saved: 422 naming where).
func (h *Handler) testFilter(c echo.Context) error {
	var in service.FilterTest
	if err := decodeWithin(c, &in, filterTestBody); err != nil {
		return err
	}
	v, err := h.svc.TestFilter(c.Request().Context(), caller(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resource.FilterVerdict{Matches: v.Matches, Error: v.Error, Cost: v.Cost, CostLimit: v.CostLimit})
}
