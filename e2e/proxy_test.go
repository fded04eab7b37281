package e2e_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
)

// proxyURL is PROXY_URL, the tinyproxy that `make test` starts (see
// start_proxy in scripts/stack.sh: it requires Basic auth and connects out
// from 127.0.0.2); the test is skipped without it.
func proxyURL(t *testing.T) *url.URL {
	t.Helper()
	s := os.Getenv("PROXY_URL")
	if s == "" {
		t.Skip("PROXY_URL is not set: run `make test`, which starts tinyproxy (start_proxy in scripts/stack.sh)")
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		t.Fatal("PROXY_URL must be http://user:pass@host:port")
	}
	return u
}

// proxyLog is what the proxy logged so far ("" when PROXY_LOG is unset).
func proxyLog(t *testing.T) string {
	t.Helper()
	path := os.Getenv("PROXY_LOG")
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tlsReceiver is an HTTPS webhook endpoint on 127.0.0.1 with a certificate
// for localhost, recording who connected and what name they asked for.
type tlsReceiver struct {
	*httptest.Server
	caFile string // its certificate, for the worker's SSL_CERT_FILE

	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct{ remoteIP, sni, host string }

func newTLSReceiver(t *testing.T) *tlsReceiver {
	t.Helper()
	cert, certPEM := selfSigned(t, "localhost")
	r := &tlsReceiver{caFile: filepath.Join(t.TempDir(), "receiver-ca.pem")}
	if err := os.WriteFile(r.caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	r.StartTLS()
	t.Cleanup(r.Close)
	return r
}

func (r *tlsReceiver) serve(w http.ResponseWriter, req *http.Request) {
	ip, _, _ := net.SplitHostPort(req.RemoteAddr)
	r.mu.Lock()
	r.seen = append(r.seen, seenRequest{remoteIP: ip, sni: req.TLS.ServerName, host: req.Host})
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *tlsReceiver) requests() []seenRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seenRequest(nil), r.seen...)
}

func (r *tlsReceiver) port() string {
	_, port, _ := net.SplitHostPort(r.Listener.Addr().String())
	return port
}

// selfSigned is a certificate for name and 127.0.0.1 that is its own CA.
func selfSigned(t *testing.T, name string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// startProxiedWorker runs the real webhookd worker with proxy as
// DELIVERY_PROXY_URL, trusting rcv's certificate (SSL_CERT_FILE: no test
// hook in the product), allowed to reach 127.0.0.1 only.
func startProxiedWorker(e *e2etest.Env, proxy *url.URL, rcv *tlsReceiver) *e2etest.Process {
	return e.StartProcess("worker",
		"DELIVERY_PROXY_URL="+proxy.String(),
		"SSL_CERT_FILE="+rcv.caFile,
		"EGRESS_ALLOW_CIDRS=127.0.0.1/32",
		"DELIVERY_TIMEOUT=5s",
		"DELIVERY_RETRY_SCHEDULE=100ms",
		"LOG_LEVEL=info")
}

// TestDeliveryThroughProxy: with DELIVERY_PROXY_URL set, a delivery to an
// HTTPS receiver named by a host name goes through the proxy, which is
// asked to CONNECT to the address the worker checked; the receiver sees
// the proxy's connection, with the name kept for TLS and Host. Blocked
// addresses, and the proxy itself as a destination, are refused without
// a word to the proxy.
func TestDeliveryThroughProxy(t *testing.T) {
	t.Parallel()
	proxy := proxyURL(t)
	e := e2etest.New(t, e2etest.Options{NoWorker: true})
	rcv := newTLSReceiver(t)
	worker := startProxiedWorker(e, proxy, rcv)
	_, key := e.Account("professional")
	ok, _ := e.CreateWebhook(key, e2etest.Webhook{URL: "https://localhost:" + rcv.port() + "/hook"})
	// The API allows 127.0.0.0/8; the worker only 127.0.0.1.
	blocked, _ := e.CreateWebhook(key, e2etest.Webhook{URL: "https://127.0.0.9:" + rcv.port() + "/hook"})
	toProxy, _ := e.CreateWebhook(key, e2etest.Webhook{URL: "http://" + proxy.Host + "/hook"})

	p := e.Publish(key, e2etest.Event{})
	e.Result(p.WorkflowID)
	ds := e.EventDeliveries(key, p.EventID)
	delivery := func(hook string) e2etest.Delivery { return e.Delivery(key, ds[hook].ID) } // with its attempts

	// The log names the proxy (never its credentials) on each attempt;
	// no client certificate was presented.
	if d := delivery(ok); d.Status != "succeeded" || len(d.Attempts) != 1 || d.Attempts[0].Proxy != proxy.Host ||
		d.Attempts[0].ClientCertificateSHA256 != "" {
		t.Fatalf("delivery through the proxy: %+v", d)
	}
	reqs := rcv.requests()
	want := seenRequest{remoteIP: "127.0.0.2", sni: "localhost", host: "localhost:" + rcv.port()}
	if len(reqs) != 1 || reqs[0] != want {
		t.Fatalf("receiver saw %+v, want %+v (127.0.0.2: the address start_proxy's tinyproxy connects from)", reqs, want)
	}
	for _, id := range []string{blocked, toProxy} {
		d := delivery(id)
		if d.Status != "failed" || len(d.Attempts) != 1 || !strings.Contains(d.Attempts[0].Error, "non-public address") ||
			d.Attempts[0].Proxy != proxy.Host {
			t.Errorf("delivery to a blocked address: %+v", d)
		}
	}
	if log := proxyLog(t); log != "" {
		_, proxyPort, _ := net.SplitHostPort(proxy.Host)
		if !strings.Contains(log, "CONNECT 127.0.0.1:"+rcv.port()+" ") {
			t.Errorf("the proxy was not asked to CONNECT to the checked address 127.0.0.1:%s", rcv.port())
		}
		if strings.Contains(log, "CONNECT 127.0.0.9:"+rcv.port()) || strings.Contains(log, "CONNECT 127.0.0.1:"+proxyPort) {
			t.Error("a blocked destination reached the proxy")
		}
	}
	pass, _ := proxy.User.Password()
	if logs := worker.Logs(); !strings.Contains(logs, "forward proxy") || strings.Contains(logs, pass) {
		t.Errorf("worker logs: want the proxy named without its password:\n%s", logs)
	}
}

// TestProxyAuthFailureFailsTheAttempt: wrong proxy credentials are an
// attempt failure that says the proxy refused, without the credentials.
func TestProxyAuthFailureFailsTheAttempt(t *testing.T) {
	t.Parallel()
	proxy := proxyURL(t)
	wrong := *proxy
	wrong.User = url.UserPassword(proxy.User.Username(), "not-the-password")
	e := e2etest.New(t, e2etest.Options{NoWorker: true})
	rcv := newTLSReceiver(t)
	startProxiedWorker(e, &wrong, rcv)
	_, key := e.Account("professional")
	e.CreateWebhook(key, e2etest.Webhook{URL: "https://localhost:" + rcv.port() + "/hook"})

	p := e.Publish(key, e2etest.Event{})
	id, status := only(t, e, p.WorkflowID)
	d := e.Delivery(key, id)
	if status != "failed" || len(d.Attempts) != 2 {
		t.Fatalf("status %s, delivery %+v", status, d)
	}
	for _, a := range d.Attempts {
		// tinyproxy answers a CONNECT without valid credentials with 401,
		// others with 407.
		if !strings.Contains(a.Error, "proxy refused CONNECT: 40") || strings.Contains(a.Error, "not-the-password") {
			t.Errorf("attempt error %q: want the proxy's refusal, without credentials", a.Error)
		}
	}
	if n := len(rcv.requests()); n != 0 {
		t.Fatalf("receiver got %d requests", n)
	}
}
