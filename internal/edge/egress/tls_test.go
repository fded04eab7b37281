package egress

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/clienttls/testpki"
)

// WithTLS keeps what NewClient built around the transport: through the
// proxy, by the checked address, with the client certificate presented
// and the receiver verified by the private CA; a blocked name stays
// blocked.
func TestWithTLSKeepsTheProxyAndTheGuard(t *testing.T) {
	ca := testpki.NewCA(t, "receiver CA")
	server, client := ca.Server(t), ca.Client(t, "webhook", time.Now().Add(24*time.Hour))
	pair, err := tls.X509KeyPair([]byte(server.CertPEM), []byte(server.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "webhook" {
			http.Error(w, "no client certificate", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	proxy := newConnectProxy(t)

	base := newClient(Options{AllowCIDRs: loopbackAllow(), Timeout: 5 * time.Second, UserAgent: "esign-test",
		Proxy: mustProxy(t, proxy.url(""))},
		names(map[string][]string{"localhost": {"127.0.0.1"}, "internal.example": {"10.0.0.7"}}))
	cfg, err := clienttls.Config(client.CertPEM, client.KeyPEM, ca.PEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := WithTLS(base, cfg)
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(t, srv)
	getOK(t, c, "https://localhost:"+port+"/a")
	if _, targets, _ := proxy.seen(); strings.Join(targets, " ") != "127.0.0.1:"+port {
		t.Errorf("CONNECT targets %v: the TLS client did not go through the proxy by the checked address", targets)
	}
	if _, err := get(t, base, "https://localhost:"+port+"/b"); err == nil {
		t.Error("the base client, without the CA bundle, verified the receiver")
	}
	if _, err := get(t, c, "https://internal.example:"+port+"/c"); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("a blocked destination through the TLS client: %v", err)
	}
}
