// Package oauth2token fetches OAuth 2.0 access tokens with the client
// credentials grant (golang.org/x/oauth2/clientcredentials) for receivers
// that want them, and caches them in the worker process until shortly
// before they expire: each worker process fetches its own (the issue
// allows "refetched per worker"), at most once at a time per webhook.
//
// A token endpoint's failure is described by its status and OAuth error
// code only: what an endpoint answers may echo the credentials, so its
// body and error description are never repeated.
package oauth2token

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
)

// Credentials are one webhook's client credentials.
type Credentials struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scopes       []string
	Audience     string // sent as the endpoint parameter "audience" when set
}

// key is a digest of the credentials: a cached token is used only with the
// credentials it was fetched with, so an edit invalidates it.
func (c Credentials) key() string {
	h := sha256.New()
	for _, s := range append([]string{c.TokenURL, c.ClientID, c.ClientSecret, c.Audience}, c.Scopes...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Cache holds one token per webhook.
type Cache struct {
	// Client dials the token endpoint: the SSRF-guarded egress client
	// that delivers, so the endpoint is held to the same rules.
	Client *http.Client
	Now    func() time.Time // time.Now when nil

	mu      sync.Mutex
	entries map[string]entry // by webhook id
	flight  singleflight.Group
}

type entry struct {
	key       string
	token     *oauth2.Token
	refreshAt time.Time
}

// Timing of the cache: a token is fetched anew RefreshBefore its expiry
// (half its lifetime when that is shorter); one without an expiry is kept
// for NoExpiryTTL, or until a receiver refuses it.
const (
	RefreshBefore = time.Minute
	NoExpiryTTL   = time.Hour
)

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Token returns a token for webhook's credentials: the cached one while
// it is fresh, else one fetched now (one fetch at a time per webhook, the
// others wait for it). ctx bounds the fetch.
func (c *Cache) Token(ctx context.Context, webhook string, cr Credentials) (*oauth2.Token, error) {
	key := cr.key()
	if tok := c.cached(webhook, key); tok != nil {
		return tok, nil
	}
	v, err, _ := c.flight.Do(webhook+"/"+key, func() (any, error) {
		if tok := c.cached(webhook, key); tok != nil {
			return tok, nil // fetched while this call waited
		}
		return c.fetch(ctx, webhook, key, cr)
	})
	if err != nil {
		return nil, err
	}
	return v.(*oauth2.Token), nil
}

func (c *Cache) cached(webhook, key string) *oauth2.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[webhook]
	if !ok || e.key != key || !c.now().Before(e.refreshAt) {
		return nil
	}
	return e.token
}

// fetch asks the token endpoint. The fetch outlives the cancellation of
// the call that started it (others may be waiting for it) but not its
// deadline.
func (c *Cache) fetch(ctx context.Context, webhook, key string, cr Credentials) (*oauth2.Token, error) {
	fctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, c.Client)
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		fctx, cancel = context.WithDeadline(fctx, dl)
		defer cancel()
	}
	cfg := clientcredentials.Config{ClientID: cr.ClientID, ClientSecret: cr.ClientSecret, TokenURL: cr.TokenURL,
		Scopes: cr.Scopes,
		// RFC 6749 §2.3.1: every server supports HTTP Basic for the client
		// secret; one way only, so a refusal costs one request, and the
		// secret is never in a body an endpoint might log.
		AuthStyle: oauth2.AuthStyleInHeader}
	if cr.Audience != "" {
		cfg.EndpointParams = url.Values{"audience": {cr.Audience}}
	}
	start := c.now()
	tok, err := cfg.Token(fctx)
	if err != nil {
		return nil, describe(err)
	}
	c.store(webhook, entry{key: key, token: tok, refreshAt: refreshAt(tok, start)})
	return tok, nil
}

// refreshAt is when a token fetched at start stops being used.
func refreshAt(tok *oauth2.Token, start time.Time) time.Time {
	if tok.Expiry.IsZero() {
		return start.Add(NoExpiryTTL)
	}
	life := tok.Expiry.Sub(start)
	return tok.Expiry.Add(-min(RefreshBefore, life/2))
}

func (c *Cache) store(webhook string, e entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]entry{}
	}
	c.entries[webhook] = e
}

// Invalidate forgets tok, a token a receiver refused, if it is still the
// webhook's cached one: after many deliveries refused the same token, the
// first to come here makes the next Token fetch a new one and the others
// find that one.
func (c *Cache) Invalidate(webhook string, tok *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[webhook]; ok && tok != nil && e.token.AccessToken == tok.AccessToken {
		delete(c.entries, webhook)
	}
}

// Error is a token endpoint's failure, safe to log and show.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

// oauthCode is what an OAuth error code looks like (RFC 6749 §5.2 codes
// are lower-case words joined by _); anything else is not repeated.
var oauthCode = regexp.MustCompile(`^[a-z][a-z_]{0,39}$`)

// describe turns a fetch's error into an Error that says what failed and
// repeats nothing the endpoint sent but its status and error code.
func describe(err error) *Error {
	var re *oauth2.RetrieveError
	var ue *url.Error
	switch {
	case errors.As(err, &re):
		msg := "oauth2 token endpoint answered"
		if re.Response != nil {
			msg += fmt.Sprintf(" %d", re.Response.StatusCode)
		}
		if oauthCode.MatchString(re.ErrorCode) {
			msg += " (" + re.ErrorCode + ")"
		}
		return &Error{msg}
	case errors.Is(err, egress.ErrBlockedAddress):
		return &Error{"oauth2 token endpoint refused: it resolves to a non-public address"}
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return &Error{"oauth2 token endpoint: no answer within the attempt timeout"}
	case errors.As(err, &ue):
		// The transport's own error (dial, TLS): not the URL, which may
		// carry a query the admin set.
		return &Error{"oauth2 token endpoint unreachable: " + strings.TrimSpace(ue.Err.Error())}
	}
	// Answered 2xx without a usable token (no access_token, not JSON).
	return &Error{"oauth2 token endpoint gave no usable access token"}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
