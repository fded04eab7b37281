package service

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/apikey"
)

// APIKeyInput is a new API key: POST /v1/api-keys.
type APIKeyInput struct {
	Role  string `json:"role" validate:"required,oneof=admin member publisher reader"`
	Label string `json:"label" validate:"max=100,nocontrol"`
}

// CreateAPIKey creates a key and returns it: the only time it is shown, as
// only its hash is stored.
func (s *Service) CreateAPIKey(ctx context.Context, c Caller, in APIKeyInput) (db.APIKey, string, error) {
	if err := Authorize(c, ManageAccount); err != nil {
		return db.APIKey{}, "", err
	}
	in.Label = strings.TrimSpace(in.Label)
	if err := s.check(in); err != nil {
		return db.APIKey{}, "", err
	}
	key, err := apikey.Generate()
	if err != nil {
		return db.APIKey{}, "", err
	}
	a := NewAudit(c, ActionAPIKeyCreate, ResourceAPIKey, "")
	a.Entry.Details = db.AuditDetails{"role": in.Role, "label": in.Label, "prefix": apikey.DisplayPrefix(key)}
	k, err := s.store.CreateAPIKey(ctx, db.NewAPIKey{AccountID: c.AccountID, Role: in.Role, Label: in.Label,
		Hash: apikey.Hash(key), Prefix: apikey.DisplayPrefix(key), Audit: a})
	if err != nil {
		return db.APIKey{}, "", err
	}
	s.Logged(a)
	return k, key, nil
}

// APIKeys lists the account's keys (never the keys themselves).
func (s *Service) APIKeys(ctx context.Context, c Caller) ([]db.APIKey, error) {
	if err := Authorize(c, ManageAccount); err != nil {
		return nil, err
	}
	return s.store.ListAPIKeys(ctx, c.AccountID)
}

// RevokeAPIKey revokes a key of the account at once.
func (s *Service) RevokeAPIKey(ctx context.Context, c Caller, id uuid.UUID) error {
	if err := Authorize(c, ManageAccount); err != nil {
		return err
	}
	a := NewAudit(c, ActionAPIKeyRevoke, ResourceAPIKey, id.String())
	if err := s.store.RevokeAPIKey(ctx, c.AccountID, id, a); err != nil {
		return notFoundOr(err, "api key")
	}
	s.Logged(a)
	return nil
}

// ConsoleLinkInput asks for a one-time sign-in link to the admin console
// (/console) for the caller's account: POST /v1/console/links.
type ConsoleLinkInput struct {
	Role       string `json:"role" validate:"required,oneof=admin member"`
	TTLSeconds *int   `json:"ttlSeconds" validate:"omitnil,min=1,max=900"`
	ReturnURL  string `json:"returnUrl" validate:"omitempty,max=2048"`
}

// DefaultConsoleLinkTTL is a link's life when TTLSeconds is left out.
const DefaultConsoleLinkTTL = 300 * time.Second

// CreateConsoleLink mints a one-time console link. The product's backend
// asks for it with the account's admin key and hands the URL to the
// browser (e.g. as an iframe's src); opening it signs the user in.
func (s *Service) CreateConsoleLink(ctx context.Context, c Caller, in ConsoleLinkInput) (string, time.Time, error) {
	if err := Authorize(c, ManageAccount); err != nil {
		return "", time.Time{}, err
	}
	if err := s.check(in); err != nil {
		return "", time.Time{}, err
	}
	if in.ReturnURL != "" {
		if err := checkReturnURL(in.ReturnURL); err != nil {
			return "", time.Time{}, invalid("returnUrl", err.Error())
		}
	}
	ttl := DefaultConsoleLinkTTL
	if in.TTLSeconds != nil {
		ttl = time.Duration(*in.TTLSeconds) * time.Second
	}
	l := db.ConsoleLink{AccountID: c.AccountID, Role: in.Role, ReturnURL: in.ReturnURL, ExpiresAt: s.now().Add(ttl)}
	// A link is a bearer token until used: on record is who asked for
	// which role, never the link.
	a := NewAudit(c, ActionConsoleLinkCreate, ResourceConsoleLink, "")
	a.Entry.Details = db.AuditDetails{"role": in.Role, "expiresAt": l.ExpiresAt.UTC(), "returnUrl": in.ReturnURL}
	link, expires, err := MintConsoleLink(ctx, s.store, s.cfg.ConsoleBaseURL, l, a)
	if err != nil {
		return "", time.Time{}, err
	}
	s.Logged(a)
	return link, expires, nil
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

// MintConsoleLink stores a one-time link, with a's record, and returns
// its absolute URL under baseURL (CONSOLE_BASE_URL). `webhookd
// console-link` uses it too.
func MintConsoleLink(ctx context.Context, store *db.Store, baseURL string, l db.ConsoleLink, a *db.Audit) (string, time.Time, error) {
	token, err := store.CreateConsoleLink(ctx, l, a)
	if err != nil {
		return "", time.Time{}, err
	}
	return baseURL + "/console/login?token=" + url.QueryEscape(token), l.ExpiresAt.UTC(), nil
}
