package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/app"
	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
)

// TestAppBuildsBothProcesses: from configuration alone, App opens and
// migrates the database, dials Temporal, starts the worker and serves the
// API, whose /readyz finds both up.
func TestAppBuildsBothProcesses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := newApp(t)

	w := a.Worker()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	p, err := a.API()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); p.Background(ctx) }()
	defer func() { cancel(); <-done }()

	srv := httptest.NewUnstartedServer(p.Handler)
	srv.Config = p.Server()
	srv.Start()
	defer srv.Close()
	res, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %d %s", res.StatusCode, body)
	}
}

// TestWorkerReadiness: the worker's /readyz is 503 before it polls,
// 200 once Temporal has seen it poll its task queue, and 503 naming
// "polling" once it stopped.
func TestWorkerReadiness(t *testing.T) {
	a := newApp(t)
	w := a.Worker()
	srv := httptest.NewServer(w.ReadyHandler())
	defer srv.Close()
	ready := func() (int, map[string]any) {
		t.Helper()
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, body
	}
	if code, body := ready(); code != http.StatusServiceUnavailable || fmt.Sprint(body["down"]) != "[polling]" {
		t.Fatalf("before Start: %d %v", code, body)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	// Temporal lists the poller once its first poll arrived: ask until it
	// does (the test's own deadline bounds this).
	for {
		code, body := ready()
		if code == http.StatusOK {
			if checks := fmt.Sprint(body["checks"]); checks != "map[polling:ok postgres:ok temporal:ok]" {
				t.Fatalf("ready with checks %s", checks)
			}
			break
		}
		if fmt.Sprint(body["down"]) != "[polling]" {
			t.Fatalf("started: %d %v", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.Stop()
	if code, body := ready(); code != http.StatusServiceUnavailable || fmt.Sprint(body["down"]) != "[polling]" {
		t.Fatalf("after Stop: %d %v", code, body)
	}
}

// newApp builds an App on a fresh database and task queue from
// configuration alone.
func newApp(t *testing.T) *app.App {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	vars := map[string]string{
		"DATABASE_URL":        dbtest.NewDatabase(t),
		"TEMPORAL_ADDRESS":    e2etest.TemporalAddress(t),
		"TEMPORAL_TASK_QUEUE": "app-test-" + uuid.NewString(),
		"SECRETS_KEY":         hex.EncodeToString(key),
	}
	for _, kv := range e2etest.TemporalEnv() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := config.LoadFrom(vars)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}
