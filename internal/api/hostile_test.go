package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHostileBodies: one 200 KB body of 100,000 nested arrays once grew the
// process from 33 MB to 9.8 GB before it was refused. Twenty such bodies at
// once, at and over the size limit, on the publish and a management route,
// now leave the heap within a fixed bound, each gets a JSON 4xx, and
// /healthz answers every call meanwhile. Not parallel: the heap measured
// is this test process's, and the server runs in it.
func TestHostileBodies(t *testing.T) {
	e := newEnv(t, nil)
	_, key := e.account("professional")
	under := int(e.cfg.MaxBodyBytes) - 100
	bodies := []struct {
		path string
		body []byte
		want []string
	}{
		{"/v1/events", nested(`{"type":"ENVELOPE_START","triggerSource":"saas_page","data":`, under), []string{"json_limit_exceeded"}},
		{"/v1/events", nested(`{"type":"ENVELOPE_START","triggerSource":"saas_page","data":`, 1<<20), []string{"payload_too_large"}},
		{"/v1/webhooks", nested(`{"name":`, under), []string{"json_limit_exceeded"}},
		{"/v1/events", []byte(`{"data":` + strings.Repeat(`{"a":`, under/5)), []string{"json_limit_exceeded"}},
	}
	base := heapBytes()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() { // the heap's high-water mark while the bodies are parsed
		defer sampler.Done()
		for {
			peak.Store(max(peak.Load(), heapBytes()))
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	health := make(chan [2]int)
	go func() { health <- pollHealth(e.srv.URL, stop) }()

	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := range 20 {
		b := bodies[i%len(bodies)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, code, err := rawPost(e.srv.Listener.Addr().String(), b.path, key, b.body)
			if err != nil || status < 400 || status > 499 || !contains(b.want, code) {
				errs <- fmt.Sprintf("%s (%d bytes): %d %q %v, want 4xx %v", b.path, len(b.body), status, code, err, b.want)
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	h := <-health
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	// 20 bodies of at most 300 KB are read whole: 6 MB. Scanning them
	// costs a small multiple of that; 9.8 GB per body was the bug.
	const bound = 128 << 20
	if grew := int64(peak.Load()) - int64(base); grew > bound {
		t.Errorf("heap grew by %d MB (from %d MB), bound %d MB", grew>>20, base>>20, bound>>20)
	}
	t.Logf("heap %d MB before, peak %d MB; /healthz answered %d of %d calls", base>>20, peak.Load()>>20, h[0], h[1])
	if h[1] == 0 || h[0] != h[1] {
		t.Errorf("/healthz answered %d of %d calls while the bodies were parsed", h[0], h[1])
	}
	if n := e.countWebhooks(); n != 0 {
		t.Errorf("%d webhooks created by hostile bodies", n)
	}
}

// nested is prefix followed by '[' up to n bytes: a maximally nested body.
func nested(prefix string, n int) []byte {
	return append([]byte(prefix), bytes.Repeat([]byte("["), n-len(prefix))...)
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// pollHealth calls /healthz one after another until stop: answered and
// sent calls. At least one call is made.
func pollHealth(base string, stop <-chan struct{}) [2]int {
	c := &http.Client{Timeout: 30 * time.Second}
	var n [2]int
	for {
		n[1]++
		if r, err := c.Get(base + "/healthz"); err == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			_ = r.Body.Close()
			if r.StatusCode == 200 {
				n[0]++
			}
		}
		select {
		case <-stop:
			return n
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// rawPost sends body over its own connection, reading the answer while it
// writes: the server may answer (413) before the body is all sent.
func rawPost(addr, path, key string, body []byte) (status int, code string, err error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	go func() {
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, key, len(body))
		_, _ = conn.Write(body)
	}()
	return readAnswer(conn)
}

// readAnswer reads one HTTP answer: its status and JSON error code.
func readAnswer(conn net.Conn) (status int, code string, err error) {
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", err
	}
	defer r.Body.Close()
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return r.StatusCode, "", fmt.Errorf("answered %q", ct)
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return r.StatusCode, "", err
	}
	return r.StatusCode, body.Error.Code, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestMalformedRequests: what net/http refuses before any handler (a
// control byte in a header, oversized headers) was answered in plain
// text; now in the API's JSON shape. Query strings and header counts have
// bounds of their own.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	addr := e.srv.Listener.Addr().String()
	for _, tc := range []struct {
		name, request string
		status        int
		code          string
	}{
		{"control byte in Content-Type", "POST /v1/events HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\x01\r\nContent-Length: 2\r\n\r\n{}", 400, "invalid_request"},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "invalid_request"},
		{"header section too large", "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n", 431, "headers_too_large"},
		{"unknown transfer coding", "POST /v1/events HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, "invalid_request"},
		{"query too long", "GET /v1/webhooks?cursor=" + strings.Repeat("a", 5000) + " HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + key + "\r\n\r\n", 414, "query_too_long"},
		{"too many headers", "GET /v1/webhooks HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: b\r\n", 120) + "\r\n", 431, "headers_too_large"},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		go func() { _, _ = io.WriteString(conn, tc.request) }()
		status, code, err := readAnswer(conn)
		_ = conn.Close()
		if err != nil || status != tc.status || code != tc.code {
			t.Errorf("%s: %d %q %v, want %d %q", tc.name, status, code, err, tc.status, tc.code)
		}
	}
	// A handler's own answer passes the listener untouched.
	if r := e.do("GET", "/v1/webhooks", key, nil).want(t, 200, ""); r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("list answered %q", r.Header.Get("Content-Type"))
	}
}
