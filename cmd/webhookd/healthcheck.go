package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// healthcheck implements `webhookd healthcheck [URL]`, a container health
// check for images without a shell or curl: GET URL and succeed only on 200.
// Without URL: /readyz on HTTP_ADDR's port on loopback (serve and api).
func healthcheck(ctx context.Context, args []string) error {
	url := readyURL(os.Getenv("HTTP_ADDR"))
	if len(args) > 0 {
		url = args[0]
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return nil
}

// readyURL is /readyz at the port of addr (HTTP_ADDR; config's default port
// when unset) on loopback, whatever address the API binds.
func readyURL(addr string) string {
	port := "8080"
	if _, p, err := net.SplitHostPort(addr); err == nil && p != "" {
		port = p
	}
	return "http://127.0.0.1:" + port + "/readyz"
}
