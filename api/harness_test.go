package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/esign-webhooks/esign-webhooks/api"
	"github.com/esign-webhooks/esign-webhooks/apikey"
	"github.com/esign-webhooks/esign-webhooks/config"
	"github.com/esign-webhooks/esign-webhooks/db"
	"github.com/esign-webhooks/esign-webhooks/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/secretbox"
)

// env is one API server on its own database, with helpers to call it.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	store *db.Store
	box   *secretbox.Box
	tc    client.Client
	cfg   config.Config
}

func newEnv(t *testing.T, overrides map[string]string) *env {
	t.Helper()
	store := dbtest.NewStore(t)
	vars := map[string]string{"WEBHOOK_ALLOW_HTTP": "true", "EGRESS_ALLOW_CIDRS": "127.0.0.1/32"}
	for k, v := range overrides {
		vars[k] = v
	}
	cfg, err := config.LoadFrom(vars)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	tc := temporalClient(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(cfg, log, store, box, tc))
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: store, box: box, tc: tc, cfg: cfg}
}

// temporalClient connects to TEMPORAL_ADDRESS lazily, so tests that never
// reach Temporal do not need it up.
func temporalClient(t *testing.T) client.Client {
	addr := os.Getenv("TEMPORAL_ADDRESS")
	if addr == "" {
		addr = "127.0.0.1:7243"
	}
	c, err := client.NewLazyClient(client.Options{HostPort: addr, Logger: quietTemporalLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type quietTemporalLogger struct{}

func (quietTemporalLogger) Debug(string, ...any) {}
func (quietTemporalLogger) Info(string, ...any)  {}
func (quietTemporalLogger) Warn(string, ...any)  {}
func (quietTemporalLogger) Error(string, ...any) {}

// account creates an account on plan and returns its admin key.
func (e *env) account(plan string) (accountID, key string) {
	e.t.Helper()
	k, err := apikey.Generate()
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := e.store.CreateAccount(context.Background(), "Acme "+plan, plan, db.NewAPIKey{Hash: apikey.Hash(k), Prefix: apikey.DisplayPrefix(k)})
	if err != nil {
		e.t.Fatal(err)
	}
	return a.ID.String(), k
}

// resp is a decoded response.
type resp struct {
	Status int
	Body   map[string]any
	Raw    []byte
}

func (r resp) code() string {
	if errObj, ok := r.Body["error"].(map[string]any); ok {
		s, _ := errObj["code"].(string)
		return s
	}
	return ""
}

func (r resp) field(name string) string {
	if errObj, ok := r.Body["error"].(map[string]any); ok {
		if fields, ok := errObj["fields"].(map[string]any); ok {
			s, _ := fields[name].(string)
			return s
		}
	}
	return ""
}

func (r resp) str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// do sends a request; body may be nil, a string (sent raw) or a value (JSON).
func (e *env) do(method, path, key string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: response is not a JSON object: %q", method, path, raw)
		}
	}
	return out
}

// want fails unless r has the status (and, for errors, the code).
func (r resp) want(t *testing.T, status int, code string) resp {
	t.Helper()
	if r.Status != status || r.code() != code {
		t.Fatalf("got %d %q, want %d %q; body %s", r.Status, r.code(), status, code, r.Raw)
	}
	return r
}

func validWebhook(name string) map[string]any {
	return map[string]any{
		"name":           name,
		"url":            "https://hooks.example.com/esign",
		"eventTypes":     []string{"ENVELOPE_START", "ENVELOPE_FINISH"},
		"triggerSources": []string{"saas_page"},
	}
}
