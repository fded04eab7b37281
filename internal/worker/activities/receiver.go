package activities

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"

	"golang.org/x/oauth2"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/oauth2token"
)

// The receiver options of a delivery (issue 19): the webhook's custom
// headers and its receiver's authentication, read with the attempt
// (db.StartAttempt) and opened here, in the worker: no secret travels
// through Temporal, and none is logged.

// receiverOpts is what one attempt needs to reach its receiver, opened.
type receiverOpts struct {
	webhookID string
	headers   []db.Header // values in clear
	authType  string
	username  string // basic
	secret    string // the password, token or client secret
	oauth     oauth2token.Credentials
	client    *http.Client // the egress client, with the webhook's TLS options (tls.go)
}

// receiverOpts opens the receiver options of t. A failure to decrypt is
// the operator's problem (a wrong key), as for the signing secret: a plain
// error, which Temporal retries.
func (a *Activities) receiverOpts(t db.DeliveryTarget) (receiverOpts, error) {
	ro := receiverOpts{webhookID: t.WebhookID.String(), authType: t.AuthType, username: t.AuthParams.Username}
	var err error
	if ro.client, err = a.clientFor(t); err != nil {
		return receiverOpts{}, err
	}
	for _, h := range t.Headers {
		if h.Secret {
			v, err := a.Box.Open(h.ValueEnc, db.HeaderAAD(t.WebhookID, h.Name))
			if err != nil {
				return receiverOpts{}, fmt.Errorf("decrypting the value of header %s: %w", h.Name, err)
			}
			h.Value = string(v)
		}
		ro.headers = append(ro.headers, db.Header{Name: h.Name, Value: h.Value})
	}
	if t.AuthType == "" || t.AuthType == db.AuthNone {
		ro.authType = db.AuthNone
		return ro, nil
	}
	secret, err := a.Box.Open(t.AuthSecretEnc, db.AuthAAD(t.WebhookID, t.AuthType))
	if err != nil {
		return receiverOpts{}, fmt.Errorf("decrypting the receiver's %s credentials: %w", t.AuthType, err)
	}
	ro.secret = string(secret)
	p := t.AuthParams
	ro.oauth = oauth2token.Credentials{TokenURL: p.TokenURL, ClientID: p.ClientID, ClientSecret: ro.secret,
		Scopes: p.Scopes, Audience: p.Audience}
	return ro, nil
}

// do sends req with the receiver's headers and authentication. An OAuth 2.0
// token the receiver refuses (401) is fetched anew and the request sent
// again, once, in the same attempt: its answer is the attempt's, and note
// says so for the log.
func (a *Activities) do(ctx context.Context, req *http.Request, ro receiverOpts) (resp *http.Response, note string, err error) {
	for _, h := range ro.headers {
		// The sender's own headers win, whatever a row says (the API
		// refuses those names anyway).
		if req.Header.Get(h.Name) == "" {
			req.Header.Set(h.Name, h.Value)
		}
	}
	tok, err := a.authorize(ctx, req, ro)
	if err != nil {
		return nil, "", err
	}
	resp, err = a.roundTrip(ro, req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || ro.authType != db.AuthOAuth2 {
		return resp, "", err
	}
	// Revoked, or expired before its time: one more try with a new token.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
	a.tokens().Invalidate(ro.webhookID, tok)
	again := req.Clone(ctx)
	if again.Body, err = req.GetBody(); err != nil {
		return nil, "", fmt.Errorf("sending again: %w", err)
	}
	if _, err = a.authorize(ctx, again, ro); err != nil {
		return nil, "", err
	}
	resp, err = a.roundTrip(ro, again)
	return resp, "the receiver answered 401 to the cached OAuth 2.0 token: a new one was fetched and the request sent again", err
}

// roundTrip sends req with ro's client. An error that came after the whole
// request was written (the connection broke, e.g. a proxy between us died,
// before the answer came) is a sentError: the receiver may have the
// request, and the log must say so.
func (a *Activities) roundTrip(ro receiverOpts, req *http.Request) (*http.Response, error) {
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { wrote.Store(i.Err == nil) },
	}))
	resp, err := a.sender(ro).Do(req)
	if err != nil && wrote.Load() {
		return nil, &sentError{err}
	}
	return resp, err
}

// sentError is a request's failure after it was sent whole.
type sentError struct{ err error }

func (e *sentError) Error() string { return e.err.Error() }
func (e *sentError) Unwrap() error { return e.err }

// sender is the client of ro: with the webhook's TLS options, or the
// egress client.
func (a *Activities) sender(ro receiverOpts) *http.Client {
	if ro.client != nil {
		return ro.client
	}
	return a.Client
}

// authorize sets the Authorization header of the receiver's auth type;
// for oauth2 it returns the token used. A token endpoint's failure is an
// oauth2token.Error, which says why without any secret.
func (a *Activities) authorize(ctx context.Context, req *http.Request, ro receiverOpts) (*oauth2.Token, error) {
	switch ro.authType {
	case db.AuthBasic:
		req.SetBasicAuth(ro.username, ro.secret)
	case db.AuthBearer:
		req.Header.Set("Authorization", "Bearer "+ro.secret)
	case db.AuthOAuth2:
		tok, err := a.tokens().Token(ctx, ro.webhookID, ro.oauth)
		if err != nil {
			return nil, err
		}
		tok.SetAuthHeader(req)
		return tok, nil
	}
	return nil, nil
}

// tokens is the process's OAuth 2.0 token cache (Activities.Tokens, or one
// made on first use), dialling through the egress client.
func (a *Activities) tokens() *oauth2token.Cache {
	a.tokensOnce.Do(func() {
		if a.Tokens == nil {
			a.Tokens = &oauth2token.Cache{Client: a.Client, Now: a.Now}
		}
	})
	return a.Tokens
}

// tokenCache is embedded in Activities: the cache and its lazy start.
type tokenCache struct {
	// Tokens caches OAuth 2.0 access tokens per webhook in this worker
	// process (optional: made on first use, with the egress Client).
	Tokens     *oauth2token.Cache
	tokensOnce sync.Once
}
