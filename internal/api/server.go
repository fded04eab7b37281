package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// Bounds of a request before any handler runs: a slow client holds one
// connection for at most the read timeouts, never a worker of the process.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10 // request line and headers together
	maxHeaders        = 100      // header fields
	maxQueryBytes     = 4 << 10
)

// NewServer is the HTTP server of the API (and the console beside it) with
// the timeouts and header bounds above. writeTimeout must outlast the
// slowest route (POST /v1/webhooks/{id}/test waits for a delivery).
func NewServer(addr string, h http.Handler, writeTimeout time.Duration) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// Listen listens on addr for NewServer. Its connections answer in the API's
// JSON error shape the requests net/http refuses before any handler sees
// them (a control byte in a header, a header section over maxHeaderBytes,
// a malformed request line), which net/http otherwise answers in plain
// text.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return JSONErrors(ln), nil
}

// JSONErrors wraps ln as Listen does (for tests with their own listener).
func JSONErrors(ln net.Listener) net.Listener { return jsonErrorListener{ln} }

type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c}, nil
}

// jsonErrorConn rewrites net/http's own error answers. net/http writes
// each as one Write straight to the connection: "HTTP/1.1 <status>",
// then exactly these headers. A handler's answer never has them in this
// order (net/http sorts headers, Connection before Content-Type), so the
// match cannot catch one.
type jsonErrorConn struct{ net.Conn }

var netHTTPErrorHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

func (c *jsonErrorConn) Write(p []byte) (int, error) {
	status, ok := netHTTPError(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(jsonErrorAnswer(status)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// netHTTPError reports whether p is one of net/http's plain-text error
// answers, and its status code.
func netHTTPError(p []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !ok || len(rest) < 3 {
		return 0, false
	}
	line, _, found := bytes.Cut(rest, []byte("\r\n"))
	if !found || !bytes.HasPrefix(rest[len(line):], netHTTPErrorHeaders) {
		return 0, false
	}
	status, err := strconv.Atoi(string(line[:3]))
	if err != nil || status < 400 {
		return 0, false
	}
	return status, true
}

// jsonErrorAnswer is the whole answer, in the API's error shape, for a
// request net/http refused. Its detail is not echoed: it may quote input.
func jsonErrorAnswer(status int) []byte {
	e := apiError(status, CodeInvalidRequest, "The request is not valid HTTP: check its request line and headers.")
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		e.Code, e.Message = CodeHeadersTooLarge, fmt.Sprintf("The request line and headers must be at most %d bytes.", maxHeaderBytes)
	case http.StatusNotImplemented:
		e.Message = "The request's Transfer-Encoding is not supported."
	}
	body, _ := json.Marshal(map[string]*Error{"error": e})
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}

// requestBounds refuses, before authentication, a query string over
// maxQueryBytes (414) and more than maxHeaders header fields (431).
func requestBounds(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if len(req.URL.RawQuery) > maxQueryBytes {
			return apiError(http.StatusRequestURITooLong, CodeQueryTooLong,
				fmt.Sprintf("The query string must be at most %d bytes.", maxQueryBytes))
		}
		n := 0
		for _, vs := range req.Header {
			n += len(vs)
		}
		if n > maxHeaders {
			return apiError(http.StatusRequestHeaderFieldsTooLarge, CodeHeadersTooLarge,
				fmt.Sprintf("A request may have at most %d header fields.", maxHeaders))
		}
		return next(c)
	}
}
