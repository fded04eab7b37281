package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusServiceUnavailable
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		w.WriteHeader(status)
	}))
	defer srv.Close()
	ctx := context.Background()

	if err := realMain(ctx, []string{"healthcheck", srv.URL + "/metrics"}); err == nil {
		t.Error("503: no error")
	}
	status = http.StatusOK
	if err := realMain(ctx, []string{"healthcheck", srv.URL + "/metrics"}); err != nil || path != "/metrics" {
		t.Errorf("200 at %s: %v", path, err)
	}

	// Without a URL: /readyz on HTTP_ADDR's port, whatever host it binds.
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	t.Setenv("HTTP_ADDR", "0.0.0.0:"+port)
	if err := realMain(ctx, []string{"healthcheck"}); err != nil || path != "/readyz" {
		t.Errorf("default: %s, %v", path, err)
	}
	srv.Close()
	if err := realMain(ctx, []string{"healthcheck"}); err == nil {
		t.Error("nothing listening: no error")
	}
	if got := readyURL(""); got != "http://127.0.0.1:8080/readyz" {
		t.Errorf("HTTP_ADDR unset: %s", got)
	}
}
