package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/apikey"
	"github.com/esign-webhooks/esign-webhooks/db"
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

// authenticate resolves the bearer key; 401 when missing or unknown.
func (h *Handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		auth := c.Request().Header.Get(echo.HeaderAuthorization)
		// The scheme name is case-insensitive (RFC 7235 §2.1).
		scheme, key, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(key) == "" {
			return apiError(http.StatusUnauthorized, CodeUnauthorized, "Send an API key as 'Authorization: Bearer <key>'.")
		}
		k, err := h.store.Authenticate(c.Request().Context(), apikey.Hash(strings.TrimSpace(key)))
		if errors.Is(err, db.ErrNotFound) {
			return apiError(http.StatusUnauthorized, CodeUnauthorized, "The API key is unknown or revoked.")
		}
		if err != nil {
			return err
		}
		c.Set("principal", principal{KeyID: k.KeyID, Role: k.Role, AccountID: k.AccountID, Plan: k.Plan})
		return next(c)
	}
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
