package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/apikey"
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

type createAPIKeyRequest struct {
	Role  string `json:"role" validate:"required,oneof=admin member publisher"`
	Label string `json:"label" validate:"max=100,nocontrol"`
}

// createAPIKey shows the key once; only its hash is stored.
func (h *Handler) createAPIKey(c echo.Context) error {
	var req createAPIKeyRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	req.Label = strings.TrimSpace(req.Label)
	if err := h.check(req); err != nil {
		return err
	}
	key, err := apikey.Generate()
	if err != nil {
		return err
	}
	k, err := h.store.CreateAPIKey(c.Request().Context(), db.NewAPIKey{
		AccountID: caller(c).AccountID, Role: req.Role, Label: req.Label,
		Hash: apikey.Hash(key), Prefix: apikey.DisplayPrefix(key),
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, struct {
		apiKeyJSON
		Key string `json:"key"`
	}{toAPIKeyJSON(k), key})
}

func (h *Handler) listAPIKeys(c echo.Context) error {
	keys, err := h.store.ListAPIKeys(c.Request().Context(), caller(c).AccountID)
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
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return notFound("api key")
	}
	if err := h.store.RevokeAPIKey(c.Request().Context(), caller(c).AccountID, id); err != nil {
		return notFoundOr(err, "api key")
	}
	return c.NoContent(http.StatusNoContent)
}
