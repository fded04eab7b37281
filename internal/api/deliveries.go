package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

type deliveryJSON struct {
	ID             uuid.UUID       `json:"id"`
	EventID        string          `json:"eventId"`
	EventType      string          `json:"eventType"`
	WebhookID      uuid.UUID       `json:"webhookId"`
	MessageID      string          `json:"messageId"`
	Status         delivery.Status `json:"status"`
	StatusReason   string          `json:"statusReason,omitempty"`
	AttemptCount   int             `json:"attemptCount"`
	Series         int             `json:"series"`
	LastStatusCode *int            `json:"lastStatusCode"`
	NextAttemptAt  *time.Time      `json:"nextAttemptAt"`
	WorkflowID     string          `json:"workflowId"`
	CreatedAt      time.Time       `json:"createdAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
	Attempts       []attemptJSON   `json:"attempts,omitempty"`
}

// attemptJSON is one HTTP request of a delivery. Try above 1 marks the same
// attempt number sent again after the worker making it was lost; outcome
// "unknown" is a request whose worker stopped before recording the answer
// (the receiver may have it).
type attemptJSON struct {
	Series         int        `json:"series"`
	Number         int        `json:"number"`
	Try            int        `json:"try"`
	Outcome        string     `json:"outcome"` // answered, error or unknown
	URL            string     `json:"url"`
	StartedAt      time.Time  `json:"startedAt"`
	FinishedAt     *time.Time `json:"finishedAt"`
	DurationMS     int        `json:"durationMs"`
	ResponseStatus *int       `json:"responseStatus"`
	// ResponseBody is the answer as text (invalid UTF-8 shown as U+FFFD);
	// ResponseBodyBase64 has its exact bytes when they are not valid UTF-8.
	ResponseBody       string `json:"responseBody"`
	ResponseBodyBase64 string `json:"responseBodyBase64,omitempty"`
	Error              string `json:"error,omitempty"`
}

func toDeliveryJSON(d db.Delivery) deliveryJSON {
	out := deliveryJSON{
		ID: d.ID, EventID: d.EventID, EventType: d.EventType, WebhookID: d.WebhookID, MessageID: d.MessageID,
		Status: d.Status, StatusReason: d.StatusReason, AttemptCount: d.AttemptCount, Series: d.Series,
		LastStatusCode: d.LastStatusCode, WorkflowID: d.WorkflowID, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
	}
	if d.NextAttemptAt != nil {
		t := d.NextAttemptAt.UTC()
		out.NextAttemptAt = &t
	}
	return out
}

func toAttemptJSON(a db.Attempt) attemptJSON {
	out := attemptJSON{Series: a.Series, Number: a.Number, Try: a.Try, URL: a.URL, StartedAt: a.StartedAt.UTC(),
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
	out.Attempts = make([]attemptJSON, 0, len(attempts))
	for _, a := range attempts {
		out.Attempts = append(out.Attempts, toAttemptJSON(a))
	}
	return c.JSON(http.StatusOK, out)
}

// resendDelivery starts a new series of attempts with the same webhook-id.
func (h *Handler) resendDelivery(c echo.Context) error {
	d, err := h.delivery(c)
	if err != nil {
		return err
	}
	acct := caller(c).AccountID
	// A resend to a disabled or deleted webhook would only be cancelled at
	// its first attempt: say so now instead of answering 202.
	w, err := h.store.Webhook(c.Request().Context(), acct, d.WebhookID)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return apiError(http.StatusConflict, CodeConflict, "The delivery's webhook was deleted; there is nothing to resend to.")
	case err != nil:
		return err
	case !w.Enabled:
		return apiError(http.StatusConflict, CodeWebhookDisabled, "The delivery's webhook is disabled; enable it, then resend.")
	}
	d, res, err := h.resend(c.Request().Context(), acct, d)
	if err != nil {
		return err
	}
	out := toDeliveryJSON(d)
	out.WorkflowID = res.WorkflowID
	return c.JSON(http.StatusAccepted, out)
}

// testWebhook sends a WEBHOOK_TEST event to the webhook now, once, and
// reports what the receiver answered.
func (h *Handler) testWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	acct := caller(c).AccountID
	if _, err := h.store.Webhook(c.Request().Context(), acct, id); err != nil {
		return notFoundOr(err, "webhook")
	}
	// Each test is an outbound request on the admin's say-so: one at a time
	// per webhook, and a few a minute, so the endpoint cannot be used to
	// flood a receiver.
	if _, running := h.testsInFlight.LoadOrStore(id, struct{}{}); running {
		return rateLimited(time.Second, "A test of this webhook is already running; wait for its answer.")
	}
	defer h.testsInFlight.Delete(id)
	if ok, wait := h.webhookTests.Take(id.String()); !ok {
		return rateLimited(wait, "Too many tests of this webhook; try again later.")
	}
	e := events.Event{
		ID: "test-" + uuid.NewString(), Type: events.WebhookTest, TriggerSource: events.SourceSaaSPage,
		OccurredAt: h.now().UTC(), Data: []byte(`{"message":"This is a test event from esign-webhooks."}`),
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), h.cfg.DeliveryTimeout+15*time.Second)
	defer cancel()
	run, err := h.pub.StartTest(ctx, acct.String(), id.String(), e)
	if err != nil {
		h.log.Warn("starting test workflow", "webhookId", id, "err", err)
		return apiError(http.StatusServiceUnavailable, CodeUnavailable,
			"The workflow service is unavailable; the test event was not sent. Try again later.")
	}
	var res flow.Result
	if err := run.Get(ctx, &res); err != nil {
		var wfErr *temporal.WorkflowExecutionError
		var deadline *serviceerror.DeadlineExceeded
		switch {
		// The server may answer DeadlineExceeded just before our ctx ends:
		// it is given the same deadline.
		case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &deadline):
			return apiError(http.StatusGatewayTimeout, CodeUnavailable, "The test delivery did not finish in time; see the delivery log.")
		case errors.As(err, &wfErr):
			msg := wfErr.Error()
			if appErr := (*temporal.ApplicationError)(nil); errors.As(err, &appErr) {
				msg = appErr.Message() // without the workflow type and ids
			}
			return apiError(http.StatusBadGateway, CodeDeliveryFailed, "The test delivery failed: "+msg)
		}
		h.log.Warn("waiting for test workflow", "webhookId", id, "err", err)
		return apiError(http.StatusServiceUnavailable, CodeUnavailable,
			"The workflow service became unavailable; see the delivery log.")
	}
	if len(res.Deliveries) == 0 {
		return apiError(http.StatusConflict, CodeConflict, "Nothing was sent: "+res.Skipped)
	}
	r := res.Deliveries[0]
	attempt := map[string]any{
		"eventId": e.ID, "deliveryId": r.DeliveryID, "success": r.Status == delivery.Succeeded,
		"statusCode": r.Last.StatusCode, "durationMs": r.Last.DurationMS, "error": r.Last.Error,
	}
	if r.Status == delivery.Succeeded {
		return c.JSON(http.StatusOK, attempt)
	}
	// The receiver did not take it (non-2xx, redirect, refused, blocked):
	// 502 as documented, with the attempt beside the usual error object.
	return c.JSON(http.StatusBadGateway, map[string]any{
		"error":   apiError(http.StatusBadGateway, CodeDeliveryFailed, "The test delivery failed: "+testFailure(r)),
		"attempt": attempt,
	})
}

// testFailure says in words why a test delivery failed.
func testFailure(r flow.DeliveryResult) string {
	switch {
	case r.Last.Error != "":
		return r.Last.Error
	case r.Last.StatusCode != 0:
		return fmt.Sprintf("the receiver answered HTTP %d %s.", r.Last.StatusCode, http.StatusText(r.Last.StatusCode))
	case r.Last.Reason != "":
		return r.Last.Reason
	}
	return "the delivery ended " + string(r.Status) + "."
}

// startRefused reports whether a failed workflow start certainly did not
// start anything: Temporal was unreachable or rejected the request. A
// deadline, a cancellation or an unknown error may come after the server
// accepted the start.
func startRefused(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var (
		unavailable   *serviceerror.Unavailable
		nsUnavailable *serviceerror.NamespaceUnavailable
		invalid       *serviceerror.InvalidArgument
		notFound      *serviceerror.NamespaceNotFound
		denied        *serviceerror.PermissionDenied
		exhausted     *serviceerror.ResourceExhausted
		precondition  *serviceerror.FailedPrecondition
	)
	return errors.As(err, &unavailable) || errors.As(err, &nsUnavailable) || errors.As(err, &invalid) ||
		errors.As(err, &notFound) || errors.As(err, &denied) || errors.As(err, &exhausted) || errors.As(err, &precondition)
}

// workflowGone reports whether a pending delivery's workflow no longer runs:
// a resend that never started (its start's outcome was unknown) or a run
// closed without recording an outcome (e.g. terminated by an operator).
func (h *Handler) workflowGone(ctx context.Context, workflowID string) (bool, error) {
	state, _, err := h.pub.WorkflowState(ctx, workflowID)
	switch {
	case err != nil:
		return false, err
	case state == publish.NotFound:
		// An event's own workflow may simply not be started yet (the
		// dispatcher does that); only a resend's start is ours to judge.
		return flow.IsResendWorkflowID(workflowID), nil
	}
	return state != publish.Running, nil
}

// resend starts a new series of attempts of d (a delivery of acct whose
// webhook is enabled). Errors are API errors.
func (h *Handler) resend(ctx context.Context, acct uuid.UUID, d db.Delivery) (db.Delivery, publish.Result, error) {
	dead := ""
	if d.Status == delivery.Pending || d.Status == delivery.Retrying {
		gone, err := h.workflowGone(ctx, d.WorkflowID)
		if err != nil {
			h.log.Warn("checking a pending delivery's workflow", "workflowId", d.WorkflowID, "err", err)
			return db.Delivery{}, publish.Result{}, apiError(http.StatusServiceUnavailable, CodeUnavailable, "The workflow service is unavailable; try again later.")
		}
		if gone {
			dead = d.WorkflowID
		}
	}
	d, err := h.store.StartResend(ctx, acct, d.ID, d.Series, flow.ResendWorkflowID(d.ID.String(), d.Series+1), dead)
	if errors.Is(err, db.ErrConflict) {
		return db.Delivery{}, publish.Result{}, apiError(http.StatusConflict, CodeConflict, "The delivery is still in progress; resend it once it has finished.")
	}
	if err != nil {
		return db.Delivery{}, publish.Result{}, notFoundOr(err, "delivery")
	}
	res, err := h.pub.StartResend(ctx, acct.String(), d.EventType, d.ID.String(), d.Series)
	if err != nil {
		h.log.Warn("starting resend workflow", "deliveryId", d.ID, "series", d.Series, "err", err)
		if !startRefused(err) {
			// The start may have reached Temporal: failing the delivery now
			// could let a second resend run alongside this series.
			return db.Delivery{}, publish.Result{}, apiError(http.StatusServiceUnavailable, CodeUnavailable,
				"The workflow service did not answer in time; the resend may or may not have started. Check the delivery before resending again.")
		}
		// Put the delivery back so the admin can retry the resend.
		_ = h.store.FinishDelivery(context.WithoutCancel(ctx), d.ID, d.Series, delivery.Failed, "resend could not be scheduled")
		return db.Delivery{}, publish.Result{}, apiError(http.StatusServiceUnavailable, CodeUnavailable,
			"The workflow service is unavailable; the resend was not started. Try again later.")
	}
	return d, res, nil
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

// maxBulkResend bounds the work of one bulk resend request.
const maxBulkResend = 500

// bulkResend recovers a webhook's failed (or cancelled) deliveries created in
// a time range, e.g. after the receiver was down: each gets a new series.
// resendMany resends up to maxBulkResend of ds, in order; More says there
// were more. A delivery that cannot be resent is reported, not fatal.
func (h *Handler) resendMany(ctx context.Context, acct uuid.UUID, ds []db.Delivery) bulkResendResponse {
	out := bulkResendResponse{Resent: []uuid.UUID{}, Errors: []bulkResendFail{}, More: len(ds) > maxBulkResend}
	for _, d := range ds[:min(len(ds), maxBulkResend)] {
		if _, _, err := h.resend(ctx, acct, d); err != nil {
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				apiErr = &Error{Code: CodeInternal, Message: "The resend could not be started."}
				h.log.Warn("resending", "deliveryId", d.ID, "err", err)
			}
			out.Errors = append(out.Errors, bulkResendFail{DeliveryID: d.ID, Code: apiErr.Code, Message: apiErr.Message})
			continue
		}
		out.Resent = append(out.Resent, d.ID)
	}
	return out
}

func (h *Handler) bulkResend(c echo.Context) error {
	var req bulkResendRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := h.check(req); err != nil {
		return err
	}
	if req.Until != nil && !req.Until.After(*req.Since) {
		return validationError(map[string]string{"until": "must be after since"})
	}
	if req.Status == "" {
		req.Status = string(delivery.Failed)
	}
	ctx := c.Request().Context()
	acct := caller(c).AccountID
	webhookID := uuid.MustParse(req.WebhookID)
	w, err := h.store.Webhook(ctx, acct, webhookID)
	if err != nil {
		return notFoundOr(err, "webhook")
	}
	if !w.Enabled {
		return apiError(http.StatusConflict, CodeWebhookDisabled, "The webhook is disabled; enable it, then resend.")
	}
	ds, err := h.store.ListDeliveries(ctx, acct, db.DeliveryFilter{
		WebhookID: &webhookID, Status: delivery.Status(req.Status), CreatedFrom: req.Since, CreatedTo: req.Until,
		Limit: maxBulkResend + 1, Oldest: true,
	})
	if err != nil {
		return err
	}
	out := h.resendMany(ctx, acct, ds)
	return c.JSON(http.StatusAccepted, out)
}
