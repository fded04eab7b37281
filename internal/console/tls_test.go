package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls/testpki"
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
