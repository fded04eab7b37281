// Package clientaddr finds a request's client address, the same way for
// the API (rate limits, the audit log) and the console (the audit log).
package clientaddr

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/labstack/echo/v4"
)

// Extractor finds the client address: the peer, or with trusted proxies
// the last address in X-Forwarded-For that is not one of them. Echo's
// default trusts the header from anyone, which would let a client pick a
// fresh address for every failed authentication.
func Extractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// Key is the client of address ip: the address, or its /64 for IPv6,
// where one client typically holds a whole /64.
func Key(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// Of is the client of r as Extractor(trusted) finds it, as a Key.
func Of(r *http.Request, trusted []netip.Prefix) string { return Key(Extractor(trusted)(r)) }
