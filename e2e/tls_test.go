package e2e_test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls/testpki"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// Mutual TLS (issue 19): a receiver that requires a client certificate of
// its CA and presents a server certificate of that CA, which no system
// root knows: reached only with the webhook's certificate and key, its
// certificate verified through the webhook's CA bundle.

// mtlsReceiver is an HTTPS receiver requiring a client certificate signed
// by ca; it records the subject of each accepted request's certificate.
type mtlsReceiver struct {
	*httptest.Server
	mu           sync.Mutex
	subjects     []string
	fingerprints []string // SHA-256 of each accepted request's client certificate, hex
	remotes      []string // the IP address each accepted request came from
}

func newMTLSReceiver(t *testing.T, ca *testpki.CA) *mtlsReceiver {
	t.Helper()
	server := ca.Server(t)
	pair, err := tls.X509KeyPair([]byte(server.CertPEM), []byte(server.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	r := &mtlsReceiver{}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.subjects = append(r.subjects, req.TLS.PeerCertificates[0].Subject.String())
		sum := sha256.Sum256(req.TLS.PeerCertificates[0].Raw)
		r.fingerprints = append(r.fingerprints, hex.EncodeToString(sum[:]))
		r.remotes = append(r.remotes, strings.Split(req.RemoteAddr, ":")[0])
		r.mu.Unlock()
	}))
	r.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	r.StartTLS()
	t.Cleanup(r.Close)
	return r
}

func (r *mtlsReceiver) accepted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.subjects...)
}

// presented is the fingerprints of the client certificates accepted.
func (r *mtlsReceiver) presented() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.fingerprints...)
}

// keyBody is the base64 body of a PEM key: what must appear nowhere.
func keyBody(pemText string) string {
	lines := strings.Split(strings.TrimSpace(pemText), "\n")
	return strings.Join(lines[1:len(lines)-1], "")[:40]
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{NoWorker: true})
	worker := e.StartProcess("worker", "LOG_LEVEL=debug", "DELIVERY_TIMEOUT=2s", "DELIVERY_RETRY_SCHEDULE=200ms")
	_, key := e.Account("professional")
	ca := testpki.NewCA(t, "receiver CA")
	rcv := newMTLSReceiver(t, ca)
	client := ca.Client(t, "esign-webhooks", time.Now().Add(60*24*time.Hour))
	secret := keyBody(client.KeyPEM)

	// Bad material: 422 naming the field.
	other := ca.Client(t, "other", time.Now().Add(60*24*time.Hour))
	for field, tlsIn := range map[string]service.TLSInput{
		"tls.clientKey":         {ClientCertificate: strp(client.CertPEM), ClientKey: strp(other.KeyPEM)},
		"tls.clientCertificate": {ClientCertificate: strp(ca.Client(t, "old", time.Now().Add(-time.Hour)).CertPEM), ClientKey: strp(client.KeyPEM)},
		"tls.caBundle":          {CABundle: strp("not a bundle")},
	} {
		r := e.Do("POST", "/v1/webhooks", key, e2etest.Webhook{Name: "bad " + field, URL: rcv.URL + "/h",
			EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"saas_page"}, TLS: &tlsIn}).Want(t, 422)
		if !strings.Contains(string(r.Raw), `"`+field+`"`) {
			t.Errorf("%s: %s", field, r.Raw)
		}
		noneOf(t, "a 422", string(r.Raw), keyBody(other.KeyPEM), secret)
	}

	// The CA bundle only: the receiver is verified, but refuses us.
	without, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.URL + "/h", EventTypes: []string{"ENVELOPE_START"},
		TLS: &service.TLSInput{CABundle: strp(ca.PEM)}})
	p1 := e.Publish(key, e2etest.Event{})
	d1, status := only(t, e, p1.WorkflowID)
	if status != "failed" || len(rcv.accepted()) != 0 {
		t.Fatalf("without a client certificate: %s, accepted %v", status, rcv.accepted())
	}
	e.Do("DELETE", "/v1/webhooks/"+without, key, nil)

	// With the client certificate: accepted.
	id, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.URL + "/h", EventTypes: []string{"ENVELOPE_FINISH"},
		TLS: &service.TLSInput{ClientCertificate: strp(client.CertPEM), ClientKey: strp(client.KeyPEM), CABundle: strp(ca.PEM)}})
	p2 := e.Publish(key, e2etest.Event{ID: "with-cert", Type: "ENVELOPE_FINISH"})
	if _, status := only(t, e, p2.WorkflowID); status != "succeeded" || len(rcv.accepted()) != 1 ||
		rcv.accepted()[0] != "CN=esign-webhooks" {
		t.Fatalf("with the client certificate: %s, accepted %v", status, rcv.accepted())
	}

	// The answer describes the certificate, never the key.
	got := e.Do("GET", "/v1/webhooks/"+id, key, nil).Want(t, 200)
	var w struct {
		TLS struct {
			ClientCertificate *struct {
				Subject, Issuer, FingerprintSha256 string
				ExpiresAt                          time.Time
				ExpiringSoon                       bool
			}
			CACertificates int
		}
	}
	got.Decode(t, &w)
	if c := w.TLS.ClientCertificate; c == nil || c.Subject != "CN=esign-webhooks" || c.Issuer != "CN=receiver CA" ||
		len(c.FingerprintSha256) != 64 || c.ExpiringSoon || w.TLS.CACertificates != 1 {
		t.Fatalf("tls %s", got.Raw)
	}
	// The log names the certificate each attempt presented (the one the
	// receiver saw), and no proxy (none configured); the attempt without
	// a certificate names none.
	d2 := e.Delivery(key, e.EventDeliveries(key, "with-cert")[id].ID)
	if a := d2.Attempts; len(a) != 1 || a[0].ClientCertificateSHA256 != w.TLS.ClientCertificate.FingerprintSha256 ||
		a[0].ClientCertificateSHA256 != rcv.presented()[0] || a[0].Proxy != "" {
		t.Fatalf("attempts %+v; the receiver saw %v, the webhook has %s", a, rcv.presented(), w.TLS.ClientCertificate.FingerprintSha256)
	}
	if a := e.Delivery(key, d1).Attempts; len(a) == 0 || a[0].ClientCertificateSHA256 != "" {
		t.Fatalf("attempts without a certificate: %+v", a)
	}

	// An edit keeping the key (the certificate unchanged) needs the
	// webhook disabled, and removing the certificate brings refusal back.
	e.Do("PATCH", "/v1/webhooks/"+id, key, map[string]any{"tls": map[string]any{"clientCertificate": client.CertPEM}}).Want(t, 409)
	e.Do("POST", "/v1/webhooks/"+id+"/disable", key, nil).Want(t, 200)
	kept := e.Do("PATCH", "/v1/webhooks/"+id, key, map[string]any{"tls": map[string]any{"clientCertificate": client.CertPEM}}).Want(t, 200)
	removed := e.Do("PATCH", "/v1/webhooks/"+id, key, map[string]any{"tls": map[string]any{"clientCertificate": ""}}).Want(t, 200)
	if !strings.Contains(string(removed.Raw), `"clientCertificate":null`) {
		t.Fatalf("removed: %s", removed.Raw)
	}

	for _, raw := range [][]byte{got.Raw, kept.Raw, removed.Raw, e.Do("GET", "/v1/deliveries/"+d1, key, nil).Raw} {
		noneOf(t, "an answer", string(raw), secret)
	}
	for _, wf := range []string{p1.WorkflowID, p2.WorkflowID} {
		noneOf(t, "the history of "+wf, history(t, e, wf), secret)
	}
	noneOf(t, "the worker's log", worker.Logs(), secret)
}

// TestCertificateExpiryNotice: an attempt with a client certificate that
// expires within 14 days publishes WEBHOOK_CERTIFICATE_EXPIRING, once per
// certificate, to the webhooks subscribed to it; the answer says
// expiringSoon.
func TestCertificateExpiryNotice(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	ops := &notices{}
	opsRcv := e2etest.NewReceiver(t, ops.reply)
	e.CreateWebhook(key, e2etest.Webhook{Name: "ops", URL: opsRcv.At("/ops"), EventTypes: []string{"WEBHOOK_CERTIFICATE_EXPIRING"}})
	ca := testpki.NewCA(t, "receiver CA")
	rcv := newMTLSReceiver(t, ca)
	client := ca.Client(t, "soon", time.Now().Add(10*24*time.Hour))
	id, _ := e.CreateWebhook(key, e2etest.Webhook{Name: "mtls", URL: rcv.URL + "/h", EventTypes: []string{"ENVELOPE_START"},
		TLS: &service.TLSInput{ClientCertificate: strp(client.CertPEM), ClientKey: strp(client.KeyPEM), CABundle: strp(ca.PEM)}})
	if got := e.Do("GET", "/v1/webhooks/"+id, key, nil).Want(t, 200); !strings.Contains(string(got.Raw), `"expiringSoon":true`) {
		t.Fatalf("not expiring soon: %s", got.Raw)
	}
	for _, ev := range []string{"one", "two"} {
		p := e.Publish(key, e2etest.Event{ID: ev})
		if _, status := only(t, e, p.WorkflowID); status != "succeeded" {
			t.Fatalf("%s: %s", ev, status)
		}
	}
	ops.wait(t, "WEBHOOK_CERTIFICATE_EXPIRING", id)
	time.Sleep(500 * time.Millisecond)
	if n := ops.count("WEBHOOK_CERTIFICATE_EXPIRING"); n != 1 {
		t.Fatalf("%d notices, want 1", n)
	}
	noneOf(t, "the notices", fmt.Sprint(ops.got), keyBody(client.KeyPEM))
}

// TestMutualTLSThroughProxy: with DELIVERY_PROXY_URL set, a webhook's
// client certificate and CA bundle ride through the CONNECT tunnel: the
// receiver sees the proxy's address and the webhook's certificate, and its
// own certificate is verified by the bundle (the worker has no
// SSL_CERT_FILE that knows it).
func TestMutualTLSThroughProxy(t *testing.T) {
	t.Parallel()
	proxy := proxyURL(t)
	e := e2etest.New(t, e2etest.Options{NoWorker: true})
	e.StartProcess("worker", "DELIVERY_PROXY_URL="+proxy.String(), "EGRESS_ALLOW_CIDRS=127.0.0.1/32",
		"DELIVERY_TIMEOUT=5s", "DELIVERY_RETRY_SCHEDULE=100ms", "LOG_LEVEL=info")
	_, key := e.Account("professional")
	ca := testpki.NewCA(t, "receiver CA")
	rcv := newMTLSReceiver(t, ca)
	client := ca.Client(t, "proxied", time.Now().Add(60*24*time.Hour))
	port := rcv.URL[strings.LastIndex(rcv.URL, ":")+1:]
	id, _ := e.CreateWebhook(key, e2etest.Webhook{URL: "https://localhost:" + port + "/h",
		TLS: &service.TLSInput{ClientCertificate: strp(client.CertPEM), ClientKey: strp(client.KeyPEM), CABundle: strp(ca.PEM)}})
	p := e.Publish(key, e2etest.Event{})
	if _, status := only(t, e, p.WorkflowID); status != "succeeded" {
		t.Fatalf("status %s", status)
	}
	rcv.mu.Lock()
	remotes := append([]string(nil), rcv.remotes...)
	rcv.mu.Unlock()
	if got := rcv.accepted(); len(got) != 1 || got[0] != "CN=proxied" || len(remotes) != 1 || remotes[0] != "127.0.0.2" {
		t.Fatalf("accepted %v from %v, want CN=proxied from 127.0.0.2 (start_proxy's tinyproxy)", got, remotes)
	}
	// The log names the proxy and the certificate presented through it.
	d := e.Delivery(key, e.EventDeliveries(key, p.EventID)[id].ID)
	if a := d.Attempts; len(a) != 1 || a[0].Proxy != proxy.Host || a[0].ClientCertificateSHA256 != rcv.presented()[0] {
		t.Fatalf("attempts %+v; the receiver saw %v", a, rcv.presented())
	}
	if log := proxyLog(t); log != "" && !strings.Contains(log, "CONNECT 127.0.0.1:"+port+" ") {
		t.Errorf("the proxy was not asked to CONNECT to the checked address 127.0.0.1:%s", port)
	}
}
