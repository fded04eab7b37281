package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls/testpki"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// TestTLSForm: the add form takes a client certificate, its key and a CA
// bundle; the details page shows the certificate's subject, expiry and
// fingerprint; the edit form shows it stored and never the key, and an
// edit leaving the key empty keeps it; a refused form does not echo the
// key typed into it. No page ever holds the key.
func TestTLSForm(t *testing.T) {
	s := newStack(t, true)
	_, key := s.account("professional")
	ca := testpki.NewCA(t, "Console CA")
	pair := ca.Client(t, "console-client", time.Now().Add(10*24*time.Hour)) // within 14 days: expiring soon
	other := testpki.NewKeyPEM(t)
	secrets := []string{keyLine(pair.KeyPEM), keyLine(other)}

	admin := s.signIn(t, key, "admin")
	fetch := admin.fetch
	_, body := fetch("GET", "/console/webhooks/new", nil)
	if !strings.Contains(body, `id="tlsClientCert"`) || !strings.Contains(body, `id="tlsCaBundle"`) {
		t.Fatalf("the add form lacks the TLS section: %.3000s", body)
	}
	form := url.Values{"csrf": {between(body, `name="csrf" value="`, `"`)}, "name": {"mtls"},
		"url": {"https://hooks.example.com/mtls"}, "eventTypes": {"ENVELOPE_START"}, "triggerSources": {"saas_page"},
		"orderedOnFailure": {"continue"}, "authType": {"none"},
		"tlsClientCert": {pair.CertPEM}, "tlsClientKey": {other}, "tlsCaBundle": {ca.PEM}}
	// A mismatched key: refused, named, not echoed.
	if code, body := fetch("POST", "/console/webhooks/new", form); code != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "does not match the client certificate") {
		t.Fatalf("mismatched key: %d %.3000s", code, body)
	}
	form.Set("tlsClientKey", pair.KeyPEM)
	if code, body := fetch("POST", "/console/webhooks/new", form); code != http.StatusCreated {
		t.Fatalf("add: %d %.3000s", code, body)
	}
	var list struct {
		Data []struct {
			ID  string `json:"id"`
			TLS struct {
				ClientCertificate struct {
					FingerprintSha256 string `json:"fingerprintSha256"`
				} `json:"clientCertificate"`
			} `json:"tls"`
		} `json:"data"`
	}
	s.api("GET", "/v1/webhooks", key, nil, 200, &list)
	id, fp := list.Data[0].ID, list.Data[0].TLS.ClientCertificate.FingerprintSha256

	_, details := fetch("GET", "/console/webhooks/"+id, nil)
	for _, want := range []string{"CN=console-client", "CN=Console CA", fp, `id="tls-expiring"`, "1 private CA"} {
		if fp == "" || !strings.Contains(details, want) {
			t.Errorf("details lack %q", want)
		}
	}

	// Edit, disabled: the certificate shown stored, the key box empty;
	// an edit with the key box empty keeps the key.
	s.api("POST", "/v1/webhooks/"+id+"/disable", key, nil, 200, nil)
	_, edit := fetch("GET", "/console/webhooks/"+id+"/edit", nil)
	if !strings.Contains(edit, `id="tls-stored"`) || !strings.Contains(edit, "CN=console-client") {
		t.Errorf("edit form: %.4000s", edit)
	}
	edited := url.Values{"csrf": {between(edit, `name="csrf" value="`, `"`)}, "name": {"mtls 2"},
		"url": {"https://hooks.example.com/mtls"}, "eventTypes": {"ENVELOPE_START"}, "triggerSources": {"saas_page"},
		"orderedOnFailure": {"continue"}, "authType": {"none"}}
	if code, body := fetch("POST", "/console/webhooks/"+id+"/edit", edited); code != http.StatusSeeOther {
		t.Fatalf("edit: %d %.3000s", code, body)
	}
	s.api("GET", "/v1/webhooks", key, nil, 200, &list)
	if list.Data[0].TLS.ClientCertificate.FingerprintSha256 != fp {
		t.Fatalf("the edit lost the certificate: %+v", list.Data[0])
	}
	for i, p := range admin.pages {
		for _, sec := range secrets {
			if strings.Contains(p, sec) {
				t.Fatalf("page %d holds the key", i)
			}
		}
	}
}

// keyLine is the first base64 line of a PEM key.
func keyLine(pemText string) string { return strings.Split(pemText, "\n")[1] }

// TestDeliveryPageShowsConnection: each attempt on the delivery page says
// whether it went through the forward proxy (and which) or direct, and
// the fingerprint of the client certificate it presented, in English and
// Chinese. The attempt rows are opened as the worker opens them
// (db.StartAttempt), on a webhook made through the API.
func TestDeliveryPageShowsConnection(t *testing.T) {
	s := newStack(t, false)
	ctx := context.Background()
	acct, key := s.account("professional")
	ca := testpki.NewCA(t, "Console CA")
	pair := ca.Client(t, "console-client", time.Now().Add(60*24*time.Hour))
	var wh struct {
		ID  string `json:"id"`
		TLS struct {
			ClientCertificate struct {
				FingerprintSha256 string `json:"fingerprintSha256"`
			} `json:"clientCertificate"`
		} `json:"tls"`
	}
	s.api("POST", "/v1/webhooks", key, map[string]any{"name": "mtls", "url": "https://hooks.example.com/mtls",
		"eventTypes": []string{"ENVELOPE_START"}, "triggerSources": []string{"saas_page"},
		"tls": map[string]any{"clientCertificate": pair.CertPEM, "clientKey": pair.KeyPEM, "caBundle": ca.PEM}}, 201, &wh)
	fp := wh.TLS.ClientCertificate.FingerprintSha256
	ds, err := s.store.RecordEvent(ctx, db.Event{AccountID: acct, WorkflowID: "wf", Event: events.Event{ID: "ev-conn",
		Type: "ENVELOPE_START", TriggerSource: "saas_page", OccurredAt: time.Now(), Data: []byte(`{}`)}},
		[]uuid.UUID{uuid.MustParse(wh.ID)})
	if err != nil || len(ds) != 1 || len(fp) != 64 {
		t.Fatalf("recording the event: %v, %d deliveries, fingerprint %q", err, len(ds), fp)
	}
	open := func(n int, proxy string) {
		if _, err := s.store.StartAttempt(ctx, db.AttemptStart{DeliveryID: ds[0].ID, Series: 1, Number: n, Test: true,
			StartedAt: time.Now(), Proxy: proxy}); err != nil {
			t.Fatal(err)
		}
	}
	open(1, "proxy.internal:3128")
	open(2, "")
	// Plain http presents no certificate.
	s.api("POST", "/v1/webhooks/"+wh.ID+"/disable", key, nil, 200, nil)
	s.api("PATCH", "/v1/webhooks/"+wh.ID, key, map[string]any{"url": "http://hooks.example.com/mtls"}, 200, nil)
	open(3, "")
	admin := s.signIn(t, key, "admin")
	for lang, want := range map[string][]string{
		"en":    {"Through the proxy proxy.internal:3128", "Direct", "Client certificate SHA-256 " + fp[:16] + "…", `title="` + fp + `"`},
		"zh-CN": {"经代理 proxy.internal:3128", "直连", "客户端证书 SHA-256 " + fp[:16] + "…"},
	} {
		u, _ := url.Parse(s.srv.URL)
		admin.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "webhookd_console_lang", Value: lang}})
		_, page := admin.fetch("GET", "/console/deliveries/"+ds[0].ID.String(), nil)
		attempts := between(page, `<table class="list" id="attempts">`, `</table>`)
		for _, w := range want {
			if !strings.Contains(attempts, w) {
				t.Errorf("%s: the attempts lack %q: %s", lang, w, attempts)
			}
		}
		if strings.Count(attempts, `title="`+fp+`"`) != 2 || strings.Count(attempts, `<td data-label="#">`) != 3 {
			t.Errorf("%s: want the fingerprint on the two https attempts of three: %s", lang, attempts)
		}
	}
}
