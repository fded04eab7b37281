// Package e2etest runs the delivery engine for real in tests: a fresh
// PostgreSQL database (dbtest), the Temporal server named by
// TEMPORAL_ADDRESS, an in-process worker on a task queue of its own, the
// REST API on an httptest server, and receivers on 127.0.0.1.
package e2etest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/esign-webhooks/esign-webhooks/internal/api"
	"github.com/esign-webhooks/esign-webhooks/internal/app"
	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/apikey"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/secretbox"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/restclient"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

// Deadline bounds every wait for a state: generous, for a loaded machine.
const Deadline = 60 * time.Second

// TemporalAddress returns TEMPORAL_ADDRESS, skipping the test when unset.
func TemporalAddress(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("TEMPORAL_ADDRESS")
	if addr == "" {
		t.Skip("TEMPORAL_ADDRESS is not set: run `make test`, which starts a Temporal dev server")
	}
	return addr
}

// TemporalEnv is the TEMPORAL_* connection settings of the test's
// environment (namespace, TLS/mTLS, API key, compression), as KEY=value:
// `make test-cluster` sets them for its Temporal server with mTLS.
// TEMPORAL_ADDRESS and TEMPORAL_TASK_QUEUE are left out (tests set those).
func TemporalEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TEMPORAL_TLS") || k == "TEMPORAL_NAMESPACE" || k == "TEMPORAL_API_KEY" ||
			k == "TEMPORAL_GRPC_COMPRESSION" {
			out = append(out, kv)
		}
	}
	return out
}

// Client dials Temporal, with the namespace and TLS settings of TemporalEnv.
func Client(t testing.TB) client.Client {
	t.Helper()
	addr := TemporalAddress(t)
	vars := map[string]string{}
	for _, kv := range TemporalEnv() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := config.LoadFrom(vars)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := cfg.TemporalTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: cfg.TemporalNamespace, Logger: quiet{},
		ConnectionOptions: client.ConnectionOptions{TLS: tlsCfg}})
	if err != nil {
		t.Fatalf("connecting to Temporal at %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}

// TaskQueue is a task queue no other test uses.
func TaskQueue() string { return "test-" + uuid.NewString() }

// FastSettings are delivery rules shrunk for tests.
func FastSettings() activities.Settings {
	return activities.Settings{
		AttemptTimeout:   time.Second,
		Retries:          []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond},
		RetryAfterMax:    time.Second,
		ResponseMaxBytes: 64,
	}
}

// Loopback allows deliveries to 127.0.0.0/8, where the receivers listen.
var Loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// StartWorker runs the worker webhookd runs (built by package app) on queue
// until the test ends, with the delivery rules s as configuration. allow
// is the egress allowlist (nil: public addresses only).
func StartWorker(t testing.TB, tc client.Client, store *db.Store, box *secretbox.Box, queue string, s activities.Settings, allow []netip.Prefix) {
	t.Helper()
	startWorker(t, tc, store, box, queue, s, allow, nil)
}

// startWorker is StartWorker with more settings.
func startWorker(t testing.TB, tc client.Client, store *db.Store, box *secretbox.Box, queue string, s activities.Settings,
	allow []netip.Prefix, more map[string]string) {
	t.Helper()
	vars := settingsVars(s)
	maps.Copy(vars, more)
	vars["TEMPORAL_TASK_QUEUE"] = queue
	vars["EGRESS_ALLOW_CIDRS"] = cidrs(allow)
	// Statistics a test can wait for without waiting long.
	vars["STATS_FOLD_INTERVAL"] = "1s"
	a := NewApp(t, vars, store, tc, box, nil)
	w := a.Worker()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

// settingsVars is the configuration that gives the worker the delivery
// rules s. Zero throttle settings and an empty schedule keep the defaults;
// the User-Agent is always webhookd's.
func settingsVars(s activities.Settings) map[string]string {
	retries := make([]string, len(s.Retries))
	for i, r := range s.Retries {
		retries[i] = r.String()
	}
	vars := map[string]string{
		"DELIVERY_TIMEOUT":               s.AttemptTimeout.String(),
		"DELIVERY_RETRY_SCHEDULE":        strings.Join(retries, ","),
		"DELIVERY_RETRY_AFTER_MAX":       s.RetryAfterMax.String(),
		"DELIVERY_RESPONSE_MAX_BYTES":    strconv.FormatInt(s.ResponseMaxBytes, 10),
		"HEALTH_DISABLE_AFTER":           s.HealthDisableAfter.String(),
		"HEALTH_DISABLE_AFTER_EXHAUSTED": strconv.Itoa(s.HealthDisableExhausted),
	}
	if s.ThrottleBase > 0 {
		vars["THROTTLE_BACKOFF_BASE"] = s.ThrottleBase.String()
	}
	if s.ThrottleMax > 0 {
		vars["THROTTLE_BACKOFF_MAX"] = s.ThrottleMax.String()
	}
	if s.TurnRecheckMax > 0 {
		vars["ORDER_RECHECK_MAX"] = s.TurnRecheckMax.String()
	}
	return vars
}

func cidrs(prefixes []netip.Prefix) string {
	out := make([]string, len(prefixes))
	for i, p := range prefixes {
		out[i] = p.String()
	}
	return strings.Join(out, ",")
}

// NewApp is package app on the test's store, client and box, configured by
// vars, logging to logs (nil: nowhere). Every test harness builds the
// system this way.
func NewApp(t testing.TB, vars map[string]string, store *db.Store, tc client.Client, box *secretbox.Box, logs io.Writer) *app.App {
	t.Helper()
	cfg, err := config.LoadFrom(vars)
	if err != nil {
		t.Fatal(err)
	}
	if logs == nil {
		logs = io.Discard
	}
	a, err := app.New(context.Background(), cfg, app.Options{Store: store, Temporal: tc, Box: box,
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ServeAPI runs the api process of a (its outbox and upkeep too) on an
// httptest server with the real server's timeouts, header bounds and JSON
// answers for what net/http refuses, until the test ends.
func ServeAPI(t testing.TB, a *app.App) *httptest.Server {
	t.Helper()
	p, err := a.API()
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	go p.Background(ctx)
	t.Cleanup(stop)
	srv := httptest.NewUnstartedServer(p.Handler)
	srv.Config = p.Server()
	srv.Listener = api.JSONErrors(srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// NewBox is a secrets box with a fresh random key, and the key.
func NewBox(t testing.TB) (*secretbox.Box, []byte) {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return box, key
}

// CreateAccount creates an account on plan and returns its id and an admin
// key.
func CreateAccount(t testing.TB, store *db.Store, plan string) (uuid.UUID, string) {
	t.Helper()
	k, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	a, err := store.CreateAccount(context.Background(), "Acme "+plan+" "+uuid.NewString()[:8], plan,
		db.NewAPIKey{Hash: apikey.Hash(k), Prefix: apikey.DisplayPrefix(k)})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID, k
}

// Options shape an Env.
type Options struct {
	Settings *activities.Settings // FastSettings when nil
	// NoWorker starts no worker (the test starts its own).
	NoWorker bool
	// WorkerAllow is the worker's egress allowlist (Loopback when nil).
	WorkerAllow []netip.Prefix
	// Vars are more settings of the api process and the worker.
	Vars map[string]string
}

// Env is the whole system on one database and one task queue.
type Env struct {
	T        *testing.T
	Store    *db.Store
	Box      *secretbox.Box
	TC       client.Client
	Queue    string
	Settings activities.Settings
	Cfg      config.Config
	API      *httptest.Server
	Pub      *publish.Publisher
	DBURL    string
	Key      []byte // secrets key
}

// New starts an Env.
func New(t *testing.T, o Options) *Env {
	t.Helper()
	tc := Client(t)
	dbURL := dbtest.NewDatabase(t)
	store, err := db.Open(context.Background(), dbURL, 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	box, key := NewBox(t)
	s := FastSettings()
	if o.Settings != nil {
		s = *o.Settings
	}
	queue := TaskQueue()
	vars := settingsVars(s)
	for k, v := range map[string]string{
		"WEBHOOK_ALLOW_HTTP":  "true",
		"EGRESS_ALLOW_CIDRS":  "127.0.0.0/8",
		"TEMPORAL_TASK_QUEUE": queue,
		// Tests create webhooks and publish faster than a client may.
		"RATE_LIMIT_REQUESTS_PER_SECOND": "0",
	} {
		vars[k] = v
	}
	maps.Copy(vars, o.Vars)
	a := NewApp(t, vars, store, tc, box, nil)
	e := &Env{T: t, Store: store, Box: box, TC: tc, Queue: queue, Settings: s, Cfg: a.Config, DBURL: dbURL, Key: key,
		Pub: &publish.Publisher{Client: tc, TaskQueue: queue}}
	e.API = ServeAPI(t, a)
	if !o.NoWorker {
		allow := o.WorkerAllow
		if allow == nil {
			allow = Loopback
		}
		startWorker(t, tc, store, box, queue, s, allow, o.Vars)
	}
	return e
}

// Account creates an account on plan and returns its id and an admin key.
func (e *Env) Account(plan string) (id, key string) {
	e.T.Helper()
	a, k := CreateAccount(e.T, e.Store, plan)
	return a.String(), k
}

// Resp is a decoded API response.
type Resp struct {
	Status int
	Raw    []byte
}

// Decode unmarshals the body into v.
func (r Resp) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Raw, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Raw, err)
	}
}

// Str returns a top-level string field.
func (r Resp) Str(t testing.TB, key string) string {
	t.Helper()
	var m map[string]any
	r.Decode(t, &m)
	s, _ := m[key].(string)
	return s
}

// Want fails unless the status is status.
func (r Resp) Want(t testing.TB, status int) Resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got HTTP %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

// Do calls the API; body nil or a value sent as JSON.
func (e *Env) Do(method, path, key string, body any) Resp {
	e.T.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.API.URL+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return Resp{Status: res.StatusCode, Raw: raw}
}

// Webhook is the body of POST /v1/webhooks.
type Webhook = restclient.WebhookInput

// CreateWebhook creates a webhook and returns its id and secret.
func (e *Env) CreateWebhook(key string, w Webhook) (id, secret string) {
	e.T.Helper()
	if w.Name == "" {
		w.Name = "hook " + uuid.NewString()[:8]
	}
	if w.EventTypes == nil {
		w.EventTypes = []string{"ENVELOPE_START", "ENVELOPE_FINISH"}
	}
	if w.TriggerSources == nil {
		w.TriggerSources = []string{"saas_page"}
	}
	r := e.Do("POST", "/v1/webhooks", key, w).Want(e.T, http.StatusCreated)
	return r.Str(e.T, "id"), r.Str(e.T, "secret")
}

// Event is the body of POST /v1/events.
type Event = restclient.Event

// Published is the answer of POST /v1/events.
type Published = restclient.Published

// Publish posts an event (ENVELOPE_START from saas_page by default).
func (e *Env) Publish(key string, ev Event) Published {
	e.T.Helper()
	if ev.Type == "" {
		ev.Type = "ENVELOPE_START"
	}
	if ev.TriggerSource == "" {
		ev.TriggerSource = "saas_page"
	}
	if ev.Data == nil {
		ev.Data = json.RawMessage(`{"envelopeId":"env-1","envelopeStatus":1}`)
	}
	var p Published
	e.Do("POST", "/v1/events", key, ev).Want(e.T, http.StatusAccepted).Decode(e.T, &p)
	return p
}

// Result waits for a workflow to finish and returns its result.
func (e *Env) Result(workflowID string) flow.Result {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	var res flow.Result
	for {
		err := e.TC.GetWorkflow(ctx, workflowID, "").Get(ctx, &res)
		var notFound *serviceerror.NotFound
		switch {
		case err == nil:
			return res
		case errors.As(err, &notFound) && ctx.Err() == nil:
			// The API answers once the event is stored; its dispatcher
			// starts the workflow a moment later.
			time.Sleep(20 * time.Millisecond)
		default:
			e.T.Fatalf("workflow %s: %v", workflowID, err)
		}
	}
}

// Delivery is a delivery as GET /v1/deliveries/{id} shows it.
type Delivery = restclient.Delivery

// Attempt is one attempt of a Delivery.
type Attempt = restclient.Attempt

// Delivery fetches one delivery with its attempts.
func (e *Env) Delivery(key, id string) Delivery {
	e.T.Helper()
	var d Delivery
	e.Do("GET", "/v1/deliveries/"+id, key, nil).Want(e.T, http.StatusOK).Decode(e.T, &d)
	return d
}

// WaitDelivery polls a delivery until ok says so.
func (e *Env) WaitDelivery(key, id, what string, ok func(Delivery) bool) Delivery {
	e.T.Helper()
	var d Delivery
	Eventually(e.T, what, func() bool {
		d = e.Delivery(key, id)
		return ok(d)
	})
	return d
}

// WaitStatus polls a delivery until it has status.
func (e *Env) WaitStatus(key, id, status string) Delivery {
	e.T.Helper()
	return e.WaitDelivery(key, id, "delivery "+id+" "+status, func(d Delivery) bool { return string(d.Status) == status })
}

// EventDeliveries returns GET /v1/events/{id}'s deliveries, by webhook id.
func (e *Env) EventDeliveries(key, eventID string) map[string]Delivery {
	e.T.Helper()
	var ev struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	e.Do("GET", "/v1/events/"+eventID, key, nil).Want(e.T, http.StatusOK).Decode(e.T, &ev)
	out := map[string]Delivery{}
	for _, d := range ev.Deliveries {
		out[d.WebhookID] = d
	}
	return out
}

// Eventually polls cond until it holds, failing the test after Deadline.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", Deadline, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Request is one request a Receiver got.
type Request struct {
	N      int // 1-based
	Path   string
	Query  string // raw
	Header http.Header
	Body   []byte
}

// Reply is what a Receiver answers.
type Reply struct {
	Status int
	Header map[string]string
	Body   string
	// Block holds the answer until the channel is closed, the client goes
	// away or the test ends.
	Block <-chan struct{}
}

// Receiver is a webhook endpoint on 127.0.0.1 that records what it gets.
type Receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []Request
	arrived chan Request
	reply   func(Request) Reply
	done    chan struct{}
}

// NewReceiver answers each request with reply (200 when nil).
func NewReceiver(t testing.TB, reply func(Request) Reply) *Receiver {
	r := &Receiver{reply: reply, done: make(chan struct{}), arrived: make(chan Request, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		close(r.done)
		r.Server.Close()
	})
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	in := Request{N: len(r.reqs) + 1, Path: req.URL.Path, Query: req.URL.RawQuery, Header: req.Header.Clone(), Body: body}
	r.reqs = append(r.reqs, in)
	r.mu.Unlock()
	select {
	case r.arrived <- in:
	default:
	}
	rep := Reply{Status: http.StatusOK, Body: `{"code":"200","msg":"success"}`}
	if r.reply != nil {
		rep = r.reply(in)
	}
	if rep.Block != nil {
		select {
		case <-rep.Block:
		case <-req.Context().Done():
			return
		case <-r.done:
			return
		}
	}
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.Status)
	_, _ = io.WriteString(w, rep.Body)
}

// Requests returns what arrived so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Count is the number of requests so far.
func (r *Receiver) Count() int { return len(r.Requests()) }

// Arrived yields each request as it arrives (the first 100).
func (r *Receiver) Arrived() <-chan Request { return r.arrived }

// WaitCount waits until at least n requests arrived.
func (r *Receiver) WaitCount(t testing.TB, n int) []Request {
	t.Helper()
	Eventually(t, fmt.Sprintf("%d requests at %s", n, r.URL), func() bool { return r.Count() >= n })
	return r.Requests()
}

// Status returns a Reply of status.
func Status(code int) Reply { return Reply{Status: code, Body: http.StatusText(code)} }

// Sequence answers the n-th request with replies[n-1], then the last one.
func Sequence(replies ...Reply) func(Request) Reply {
	return func(r Request) Reply {
		if r.N <= len(replies) {
			return replies[r.N-1]
		}
		return replies[len(replies)-1]
	}
}

// At is the receiver's URL with path.
func (r *Receiver) At(path string) string { return strings.TrimSuffix(r.URL, "/") + path }

// History returns the whole history of a workflow's latest run.
func (e *Env) History(workflowID string) []*historypb.HistoryEvent {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	var out []*historypb.HistoryEvent
	it := e.TC.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			e.T.Fatalf("history of %s: %v", workflowID, err)
		}
		out = append(out, ev)
	}
	return out
}

// Timers returns the durations of the timers a workflow started, in order:
// the waits between attempts, as the workflow recorded them.
func (e *Env) Timers(workflowID string) []time.Duration {
	e.T.Helper()
	var out []time.Duration
	for _, ev := range e.History(workflowID) {
		if a := ev.GetTimerStartedEventAttributes(); a != nil {
			out = append(out, a.GetStartToFireTimeout().AsDuration())
		}
	}
	return out
}
