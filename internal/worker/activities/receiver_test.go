package activities

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/oauth2token"
)

// recorder answers each request with status(n) (n counts from 1) and
// keeps the headers.
func recorder(t *testing.T, status func(n int) int) (*httptest.Server, func() []http.Header) {
	var mu sync.Mutex
	var got []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		n := len(got)
		mu.Unlock()
		w.WriteHeader(status(n))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []http.Header {
		mu.Lock()
		defer mu.Unlock()
		return append([]http.Header(nil), got...)
	}
}

func request(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader([]byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", "msg_1")
	return req
}

// TestDoHeadersNeverReplaceTheSenders: a stored header with one of the
// sender's names (the API refuses them; an old row might not) is not sent.
func TestDoHeadersNeverReplaceTheSenders(t *testing.T) {
	srv, got := recorder(t, func(int) int { return 200 })
	a := &Activities{Client: srv.Client()}
	ro := receiverOpts{authType: db.AuthBasic, username: "u", secret: "p", headers: []db.Header{
		{Name: "X-Tenant", Value: "acme"}, {Name: "webhook-id", Value: "forged"}, {Name: "content-type", Value: "text/plain"}}}
	resp, note, err := a.do(context.Background(), request(t, srv.URL), ro)
	if err != nil || resp.StatusCode != 200 || note != "" {
		t.Fatalf("%v %v %q", resp, err, note)
	}
	resp.Body.Close()
	h := got()[0]
	if h.Get("X-Tenant") != "acme" || h.Get("webhook-id") != "msg_1" || h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", h)
	}
	if u, p, ok := (&http.Request{Header: h}).BasicAuth(); !ok || u != "u" || p != "p" {
		t.Fatalf("basic %q %q", u, p)
	}
}

// TestDoRetriesOnlyOAuth2: a 401 to Basic or Bearer credentials is the
// answer (a new request would carry the same ones); a 401 to an OAuth 2.0
// token gets one more request with a new token, and that answer counts.
func TestDoRetriesOnlyOAuth2(t *testing.T) {
	var issued atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		n := issued.Add(1)
		_, _ = w.Write([]byte(`{"access_token":"t` + string(rune('0'+n)) + `","token_type":"bearer","expires_in":3600}`))
	}))
	defer idp.Close()
	for _, tc := range []struct {
		ro       receiverOpts
		statuses []int
		want     int // final status
		requests int
	}{
		{receiverOpts{authType: db.AuthBasic, username: "u", secret: "p"}, []int{401}, 401, 1},
		{receiverOpts{authType: db.AuthBearer, secret: "tok"}, []int{401}, 401, 1},
		{receiverOpts{authType: db.AuthNone}, []int{401}, 401, 1},
		{receiverOpts{authType: db.AuthOAuth2}, []int{401, 200}, 200, 2},
		{receiverOpts{authType: db.AuthOAuth2}, []int{401, 401}, 401, 2}, // once only
	} {
		srv, got := recorder(t, func(n int) int { return tc.statuses[min(n, len(tc.statuses))-1] })
		a := &Activities{Client: srv.Client()}
		a.Tokens = &oauth2token.Cache{Client: idp.Client()}
		tc.ro.webhookID = "w"
		tc.ro.oauth = oauth2token.Credentials{TokenURL: idp.URL, ClientID: "c", ClientSecret: "s"}
		resp, note, err := a.do(context.Background(), request(t, srv.URL), tc.ro)
		if err != nil {
			t.Fatalf("%s: %v", tc.ro.authType, err)
		}
		resp.Body.Close()
		reqs := got()
		if resp.StatusCode != tc.want || len(reqs) != tc.requests || (tc.requests == 2) != strings.Contains(note, "401") {
			t.Errorf("%s %v: answered %d after %d requests (note %q)", tc.ro.authType, tc.statuses, resp.StatusCode, len(reqs), note)
		}
		if tc.requests == 2 && (reqs[0].Get("Authorization") == reqs[1].Get("Authorization") || reqs[1].Get("webhook-id") != "msg_1") {
			t.Errorf("the second request: %v after %v", reqs[1], reqs[0])
		}
	}
}

// TestDoTokenEndpointFailure: no token, no request; the error says why.
func TestDoTokenEndpointFailure(t *testing.T) {
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"secret s3cret is wrong"}`))
	}))
	defer idp.Close()
	srv, got := recorder(t, func(int) int { return 200 })
	a := &Activities{Client: srv.Client()}
	a.Tokens = &oauth2token.Cache{Client: idp.Client()}
	ro := receiverOpts{authType: db.AuthOAuth2, webhookID: "w",
		oauth: oauth2token.Credentials{TokenURL: idp.URL, ClientID: "c", ClientSecret: "s3cret"}}
	_, _, err := a.do(context.Background(), request(t, srv.URL), ro)
	if err == nil || describe(err) != "oauth2 token endpoint answered 401 (invalid_client)" || len(got()) != 0 {
		t.Fatalf("err %v, %d requests", err, len(got()))
	}
}

// TestDoSaysWhenTheRequestWasSent: a connection that breaks after the
// request was written whole (a proxy between us dying, say) is a
// sentError, which the log words as "the receiver may have it"; one that
// never carried the request (nothing listening) is not.
func TestDoSaysWhenTheRequestWasSent(t *testing.T) {
	got := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- struct{}{}
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close() // no answer at all
		}
	}))
	t.Cleanup(srv.Close)
	a := &Activities{Client: srv.Client()}
	_, _, err := a.do(context.Background(), request(t, srv.URL), receiverOpts{authType: db.AuthNone})
	<-got
	if err == nil || !strings.HasPrefix(describe(err), SentNoAnswer+": ") {
		t.Fatalf("a request the receiver got, then no answer: %v (%q)", err, describe(err))
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	_, _, err = a.do(context.Background(), request(t, url), receiverOpts{authType: db.AuthNone})
	if err == nil || strings.Contains(describe(err), "may have it") {
		t.Fatalf("a request that never left: %v (%q)", err, describe(err))
	}
}
