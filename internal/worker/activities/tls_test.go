package activities

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls/testpki"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/secretbox"
)

// A receiver that requires a client certificate from the test CA and
// presents a server certificate of that CA: reached only with the
// webhook's certificate and its CA bundle, through the egress client.
func TestClientForMutualTLS(t *testing.T) {
	ca := testpki.NewCA(t, "receiver CA")
	server := ca.Server(t)
	client := ca.Client(t, "webhook", time.Now().Add(30*24*time.Hour))
	srv := mtlsServer(t, ca, server)

	box, err := secretbox.New(bytes.Repeat([]byte{3}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{Box: box, Client: egress.NewClient(egress.Options{
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})}
	id := uuid.New()
	target := func(r db.Receiver) db.DeliveryTarget {
		var t db.DeliveryTarget
		t.WebhookID, t.Receiver = id, r
		return t
	}
	keyEnc, err := box.Seal([]byte(client.KeyPEM), db.ClientKeyAAD(id))
	if err != nil {
		t.Fatal(err)
	}

	// CA bundle only: the receiver is verified but refuses us.
	caOnly, err := a.clientFor(target(db.Receiver{CABundle: ca.PEM}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := caOnly.Get(srv.URL); err == nil {
		t.Fatal("the receiver accepted a request without a client certificate")
	}
	// No CA bundle: the system roots do not know the receiver.
	if _, err := a.Client.Get(srv.URL); err == nil {
		t.Fatal("the receiver's certificate was verified without the CA bundle")
	}
	full := target(db.Receiver{ClientCert: client.CertPEM, ClientKeyEnc: keyEnc, CABundle: ca.PEM})
	c, err := a.clientFor(full)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "CN=webhook" {
		t.Fatalf("answer %d %q", resp.StatusCode, body)
	}
	if again, _ := a.clientFor(full); again != c {
		t.Fatal("the same material built a new client")
	}
	if changed, _ := a.clientFor(target(db.Receiver{CABundle: ca.PEM})); changed == c {
		t.Fatal("changed material kept the old client")
	}
	// The SSRF guard stays: 127.0.0.1 is blocked without the allowance.
	guarded := &Activities{Box: box, Client: egress.NewClient(egress.Options{})}
	gc, err := guarded.clientFor(full)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gc.Get(srv.URL); err == nil || !isBlocked(err) {
		t.Fatalf("the guard let a TLS client reach 127.0.0.1: %v", err)
	}
}

func isBlocked(err error) bool { return errors.Is(err, egress.ErrBlockedAddress) }

func mtlsServer(t *testing.T, ca *testpki.CA, server testpki.Pair) *httptest.Server {
	t.Helper()
	pair, err := tls.X509KeyPair([]byte(server.CertPEM), []byte(server.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.String())
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
