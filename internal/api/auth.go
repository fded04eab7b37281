package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/apikey"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/ratelimit"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// authenticate resolves the bearer key; 401 when missing or unknown. A
// client address with too many recent failures gets 429 before its key is
// even looked up; a valid key over its request rate gets 429 too.
func (h *Handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return h.authenticateWithin(h.keyRequests, next)
}

// authenticatePublish is authenticate for POST /v1/events: a publish counts
// against the publish limit (off by default), not the per-key request
// limit, so the main job is never throttled below the API's capacity.
func (h *Handler) authenticatePublish(next echo.HandlerFunc) echo.HandlerFunc {
	return h.authenticateWithin(h.publishes, next)
}

func (h *Handler) authenticateWithin(limit *ratelimit.Limiters, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		addr := clientAddr(c)
		if ok, wait := h.authFailures.Check(addr); !ok {
			h.log.Debug("authentication refused: too many failures", "clientAddr", addr)
			return rateLimited(wait, "Too many failed authentications from this address; try again later.")
		}
		auth := c.Request().Header.Get(echo.HeaderAuthorization)
		// The scheme name is case-insensitive (RFC 7235 §2.1).
		scheme, key, ok := strings.Cut(auth, " ")
		key = strings.TrimSpace(key)
		if !ok || !strings.EqualFold(scheme, "bearer") || key == "" {
			h.authFailed(c, addr, "", "no bearer key")
			return apiError(http.StatusUnauthorized, CodeUnauthorized, "Send an API key as 'Authorization: Bearer <key>'.")
		}
		k, err := h.store.Authenticate(c.Request().Context(), apikey.Hash(key))
		if errors.Is(err, db.ErrNotFound) {
			h.authFailed(c, addr, key, "unknown or revoked key")
			return apiError(http.StatusUnauthorized, CodeUnauthorized, "The API key is unknown or revoked.")
		}
		if err != nil {
			return err // an outage: not the client's failure
		}
		if ok, wait := limit.Take(k.KeyID.String()); !ok {
			return rateLimited(wait, "This API key is over its request rate; slow down.")
		}
		c.Set("caller", service.Caller{AccountID: k.AccountID, Role: k.Role, Plan: k.Plan,
			Actor: service.Actor{Type: events.ActorAPIKey, ID: k.KeyID.String(), Name: k.KeyLabel, Addr: addr}})
		return next(c)
	}
}

// authFailed counts a failed authentication against the client address and
// logs it with at most a prefix of the key: enough to recognise a revoked
// or mistyped key, never enough to use it.
func (h *Handler) authFailed(c echo.Context, addr, key, reason string) {
	h.authFailures.Take(addr)
	prefix := ""
	if len(key) >= 24 {
		prefix = apikey.DisplayPrefix(key)
	}
	h.log.Warn("authentication failed", "reason", reason, "clientAddr", addr, "keyPrefix", prefix,
		"method", c.Request().Method, "path", c.Request().URL.Path,
		"requestId", c.Response().Header().Get(echo.HeaderXRequestID))
}

// caller is the request's authenticated caller.
func caller(c echo.Context) service.Caller {
	p, _ := c.Get("caller").(service.Caller)
	return p
}

// allow refuses a caller without access a (403) before the handler reads
// the request; the service checks again, for callers other than the API.
func allow(a service.Access) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := service.Authorize(caller(c), a); err != nil {
				return err
			}
			return next(c)
		}
	}
}
