package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
)

// Receiver options (issue 19): custom headers and receiver authentication
// as a receiver sees them, and the secrets nowhere else.

func strp(s string) *string { return &s }

// history is a workflow's whole history as text (payloads included, as
// the Temporal UI would show them).
func history(t *testing.T, e *e2etest.Env, workflowID string) string {
	t.Helper()
	var b strings.Builder
	for _, ev := range e.History(workflowID) {
		b.WriteString(ev.String())
	}
	if !strings.Contains(b.String(), "Deliver") {
		t.Fatalf("no history for %s: %.500s", workflowID, b.String())
	}
	return b.String()
}

func noneOf(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	if text == "" {
		t.Fatalf("%s is empty: nothing was searched", where)
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Fatalf("%s holds the secret %q", where, s)
		}
	}
}

// TestCustomHeadersBasicAndBearer: the receiver gets the custom headers
// (a secret one too) besides the signed ones, and the Basic credentials;
// after an edit to Bearer that keeps the secret header without resending
// it, the token. The log shows the auth method; the answers, the Temporal
// history and the worker's log never a secret.
func TestCustomHeadersBasicAndBearer(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{NoWorker: true})
	worker := e.StartProcess("worker", "LOG_LEVEL=debug", "DELIVERY_TIMEOUT=2s", "DELIVERY_RETRY_SCHEDULE=200ms,500ms")
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	secrets := []string{"hdr-s3cret-e2e", "pw-s3cret-e2e", "tok-s3cret-e2e"}
	id, signing := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook"),
		Headers: []service.HeaderInput{{Name: "X-Tenant", Value: strp("acme")},
			{Name: "X-Api-Key", Value: strp(secrets[0]), Secret: true}, {Name: "x-lower", Value: strp("v")}},
		Auth: &service.AuthInput{Type: "basic", Username: "esign", Password: strp(secrets[1])}})

	p1 := e.Publish(key, e2etest.Event{})
	d1, status := only(t, e, p1.WorkflowID)
	if status != "succeeded" {
		t.Fatalf("status %s", status)
	}
	r := rcv.Requests()[0]
	user, pass, ok := (&http.Request{Header: r.Header}).BasicAuth()
	if !ok || user != "esign" || pass != secrets[1] {
		t.Errorf("basic credentials %q %q %v", user, pass, ok)
	}
	if r.Header.Get("X-Tenant") != "acme" || r.Header.Get("X-Api-Key") != secrets[0] || r.Header.Get("X-Lower") != "v" {
		t.Errorf("custom headers: %v", r.Header)
	}
	wh, _ := standardwebhooks.NewWebhook(signing)
	if err := wh.Verify(r.Body, r.Header); err != nil || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("the signed headers suffered: %v %v", err, r.Header)
	}
	if a := e.Delivery(key, d1).Attempts; len(a) != 1 || a[0].AuthMethod != "basic" {
		t.Fatalf("attempts %+v", a)
	}

	// To bearer, keeping the secret header without its value.
	e.Do("POST", "/v1/webhooks/"+id+"/disable", key, nil).Want(t, 200)
	edit := e.Do("PATCH", "/v1/webhooks/"+id, key, map[string]any{
		"headers": []map[string]any{{"name": "X-Api-Key", "secret": true}},
		"auth":    map[string]any{"type": "bearer", "token": secrets[2]},
	}).Want(t, 200)
	e.Do("POST", "/v1/webhooks/"+id+"/enable", key, nil).Want(t, 200)
	p2 := e.Publish(key, e2etest.Event{ID: "second"})
	d2, _ := only(t, e, p2.WorkflowID)
	r = rcv.WaitCount(t, 2)[1]
	if r.Header.Get("Authorization") != "Bearer "+secrets[2] || r.Header.Get("X-Api-Key") != secrets[0] ||
		r.Header.Get("X-Tenant") != "" {
		t.Errorf("after the edit: %v", r.Header)
	}
	d := e.Delivery(key, d2)
	if len(d.Attempts) != 1 || d.Attempts[0].AuthMethod != "bearer" {
		t.Fatalf("attempts %+v", d.Attempts)
	}

	// A test send too (its own workflow), then the places secrets must not be.
	test := e.Do("POST", "/v1/webhooks/"+id+"/test", key, nil).Want(t, 200)
	rcv.WaitCount(t, 3)
	for _, raw := range [][]byte{edit.Raw, test.Raw, e.Do("GET", "/v1/webhooks/"+id, key, nil).Raw,
		e.Do("GET", "/v1/deliveries/"+d2, key, nil).Raw, e.Do("GET", "/v1/events/second", key, nil).Raw} {
		noneOf(t, "an answer", string(raw), secrets...)
	}
	for _, wf := range []string{p1.WorkflowID, p2.WorkflowID} {
		noneOf(t, "the history of "+wf, history(t, e, wf), secrets...)
	}
	noneOf(t, "the worker's log", worker.Logs(), secrets...)
}

// oauthServer is a client credentials token endpoint: it checks the
// client id and secret (HTTP Basic), the grant, the scopes and the
// audience, and issues tok-1, tok-2, … valid for an hour.
type oauthServer struct {
	*httptest.Server
	mu     sync.Mutex
	issued []string
}

func newOAuthServer(t *testing.T, clientID, secret string) *oauthServer {
	o := &oauthServer{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, sec, ok := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
			return
		}
		if !ok || id != clientID || sec != secret {
			w.WriteHeader(http.StatusUnauthorized)
			// A careless endpoint echoing what it got: never repeated.
			_, _ = fmt.Fprintf(w, `{"error":"invalid_client","error_description":"unknown client %s/%s"}`, id, sec)
			return
		}
		if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "webhooks:receive audit" ||
			r.PostForm.Get("audience") != "https://receiver.example.com" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_scope"}`))
			return
		}
		o.mu.Lock()
		tok := fmt.Sprintf("acc3ss-tok-%d", len(o.issued)+1)
		o.issued = append(o.issued, tok)
		o.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *oauthServer) calls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.issued)
}

// TestOAuth2ClientCredentials: the token endpoint is asked once and the
// token reused for every delivery; a receiver that refuses it (401) gets
// the request again with a new one, in the same attempt, whose answer
// counts; an endpoint that refuses the client fails the attempt with its
// own reason. No secret or token in the answers, the history or the log.
func TestOAuth2ClientCredentials(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{NoWorker: true, Settings: &activities.Settings{
		AttemptTimeout: 2 * time.Second, Retries: []time.Duration{200 * time.Millisecond, 500 * time.Millisecond}}})
	worker := e.StartProcess("worker", "LOG_LEVEL=debug", "DELIVERY_TIMEOUT=2s", "DELIVERY_RETRY_SCHEDULE=200ms,500ms")
	_, key := e.Account("professional")
	const clientSecret = "cs-s3cret-e2e"
	idp := newOAuthServer(t, "esign-client", clientSecret)

	var mu sync.Mutex
	accepted := map[string]bool{"Bearer acc3ss-tok-1": true}
	rcv := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		mu.Lock()
		defer mu.Unlock()
		if !accepted[r.Header.Get("Authorization")] {
			return e2etest.Status(http.StatusUnauthorized)
		}
		return e2etest.Status(http.StatusOK)
	})
	auth := &service.AuthInput{Type: "oauth2", TokenURL: idp.URL + "/oauth/token", ClientID: "esign-client",
		ClientSecret: strp(clientSecret), Scopes: []string{"webhooks:receive", "audit"}, Audience: "https://receiver.example.com"}
	id, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook"), Auth: auth})

	// Three deliveries, one token.
	var wfs []string
	for i := range 3 {
		p := e.Publish(key, e2etest.Event{ID: fmt.Sprintf("ev-%d", i)})
		if _, status := only(t, e, p.WorkflowID); status != "succeeded" {
			t.Fatalf("delivery %d: %s", i, status)
		}
		wfs = append(wfs, p.WorkflowID)
	}
	if n := idp.calls(); n != 1 {
		t.Fatalf("token endpoint asked %d times for 3 deliveries, want 1", n)
	}

	// The receiver revokes tok-1: the next delivery is refused once, gets
	// tok-2 and succeeds in one attempt.
	mu.Lock()
	accepted = map[string]bool{"Bearer acc3ss-tok-2": true}
	mu.Unlock()
	p := e.Publish(key, e2etest.Event{ID: "after-revoke"})
	did, status := only(t, e, p.WorkflowID)
	wfs = append(wfs, p.WorkflowID)
	if status != "succeeded" || idp.calls() != 2 {
		t.Fatalf("after a revoke: %s, %d token requests", status, idp.calls())
	}
	d := e.Delivery(key, did)
	if len(d.Attempts) != 1 || *d.Attempts[0].ResponseStatus != 200 || d.Attempts[0].AuthMethod != "oauth2" ||
		!strings.Contains(d.Attempts[0].Error, "answered 401") {
		t.Fatalf("attempts %+v", d.Attempts)
	}
	reqs := rcv.Requests()
	if n := len(reqs); n != 5 || reqs[3].Header.Get("Authorization") != "Bearer acc3ss-tok-1" ||
		reqs[4].Header.Get("Authorization") != "Bearer acc3ss-tok-2" || reqs[3].Header.Get("webhook-id") != reqs[4].Header.Get("webhook-id") {
		t.Fatalf("%d requests; the last two: %v / %v", n, reqs[3].Header, reqs[4].Header)
	}

	// A wrong client secret: the attempt fails with the endpoint's reason.
	e.Do("POST", "/v1/webhooks/"+id+"/disable", key, nil).Want(t, 200)
	bad := *auth
	bad.ClientSecret = strp("wrong-s3cret-e2e")
	e.Do("PATCH", "/v1/webhooks/"+id, key, map[string]any{"auth": bad}).Want(t, 200)
	e.Do("POST", "/v1/webhooks/"+id+"/enable", key, nil).Want(t, 200)
	p = e.Publish(key, e2etest.Event{ID: "bad-client"})
	did, status = only(t, e, p.WorkflowID)
	wfs = append(wfs, p.WorkflowID)
	d = e.Delivery(key, did)
	if status != "failed" || len(d.Attempts) != 3 || rcv.Count() != 5 {
		t.Fatalf("bad client: %s, %d attempts, receiver got %d", status, len(d.Attempts), rcv.Count())
	}
	for _, a := range d.Attempts {
		if a.Error != "oauth2 token endpoint answered 401 (invalid_client)" || a.ResponseStatus != nil || a.AuthMethod != "oauth2" {
			t.Fatalf("attempt %+v", a)
		}
	}

	secrets := []string{clientSecret, "wrong-s3cret-e2e", "acc3ss-tok-1", "acc3ss-tok-2"}
	for _, path := range []string{"/v1/webhooks/" + id, "/v1/deliveries/" + did, "/v1/events/after-revoke", "/v1/deliveries"} {
		noneOf(t, path, string(e.Do("GET", path, key, nil).Want(t, 200).Raw), secrets...)
	}
	for _, wf := range wfs {
		noneOf(t, "the history of "+wf, history(t, e, wf), secrets...)
	}
	noneOf(t, "the worker's log", worker.Logs(), secrets...)
}
