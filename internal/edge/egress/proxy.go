package egress

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// ErrProxyRefused is wrapped by the dial error when the forward proxy
// answers CONNECT with anything but 200.
var ErrProxyRefused = errors.New("proxy refused CONNECT")

// Proxy is a forward proxy that deliveries go through with HTTP CONNECT,
// so receivers see the proxy's address. The zero Proxy means direct.
//
// Its credentials are secrets: String, GoString and LogValue leave them
// out, so printing or logging a Proxy (or a struct holding one) is safe.
type Proxy struct {
	addr string        // host:port, dialled directly
	user *url.Userinfo // nil: no Proxy-Authorization
}

// ParseProxyURL parses http://[user:pass@]host:port; "" is the zero Proxy.
// Its errors never quote the URL, which may hold a password.
func ParseProxyURL(s string) (Proxy, error) {
	if s == "" {
		return Proxy{}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the whole URL: drop it.
		return Proxy{}, errors.New("not a URL; want http://[user:pass@]host:port")
	}
	switch {
	case u.Scheme != "http":
		return Proxy{}, fmt.Errorf("scheme %q is not supported; want http://[user:pass@]host:port", u.Scheme)
	case u.Hostname() == "" || u.Port() == "":
		return Proxy{}, errors.New("host and port are required; want http://[user:pass@]host:port")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return Proxy{}, errors.New("a path, query or fragment is not allowed; want http://[user:pass@]host:port")
	}
	return Proxy{addr: u.Host, user: u.User}, nil
}

// IsSet reports whether p names a proxy.
func (p Proxy) IsSet() bool { return p.addr != "" }

// Addr is the proxy's host:port.
func (p Proxy) Addr() string { return p.addr }

// String is the proxy URL with any credentials replaced by ***.
func (p Proxy) String() string {
	switch {
	case !p.IsSet():
		return ""
	case p.user != nil:
		return "http://***@" + p.addr
	}
	return "http://" + p.addr
}

// GoString keeps %#v from printing the credentials.
func (p Proxy) GoString() string { return "egress.Proxy(" + p.String() + ")" }

// LogValue keeps slog from printing the credentials.
func (p Proxy) LogValue() slog.Value { return slog.StringValue(p.String()) }

// authorization is the Proxy-Authorization value, "" without credentials.
func (p Proxy) authorization() string {
	if p.user == nil {
		return ""
	}
	pass, _ := p.user.Password()
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user.Username()+":"+pass))
}

// lookupFunc resolves a host name to its addresses (the resolver's
// LookupNetIP; tests put in their own).
type lookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// proxyDialer is the transport's DialContext when a proxy is set. The
// address check cannot run in Dialer.Control here (the socket goes to the
// proxy), so it resolves the receiver's host itself, checks each address
// and has the proxy connect to a checked address: the proxy never resolves
// the name, so DNS rebinding cannot steer it elsewhere. TLS and the Host
// header still use the name, as the transport builds them from the URL.
type proxyDialer struct {
	proxy  Proxy
	allow  []netip.Prefix
	lookup lookupFunc
	dialer *net.Dialer // no Control hook: the operator chose the proxy, which may be private
}

// DialContext returns a tunnel through the proxy to addr (host:port).
func (d *proxyDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	targets, err := d.targets(ctx, network, addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var first error
	// In order, as net.Dialer tries a name's addresses.
	for _, t := range targets {
		c, err := d.tunnel(ctx, t)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(t), Err: err}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// targets resolves addr and keeps the addresses a delivery may reach,
// dropping blocked ones as the direct dialer's Control hook would; none
// left is ErrBlockedAddress.
func (d *proxyDialer) targets(ctx context.Context, network, addr string) ([]netip.AddrPort, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("%w: network %q", ErrBlockedAddress, network)
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBlockedAddress, err)
	}
	ips, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	proxies := d.proxyAddrs(ctx)
	var out []netip.AddrPort
	isProxy := false
	for _, ip := range ips {
		ap := netip.AddrPortFrom(ip.WithZone("").Unmap(), port)
		switch {
		case IsBlocked(ip, d.allow):
		case proxies[ap]:
			// The proxy is no destination, even where the allowlist covers
			// it: a tunnel to itself would hand it requests it never expected.
			isProxy = true
		default:
			out = append(out, ap)
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case isProxy:
		return nil, fmt.Errorf("%w: %s is the proxy", ErrBlockedAddress, addr)
	case len(ips) == 1 && ips[0].String() == host: // an IP literal
		return nil, fmt.Errorf("%w: %s", ErrBlockedAddress, addr)
	}
	return nil, fmt.Errorf("%w: %s resolves to %v", ErrBlockedAddress, addr, ips)
}

// resolve is host's addresses; an IP literal is its own.
func (d *proxyDialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	ips, err := d.lookup(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return ips, nil
}

// proxyAddrs is the set of the proxy's own addresses (empty when its name
// does not resolve: dialling it then fails anyway).
func (d *proxyDialer) proxyAddrs(ctx context.Context) map[netip.AddrPort]bool {
	out := map[netip.AddrPort]bool{}
	host, port, err := splitHostPort(d.proxy.addr)
	if err != nil {
		return out
	}
	ips, _ := d.resolve(ctx, host)
	for _, ip := range ips {
		out[netip.AddrPortFrom(ip.WithZone("").Unmap(), port)] = true
	}
	return out
}

// splitHostPort splits host:port, the port numeric or a service name.
func splitHostPort(addr string) (string, uint16, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("unparsable address %q: %w", addr, err)
	}
	port, err := net.LookupPort("tcp", portStr)
	if err != nil {
		return "", 0, fmt.Errorf("port of %q: %w", addr, err)
	}
	return host, uint16(port), nil
}

// tunnel dials the proxy and asks it to CONNECT to target.
func (d *proxyDialer) tunnel(ctx context.Context, target netip.AddrPort) (net.Conn, error) {
	conn, err := d.dialer.DialContext(ctx, "tcp", d.proxy.addr)
	if err != nil {
		return nil, fmt.Errorf("dialling proxy %s: %w", d.proxy.addr, err)
	}
	c, err := d.connect(ctx, conn, target)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// connect sends CONNECT target on conn and reads the proxy's answer,
// within ctx: a stalled proxy is an attempt timeout like a stalled receiver.
func (d *proxyDialer) connect(ctx context.Context, conn net.Conn, target netip.AddrPort) (net.Conn, error) {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: target.String()},
		Host:   target.String(),
		Header: http.Header{},
	}
	if auth := d.proxy.authorization(); auth != "" {
		req.Header.Set("Proxy-Authorization", auth)
	}
	if err := req.Write(conn); err != nil {
		return nil, d.ctxErr(ctx, fmt.Errorf("writing CONNECT to proxy %s: %w", d.proxy.addr, err))
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, d.ctxErr(ctx, fmt.Errorf("reading CONNECT answer of proxy %s: %w", d.proxy.addr, err))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s (proxy %s, target %s)", ErrProxyRefused, resp.Status, d.proxy.addr, target)
	}
	if !stop() {
		return nil, ctx.Err()
	}
	return &bufferedConn{Conn: conn, r: br}, nil
}

// ctxErr prefers the context's error: a deadline that cut the exchange
// short is a timeout, not a proxy fault.
func (d *proxyDialer) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// bufferedConn reads what the proxy sent after its answer (already in the
// bufio.Reader) before the rest of the stream.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r.Buffered() > 0 {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}
