// Package egress provides the outbound HTTP client used to deliver webhooks
// to customer-supplied URLs without letting those URLs reach internal
// services (SSRF).
//
// The address check runs in net.Dialer.Control, i.e. on the IP the socket is
// actually connecting to, after DNS resolution. Validating the URL's host
// beforehand is not enough: a hostname can resolve to a public IP at check
// time and to 127.0.0.1 or 169.254.169.254 at connect time (DNS rebinding).
package egress

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

const (
	// DefaultTimeout applies when Options.Timeout is zero; a webhook sender
	// must never wait forever on a customer endpoint.
	DefaultTimeout = 30 * time.Second

	dialTimeout           = 10 * time.Second
	keepAlive             = 30 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	idleConnTimeout       = 90 * time.Second
	expectContinueTimeout = 1 * time.Second
	maxIdleConns          = 1024
	maxIdleConnsPerHost   = 64
	maxResponseHeaderSize = 64 << 10
)

// ErrBlockedAddress is wrapped by the dial error when the destination IP is
// in a blocked range. It survives *url.Error and *net.OpError, so
// errors.Is(err, ErrBlockedAddress) works on the error from client.Do.
var ErrBlockedAddress = errors.New("egress: destination address is not allowed")

// Options configures NewClient.
type Options struct {
	// AllowCIDRs punches holes in the block list (e.g. 127.0.0.1/32 for
	// local development, or a VPC range for an on-prem customer). It never
	// adds restrictions.
	AllowCIDRs []netip.Prefix
	// Timeout bounds the whole request including reading the body.
	// Zero means DefaultTimeout; negative means no timeout.
	Timeout time.Duration
	// MaxResponseBytes, if > 0, truncates every response body to this many
	// bytes (reads past it return io.EOF) so a hostile endpoint cannot make
	// us read unbounded data even if the caller forgets ReadLimited.
	MaxResponseBytes int64
	// UserAgent, if set, is sent on requests that don't set their own.
	UserAgent string
	// Proxy, if set, carries every request (http and https alike) through
	// an HTTP CONNECT tunnel, so receivers see the proxy's address.
	Proxy Proxy
}

// NewClient returns an http.Client that refuses to connect to blocked
// addresses, never uses a proxy from the environment (only opts.Proxy) and
// never follows redirects (the 3xx response is returned as is).
func NewClient(opts Options) *http.Client {
	return newClient(opts, net.DefaultResolver.LookupNetIP)
}

// newClient is NewClient with the resolver the proxy dialer uses.
func newClient(opts Options, lookup lookupFunc) *http.Client {
	// Copy so that later mutation of the caller's slice can't change policy.
	allow := append([]netip.Prefix(nil), opts.AllowCIDRs...)

	dialer := &net.Dialer{
		Timeout:   dialTimeout,
		KeepAlive: keepAlive,
		Control: func(network, address string, _ syscall.RawConn) error {
			return checkDial(network, address, allow)
		},
	}
	dial := dialer.DialContext
	if opts.Proxy.IsSet() {
		pd := &proxyDialer{proxy: opts.Proxy, allow: allow, lookup: lookup,
			dialer: &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}}
		dial = pd.DialContext
	}

	transport := &http.Transport{
		// Never Transport.Proxy: it would have the proxy resolve the host
		// (and so pick the address, past our check), and env proxies are
		// ambient config we don't want deliveries to depend on. A
		// configured proxy is reached by dial instead.
		Proxy:                  nil,
		DialContext:            dial,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		MaxIdleConns:           maxIdleConns,
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		IdleConnTimeout:        idleConnTimeout,
		ExpectContinueTimeout:  expectContinueTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderSize,
	}

	timeout := opts.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = 0
	}

	var rt http.RoundTripper = transport
	if opts.UserAgent != "" || opts.MaxResponseBytes > 0 {
		rt = &roundTripper{base: transport, userAgent: opts.UserAgent, maxBody: opts.MaxResponseBytes}
	}

	return &http.Client{
		Transport: rt,
		Timeout:   timeout,
		// Following a redirect would let an allowed endpoint bounce us to
		// an arbitrary URL; callers see the 3xx and treat it as they wish.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// checkDial is the Dialer.Control hook. It fails closed on anything it does
// not understand.
func checkDial(network, address string, allow []netip.Prefix) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %q", ErrBlockedAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address %q: %w", ErrBlockedAddress, address, err)
	}
	if IsBlocked(ap.Addr(), allow) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ap)
	}
	return nil
}

// roundTripper adds a default User-Agent and caps response bodies.
type roundTripper struct {
	base      *http.Transport
	userAgent string
	maxBody   int64
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt.userAgent != "" && req.Header.Get("User-Agent") == "" {
		// RoundTrippers must not modify the caller's request.
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", rt.userAgent)
	}
	resp, err := rt.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if rt.maxBody > 0 && resp.Body != nil {
		resp.Body = &limitedBody{r: io.LimitReader(resp.Body, rt.maxBody), c: resp.Body}
	}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (rt *roundTripper) CloseIdleConnections() { rt.base.CloseIdleConnections() }

type limitedBody struct {
	r io.Reader
	c io.Closer
}

func (b *limitedBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *limitedBody) Close() error               { return b.c.Close() }

// IsBlocked reports whether connecting to addr is forbidden, unless addr is
// inside one of the allow prefixes. Zones are ignored and IPv4-mapped IPv6
// addresses (::ffff:a.b.c.d) are judged as their IPv4 address.
//
// Blocked: loopback, unspecified, RFC 1918, link-local (incl. cloud metadata
// 169.254.169.254), CGNAT, multicast, broadcast/reserved 240/4, benchmarking,
// documentation, 192.0.0.0/24, 6to4 relay anycast, and for IPv6 everything
// outside global unicast 2000::/3 (::1, ::, fc00::/7, fe80::/10, ff00::/8,
// deprecated site-local, IPv4-compatible ::/96, discard 100::/64, ...) plus
// Teredo, ORCHID, benchmarking and documentation ranges inside it.
//
// Embedded IPv4: NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are
// judged by the IPv4 address they embed, so NAT64 still reaches public IPv4
// hosts but 64:ff9b::7f00:1 is treated as 127.0.0.1. Teredo (2001::/32) and
// local-use NAT64 (64:ff9b:1::/48) are blocked outright.
func IsBlocked(addr netip.Addr, allow []netip.Prefix) bool {
	if !addr.IsValid() {
		return true
	}
	// Prefix.Contains is always false for zoned addresses; drop the zone
	// so fe80::1%eth0 is still recognised as link-local.
	addr = addr.WithZone("").Unmap()

	for _, p := range allow {
		if p.Contains(addr) {
			return false
		}
	}

	if addr.Is6() {
		b := addr.As16()
		if prefix("64:ff9b::/96").Contains(addr) {
			return IsBlocked(netip.AddrFrom4([4]byte(b[12:16])), allow)
		}
		if prefix("2002::/16").Contains(addr) {
			return IsBlocked(netip.AddrFrom4([4]byte(b[2:6])), allow)
		}
		if !prefix("2000::/3").Contains(addr) {
			return true
		}
	}

	for _, s := range blockedRanges() {
		if prefix(s).Contains(addr) {
			return true
		}
	}
	return false
}

// blockedRanges lists the denied prefixes (IPv6 ones are only those inside
// 2000::/3; the rest of IPv6 is denied by IsBlocked). A function rather than
// a package variable to keep the package free of mutable globals.
func blockedRanges() []string {
	return []string{
		"0.0.0.0/8",       // "this network", incl. unspecified 0.0.0.0
		"10.0.0.0/8",      // RFC 1918
		"100.64.0.0/10",   // CGNAT shared address space
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata 169.254.169.254
		"172.16.0.0/12",   // RFC 1918
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
		"192.168.0.0/16",  // RFC 1918
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, incl. broadcast 255.255.255.255

		"2001::/32",     // Teredo
		"2001:2::/48",   // benchmarking
		"2001:10::/28",  // ORCHID (deprecated)
		"2001:20::/28",  // ORCHIDv2
		"2001:db8::/32", // documentation
		"3fff::/20",     // documentation (RFC 9637)
	}
}

// prefix parses a constant prefix from this file; the table test exercises
// every entry, so a typo fails tests rather than production.
func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// ParseCIDRs parses a comma-separated list of CIDR prefixes or bare IPs
// (taken as /32 or /128). Whitespace and empty items are ignored; an empty
// string yields nil. IPv4-mapped entries are converted to plain IPv4 so
// they match the unmapped addresses IsBlocked compares against.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(item, "/") {
			var err error
			if p, err = netip.ParsePrefix(item); err != nil {
				return nil, fmt.Errorf("parsing CIDR %q: %w", item, err)
			}
		} else {
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("parsing IP %q: %w", item, err)
			}
			a = a.WithZone("")
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ReadLimited reads at most n bytes from r and stops there: it neither
// errors on nor drains the remainder (closing the body afterwards simply
// drops the connection instead of reusing it). n <= 0 reads nothing.
func ReadLimited(r io.Reader, n int64) ([]byte, error) {
	if n <= 0 {
		return []byte{}, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		return b, fmt.Errorf("reading limited body: %w", err)
	}
	return b, nil
}

var _ http.RoundTripper = (*roundTripper)(nil) // compile-time check

// WithTLS returns a client like c, which NewClient made, whose TLS
// handshakes use cfg (a webhook's client certificate and CA roots): the
// transport is cloned, so the SSRF dial guard and the proxy dialer stay
// in use, and c is left as it is. The new client has its own connection
// pool: a connection made with one certificate is never reused for
// another webhook.
func WithTLS(c *http.Client, cfg *tls.Config) (*http.Client, error) {
	out := *c
	switch rt := c.Transport.(type) {
	case *http.Transport:
		t := rt.Clone()
		t.TLSClientConfig = cfg
		out.Transport = t
	case *roundTripper:
		t := rt.base.Clone()
		t.TLSClientConfig = cfg
		out.Transport = &roundTripper{base: t, userAgent: rt.userAgent, maxBody: rt.maxBody}
	default:
		return nil, fmt.Errorf("egress: a client with a %T transport cannot take TLS options", c.Transport)
	}
	return &out, nil
}
