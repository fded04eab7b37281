package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/secretbox"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
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
	return newEnvOn(t, dbtest.NewStore(t), overrides)
}

// newEnvOn is newEnv on a given store (e.g. one reached through a proxy).
func newEnvOn(t *testing.T, store *db.Store, overrides map[string]string) *env {
	t.Helper()
	return newEnvFull(t, store, overrides, io.Discard)
}

// newEnvFull is newEnvOn logging to logs.
func newEnvFull(t *testing.T, store *db.Store, overrides map[string]string, logs io.Writer) *env {
	t.Helper()
	// Rate limits are off unless a test sets them: every test calls from
	// 127.0.0.1, many with bad keys on purpose.
	vars := map[string]string{"WEBHOOK_ALLOW_HTTP": "true", "EGRESS_ALLOW_CIDRS": "127.0.0.1/32",
		"RATE_LIMIT_AUTH_FAILURES_PER_MINUTE": "0", "RATE_LIMIT_REQUESTS_PER_SECOND": "0", "RATE_LIMIT_WEBHOOK_TESTS_PER_MINUTE": "0"}
	for k, v := range overrides {
		vars[k] = v
	}
	box, _ := e2etest.NewBox(t)
	tc := temporalClient(t, vars["TEMPORAL_ADDRESS"])
	a := e2etest.NewApp(t, vars, store, tc, box, logs)
	return &env{t: t, srv: e2etest.ServeAPI(t, a), store: store, box: box, tc: tc, cfg: a.Config}
}

// temporalClient connects to addr (an override of newEnv, to simulate an
// outage), else TEMPORAL_ADDRESS, lazily, so tests that never reach
// Temporal do not need it up.
func temporalClient(t *testing.T, addr string) client.Client {
	if addr == "" {
		addr = os.Getenv("TEMPORAL_ADDRESS")
	}
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
	id, k := e2etest.CreateAccount(e.t, e.store, plan)
	return id.String(), k
}

// resp is a decoded response.
type resp struct {
	Status int
	Header http.Header
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
	return e.doReq(method, path, body, func(req *http.Request) {
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
	})
}

// doReq is do with a hook to adjust the request before it is sent.
func (e *env) doReq(method, path string, body any, mutate func(*http.Request)) resp {
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
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if mutate != nil {
		mutate(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
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

// newKey creates a key with role through the API, using the admin key.
func (e *env) newKey(admin, role string) string {
	e.t.Helper()
	r := e.do("POST", "/v1/api-keys", admin, map[string]any{"role": role, "label": role + " key"}).want(e.t, 201, "")
	k := r.str("key")
	if k == "" {
		e.t.Fatalf("no key in %s", r.Raw)
	}
	return k
}

// createWebhook creates a webhook and returns its id and secret.
func (e *env) createWebhook(key string, body map[string]any) (id, secret string) {
	e.t.Helper()
	r := e.do("POST", "/v1/webhooks", key, body).want(e.t, 201, "")
	return r.str("id"), r.str("secret")
}

// countWebhooks counts every webhook row in the database.
func (e *env) countWebhooks() int {
	e.t.Helper()
	var n int
	if err := e.store.DB().Get(&n, `SELECT count(*) FROM webhooks`); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// webhookRow reads a webhook row directly, across accounts.
func (e *env) webhookRow(id string) db.Webhook {
	e.t.Helper()
	var w db.Webhook
	if err := e.store.DB().Get(&w, `SELECT * FROM webhooks WHERE id = $1`, id); err != nil {
		e.t.Fatalf("reading webhook %s: %v", id, err)
	}
	return w
}

// wantErrorShape fails unless the body is exactly {"error":{"code","message"[,"fields"][,"errors"]}}.
func (r resp) wantErrorShape(t *testing.T) {
	t.Helper()
	if len(r.Body) != 1 {
		t.Fatalf("error body has keys other than error: %s", r.Raw)
	}
	errObj, ok := r.Body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object: %s", r.Raw)
	}
	if s, _ := errObj["code"].(string); s == "" {
		t.Fatalf("error without code: %s", r.Raw)
	}
	if s, _ := errObj["message"].(string); s == "" {
		t.Fatalf("error without message: %s", r.Raw)
	}
	for k := range errObj {
		if k != "code" && k != "message" && k != "fields" && k != "errors" {
			t.Fatalf("unexpected error key %q: %s", k, r.Raw)
		}
	}
}

// pendingDelivery records an event of acct for webhook and returns its
// pending delivery, as the delivery workflow would.
func (e *env) pendingDelivery(acct, webhook string) db.Delivery {
	e.t.Helper()
	return e.agedDelivery(acct, webhook, 0)
}

// agedDelivery is pendingDelivery of an event published age ago: the event
// is stored, dated back, then its delivery made (a delivery takes its
// event's created_at, and its id holds it).
func (e *env) agedDelivery(acct, webhook string, age time.Duration) db.Delivery {
	e.t.Helper()
	ctx := context.Background()
	ev := db.Event{AccountID: uuid.MustParse(acct), Event: events.Event{
		ID: "ev-" + uuid.NewString(), Type: "ENVELOPE_START", TriggerSource: "saas_page", OccurredAt: time.Now(), Data: []byte(`{}`),
	}}
	ev.WorkflowID = flow.EventWorkflowID(acct, ev.ID)
	if _, _, err := e.store.InsertEvent(ctx, ev); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.DB().Exec(`UPDATE events SET created_at = now() - make_interval(secs => $2) WHERE id = $1`,
		ev.ID, age.Seconds()); err != nil {
		e.t.Fatal(err)
	}
	ds, err := e.store.RecordEvent(ctx, ev, []uuid.UUID{uuid.MustParse(webhook)})
	if err != nil || len(ds) != 1 {
		e.t.Fatalf("recording event: %v %v", ds, err)
	}
	return ds[0]
}

// deliveryRow reads a delivery directly.
func (e *env) deliveryRow(id uuid.UUID) db.Delivery {
	e.t.Helper()
	var d db.Delivery
	if err := e.store.DB().Get(&d, `SELECT * FROM deliveries WHERE id = $1`, id); err != nil {
		e.t.Fatalf("reading delivery %s: %v", id, err)
	}
	return d
}

// unreachableTemporal is an address where nothing listens: every call to
// Temporal fails at once, as during an outage.
const unreachableTemporal = "127.0.0.1:1"
