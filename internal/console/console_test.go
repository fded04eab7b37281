package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
)

// TestSignInCookieAndHeaders: the link signs in once with an HttpOnly
// SameSite cookie; every page carries the strict CSP with frame-ancestors;
// a POST without the CSRF token is refused and changes nothing; sign-out
// ends the session.
func TestSignInCookieAndHeaders(t *testing.T) {
	s := newStack(t, false)
	_, key := s.account("professional")
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	res, err := hc.Get(s.link(key, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		t.Fatalf("login: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	ck := res.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/console"} {
		if !strings.Contains(ck, want) {
			t.Errorf("cookie %q lacks %s", ck, want)
		}
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'self'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}

	get := func(path string) (int, string) {
		res, err := hc.Get(s.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/console/"); code != 200 || !strings.Contains(body, "Add Webhook") {
		t.Fatalf("list: %d %.300s", code, body)
	}
	if strings.Contains(func() string { _, b := get("/console/"); return b }(), "<script>") {
		t.Error("inline script on the page")
	}
	// A forged form: the session cookie, no token.
	res, err = hc.PostForm(s.srv.URL+"/console/webhooks/new", url.Values{"name": {"x"}, "url": {"https://example.com"},
		"eventTypes": {"ENVELOPE_START"}, "triggerSources": {"saas_page"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "This form was refused") {
		t.Fatalf("forged form: %d %.300s", res.StatusCode, b)
	}
	var list struct {
		Data []any `json:"data"`
	}
	s.api("GET", "/v1/webhooks", key, nil, 200, &list)
	if len(list.Data) != 0 {
		t.Fatal("the forged form created a webhook")
	}
	// Sign out: the session is gone.
	_, body := get("/console/")
	tok := between(body, `name="csrf" value="`, `"`)
	res, err = hc.PostForm(s.srv.URL+"/console/logout", url.Values{"csrf": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if code, body := get("/console/"); code != http.StatusUnauthorized || !strings.Contains(body, "Please sign in") {
		t.Fatalf("after sign-out: %d %.300s", code, body)
	}
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}

// TestConsoleLinkValidation: the API's rules on minting links.
func TestConsoleLinkValidation(t *testing.T) {
	s := newStack(t, false)
	_, key := s.account("professional")
	var bad struct {
		Error struct {
			Fields map[string]string `json:"fields"`
		} `json:"error"`
	}
	s.api("POST", "/v1/console/links", key, map[string]any{"role": "publisher", "ttlSeconds": 901, "returnUrl": "javascript:alert(1)"}, 422, &bad)
	for _, f := range []string{"role", "ttlSeconds"} {
		if bad.Error.Fields[f] == "" {
			t.Errorf("no error for %s: %+v", f, bad.Error.Fields)
		}
	}
	s.api("POST", "/v1/console/links", key, map[string]any{"role": "admin", "returnUrl": "javascript:alert(1)"}, 422, &bad)
	if bad.Error.Fields["returnUrl"] == "" {
		t.Errorf("javascript: returnUrl accepted")
	}
	var ok struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	s.api("POST", "/v1/console/links", key, map[string]any{"role": "member", "ttlSeconds": 60}, 201, &ok)
	if !strings.Contains(ok.URL, "/console/login?token=") || time.Until(ok.ExpiresAt) > 61*time.Second {
		t.Errorf("link %+v", ok)
	}
}

// TestSessionExpiry: idle and absolute expiry of stored sessions.
func TestSessionExpiry(t *testing.T) {
	store := dbtest.NewStore(t)
	ctx := context.Background()
	a, err := store.CreateAccount(ctx, "Acme", "professional", db.NewAPIKey{Hash: []byte("h"), Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mint := func() string {
		tok, err := store.CreateConsoleLink(ctx, db.ConsoleLink{AccountID: a.ID, Role: "admin", ExpiresAt: now.Add(time.Minute)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, id, err := store.UseConsoleLink(ctx, tok, now, time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	id := mint()
	if _, err := store.TouchConsoleSession(ctx, id, now.Add(20*time.Minute), 30*time.Minute); err != nil {
		t.Fatalf("active session refused: %v", err)
	}
	if _, err := store.TouchConsoleSession(ctx, id, now.Add(51*time.Minute), 30*time.Minute); err == nil {
		t.Fatal("idle session accepted")
	}
	id = mint()
	for at := 20; at <= 60; at += 20 {
		_, err := store.TouchConsoleSession(ctx, id, now.Add(time.Duration(at)*time.Minute), 30*time.Minute)
		if (err == nil) != (at < 60) {
			t.Fatalf("at %d min: %v", at, err)
		}
	}
}

// TestMessagesComplete: both languages have every string; only the
// catalogue's event descriptions may be English-only (they come from
// package events).
func TestMessagesComplete(t *testing.T) {
	load := func(name string) map[string]string {
		raw, err := os.ReadFile("ui/i18n/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	en, zh := load("en"), load("zh-CN")
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("zh-CN lacks %s", k)
		}
	}
	for k := range zh {
		if _, ok := en[k]; !ok && !strings.HasPrefix(k, "event.") {
			t.Errorf("en lacks %s", k)
		}
	}
}
