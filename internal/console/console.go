// Package console is the admin console at /console: the "Settings →
// Webhook" page of the product, rendered on the server with html/template
// and embedded in the binary. It owns sign-in (one-time links exchanged for
// PostgreSQL sessions), CSRF protection and the pages; every webhook action
// calls the service layer the REST API calls (internal/service), with Go
// types, as the signed-in account and role, so the console gets exactly the
// API's rules, validation and errors.
package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/clientaddr"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

//go:embed ui
var ui embed.FS

// Deps are what the console needs: the store for its sessions, the
// services for everything else.
type Deps struct {
	Config  config.Config
	Log     *slog.Logger
	Store   *db.Store
	Service *service.Service
}

// Console serves /console.
type Console struct {
	cfg   config.Config
	log   *slog.Logger
	store *db.Store
	svc   *service.Service
	now   func() time.Time
	mux   *http.ServeMux
	pages map[string]*template.Template
	msgs  map[string]map[string]string // language → key → text
	csp   string
}

const (
	cookieName = "webhookd_console"
	langCookie = "webhookd_console_lang"
	maxForm    = 64 << 10
)

// New parses the templates and messages and builds the routes.
func New(d Deps) (*Console, error) {
	c := &Console{cfg: d.Config, log: d.Log, store: d.Store, svc: d.Service, now: time.Now}
	var err error
	if c.msgs, err = loadMessages(); err != nil {
		return nil, err
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"form-action 'self'; base-uri 'none'; frame-ancestors " + d.Config.ConsoleFrameAncestors
	c.routes()
	return c, nil
}

// Handler serves the console under /console and everything else with
// apiHandler: the console and the API share one listener.
func Handler(apiHandler http.Handler, c *Console) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, "/console/") {
			c.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	})
}

// ServeHTTP sets the security headers of every console response.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", c.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if r.URL.Path == "/console" {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	c.mux.ServeHTTP(w, r)
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(ui, "ui/templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(n[len("ui/templates/"):], ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(ui, "ui/templates/layout.html", "ui/templates/partials/*.html", n)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// session is the signed-in user of a request, and the caller the services
// see.
type session struct {
	db.ConsoleSession
	id     string
	caller service.Caller
}

// Admin reports whether the user may change things; a member only reads.
func (s *session) Admin() bool { return s != nil && s.Role == db.RoleAdmin }

// csrf is the form token of the session: an HMAC of its id, so it needs no
// storage and is worthless without the session cookie's value.
func (s *session) csrf() string {
	m := hmac.New(sha256.New, []byte(s.id))
	m.Write([]byte("webhookd console csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

type handler func(w http.ResponseWriter, r *http.Request, s *session)

// auth resolves the session cookie and, for every POST, checks the form's
// CSRF token; it answers a page of its own when either fails.
func (c *Console) auth(next handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(cookieName)
		if err != nil || ck.Value == "" {
			c.message(w, r, nil, http.StatusUnauthorized, "signin.needed.title", "signin.needed.body")
			return
		}
		s, err := c.session(r, ck.Value)
		if errors.Is(err, errSignedOut) {
			c.clearCookie(w)
			c.message(w, r, nil, http.StatusUnauthorized, "signin.ended.title", "signin.ended.body")
			return
		}
		if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			got := r.PostFormValue("csrf")
			if !hmac.Equal([]byte(got), []byte(s.csrf())) {
				c.log.Warn("console: form refused without a valid CSRF token", "path", r.URL.Path)
				c.message(w, r, s, http.StatusForbidden, "csrf.title", "csrf.body")
				return
			}
		}
		next(w, r, s)
	}
}

// errSignedOut: the session ended (idle, expired, signed out) or its
// account is gone.
var errSignedOut = errors.New("signed out")

// session is the signed-in session of cookie id, kept alive, with the
// caller the services see.
func (c *Console) session(r *http.Request, id string) (*session, error) {
	ctx := r.Context()
	sess, err := c.store.TouchConsoleSession(ctx, id, c.now(), c.cfg.ConsoleSessionIdle)
	if errors.Is(err, db.ErrNotFound) {
		return nil, errSignedOut
	}
	if err != nil {
		return nil, err
	}
	caller, err := c.svc.Caller(ctx, sess.AccountID, sess.Role)
	if errors.Is(err, service.ErrAccountGone) {
		return nil, errSignedOut
	}
	if err != nil {
		return nil, err
	}
	caller.Actor = c.actor(r, id)
	return &session{ConsoleSession: sess, id: id, caller: caller}, nil
}

// actor is the console session id ("" : not known yet) as the audit log
// names it, with the client's address.
func (c *Console) actor(r *http.Request, id string) service.Actor {
	a := service.Actor{Type: events.ActorConsole, Name: "console", Addr: clientaddr.Of(r, c.cfg.TrustedProxies)}
	if id != "" {
		a.ID = db.SessionRef(id)
	}
	return a
}

func (c *Console) setCookie(w http.ResponseWriter, id string) {
	ck := &http.Cookie{Name: cookieName, Value: id, Path: "/console", HttpOnly: true,
		MaxAge: int(c.cfg.ConsoleSessionMax / time.Second), SameSite: http.SameSiteLaxMode}
	if c.cfg.ConsoleSecure() {
		// Inside the product's iframe the console is a third party: only
		// a SameSite=None cookie is sent there, and Partitioned keeps it
		// to that embedding site (CHIPS). CSRF tokens protect the forms.
		ck.Secure, ck.SameSite, ck.Partitioned = true, http.SameSiteNoneMode, true
	}
	http.SetCookie(w, ck)
}

func (c *Console) clearCookie(w http.ResponseWriter) {
	ck := &http.Cookie{Name: cookieName, Value: "", Path: "/console", HttpOnly: true, MaxAge: -1, SameSite: http.SameSiteLaxMode}
	if c.cfg.ConsoleSecure() {
		ck.Secure, ck.SameSite, ck.Partitioned = true, http.SameSiteNoneMode, true
	}
	http.SetCookie(w, ck)
}
