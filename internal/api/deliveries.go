package api

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// deliveryParams are the query parameters of GET /v1/deliveries.
var deliveryParams = append([]string{"webhookId", "status", "httpStatus"}, logParams...)

func (h *Handler) listDeliveries(c echo.Context) error {
	if err := onlyParams(c, deliveryParams); err != nil {
		return err
	}
	q, err := pageQuery(c)
	if err != nil {
		return err
	}
	pg, err := h.svc.ListDeliveries(c.Request().Context(), caller(c), service.DeliveryQuery{PageQuery: q,
		LogSearch: logSearch(c), WebhookID: c.QueryParam("webhookId"), Status: c.QueryParam("status"),
		HTTPStatus: c.QueryParam("httpStatus")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageJSON(pg, resource.FromDelivery))
}

// deliveryID parses the :id parameter; a malformed id is simply not found.
func deliveryID(c echo.Context) (uuid.UUID, error) { return service.ParseID(c.Param("id"), "delivery") }

func (h *Handler) getDelivery(c echo.Context) error {
	id, err := deliveryID(c)
	if err != nil {
		return err
	}
	d, err := h.svc.Delivery(c.Request().Context(), caller(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resource.FromDeliveryLog(d.Delivery, d.Attempts))
}

// resendDelivery starts a new series of attempts with the same webhook-id.
func (h *Handler) resendDelivery(c echo.Context) error {
	id, err := deliveryID(c)
	if err != nil {
		return err
	}
	d, res, err := h.svc.Resend(c.Request().Context(), caller(c), id)
	if err != nil {
		return err
	}
	out := resource.FromDelivery(d)
	out.WorkflowID = res.WorkflowID
	return c.JSON(http.StatusAccepted, out)
}

// testWebhook sends a WEBHOOK_TEST event to the webhook now, once, or with
// a body {"eventType": T} the sample of a type it subscribes to ("send
// example"), and reports what the receiver answered: 200 for a 2xx, else
// 502 with the attempt beside the usual error object.
func (h *Handler) testWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	var in struct {
		EventType string `json:"eventType"`
	}
	if err := decodeOptional(c, &in); err != nil {
		return err
	}
	var r service.TestResult
	if in.EventType == "" {
		r, err = h.svc.TestWebhook(c.Request().Context(), caller(c), id)
	} else {
		r, err = h.svc.SendExample(c.Request().Context(), caller(c), id, in.EventType)
	}
	if err != nil {
		return err
	}
	attempt := resource.TestAttempt{EventID: r.EventID, EventType: r.EventType, DeliveryID: r.DeliveryID, Success: r.Success,
		StatusCode: r.StatusCode, DurationMS: r.DurationMS, Error: r.Error}
	if r.Err == nil {
		return c.JSON(http.StatusOK, attempt)
	}
	return c.JSON(http.StatusBadGateway, map[string]any{"error": fromService(r.Err), "attempt": attempt})
}

func bulkResendJSON(r service.BulkResult) resource.BulkResend {
	out := resource.BulkResend{Resent: make([]string, 0, len(r.Resent)), Errors: make([]resource.BulkResendFail, 0, len(r.Errors)),
		More: r.More}
	for _, id := range r.Resent {
		out.Resent = append(out.Resent, id.String())
	}
	for _, f := range r.Errors {
		e := fromService(f.Err)
		out.Errors = append(out.Errors, resource.BulkResendFail{DeliveryID: f.DeliveryID.String(), Code: e.Code, Message: e.Message})
	}
	return out
}

// bulkResend recovers a webhook's failed (or cancelled) deliveries created in
// a time range, e.g. after the receiver was down: each gets a new series.
func (h *Handler) bulkResend(c echo.Context) error {
	var in service.BulkResend
	if err := decode(c, &in); err != nil {
		return err
	}
	r, err := h.svc.ResendMany(c.Request().Context(), caller(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, bulkResendJSON(r))
}
