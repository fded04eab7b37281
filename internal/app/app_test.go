package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg, app.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

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
