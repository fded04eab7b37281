package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestIsBlocked(t *testing.T) {
	cases := []struct {
		addr    string
		blocked bool
	}{
		// loopback
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"::1", true},
		// unspecified / this network
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"::", true},
		// RFC 1918
		{"10.0.0.1", true},
		{"10.255.255.255", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		// link-local incl. cloud metadata
		{"169.254.169.254", true},
		{"169.254.0.1", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"febf::1", true},
		// CGNAT
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		// multicast
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"ff02::1", true},
		{"ff0e::1", true},
		// broadcast / reserved
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		// IPv6 unique local
		{"fc00::1", true},
		{"fd12:3456:789a::1", true},
		// benchmarking
		{"198.18.0.1", true},
		{"198.19.255.255", true},
		{"2001:2::1", true},
		// documentation
		{"192.0.2.1", true},
		{"198.51.100.7", true},
		{"203.0.113.9", true},
		{"2001:db8::1", true},
		{"3fff::1", true},
		// IETF protocol assignments, 6to4 relay anycast
		{"192.0.0.1", true},
		{"192.0.0.170", true},
		{"192.88.99.1", true},
		// IPv4-mapped IPv6 is judged as IPv4
		{"::ffff:127.0.0.1", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:8.8.8.8", false},
		// deprecated IPv4-compatible, site-local, discard-only, Teredo, ORCHID
		{"::127.0.0.1", true},
		{"::8.8.8.8", true},
		{"fec0::1", true},
		{"100::1", true},
		{"2001::1", true},
		{"2001:20::1", true},
		// NAT64 well-known prefix: judged by embedded IPv4
		{"64:ff9b::7f00:1", true},    // 127.0.0.1
		{"64:ff9b::a9fe:a9fe", true}, // 169.254.169.254
		{"64:ff9b::10.1.2.3", true},  // 10.1.2.3
		{"64:ff9b::808:808", false},  // 8.8.8.8
		{"64:ff9b:1::808:808", true}, // local-use NAT64: blocked outright
		// 6to4: judged by embedded IPv4
		{"2002:7f00:1::1", true},    // 127.0.0.1
		{"2002:a9fe:a9fe::1", true}, // 169.254.169.254
		{"2002:c0a8:101::1", true},  // 192.168.1.1
		{"2002:808:808::1", false},  // 8.8.8.8
		// public
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.215.14", false},
		{"100.63.255.255", false}, // just below CGNAT
		{"100.128.0.0", false},    // just above CGNAT
		{"172.15.255.255", false}, // just below 172.16/12
		{"172.32.0.0", false},     // just above 172.16/12
		{"198.20.0.0", false},     // just above benchmarking
		{"223.255.255.255", false},
		{"2606:4700::1111", false},
		{"2001:4860:4860::8888", false},
		{"2a00:1450:4001::1", false},
	}
	for _, tc := range cases {
		addr := netip.MustParseAddr(tc.addr)
		if got := IsBlocked(addr, nil); got != tc.blocked {
			t.Errorf("IsBlocked(%s, nil) = %v, want %v", tc.addr, got, tc.blocked)
		}
	}

	if !IsBlocked(netip.Addr{}, nil) {
		t.Error("zero netip.Addr must be blocked")
	}
}

func TestIsBlockedAllowList(t *testing.T) {
	allow := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("10.20.0.0/16"),
		netip.MustParsePrefix("fd00:1::/32"),
	}
	cases := []struct {
		addr    string
		blocked bool
	}{
		{"127.0.0.1", false},
		{"::ffff:127.0.0.1", false},
		{"64:ff9b::7f00:1", false}, // NAT64 of an allowed IPv4
		{"127.0.0.2", true},
		{"::1", true},
		{"10.20.3.4", false},
		{"10.21.0.1", true},
		{"fd00:1::5", false},
		{"fd00:2::5", true},
		{"169.254.169.254", true},
		{"8.8.8.8", false}, // allow never adds restrictions
	}
	for _, tc := range cases {
		if got := IsBlocked(netip.MustParseAddr(tc.addr), allow); got != tc.blocked {
			t.Errorf("IsBlocked(%s, allow) = %v, want %v", tc.addr, got, tc.blocked)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs(" 127.0.0.1, 10.0.0.0/8 ,::1,fd00::/8,10.1.2.3/16,::ffff:192.168.0.0/112,, ")
	if err != nil {
		t.Fatalf("ParseCIDRs: %v", err)
	}
	want := []string{"127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00::/8", "10.1.0.0/16", "192.168.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("[%d] = %s, want %s", i, got[i], want[i])
		}
	}

	for _, empty := range []string{"", "  ", ","} {
		got, err := ParseCIDRs(empty)
		if err != nil || got != nil {
			t.Errorf("ParseCIDRs(%q) = %v, %v; want nil, nil", empty, got, err)
		}
	}

	for _, bad := range []string{"foo", "10.0.0.0/33", "10.0.0.1,nope", "300.1.1.1", "::1/129", "example.com"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("ParseCIDRs(%q) succeeded, want error", bad)
		}
	}
}

func TestReadLimited(t *testing.T) {
	src := strings.NewReader("0123456789")
	got, err := ReadLimited(src, 4)
	if err != nil || string(got) != "0123" {
		t.Fatalf("ReadLimited = %q, %v; want %q", got, err, "0123")
	}
	// The rest must still be unread (no draining).
	if rest, _ := io.ReadAll(src); string(rest) != "456789" {
		t.Errorf("remaining = %q, want %q", rest, "456789")
	}

	got, err = ReadLimited(strings.NewReader("ab"), 10)
	if err != nil || string(got) != "ab" {
		t.Errorf("short input: %q, %v", got, err)
	}
	got, err = ReadLimited(strings.NewReader("ab"), 0)
	if err != nil || len(got) != 0 {
		t.Errorf("n=0: %q, %v", got, err)
	}

	boom := errors.New("boom")
	if _, err := ReadLimited(io.MultiReader(strings.NewReader("x"), errReader{boom}), 10); !errors.Is(err, boom) {
		t.Errorf("err = %v, want wrapping boom", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func loopbackAllow() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

func assertBlocked(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("request succeeded, want ErrBlockedAddress")
	}
	if !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("err = %v, want errors.Is ErrBlockedAddress", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("err %T is not a *url.Error", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Errorf("err does not contain a dial *net.OpError: %v", err)
	}
}

func TestClientBlocksLoopbackServer(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer srv.Close()

	resp, err := get(t, NewClient(Options{Timeout: 5 * time.Second}), srv.URL)
	if resp != nil {
		resp.Body.Close()
	}
	assertBlocked(t, err)
	if n := hits.Load(); n != 0 {
		t.Errorf("server was reached %d times", n)
	}
}

func TestClientBlocksLocalhostName(t *testing.T) {
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost")
	if err != nil || len(ips) == 0 {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	resp, err := get(t, NewClient(Options{Timeout: 5 * time.Second}), "http://localhost:"+port+"/")
	if resp != nil {
		resp.Body.Close()
	}
	assertBlocked(t, err)
}

func TestClientAllowsAllowListedLoopback(t *testing.T) {
	var gotUA atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUA.Store(r.UserAgent())
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()

	c := NewClient(Options{AllowCIDRs: loopbackAllow(), Timeout: 5 * time.Second, UserAgent: "esign-webhooks/1.0"})
	resp, err := get(t, c, srv.URL)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer resp.Body.Close()
	body, err := ReadLimited(resp.Body, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Errorf("got %d %q, want 200 ok", resp.StatusCode, body)
	}
	if ua, _ := gotUA.Load().(string); ua != "esign-webhooks/1.0" {
		t.Errorf("User-Agent = %q", ua)
	}

	// A caller-set User-Agent wins and the request is not mutated.
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("User-Agent", "custom")
	resp2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if ua, _ := gotUA.Load().(string); ua != "custom" {
		t.Errorf("User-Agent = %q, want custom", ua)
	}

	// Allowing 127.0.0.1 doesn't allow other loopback addresses.
	if err := checkDial("tcp4", "127.0.0.2:80", loopbackAllow()); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("checkDial 127.0.0.2 = %v, want ErrBlockedAddress", err)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var targetHits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := get(t, NewClient(Options{AllowCIDRs: loopbackAllow(), Timeout: 5 * time.Second}), srv.URL+"/start")
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status = %d, want 302", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "/target" {
		t.Errorf("Location = %q", loc)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("redirect target was hit %d times", n)
	}
}

func TestClientTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // client gave up
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()

	resp, err := get(t, NewClient(Options{AllowCIDRs: loopbackAllow(), Timeout: 200 * time.Millisecond}), srv.URL)
	if resp != nil {
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("request succeeded, want timeout")
	}
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Errorf("err = %v, want a timeout net.Error", err)
	}
	if !os.IsTimeout(err) {
		t.Errorf("os.IsTimeout(%v) = false", err)
	}
	if errors.Is(err, ErrBlockedAddress) {
		t.Errorf("timeout misreported as blocked: %v", err)
	}
}

func TestClientMaxResponseBytes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", 10_000))
	}))
	defer srv.Close()

	resp, err := get(t, NewClient(Options{AllowCIDRs: loopbackAllow(), Timeout: 5 * time.Second, MaxResponseBytes: 100}), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) != 100 {
		t.Errorf("read %d bytes, want 100", len(body))
	}
}

func TestTransportConfig(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://proxy.invalid:3128")
	t.Setenv("HTTPS_PROXY", "http://proxy.invalid:3128")

	for _, opts := range []Options{{}, {UserAgent: "x", MaxResponseBytes: 1}} {
		c := NewClient(opts)
		var tr *http.Transport
		switch rt := c.Transport.(type) {
		case *http.Transport:
			tr = rt
		case *roundTripper:
			tr = rt.base
		default:
			t.Fatalf("unexpected transport %T", c.Transport)
		}
		if tr.Proxy != nil {
			t.Error("Transport.Proxy must be nil")
		}
		if tr.DialContext == nil {
			t.Error("DialContext not set")
		}
		if !tr.ForceAttemptHTTP2 {
			t.Error("ForceAttemptHTTP2 not set")
		}
		if tr.MaxIdleConnsPerHost != 64 || tr.IdleConnTimeout != 90*time.Second || tr.TLSHandshakeTimeout <= 0 {
			t.Errorf("pool settings: perHost=%d idle=%v tls=%v", tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.TLSHandshakeTimeout)
		}
		if c.Timeout != DefaultTimeout {
			t.Errorf("Timeout = %v, want DefaultTimeout", c.Timeout)
		}
		if c.CheckRedirect == nil || !errors.Is(c.CheckRedirect(nil, nil), http.ErrUseLastResponse) {
			t.Error("CheckRedirect must return http.ErrUseLastResponse")
		}
		c.CloseIdleConnections() // must not panic through the wrapper
	}
	if c := NewClient(Options{Timeout: -1}); c.Timeout != 0 {
		t.Errorf("negative Timeout -> %v, want 0 (none)", c.Timeout)
	}
}

func TestCheckDialFailsClosed(t *testing.T) {
	for _, tc := range []struct{ network, address string }{
		{"udp4", "8.8.8.8:53"},
		{"tcp4", "not-an-address"},
		{"tcp4", "example.com:80"},
	} {
		if err := checkDial(tc.network, tc.address, nil); !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("checkDial(%q, %q) = %v, want ErrBlockedAddress", tc.network, tc.address, err)
		}
	}
	if err := checkDial("tcp6", "[2606:4700::1111]:443", nil); err != nil {
		t.Errorf("public IPv6: %v", err)
	}
	if err := checkDial("tcp6", "[fe80::1%eth0]:443", nil); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("zoned link-local: %v", err)
	}
}
