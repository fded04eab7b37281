package api

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

func toDeliveryJSON(d db.Delivery) resource.Delivery {
	out := resource.Delivery{
		ID: d.ID.String(), EventID: d.EventID, EventType: d.EventType, WebhookID: d.WebhookID.String(), MessageID: d.MessageID,
		Status: d.Status, StatusReason: d.StatusReason, AttemptCount: d.AttemptCount, Series: d.Series,
		LastStatusCode: d.LastStatusCode, WorkflowID: d.WorkflowID, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
	if d.NextAttemptAt != nil {
		t := d.NextAttemptAt.UTC()
		out.NextAttemptAt = &t
	}
	return out
}

func toAttemptJSON(a db.Attempt) resource.Attempt {
	out := resource.Attempt{Series: a.Series, Number: a.Number, Try: a.Try, URL: a.URL, StartedAt: a.StartedAt.UTC(),
		DurationMS: a.DurationMS, ResponseStatus: a.ResponseStatus, ResponseBody: string(a.ResponseBody), Error: a.Error}
	switch {
	case a.FinishedAt == nil:
		out.Outcome = "unknown"
		if out.Error == "" {
			out.Error = "no outcome recorded (yet): the request is in flight, or its worker stopped before recording the answer; the receiver may have received it"
		}
	case a.ResponseStatus != nil:
		out.Outcome = "answered"
	default:
		out.Outcome = "error"
	}
	if a.FinishedAt != nil {
		t := a.FinishedAt.UTC()
		out.FinishedAt = &t
	}
	if !utf8.Valid(a.ResponseBody) {
		out.ResponseBody = strings.ToValidUTF8(out.ResponseBody, "\uFFFD")
		out.ResponseBodyBase64 = base64.StdEncoding.EncodeToString(a.ResponseBody)
	}
	return out
}

func (h *Handler) listDeliveries(c echo.Context) error {
	limit, after, err := pagination(c)
	if err != nil {
		return err
	}
	f := db.DeliveryFilter{Limit: limit + 1, After: after, Status: delivery.Status(c.QueryParam("status")), EventType: c.QueryParam("eventType")}
	bad := map[string]string{}
	if s := c.QueryParam("webhookId"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			bad["webhookId"] = "must be a webhook id"
		}
		f.WebhookID = &id
	}
	if f.Status != "" && !f.Status.Valid() {
		bad["status"] = "must be one of: pending, retrying, succeeded, failed, cancelled"
	}
	if f.EventType != "" && !events.IsSubscribable(f.EventType) && f.EventType != events.WebhookTest {
		bad["eventType"] = "unknown event type " + f.EventType
	}
	if len(bad) > 0 {
		return validationError(bad)
	}
	ds, err := h.store.ListDeliveries(c.Request().Context(), caller(c).AccountID, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(ds, limit, toDeliveryJSON, func(d db.Delivery) (time.Time, uuid.UUID) {
		return d.CreatedAt, d.ID
	}))
}

func (h *Handler) delivery(c echo.Context) (db.Delivery, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return db.Delivery{}, notFound("delivery")
	}
	d, err := h.store.Delivery(c.Request().Context(), caller(c).AccountID, id)
	if err != nil {
		return db.Delivery{}, notFoundOr(err, "delivery")
	}
	return d, nil
}

func (h *Handler) getDelivery(c echo.Context) error {
	d, err := h.delivery(c)
	if err != nil {
		return err
	}
	attempts, err := h.store.Attempts(c.Request().Context(), d.ID)
	if err != nil {
		return err
	}
	out := toDeliveryJSON(d)
	out.Attempts = make([]resource.Attempt, 0, len(attempts))
	for _, a := range attempts {
		out.Attempts = append(out.Attempts, toAttemptJSON(a))
	}
	return c.JSON(http.StatusOK, out)
}

// resendDelivery starts a new series of attempts with the same webhook-id.
func (h *Handler) resendDelivery(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return notFound("delivery")
	}
	d, res, err := h.svc.Resend(c.Request().Context(), caller(c).AccountID, id)
	if err != nil {
		return err
	}
	out := toDeliveryJSON(d)
	out.WorkflowID = res.WorkflowID
	return c.JSON(http.StatusAccepted, out)
}

// testWebhook sends a WEBHOOK_TEST event to the webhook now, once, and
// reports what the receiver answered: 200 for a 2xx, else 502 with the
// attempt beside the usual error object.
func (h *Handler) testWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	r, err := h.svc.TestWebhook(c.Request().Context(), caller(c).AccountID, id)
	if err != nil {
		return err
	}
	attempt := map[string]any{
		"eventId": r.EventID, "deliveryId": r.DeliveryID, "success": r.Success,
		"statusCode": r.StatusCode, "durationMs": r.DurationMS, "error": r.Error,
	}
	if r.Err == nil {
		return c.JSON(http.StatusOK, attempt)
	}
	return c.JSON(http.StatusBadGateway, map[string]any{"error": fromService(r.Err), "attempt": attempt})
}

type bulkResendRequest struct {
	WebhookID string `json:"webhookId" validate:"required,uuid"`
	// Status: failed (default), cancelled, skipped_disabled (missed while
	// disabled), or pending (stuck: only those whose workflow is gone).
	Status string     `json:"status" validate:"omitempty,oneof=failed cancelled skipped_disabled pending"`
	Since  *time.Time `json:"since" validate:"required"`
	Until  *time.Time `json:"until"`
}

type bulkResendResponse struct {
	Resent []uuid.UUID      `json:"resent"`
	Errors []bulkResendFail `json:"errors"`
	// More says that more deliveries matched than one call resends: call
	// again (the resent ones no longer match: they are pending again).
	More bool `json:"more"`
}

type bulkResendFail struct {
	DeliveryID uuid.UUID `json:"deliveryId"`
	Code       string    `json:"code"`
	Message    string    `json:"message"`
}

func toBulkResendJSON(r service.BulkResult) bulkResendResponse {
	out := bulkResendResponse{Resent: r.Resent, Errors: make([]bulkResendFail, 0, len(r.Errors)), More: r.More}
	for _, f := range r.Errors {
		e := fromService(f.Err)
		out.Errors = append(out.Errors, bulkResendFail{DeliveryID: f.DeliveryID, Code: e.Code, Message: e.Message})
	}
	return out
}

// bulkResend recovers a webhook's failed (or cancelled) deliveries created in
// a time range, e.g. after the receiver was down: each gets a new series.
func (h *Handler) bulkResend(c echo.Context) error {
	var req bulkResendRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := h.check(req); err != nil {
		return err
	}
	r, err := h.svc.ResendMany(c.Request().Context(), caller(c).AccountID, service.BulkResend{
		WebhookID: uuid.MustParse(req.WebhookID), Status: delivery.Status(req.Status), Since: *req.Since, Until: req.Until,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, toBulkResendJSON(r))
}
