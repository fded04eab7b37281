package console_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/browsertest"
)

// TestReceiverOptionsForm: the add form takes custom headers (a secret
// one) and Basic credentials; the details and edit pages show them
// without a secret, and an edit that leaves the secrets empty keeps them;
// a refused form does not echo the secret typed into it; the delivery page
// shows the attempt's auth method. No page ever holds a secret.
func TestReceiverOptionsForm(t *testing.T) {
	s := newStack(t, true)
	_, key := s.account("professional")
	secrets := []string{"hdr-s3cret-console", "pw-s3cret-console", "pw-s3cret-typed-again"}
	var mu sync.Mutex
	var got []http.Header
	rcv := newRecordingReceiver(t, func(h http.Header) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, h)
	})

	admin := s.signIn(t, key, "admin")
	fetch := admin.fetch
	_, body := fetch("GET", "/console/webhooks/new", nil)
	csrf := between(body, `name="csrf" value="`, `"`)
	if !strings.Contains(body, `id="authType"`) || strings.Count(body, `name="headerName"`) != 3 {
		t.Fatalf("the add form lacks the receiver options: %.3000s", body)
	}
	form := url.Values{"csrf": {csrf}, "name": {"gateway"}, "url": {rcv.URL + "/hook"},
		"eventTypes": {"ENVELOPE_START"}, "triggerSources": {"saas_page"}, "orderedOnFailure": {"continue"},
		"headerName": {"X-Tenant", "X-Api-Key", ""}, "headerValue": {"acme", secrets[0], ""}, "headerSecret": {"1"},
		"authType": {"basic"}, "username": {"esign"}, "password": {secrets[1]},
		// Another method's fields are not read.
		"token": {"ignored-token"}, "tokenUrl": {"not a url"}}
	if code, body := fetch("POST", "/console/webhooks/new", form); code != http.StatusCreated {
		t.Fatalf("add: %d %.3000s", code, body)
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	s.api("GET", "/v1/webhooks", key, nil, 200, &list)
	id := list.Data[0].ID

	_, details := fetch("GET", "/console/webhooks/"+id, nil)
	for _, want := range []string{"X-Tenant", "acme", "X-Api-Key", "secret, not shown", "Basic (username and password)", "esign"} {
		if !strings.Contains(details, want) {
			t.Errorf("details lack %q", want)
		}
	}

	// Deliver once: the receiver gets them; the delivery page says basic.
	s.api("POST", "/v1/events", key, map[string]any{"type": "ENVELOPE_START", "triggerSource": "saas_page",
		"id": "ev-console", "data": map[string]any{"envelopeId": "e1", "envelopeStatus": 1}}, http.StatusAccepted, nil)
	var ev struct {
		Deliveries []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"deliveries"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(ev.Deliveries) == 0 || ev.Deliveries[0].Status != "succeeded" {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: %+v", ev)
		}
		time.Sleep(100 * time.Millisecond)
		s.api("GET", "/v1/events/ev-console", key, nil, 200, &ev)
	}
	mu.Lock()
	h := got[0]
	mu.Unlock()
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("esign:"+secrets[1]))
	if h.Get("X-Tenant") != "acme" || h.Get("X-Api-Key") != secrets[0] || h.Get("Authorization") != wantAuth {
		t.Errorf("the receiver got %v", h)
	}
	_, dpage := fetch("GET", "/console/deliveries/"+ev.Deliveries[0].ID, nil)
	if !strings.Contains(between(dpage, `<table class="list" id="attempts">`, `</table>`), "Basic (username and password)") {
		t.Errorf("the delivery page does not show the auth method: %.3000s", dpage)
	}

	// Edit: disabled first; the secrets shown as kept, never as values.
	s.api("POST", "/v1/webhooks/"+id+"/disable", key, nil, 200, nil)
	_, edit := fetch("GET", "/console/webhooks/"+id+"/edit", nil)
	if strings.Count(edit, "Stored: leave empty to keep") != 2 || !strings.Contains(edit, `value="esign"`) {
		t.Errorf("edit form: %.4000s", edit)
	}
	csrf = between(edit, `name="csrf" value="`, `"`)
	form.Set("csrf", csrf)
	form["headerName"] = []string{"X-Tenant", "X-Api-Key", "X-Region"}
	form["headerValue"] = []string{"acme", "", "eu"}
	form["headerStored"] = []string{"1"}
	form.Set("password", "")
	if code, body := fetch("POST", "/console/webhooks/"+id+"/edit", form); code != http.StatusSeeOther {
		t.Fatalf("edit: %d %.3000s", code, body)
	}
	var wh struct {
		Headers []map[string]any `json:"headers"`
		Auth    map[string]any   `json:"auth"`
	}
	s.api("GET", "/v1/webhooks/"+id, key, nil, 200, &wh)
	if len(wh.Headers) != 3 || wh.Headers[1]["secret"] != true || wh.Auth["type"] != "basic" {
		t.Fatalf("after the edit: %+v", wh)
	}

	// Refused: the field errors, and not the secret just typed.
	form["headerName"] = []string{"Host", "X-Api-Key"}
	form["headerValue"] = []string{"evil.example", secrets[2]}
	form.Set("password", secrets[2])
	code, refused := fetch("POST", "/console/webhooks/"+id+"/edit", form)
	if code != http.StatusUnprocessableEntity || !strings.Contains(refused, `header &#34;Host&#34; cannot be set`) {
		t.Fatalf("refused edit: %d %.3000s", code, refused)
	}

	// Keeping worked: the next delivery carries the first secrets.
	s.api("POST", "/v1/webhooks/"+id+"/enable", key, nil, 200, nil)
	s.api("POST", "/v1/webhooks/"+id+"/test", key, nil, 200, nil)
	mu.Lock()
	h = got[len(got)-1]
	mu.Unlock()
	if h.Get("X-Api-Key") != secrets[0] || h.Get("Authorization") != wantAuth || h.Get("X-Region") != "eu" {
		t.Errorf("after keeping: %v", h)
	}
	fetch("GET", "/console/webhooks/"+id, nil)
	for i, p := range admin.pages {
		for _, sec := range secrets {
			if strings.Contains(p, sec) {
				t.Fatalf("page %d holds the secret %s", i, sec)
			}
		}
	}
}

// newRecordingReceiver answers 200 and hands each request's headers to seen.
func newRecordingReceiver(t *testing.T, seen func(http.Header)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen(r.Header.Clone())
		_, _ = w.Write([]byte(`{"code":"200","msg":"success"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowserReceiverOptions: the auth method shows its own fields only,
// a header ticked secret is typed like a password, and the saved options
// show on the details page.
func TestBrowserReceiverOptions(t *testing.T) {
	s := newStack(t, false)
	_, key := s.account("professional")
	ctx := newBrowser(t, "")
	do(t, ctx, chromedp.Navigate(s.link(key, "admin")), visible("#add-webhook"),
		click("#add-webhook"), visible("#webhook-form"), chromedp.WaitNotVisible(chromedp.CSS("#auth-basic")),
		chromedp.WaitNotVisible(chromedp.CSS("#auth-oauth2")))
	do(t, ctx, keys("#name", "Gateway"), keys("#url", "https://hooks.example.com/esign"), click("#et-ENVELOPE_START"),
		keys("#hn-0", "X-Tenant"), keys("#hv-0", "acme"), keys("#hn-1", "X-Api-Key"), click("#hs-1"),
		keys("#hv-1", "hdr-s3cret-browser"))
	if typ := browsertest.Get(t, ctx, chromedp.AttributeValue(chromedp.CSS("#hv-1"), "type")).Value; typ != "password" {
		t.Fatalf("a secret header's value input is %q", typ)
	}
	do(t, ctx, setv("#authType", "oauth2"), js(`document.getElementById("authType").dispatchEvent(new Event("change"))`),
		visible("#tokenUrl"), chromedp.WaitNotVisible(chromedp.CSS("#username")),
		keys("#tokenUrl", "https://auth.example.com/oauth/token"), keys("#clientId", "esign-client"),
		keys("#clientSecret", "cs-s3cret-browser"), keys("#scopes", "webhooks audit"))
	screenshot(t, ctx, "add-receiver-options")
	do(t, ctx, click("#save"), visible("#secret"),
		click(`main a.button[href^="/console/webhooks/"]`), visible("#auth"))
	mustContain(t, "auth", text(t, ctx, "#auth"), "OAuth 2.0 client credentials")
	mustContain(t, "auth", text(t, ctx, "#auth"), "esign-client")
	mustContain(t, "headers", text(t, ctx, "#headers"), "X-Api-Key: •••••• (secret, not shown)")
	screenshot(t, ctx, "details-receiver-options")
	html := browsertest.Get(t, ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if strings.Contains(html, "s3cret-browser") {
		t.Fatal("the details page holds a secret")
	}
}
