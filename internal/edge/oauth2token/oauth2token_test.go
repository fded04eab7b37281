package oauth2token

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
)

// tokenServer is a client credentials token endpoint: it checks the
// client's id and secret (HTTP Basic), and answers tokens tok-1, tok-2, …
// valid for expiresIn seconds, or what fail says.
type tokenServer struct {
	*httptest.Server
	calls     atomic.Int32
	expiresIn int
	fail      func() (int, string) // status and body, or 0
	mu        sync.Mutex
	forms     []string
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{expiresIn: 3600}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := ts.calls.Add(1)
		_ = r.ParseForm()
		ts.mu.Lock()
		ts.forms = append(ts.forms, r.PostForm.Encode())
		ts.mu.Unlock()
		if ts.fail != nil {
			if code, body := ts.fail(); code != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				_, _ = w.Write([]byte(body))
				return
			}
		}
		id, secret, ok := r.BasicAuth()
		if !ok || id != "client" || secret != "s3cret" || r.PostForm.Get("grant_type") != "client_credentials" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad secret ` + secret + `"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "bearer",
			"expires_in": ts.expiresIn})
	}))
	t.Cleanup(ts.Close)
	return ts
}

func newCache(now func() time.Time) *Cache {
	return &Cache{Now: now, Client: egress.NewClient(egress.Options{
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: 5 * time.Second})}
}

func (ts *tokenServer) creds() Credentials {
	return Credentials{TokenURL: ts.URL + "/token", ClientID: "client", ClientSecret: "s3cret",
		Scopes: []string{"a", "b"}, Audience: "https://api.example.com"}
}

func TestTokenCachedAndParams(t *testing.T) {
	ts := newTokenServer(t)
	now := time.Now()
	c := newCache(func() time.Time { return now })
	ctx := context.Background()
	for range 3 {
		tok, err := c.Token(ctx, "w1", ts.creds())
		if err != nil || tok.AccessToken != "tok-1" {
			t.Fatalf("token %v %v", tok, err)
		}
	}
	if n := ts.calls.Load(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
	if f := ts.forms[0]; !strings.Contains(f, "scope=a+b") || !strings.Contains(f, "audience=https") ||
		strings.Contains(f, "s3cret") {
		t.Errorf("form %q: want scope and audience, no secret", f)
	}
	// Another webhook has its own token; changed credentials too.
	if tok, _ := c.Token(ctx, "w2", ts.creds()); tok.AccessToken != "tok-2" {
		t.Errorf("w2 got %s", tok.AccessToken)
	}
	cr := ts.creds()
	cr.Scopes = []string{"a"}
	if tok, _ := c.Token(ctx, "w1", cr); tok.AccessToken != "tok-3" {
		t.Errorf("edited credentials got %s", tok.AccessToken)
	}
	// Shortly before expiry, a new one.
	now = now.Add(time.Hour - 30*time.Second)
	if tok, _ := c.Token(ctx, "w1", cr); tok.AccessToken != "tok-4" {
		t.Errorf("near expiry got %s", tok.AccessToken)
	}
}

func TestInvalidateOnce(t *testing.T) {
	ts := newTokenServer(t)
	c := newCache(nil)
	ctx := context.Background()
	old, _ := c.Token(ctx, "w", ts.creds())
	// Many deliveries refused the same token: one new token.
	var wg sync.WaitGroup
	got := make([]string, 10)
	for i := range got {
		wg.Go(func() {
			c.Invalidate("w", old)
			tok, err := c.Token(ctx, "w", ts.creds())
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = tok.AccessToken
		})
	}
	wg.Wait()
	// A refusal drops only the token it got: one new token for all.
	if n := ts.calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
	for _, g := range got {
		if g != "tok-2" {
			t.Fatalf("tokens %v, want tok-2 for all", got)
		}
	}
	c.Invalidate("w", old) // stale: the new token stays
	before := ts.calls.Load()
	if _, err := c.Token(ctx, "w", ts.creds()); err != nil || ts.calls.Load() != before {
		t.Fatalf("a stale refusal dropped the new token (%v)", err)
	}
}

func TestConcurrentFetchesOnce(t *testing.T) {
	ts := newTokenServer(t)
	c := newCache(nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.Token(context.Background(), "w", ts.creds()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := ts.calls.Load(); n != 1 {
		t.Fatalf("%d calls for 20 concurrent deliveries, want 1", n)
	}
}

func TestNoExpiryKeptAnHour(t *testing.T) {
	ts := newTokenServer(t)
	ts.expiresIn = 0
	now := time.Now()
	c := newCache(func() time.Time { return now })
	_, _ = c.Token(context.Background(), "w", ts.creds())
	now = now.Add(NoExpiryTTL - time.Second)
	_, _ = c.Token(context.Background(), "w", ts.creds())
	now = now.Add(2 * time.Second)
	_, _ = c.Token(context.Background(), "w", ts.creds())
	if n := ts.calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
}

// TestErrorsSayWhyWithoutSecrets: a failure names the status and OAuth
// error code, never the body (which may echo the secret) or a token.
func TestErrorsSayWhyWithoutSecrets(t *testing.T) {
	ts := newTokenServer(t)
	c := newCache(nil)
	ctx := context.Background()
	bad := ts.creds()
	bad.ClientSecret = "wrong-s3cret"
	_, err := c.Token(ctx, "w", bad)
	if err == nil || err.Error() != "oauth2 token endpoint answered 401 (invalid_client)" {
		t.Fatalf("err = %v", err)
	}
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{500, `<html>boom s3cret</html>`, "oauth2 token endpoint answered 500"},
		{400, `{"error":"Invalid Client: s3cret"}`, "oauth2 token endpoint answered 400"},
		{200, `{"token_type":"bearer"}`, "oauth2 token endpoint gave no usable access token"},
		{200, `{"error":"invalid_scope"}`, "oauth2 token endpoint answered 200 (invalid_scope)"},
		{302, ``, "oauth2 token endpoint answered 302"},
	} {
		ts.fail = func() (int, string) { return tc.status, tc.body }
		_, err := c.Token(ctx, "w-"+tc.body, ts.creds())
		if err == nil || err.Error() != tc.want || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%d %s: err = %v, want %s", tc.status, tc.body, err, tc.want)
		}
	}
	// Blocked by the SSRF guard, and unreachable.
	guarded := &Cache{Client: egress.NewClient(egress.Options{})}
	if _, err := guarded.Token(ctx, "w", ts.creds()); err == nil || !strings.Contains(err.Error(), "non-public address") {
		t.Errorf("blocked: %v", err)
	}
	cr := ts.creds()
	cr.TokenURL = "http://127.0.0.1:1/token"
	if _, err := c.Token(ctx, "w", cr); err == nil || !strings.HasPrefix(err.Error(), "oauth2 token endpoint unreachable: ") ||
		strings.Contains(err.Error(), "/token") {
		t.Errorf("unreachable: %v", err)
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Second) }))
	defer slow.Close()
	cr.TokenURL = slow.URL
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Token(tctx, "w", cr); err == nil || !strings.Contains(err.Error(), "no answer within the attempt timeout") {
		t.Errorf("timeout: %v", err)
	}
}
