package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

// consoleLinkRequest asks for a one-time sign-in link to the admin console
// (/console) for the caller's account.
type consoleLinkRequest struct {
	Role       string `json:"role" validate:"required,oneof=admin member"`
	TTLSeconds *int   `json:"ttlSeconds" validate:"omitnil,min=1,max=900"`
	ReturnURL  string `json:"returnUrl" validate:"omitempty,max=2048"`
}

type consoleLinkResponse struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// defaultConsoleLinkTTL is a link's life when ttlSeconds is left out.
const defaultConsoleLinkTTL = 300

// createConsoleLink mints a one-time console link. The product's backend
// calls it with the account's admin key and hands the URL to the browser
// (e.g. as an iframe's src); opening it signs the user in.
func (h *Handler) createConsoleLink(c echo.Context) error {
	var req consoleLinkRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := h.check(req); err != nil {
		if ve, ok := err.(*Error); ok && ve.Fields["ttlSeconds"] != "" {
			ve.Fields["ttlSeconds"] = "must be between 1 and 900 seconds"
		}
		return err
	}
	if req.ReturnURL != "" {
		if err := checkReturnURL(req.ReturnURL); err != nil {
			return validationError(map[string]string{"returnUrl": err.Error()})
		}
	}
	ttl := defaultConsoleLinkTTL
	if req.TTLSeconds != nil {
		ttl = *req.TTLSeconds
	}
	link, expires, err := MintConsoleLink(c.Request().Context(), h.store, h.cfg.ConsoleBaseURL, db.ConsoleLink{
		AccountID: caller(c).AccountID, Role: req.Role, ReturnURL: req.ReturnURL,
		ExpiresAt: h.now().Add(time.Duration(ttl) * time.Second),
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, consoleLinkResponse{URL: link, ExpiresAt: expires.UTC()})
}

// checkReturnURL accepts an absolute http(s) URL: where "Back to the
// product" leads after sign-out.
func checkReturnURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errors.New("must be an absolute http:// or https:// URL")
	}
	return nil
}

// MintConsoleLink stores a one-time link and returns its absolute URL under
// baseURL (CONSOLE_BASE_URL). `webhookd console-link` uses it too.
func MintConsoleLink(ctx context.Context, store *db.Store, baseURL string, l db.ConsoleLink) (string, time.Time, error) {
	token, err := store.CreateConsoleLink(ctx, l)
	if err != nil {
		return "", time.Time{}, err
	}
	return baseURL + "/console/login?token=" + url.QueryEscape(token), l.ExpiresAt, nil
}
