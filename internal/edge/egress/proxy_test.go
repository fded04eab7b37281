package egress

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// connectProxy is a CONNECT-only forward proxy for tests: it records what
// it was asked and tunnels to the address the request names, or answers
// refuse instead when that is set.
type connectProxy struct {
	*httptest.Server
	refuse int
	stall  bool // accept and never answer

	mu      sync.Mutex
	conns   int
	methods []string
	targets []string
	auths   []string
}

func newConnectProxy(t *testing.T) *connectProxy {
	t.Helper()
	p := &connectProxy{}
	p.Server = httptest.NewUnstartedServer(p)
	p.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.mu.Lock()
			p.conns++
			p.mu.Unlock()
		}
	}
	p.Start()
	t.Cleanup(p.Close)
	return p
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.methods = append(p.methods, r.Method)
	p.targets = append(p.targets, r.RequestURI)
	p.auths = append(p.auths, r.Header.Get("Proxy-Authorization"))
	p.mu.Unlock()
	switch {
	case p.stall:
		// Hijacked, so the server's Close need not wait for it; it ends
		// when the client hangs up.
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
		return
	case r.Method != http.MethodConnect:
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	case p.refuse != 0:
		w.WriteHeader(p.refuse)
		return
	}
	up, err := net.Dial("tcp", r.RequestURI)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	down, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	_, _ = io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { _, _ = io.Copy(up, down); up.Close() }()
	_, _ = io.Copy(down, up)
	down.Close()
}

// seen is the number of connections, and the CONNECT targets and
// Proxy-Authorization values so far.
func (p *connectProxy) seen() (int, []string, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns, append([]string(nil), p.targets...), append([]string(nil), p.auths...)
}

func (p *connectProxy) url(userinfo string) string {
	return "http://" + userinfo + p.Listener.Addr().String()
}

// names is a resolver of fixed answers: a name's addresses are whatever
// the test says, whatever DNS would say.
func names(m map[string][]string) lookupFunc {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, s := range m[host] {
			out = append(out, netip.MustParseAddr(s))
		}
		if out == nil {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return out, nil
	}
}

func mustProxy(t *testing.T, s string) Proxy {
	t.Helper()
	p, err := ParseProxyURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func portOf(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// seenBy records the TLS server name and Host header of each request.
type seenBy struct {
	mu          sync.Mutex
	sni, host   []string
	remoteAddrs []string
}

func (s *seenBy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.TLS != nil {
		s.sni = append(s.sni, r.TLS.ServerName)
	}
	s.host = append(s.host, r.Host)
	s.remoteAddrs = append(s.remoteAddrs, r.RemoteAddr)
	fmt.Fprint(w, "ok")
}

func getOK(t *testing.T, c *http.Client, u string) {
	t.Helper()
	resp, err := get(t, c, u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("GET %s: %d %q", u, resp.StatusCode, body)
	}
}

func TestProxyConnectsByCheckedAddressKeepingSNIAndHost(t *testing.T) {
	rcv := &seenBy{}
	srv := httptest.NewTLSServer(rcv) // its certificate names example.com
	defer srv.Close()
	proxy := newConnectProxy(t)

	c := newClient(Options{AllowCIDRs: loopbackAllow(), Timeout: 5 * time.Second,
		Proxy: mustProxy(t, proxy.url("hook%40user:p%3Ass@"))},
		names(map[string][]string{"example.com": {"127.0.0.1"}}))
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c.Transport.(*http.Transport).TLSClientConfig.RootCAs = roots

	port := portOf(t, srv)
	getOK(t, c, "https://example.com:"+port+"/a")
	getOK(t, c, "https://example.com:"+port+"/b")

	conns, targets, auths := proxy.seen()
	if strings.Join(targets, " ") != "127.0.0.1:"+port {
		t.Errorf("CONNECT targets %v, want the checked address 127.0.0.1:%s once (the tunnel is reused)", targets, port)
	}
	if conns != 1 {
		t.Errorf("%d connections to the proxy, want 1", conns)
	}
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("hook@user:p:ss")); len(auths) != 1 || auths[0] != want {
		t.Errorf("Proxy-Authorization %q, want %q", auths, want)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if strings.Join(rcv.sni, " ") != "example.com example.com" {
		t.Errorf("SNI %v, want the URL's name", rcv.sni)
	}
	if strings.Join(rcv.host, " ") != "example.com:"+port+" example.com:"+port {
		t.Errorf("Host %v, want the URL's host", rcv.host)
	}
}

func TestProxyTunnelsPlainHTTPToo(t *testing.T) {
	rcv := &seenBy{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	proxy := newConnectProxy(t)

	// A name with a blocked address too: that one is dropped, not tried.
	c := newClient(Options{AllowCIDRs: loopbackAllow(), Proxy: mustProxy(t, proxy.url(""))},
		names(map[string][]string{"receiver.test": {"10.0.0.1", "127.0.0.1"}}))
	port := portOf(t, srv)
	getOK(t, c, "http://receiver.test:"+port+"/")

	_, targets, auths := proxy.seen()
	if strings.Join(targets, " ") != "127.0.0.1:"+port {
		t.Errorf("proxy was asked for %v, want CONNECT 127.0.0.1:%s only", targets, port)
	}
	if auths[0] != "" {
		t.Errorf("Proxy-Authorization %q sent without credentials", auths[0])
	}
	if rcv.host[0] != "receiver.test:"+port {
		t.Errorf("Host %q, want receiver.test:%s", rcv.host[0], port)
	}
}

func TestProxyRefusesBlockedDestinationsBeforeConnecting(t *testing.T) {
	srv := httptest.NewServer(&seenBy{})
	defer srv.Close()
	proxy := newConnectProxy(t)
	port := portOf(t, srv)
	lookup := names(map[string][]string{
		"internal.test": {"10.0.0.1", "169.254.169.254", "::1"},
		"rebind.test":   {"127.0.0.2"},
	})
	cases := []struct {
		name  string
		allow []netip.Prefix
		url   string
		why   string
	}{
		{"loopback literal", nil, srv.URL, "allowed: 127.0.0.1:" + port},
		{"name of internal addresses", nil, "https://internal.test/", "internal.test:443 resolves to [10.0.0.1 169.254.169.254 ::1]"},
		{"loopback outside the allowlist", loopbackAllow(), "http://127.0.0.2:" + port + "/", "allowed: 127.0.0.2:" + port},
		{"name of an address outside the allowlist", loopbackAllow(), "http://rebind.test:" + port + "/", "resolves to [127.0.0.2]"},
		// The allowlist covers the proxy, but the proxy is no destination.
		{"the proxy itself", loopbackAllow(), proxy.URL + "/", "is the proxy"},
		{"the proxy itself, mapped", loopbackAllow(), "http://[::ffff:127.0.0.1]:" + portOf(t, proxy.Server) + "/", "is the proxy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(Options{AllowCIDRs: tc.allow, Timeout: 5 * time.Second, Proxy: mustProxy(t, proxy.url("u:secret@"))}, lookup)
			resp, err := get(t, c, tc.url)
			if resp != nil {
				resp.Body.Close()
			}
			assertBlocked(t, err)
			if !strings.Contains(err.Error(), tc.why) || strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q: want %q in it and no credentials", err, tc.why)
			}
		})
	}
	if conns, targets, _ := proxy.seen(); conns != 0 {
		t.Errorf("the proxy got %d connections (%v), want none", conns, targets)
	}
}

func TestProxyRefusalIsAClearErrorWithoutCredentials(t *testing.T) {
	srv := httptest.NewServer(&seenBy{})
	defer srv.Close()
	for _, status := range []int{http.StatusProxyAuthRequired, http.StatusForbidden} {
		proxy := newConnectProxy(t)
		proxy.refuse = status
		c := newClient(Options{AllowCIDRs: loopbackAllow(), Timeout: 5 * time.Second,
			Proxy: mustProxy(t, proxy.url("hookuser:s3cret@"))}, names(nil))
		resp, err := get(t, c, srv.URL)
		if resp != nil {
			resp.Body.Close()
		}
		if !errors.Is(err, ErrProxyRefused) || errors.Is(err, ErrBlockedAddress) {
			t.Fatalf("err = %v, want ErrProxyRefused", err)
		}
		want := fmt.Sprintf("proxy refused CONNECT: %d %s", status, http.StatusText(status))
		if msg := err.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "s3cret") || strings.Contains(msg, "hookuser") {
			t.Errorf("error %q: want %q in it and no credentials", msg, want)
		}
	}
}

func TestProxyUnreachableOrStalled(t *testing.T) {
	srv := httptest.NewServer(&seenBy{})
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	c := newClient(Options{AllowCIDRs: loopbackAllow(), Timeout: 5 * time.Second,
		Proxy: mustProxy(t, "http://hookuser:s3cret@"+closed)}, names(nil))
	_, err = get(t, c, srv.URL)
	if err == nil || !strings.Contains(err.Error(), "dialling proxy "+closed) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v, want it to name the proxy and no credentials", err)
	}

	stalled := newConnectProxy(t)
	stalled.stall = true
	c = newClient(Options{AllowCIDRs: loopbackAllow(), Timeout: 300 * time.Millisecond,
		Proxy: mustProxy(t, stalled.url(""))}, names(nil))
	start := time.Now()
	_, err = get(t, c, srv.URL)
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Errorf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a stalled proxy held the request %s", d)
	}
}

func TestParseProxyURL(t *testing.T) {
	for _, s := range []string{"http://proxy.internal:3128", "http://u:p@10.0.0.5:3128/", "http://[::1]:8888"} {
		p, err := ParseProxyURL(s)
		if err != nil || !p.IsSet() {
			t.Errorf("ParseProxyURL(%q) = %v, %v", s, p, err)
		}
	}
	if p, err := ParseProxyURL(""); err != nil || p.IsSet() {
		t.Errorf(`ParseProxyURL("") = %v, %v; want the zero Proxy`, p, err)
	}
	for _, s := range []string{
		"https://u:s3cret@proxy:3128", "socks5://u:s3cret@proxy:1080", "http://u:s3cret@proxy",
		"http://u:s3cret@:3128", "http://u:s3cret@proxy:3128/path", "http://u:s3cret@proxy:3128?q=1",
		"http://u:s3cret@proxy:3128#f", "u:s3cret@proxy:3128", "http://u:s3cret@proxy:3128\n",
		"http://u:s3cret@proxy:31%28",
	} {
		_, err := ParseProxyURL(s)
		if err == nil {
			t.Errorf("ParseProxyURL(%q) accepted", s)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("ParseProxyURL error quotes the password: %v", err)
		}
	}
}

func TestProxyPrintsWithoutCredentials(t *testing.T) {
	p := mustProxy(t, "http://hookuser:s3cret@proxy.internal:3128")
	holder := struct{ Proxy Proxy }{p}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "proxy", p, "holder", holder)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "proxy", p, "holder", holder)
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", p, p, p, p, holder, holder, holder) + logs.String()
	if strings.Contains(out, "s3cret") || strings.Contains(out, "hookuser") {
		t.Errorf("credentials printed: %s", out)
	}
	if p.String() != "http://***@proxy.internal:3128" || p.Addr() != "proxy.internal:3128" {
		t.Errorf("String %q, Addr %q", p, p.Addr())
	}
}
