package api

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

type apiKeyJSON struct {
	ID        uuid.UUID `json:"id"`
	Role      string    `json:"role"`
	Label     string    `json:"label"`
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"createdAt"`
}

func toAPIKeyJSON(k db.APIKey) apiKeyJSON {
	return apiKeyJSON{ID: k.ID, Role: k.Role, Label: k.Label, Prefix: k.KeyPrefix, CreatedAt: k.CreatedAt.UTC()}
}

// createAPIKey shows the key once; only its hash is stored.
func (h *Handler) createAPIKey(c echo.Context) error {
	var in service.APIKeyInput
	if err := decode(c, &in); err != nil {
		return err
	}
	k, key, err := h.svc.CreateAPIKey(c.Request().Context(), caller(c), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, struct {
		apiKeyJSON
		Key string `json:"key"`
	}{toAPIKeyJSON(k), key})
}

func (h *Handler) listAPIKeys(c echo.Context) error {
	keys, err := h.svc.APIKeys(c.Request().Context(), caller(c))
	if err != nil {
		return err
	}
	out := resource.Page[apiKeyJSON]{Data: make([]apiKeyJSON, 0, len(keys))}
	for _, k := range keys {
		out.Data = append(out.Data, toAPIKeyJSON(k))
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handler) revokeAPIKey(c echo.Context) error {
	id, err := service.ParseID(c.Param("id"), "api key")
	if err != nil {
		return err
	}
	if err := h.svc.RevokeAPIKey(c.Request().Context(), caller(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// listAuditLog is the account's audit log, newest first (admins only).
func (h *Handler) listAuditLog(c echo.Context) error {
	q, err := pageQuery(c)
	if err != nil {
		return err
	}
	p := c.QueryParam
	pg, err := h.svc.AuditLog(c.Request().Context(), caller(c), service.AuditQuery{PageQuery: q, Actor: p("actor"),
		ResourceType: p("resourceType"), ResourceID: p("resourceId"), Action: p("action"), From: p("from"), To: p("to")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pageJSON(pg, db.AuditEntry.Record))
}
