package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/signing"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
)

// webhookJSON is a webhook as the API shows it: never its secret.
type webhookJSON struct {
	ID             uuid.UUID `json:"id"`
	Name           string    `json:"name"`
	URL            string    `json:"url"`
	EventTypes     []string  `json:"eventTypes"`
	TriggerSources []string  `json:"triggerSources"`
	AppIDs         []string  `json:"appIds"`
	Status         string    `json:"status"`
	// DisabledReason (manual, auto_disabled_failing, receiver_gone) and
	// DisabledMessage say why a disabled webhook is.
	DisabledReason  string     `json:"disabledReason,omitempty"`
	DisabledMessage string     `json:"disabledMessage,omitempty"`
	DisabledAt      *time.Time `json:"disabledAt,omitempty"`
	Health          healthJSON `json:"health"`
	// MaxConcurrency and RateLimitPerSecond (null: none) protect the
	// receiver; Throttle is the back-off its answers asked for.
	MaxConcurrency     int          `json:"maxConcurrency"`
	RateLimitPerSecond *float64     `json:"rateLimitPerSecond"`
	Throttle           throttleJSON `json:"throttle"`
	CreatedAt          time.Time    `json:"createdAt"`
	UpdatedAt          time.Time    `json:"updatedAt"`
}

// healthJSON is a webhook's endpoint health: state is healthy, failing or
// disabled.
type healthJSON struct {
	State               string     `json:"state"`
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	ExhaustedDeliveries int        `json:"exhaustedDeliveries"`
	FailingSince        *time.Time `json:"failingSince"`
	LastSuccessAt       *time.Time `json:"lastSuccessAt"`
}

// throttleJSON is a webhook's throttle: throttled while until is ahead
// (nothing is sent to it before then); step counts the throttling answers
// (429, 502, 503, 504, Retry-After) in a row, each doubling the back-off.
type throttleJSON struct {
	Throttled bool       `json:"throttled"`
	Until     *time.Time `json:"until"`
	Step      int        `json:"step"`
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func toWebhookJSON(w db.Webhook) webhookJSON {
	status := "disabled"
	if w.Enabled {
		status = "enabled"
	}
	out := webhookJSON{
		ID: w.ID, Name: w.Name, URL: w.URL, EventTypes: w.EventTypes, TriggerSources: w.TriggerSources,
		AppIDs: nonNil(w.AppIDs), Status: status, CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(),
		Health: healthJSON{State: "healthy", ConsecutiveFailures: w.ConsecutiveFailures, ExhaustedDeliveries: w.ExhaustedStreak,
			FailingSince: utc(w.FailingSince), LastSuccessAt: utc(w.LastSuccessAt)},
		MaxConcurrency: w.MaxConcurrency, RateLimitPerSecond: w.RateLimitPerSecond,
		Throttle: throttleJSON{Step: w.ThrottleStep},
	}
	if w.ThrottledUntil != nil && w.ThrottledUntil.After(time.Now()) {
		out.Throttle.Throttled, out.Throttle.Until = true, utc(w.ThrottledUntil)
	}
	switch {
	case !w.Enabled:
		out.Health.State = "disabled"
		out.DisabledReason, out.DisabledMessage, out.DisabledAt = w.DisabledReason, w.DisabledMessage, utc(w.DisabledAt)
	case w.FailingSince != nil:
		out.Health.State = "failing"
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type createWebhookRequest struct {
	Name           string   `json:"name" validate:"notblank,max=100,nocontrol"`
	URL            string   `json:"url" validate:"required,max=2048,callbackurl"`
	EventTypes     []string `json:"eventTypes" validate:"required,min=1,unique,dive,eventtype"`
	TriggerSources []string `json:"triggerSources" validate:"required,min=1,unique,dive,triggersource"`
	AppIDs         []string `json:"appIds" validate:"omitempty,max=100,unique,dive,min=1,max=200,printascii"`
	Enabled        *bool    `json:"enabled"`
	// Receiver protection: requests in flight at most (default 10) and
	// requests per second (default none).
	MaxConcurrency     *int     `json:"maxConcurrency" validate:"omitnil,min=1,max=100"`
	RateLimitPerSecond *float64 `json:"rateLimitPerSecond" validate:"omitnil,min=0.1,max=1000"`
}

type updateWebhookRequest struct {
	Name           *string  `json:"name" validate:"omitnil,notblank,max=100,nocontrol"`
	URL            *string  `json:"url" validate:"omitnil,max=2048,callbackurl"`
	EventTypes     []string `json:"eventTypes" validate:"omitnil,min=1,unique,dive,eventtype"`
	TriggerSources []string `json:"triggerSources" validate:"omitnil,min=1,unique,dive,triggersource"`
	AppIDs         []string `json:"appIds" validate:"omitnil,max=100,unique,dive,min=1,max=200,printascii"`
	// The limits may change while the webhook is enabled (see limitsOnly).
	MaxConcurrency     *int         `json:"maxConcurrency" validate:"omitnil,min=1,max=100"`
	RateLimitPerSecond nullableRate `json:"rateLimitPerSecond"`
}

// limitsOnly reports whether the edit touches the receiver's limits only:
// those apply from the next attempt and may change while the webhook is
// enabled — an admin slowing a struggling receiver down must not have to
// disable the webhook, which cancels its waiting deliveries.
func (r updateWebhookRequest) limitsOnly() bool {
	return r.Name == nil && r.URL == nil && r.EventTypes == nil && r.TriggerSources == nil && r.AppIDs == nil &&
		(r.MaxConcurrency != nil || r.RateLimitPerSecond.Set)
}

// nullableRate is rateLimitPerSecond in a PATCH: absent keeps the limit,
// null removes it, a number sets it.
type nullableRate struct {
	Set   bool
	Value *float64
}

func (n *nullableRate) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Value = nil
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

// validRate checks a rate limit: none, or 0.1 to 1000 per second.
func validRate(v *float64) error {
	if v != nil && (*v < 0.1 || *v > 1000) {
		return validationError(map[string]string{"rateLimitPerSecond": rateMessage})
	}
	return nil
}

const rateMessage = "must be null (no limit) or from 0.1 to 1000 requests per second"

type webhookWithSecret struct {
	webhookJSON
	Secret string `json:"secret"`
}

func (h *Handler) createWebhook(c echo.Context) error {
	var req createWebhookRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if err := h.check(req); err != nil {
		return err
	}
	secret, err := signing.NewSecret()
	if err != nil {
		return err
	}
	id := uuid.New()
	enc, err := h.box.Seal([]byte(secret), db.SecretAAD(id))
	if err != nil {
		return fmt.Errorf("encrypting secret: %w", err)
	}
	enabled := req.Enabled == nil || *req.Enabled
	f := db.WebhookFields{
		Name: req.Name, URL: req.URL, EventTypes: req.EventTypes, TriggerSources: req.TriggerSources, AppIDs: req.AppIDs,
		RateLimitPerSecond: req.RateLimitPerSecond,
	}
	if req.MaxConcurrency != nil {
		f.MaxConcurrency = *req.MaxConcurrency
	}
	w, err := h.store.CreateWebhookLimited(c.Request().Context(), db.NewWebhook{ID: id, AccountID: caller(c).AccountID,
		Fields: f, Enabled: enabled, SecretEnc: enc, Limit: h.cfg.MaxWebhooksPerAccount})
	switch {
	case errors.Is(err, db.ErrConflict):
		return nameTaken()
	case errors.Is(err, db.ErrLimitReached):
		return apiError(http.StatusUnprocessableEntity, CodeWebhookLimit, fmt.Sprintf(
			"This account has reached its limit of %d webhooks; delete one it no longer needs first.", h.cfg.MaxWebhooksPerAccount))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, webhookWithSecret{toWebhookJSON(w), secret})
}

func nameTaken() error {
	return validationError(map[string]string{"name": "is already used by another webhook of this account"})
}

// webhookID parses the :id parameter; a malformed id is simply not found.
func webhookID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, notFound("webhook")
	}
	return id, nil
}

func (h *Handler) getWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	w, err := h.store.Webhook(c.Request().Context(), caller(c).AccountID, id)
	if err != nil {
		return notFoundOr(err, "webhook")
	}
	return c.JSON(http.StatusOK, toWebhookJSON(w))
}

func notFoundOr(err error, what string) error {
	if errors.Is(err, db.ErrNotFound) {
		return notFound(what)
	}
	return err
}

type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

func (h *Handler) listWebhooks(c echo.Context) error {
	limit, after, err := pagination(c)
	if err != nil {
		return err
	}
	f := db.WebhookFilter{Limit: limit + 1, After: after}
	switch s := c.QueryParam("status"); s {
	case "":
	case "enabled", "disabled":
		enabled := s == "enabled"
		f.Enabled = &enabled
	default:
		return validationError(map[string]string{"status": "must be enabled or disabled"})
	}
	hooks, err := h.store.ListWebhooks(c.Request().Context(), caller(c).AccountID, f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageOf(hooks, limit, toWebhookJSON, func(w db.Webhook) (time.Time, uuid.UUID) {
		return w.CreatedAt, w.ID
	}))
}

// errWebhookEnabled is the rule of the settings page: edit and delete only
// while disabled.
var errWebhookEnabled = apiError(http.StatusConflict, CodeWebhookEnabled,
	"Disable the webhook first: it can be edited or deleted only while disabled.")

func mustBeDisabled(w db.Webhook) error {
	if w.Enabled {
		return errWebhookEnabled
	}
	return nil
}

func (h *Handler) updateWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	var req updateWebhookRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Name != nil {
		trimmed := strings.TrimSpace(*req.Name)
		req.Name = &trimmed
	}
	if err := h.check(req); err != nil {
		return err
	}
	if err := validRate(req.RateLimitPerSecond.Value); err != nil {
		return err
	}
	check := mustBeDisabled
	if req.limitsOnly() {
		check = func(db.Webhook) error { return nil }
	}
	w, err := h.store.UpdateWebhook(c.Request().Context(), caller(c).AccountID, id, check, func(f *db.WebhookFields) {
		if req.MaxConcurrency != nil {
			f.MaxConcurrency = *req.MaxConcurrency
		}
		if req.RateLimitPerSecond.Set {
			f.RateLimitPerSecond = req.RateLimitPerSecond.Value
		}
		if req.Name != nil {
			f.Name = *req.Name
		}
		if req.URL != nil {
			f.URL = *req.URL
		}
		if req.EventTypes != nil {
			f.EventTypes = req.EventTypes
		}
		if req.TriggerSources != nil {
			f.TriggerSources = req.TriggerSources
		}
		if req.AppIDs != nil {
			f.AppIDs = req.AppIDs
		}
	})
	switch {
	case errors.Is(err, db.ErrConflict):
		return nameTaken()
	case err != nil:
		return notFoundOr(err, "webhook")
	}
	return c.JSON(http.StatusOK, toWebhookJSON(w))
}

// enableRequest is the optional body of POST /v1/webhooks/{id}/enable:
// replay the deliveries missed while it was disabled (skipped_disabled),
// since ReplayMissedSince or, by default, since it was last disabled.
type enableRequest struct {
	ReplayMissed      bool       `json:"replayMissed"`
	ReplayMissedSince *time.Time `json:"replayMissedSince"`
}

// enableResponse is the webhook, what it missed while disabled, and what
// was replayed of it (in event order, maxBulkResend per call).
type enableResponse struct {
	webhookJSON
	Missed int                 `json:"missedDeliveries"`
	Replay *bulkResendResponse `json:"replay,omitempty"`
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
	ctx := c.Request().Context()
	acct := caller(c).AccountID
	w, err := h.store.SetWebhookEnabled(ctx, acct, id, true)
	if err != nil {
		return notFoundOr(err, "webhook")
	}
	out := enableResponse{webhookJSON: toWebhookJSON(w)}
	since := req.ReplayMissedSince
	if since == nil {
		since = w.DisabledAt
	}
	if since == nil {
		since = &w.CreatedAt
	}
	missed, err := h.store.ListDeliveries(ctx, acct, db.DeliveryFilter{
		WebhookID: &id, Status: delivery.SkippedDisabled, CreatedFrom: since, Limit: maxBulkResend + 1, Oldest: true,
	})
	if err != nil {
		return err
	}
	out.Missed = len(missed)
	if req.ReplayMissed || req.ReplayMissedSince != nil {
		replay := h.resendMany(ctx, acct, missed)
		out.Replay = &replay
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) disableWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	w, err := h.store.SetWebhookEnabled(c.Request().Context(), caller(c).AccountID, id, false)
	if err != nil {
		return notFoundOr(err, "webhook")
	}
	h.dispatcher.StopDeliveries(id, "webhook was disabled")
	return c.JSON(http.StatusOK, toWebhookJSON(w))
}

func (h *Handler) deleteWebhook(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	acct := caller(c).AccountID
	// Look first so an unknown id is a 404 whatever confirm says.
	if _, err := h.store.Webhook(c.Request().Context(), acct, id); err != nil {
		return notFoundOr(err, "webhook")
	}
	if c.QueryParam("confirm") != id.String() {
		return apiError(http.StatusPreconditionRequired, CodeConfirmationRequired,
			"Deleting is permanent: repeat the webhook's id in ?confirm= to confirm.")
	}
	if err := h.store.DeleteWebhook(c.Request().Context(), acct, id, mustBeDisabled); err != nil {
		return notFoundOr(err, "webhook")
	}
	h.dispatcher.StopDeliveries(id, "webhook was deleted")
	return c.NoContent(http.StatusNoContent)
}

type resetSecretRequest struct {
	GracePeriodSeconds *int `json:"gracePeriodSeconds" validate:"omitnil,min=0,max=604800"`
}

func (h *Handler) resetSecret(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	var req resetSecretRequest
	if c.Request().ContentLength != 0 {
		if err := decode(c, &req); err != nil {
			return err
		}
	}
	if err := h.check(req); err != nil {
		if ve, ok := err.(*Error); ok && ve.Fields["gracePeriodSeconds"] != "" {
			ve.Fields["gracePeriodSeconds"] = "must be between 0 and 604800 seconds (7 days)"
		}
		return err
	}
	grace := 86400
	if req.GracePeriodSeconds != nil {
		grace = *req.GracePeriodSeconds
	}
	secret, err := signing.NewSecret()
	if err != nil {
		return err
	}
	enc, err := h.box.Seal([]byte(secret), db.SecretAAD(id))
	if err != nil {
		return fmt.Errorf("encrypting secret: %w", err)
	}
	graceUntil := h.now().Add(time.Duration(grace) * time.Second)
	w, err := h.store.RotateWebhookSecret(c.Request().Context(), caller(c).AccountID, id, enc, graceUntil, grace > 0)
	if err != nil {
		return notFoundOr(err, "webhook")
	}
	out := map[string]any{"webhook": toWebhookJSON(w), "secret": secret}
	if grace > 0 {
		out["previousSecretExpiresAt"] = graceUntil.UTC()
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) getSecret(c echo.Context) error {
	id, err := webhookID(c)
	if err != nil {
		return err
	}
	w, err := h.store.Webhook(c.Request().Context(), caller(c).AccountID, id)
	if err != nil {
		return notFoundOr(err, "webhook")
	}
	secret, err := h.box.Open(w.SecretEnc, db.SecretAAD(w.ID))
	if err != nil {
		return fmt.Errorf("decrypting secret: %w", err)
	}
	return c.JSON(http.StatusOK, map[string]string{"secret": string(secret)})
}

// pagination reads ?limit= (1-100, default 20) and ?cursor=.
func pagination(c echo.Context) (int, *db.Cursor, error) {
	limit := 20
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return 0, nil, validationError(map[string]string{"limit": "must be a whole number from 1 to 100"})
		}
		limit = n
	}
	var after *db.Cursor
	if s := c.QueryParam("cursor"); s != "" {
		cur, ok := decodeCursor(s)
		if !ok {
			return 0, nil, validationError(map[string]string{"cursor": "is not a cursor this API returned"})
		}
		after = &cur
	}
	return limit, after, nil
}
