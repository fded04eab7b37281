package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/apikey"
)

const (
	roleAdmin     = db.RoleAdmin
	roleMember    = db.RoleMember
	rolePublisher = db.RolePublisher
)

// principal is the authenticated caller: a key of one account.
type principal struct {
	KeyID     uuid.UUID
	Role      string
	AccountID uuid.UUID
	Plan      string
}

// inProcessKey is the context key of a caller that Go code in this process
// vouches for (see AsCaller): a context value, so no request from the
// network can carry one.
type inProcessKey struct{}

type inProcessCaller struct {
	accountID uuid.UUID
	role      string
}

// AsCaller returns ctx carrying an already-authenticated caller: a request
// served with it runs as that account and role, without an API key, through
// the same routes, roles, plan check, validation and errors as any other.
// The console (package console) calls the API this way for its signed-in
// users. Only admin and member are accepted.
func AsCaller(ctx context.Context, accountID uuid.UUID, role string) context.Context {
	return context.WithValue(ctx, inProcessKey{}, inProcessCaller{accountID: accountID, role: role})
}

// authenticate resolves the bearer key; 401 when missing or unknown. A
// client address with too many recent failures gets 429 before its key is
// even looked up; a valid key over its request rate gets 429 too.
func (h *Handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if in, ok := c.Request().Context().Value(inProcessKey{}).(inProcessCaller); ok {
			return h.authenticateInProcess(c, in, next)
		}
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
		if ok, wait := h.keyRequests.Take(k.KeyID.String()); !ok {
			return rateLimited(wait, "This API key is over its request rate; slow down.")
		}
		c.Set("principal", principal{KeyID: k.KeyID, Role: k.Role, AccountID: k.AccountID, Plan: k.Plan})
		return next(c)
	}
}

// authenticateInProcess admits a caller set by AsCaller, reading the
// account's plan now (it may have changed since the caller signed in).
func (h *Handler) authenticateInProcess(c echo.Context, in inProcessCaller, next echo.HandlerFunc) error {
	if in.role != roleAdmin && in.role != roleMember {
		return apiError(http.StatusForbidden, CodeForbidden, "This caller's role may not use the API.")
	}
	acct, err := h.store.Account(c.Request().Context(), in.accountID)
	if errors.Is(err, db.ErrNotFound) {
		return apiError(http.StatusUnauthorized, CodeUnauthorized, "The account no longer exists.")
	}
	if err != nil {
		return err
	}
	c.Set("principal", principal{Role: in.role, AccountID: acct.ID, Plan: acct.Plan})
	return next(c)
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

func caller(c echo.Context) principal {
	p, _ := c.Get("principal").(principal)
	return p
}

// roles allows only keys with one of the given roles; 403 otherwise.
func roles(allowed ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !slices.Contains(allowed, caller(c).Role) {
				return apiError(http.StatusForbidden, CodeForbidden,
					"This API key's role ("+caller(c).Role+") may not do this; it needs: "+strings.Join(allowed, " or ")+".")
			}
			return next(c)
		}
	}
}

// requireWebhookPlan refuses accounts whose plan does not include webhooks.
func (h *Handler) requireWebhookPlan(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if p := caller(c); p.Plan != db.PlanProfessional {
			return apiError(http.StatusForbidden, CodePlanNotSupported,
				"Webhooks are part of the Professional plan; this account is on the "+p.Plan+" plan.")
		}
		return next(c)
	}
}
