package api_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// syncBuffer collects logs written from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAuthFailureLimit: after RATE_LIMIT_AUTH_FAILURES_PER_MINUTE failures
// from one address, that address gets 429 rate_limited with Retry-After,
// even with a valid key, until the bucket refills; other addresses do not.
// X-Forwarded-For counts only from a trusted proxy. Failures are logged
// without the key.
func TestAuthFailureLimit(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	e := newEnvFull(t, dbtest.NewStore(t), map[string]string{"RATE_LIMIT_AUTH_FAILURES_PER_MINUTE": "3"}, logs)
	_, key := e.account("professional")
	wrong := "ewk_" + strings.Repeat("Z", 40)
	for range 2 {
		e.do("GET", "/v1/webhooks", wrong, nil).want(t, 401, "unauthorized")
	}
	e.do("GET", "/v1/webhooks", "", nil).want(t, 401, "unauthorized") // no key counts too
	r := e.do("GET", "/v1/webhooks", wrong, nil).want(t, 429, "rate_limited")
	r.wantErrorShape(t)
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The address is blocked whatever the key: guessing cannot continue.
	e.do("GET", "/v1/webhooks", key, nil).want(t, 429, "rate_limited")
	// Without a trusted proxy, X-Forwarded-For is no way out.
	e.doReq("GET", "/v1/webhooks", nil, func(req *http.Request) {
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
	}).want(t, 429, "rate_limited")

	out := logs.String()
	if strings.Count(out, "authentication failed") != 3 {
		t.Errorf("want 3 failed authentications logged, got:\n%s", out)
	}
	if strings.Contains(out, wrong) || !strings.Contains(out, "keyPrefix=ewk_ZZZZZZ") {
		t.Errorf("log has the key or lacks its prefix:\n%s", out)
	}
}

// TestAuthFailureLimitBehindProxy: behind a trusted proxy, the client is the
// address it names, so one client's failures do not block the others.
func TestAuthFailureLimitBehindProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"RATE_LIMIT_AUTH_FAILURES_PER_MINUTE": "1", "TRUSTED_PROXY_CIDRS": "127.0.0.1"})
	_, key := e.account("professional")
	from := func(addr, key string) resp {
		return e.doReq("GET", "/v1/webhooks", nil, func(req *http.Request) {
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("X-Forwarded-For", addr)
		})
	}
	from("203.0.113.1", "ewk_wrong").want(t, 401, "unauthorized")
	from("203.0.113.1", key).want(t, 429, "rate_limited")
	from("203.0.113.2", key).want(t, 200, "")
	// IPv6 clients are counted by /64.
	from("2001:db8:1:2::1", "ewk_wrong").want(t, 401, "unauthorized")
	from("2001:db8:1:2::ffff", key).want(t, 429, "rate_limited")
	from("2001:db8:1:3::1", key).want(t, 200, "")
}

// TestKeyRequestLimit: each API key has its own request rate.
func TestKeyRequestLimit(t *testing.T) {
	t.Parallel()
	// 4 at once, then one every 1000 s: nothing refills during the test.
	e := newEnv(t, map[string]string{"RATE_LIMIT_REQUESTS_PER_SECOND": "0.001", "RATE_LIMIT_REQUESTS_BURST": "4"})
	_, admin := e.account("professional")
	member := e.newKey(admin, "member") // the admin's 1st request
	for range 3 {
		e.do("GET", "/v1/webhooks", admin, nil).want(t, 200, "")
	}
	r := e.do("GET", "/v1/webhooks", admin, nil).want(t, 429, "rate_limited")
	r.wantErrorShape(t)
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	e.do("GET", "/v1/webhooks", member, nil).want(t, 200, "")
}

// TestPublishLimit: publishing counts against its own limit, off by
// default, never against the per-key request limit; when set, it throttles
// publishes only.
func TestPublishLimit(t *testing.T) {
	t.Parallel()
	publish := func(e *env, key string) resp {
		return e.do("POST", "/v1/events", key, `{"type":"ENVELOPE_START","triggerSource":"saas_page","data":{"envelopeId":"e1","envelopeStatus":1}}`)
	}
	// Default publish limit (off) beside a tight request limit.
	e := newEnv(t, map[string]string{"RATE_LIMIT_REQUESTS_PER_SECOND": "0.001", "RATE_LIMIT_REQUESTS_BURST": "2"})
	_, admin := e.account("professional")
	for i := range 10 {
		if r := publish(e, admin); r.Status != 202 {
			t.Fatalf("publish %d with the publish limit off: %d %s", i, r.Status, r.Raw)
		}
	}
	e.do("GET", "/v1/webhooks", admin, nil).want(t, 200, "")
	e.do("GET", "/v1/webhooks", admin, nil).want(t, 200, "")
	e.do("GET", "/v1/webhooks", admin, nil).want(t, 429, "rate_limited")
	publish(e, admin).want(t, 202, "")

	// A publish limit of 3 at once: the 4th publish is refused, other
	// requests are not.
	e = newEnv(t, map[string]string{"RATE_LIMIT_PUBLISH_PER_SECOND": "0.001", "RATE_LIMIT_PUBLISH_BURST": "3"})
	_, admin = e.account("professional")
	for range 3 {
		publish(e, admin).want(t, 202, "")
	}
	r := publish(e, admin).want(t, 429, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	e.do("GET", "/v1/webhooks", admin, nil).want(t, 200, "")
}

// TestWebhookTestLimit: one test at a time per webhook (a second one while
// the first waits is a 429), and a few a minute.
func TestWebhookTestLimit(t *testing.T) {
	t.Parallel()
	queue := "api-test-" + uuid.NewString()
	e := newEnv(t, map[string]string{"TEMPORAL_TASK_QUEUE": queue, "RATE_LIMIT_WEBHOOK_TESTS_PER_MINUTE": "2"})
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	// A stand-in delivery: the first one waits until the test releases it.
	hold := func(context.Context) error {
		first := false
		once.Do(func() { first = true })
		if first {
			close(started)
			<-release
		}
		return nil
	}
	w := worker.New(e.tc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, in flow.DeliverEventInput) (flow.Result, error) {
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute})
		if err := workflow.ExecuteLocalActivity(ctx, hold).Get(ctx, nil); err != nil {
			return flow.Result{}, err
		}
		return flow.Result{Deliveries: []flow.DeliveryResult{{
			WebhookID: in.OnlyWebhookID, Status: "succeeded", Attempts: 1,
			Last: flow.AttemptResult{Outcome: "succeeded", StatusCode: 200},
		}}}, nil
	}, workflow.RegisterOptions{Name: flow.DeliverEventWorkflow})
	if err := w.Start(); err != nil {
		t.Fatalf("starting worker (is Temporal up at TEMPORAL_ADDRESS?): %v", err)
	}
	t.Cleanup(w.Stop)
	_, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	other, _ := e.createWebhook(key, validWebhook("other"))

	first := make(chan resp, 1)
	go func() { first <- e.do("POST", "/v1/webhooks/"+hook+"/test", key, nil) }()
	<-started
	r := e.do("POST", "/v1/webhooks/"+hook+"/test", key, nil).want(t, 429, "rate_limited")
	if !strings.Contains(string(r.Raw), "already running") || r.Header.Get("Retry-After") == "" {
		t.Errorf("second test while the first runs: %s (Retry-After %q)", r.Raw, r.Header.Get("Retry-After"))
	}
	close(release)
	(<-first).want(t, 200, "")
	// The refused one spent nothing: a 2nd test passes, the 3rd is over the rate.
	e.do("POST", "/v1/webhooks/"+hook+"/test", key, nil).want(t, 200, "")
	r = e.do("POST", "/v1/webhooks/"+hook+"/test", key, nil).want(t, 429, "rate_limited")
	if !strings.Contains(string(r.Raw), "Too many tests") {
		t.Errorf("over the rate: %s", r.Raw)
	}
	e.do("POST", "/v1/webhooks/"+other+"/test", key, nil).want(t, 200, "")
}
