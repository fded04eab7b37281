package api_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
)

// tcpProxy forwards connections to an upstream address until cut: then it
// closes every connection and its listener (new ones are refused), as when
// PostgreSQL goes down; restore listens again on the same address.
type tcpProxy struct {
	t        *testing.T
	addr     string
	upstream string
	mu       sync.Mutex
	ln       net.Listener
	conns    []net.Conn
}

func newTCPProxy(t *testing.T, upstream string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, upstream: upstream}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) restore() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("listening again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// proxiedStore is a store on a fresh database reached through a proxy.
func proxiedStore(t *testing.T) (*db.Store, *tcpProxy) {
	t.Helper()
	u, err := url.Parse(dbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newTCPProxy(t, u.Host)
	u.Host = p.addr
	store, err := db.Open(context.Background(), u.String(), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store, p
}

// TestPostgresOutage: with PostgreSQL unreachable every route, the
// authentication included, answers 503 service_unavailable with
// Retry-After (it was a 500 "dial tcp … connection refused"); /readyz says
// so; after the database is back, the same requests succeed at once.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	store, proxy := proxiedStore(t)
	e := newEnvOn(t, store, nil)
	_, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	event := map[string]any{"type": "ENVELOPE_START", "triggerSource": "saas_page", "data": map[string]any{"envelopeId": "env-1", "envelopeStatus": 1}}
	requests := []struct {
		method, path string
		body         any
		ok           int
	}{
		{"POST", "/v1/events", event, 202},
		{"GET", "/v1/webhooks", nil, 200},
		{"GET", "/v1/webhooks/" + hook, nil, 200},
		{"POST", "/v1/webhooks", validWebhook("second"), 201},
		{"GET", "/v1/deliveries", nil, 200},
		{"GET", "/v1/api-keys", nil, 200},
	}

	proxy.cut()
	for _, rq := range requests {
		r := e.do(rq.method, rq.path, key, rq.body)
		if r.Status != 503 || r.code() != "service_unavailable" {
			t.Errorf("%s %s during the outage: got %d %s", rq.method, rq.path, r.Status, r.Raw)
			continue
		}
		r.wantErrorShape(t)
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", rq.method, rq.path)
		}
	}
	// An unknown key during the outage: still 503, as the key cannot be checked.
	e.do("GET", "/v1/webhooks", "ewk_unknown", nil).want(t, 503, "service_unavailable")
	r := e.do("GET", "/readyz", "", nil)
	if r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Errorf("/readyz during the outage: %d %s (Retry-After %q)", r.Status, r.Raw, r.Header.Get("Retry-After"))
	}

	proxy.restore()
	// No waiting: the pool's dead connections are replaced on first use.
	e.do("GET", "/readyz", "", nil).want(t, 200, "")
	for _, rq := range requests {
		if r := e.do(rq.method, rq.path, key, rq.body); r.Status != rq.ok {
			t.Errorf("%s %s after the outage: got %d %s", rq.method, rq.path, r.Status, r.Raw)
		}
	}
}
