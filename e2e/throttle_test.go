package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// arrivals records when each POST reached a receiver, by webhook-id.
type arrivals struct {
	mu       sync.Mutex
	at       []time.Time
	ids      map[string]int
	inFlight int
	maxSeen  int
}

func newArrivals() *arrivals { return &arrivals{ids: map[string]int{}} }

// enter records a POST and returns a function to call just before it is
// answered.
func (a *arrivals) enter(r e2etest.Request) (leave func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at = append(a.at, time.Now())
	a.ids[r.Header.Get("webhook-id")]++
	a.inFlight++
	a.maxSeen = max(a.maxSeen, a.inFlight)
	return func() {
		a.mu.Lock()
		a.inFlight--
		a.mu.Unlock()
	}
}

func (a *arrivals) snapshot() (at []time.Time, ids map[string]int, maxSeen int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.at), maps(a.ids), a.maxSeen
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// waitDistinct waits until n distinct webhook-ids arrived, up to limit.
func (a *arrivals) waitDistinct(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		_, ids, _ := a.snapshot()
		if len(ids) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries arrived after %s", len(ids), n, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rate is (n−1)/(last−first) over the arrival times.
func rate(at []time.Time) float64 {
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	return float64(len(at)-1) / at[len(at)-1].Sub(at[0]).Seconds()
}

// throttledWorkflows lists the workflows waiting on the webhook's throttle.
func throttledWorkflows(t *testing.T, e *e2etest.Env, hook string) int {
	t.Helper()
	res, err := e.TC.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WebhookThrottled = '%s'", hook),
	})
	if err != nil {
		t.Fatalf("listing throttled workflows: %v", err)
	}
	return len(res.Executions)
}

type throttleView struct {
	MaxConcurrency     int      `json:"maxConcurrency"`
	RateLimitPerSecond *float64 `json:"rateLimitPerSecond"`
	Throttle           struct {
		Throttled bool       `json:"throttled"`
		Until     *time.Time `json:"until"`
		Step      int        `json:"step"`
	} `json:"throttle"`
}

func getThrottle(t *testing.T, e *e2etest.Env, key, hook string) throttleView {
	t.Helper()
	var v throttleView
	e.Do("GET", "/v1/webhooks/"+hook, key, nil).Want(t, http.StatusOK).Decode(t, &v)
	return v
}

// A 503 with a Retry-After to one delivery holds back every delivery to
// that webhook until the Retry-After has passed — they wait without
// attempting (no attempt rows), listed in the Temporal UI by
// WebhookThrottled and shown throttled by the API — and once the receiver
// answers again the throttle is cleared.
func TestThrottleHoldsBackEveryDelivery(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{Settings: settings(func(s *activities.Settings) {
		s.RetryAfterMax = 10 * time.Second
	})})
	_, key := e.Account("professional")
	// Long enough for the listing below to be seen on a loaded machine
	// before the throttle ends (3 s was not, under -race and load).
	const retryAfter = 8 * time.Second
	arr := newArrivals()
	rcv := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		arr.enter(r)()
		if r.N == 1 {
			return e2etest.Reply{Status: 503, Header: map[string]string{"Retry-After": strconv.Itoa(int(retryAfter.Seconds()))}, Body: "busy"}
		}
		return e2etest.Status(200)
	})
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})

	first := e.Publish(key, e2etest.Event{})
	rcv.WaitCount(t, 1)
	at, _, _ := arr.snapshot()
	answered := at[0]
	var others []e2etest.Published
	for range 5 {
		others = append(others, e.Publish(key, e2etest.Event{}))
	}
	// Held back, visibly: the API says throttled, the Temporal UI lists
	// the workflows waiting on it.
	v := getThrottle(t, e, key, hook)
	if !v.Throttle.Throttled || v.Throttle.Step != 1 || v.Throttle.Until == nil ||
		v.Throttle.Until.Before(answered.Add(retryAfter-100*time.Millisecond)) {
		t.Fatalf("throttle while held back: %+v", v.Throttle)
	}
	e2etest.Eventually(t, "the held-back workflows listed by WebhookThrottled", func() bool {
		return throttledWorkflows(t, e, hook) == len(others)
	})
	if n := rcv.Count(); n != 1 {
		t.Fatalf("%d requests during the throttle", n)
	}

	for _, p := range append(others, first) {
		if res := e.Result(p.WorkflowID); len(res.Deliveries) != 1 || res.Deliveries[0].Status != "succeeded" {
			t.Fatalf("result %+v", res)
		}
	}
	at, _, _ = arr.snapshot()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	if len(at) != len(others)+2 {
		t.Fatalf("%d requests, want %d (one 503, then each delivery once)", len(at), len(others)+2)
	}
	if gap := at[1].Sub(answered); gap < retryAfter-50*time.Millisecond {
		t.Fatalf("a request %s after the 503, before its Retry-After (%s)", gap, retryAfter)
	}
	// Waiting was not attempting: each held-back delivery has one attempt.
	for _, p := range others {
		for _, d := range e.EventDeliveries(key, p.EventID) {
			if d.AttemptCount != 1 {
				t.Fatalf("delivery %s: %d attempts, want 1", d.ID, d.AttemptCount)
			}
		}
	}
	v = getThrottle(t, e, key, hook)
	if v.Throttle.Throttled || v.Throttle.Step != 0 || v.Throttle.Until != nil {
		t.Fatalf("throttle after the receiver answered again: %+v", v.Throttle)
	}
	e2etest.Eventually(t, "no workflow listed as throttled any more", func() bool {
		return throttledWorkflows(t, e, hook) == 0
	})
}

// twoWorkers runs two real `webhookd worker` processes on the Env's queue,
// and warms them up (a few deliveries to a webhook of another account), so
// what a test measures is the throttle, not the workers' start.
func twoWorkers(t *testing.T) *e2etest.Env {
	e := e2etest.New(t, e2etest.Options{NoWorker: true})
	for range 2 {
		e.StartProcess("worker", "DELIVERY_TIMEOUT=5s")
	}
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/warm-up")})
	for range 10 {
		e.Publish(key, e2etest.Event{})
	}
	rcv.WaitCount(t, 10)
	return e
}

// A webhook limited to 2 requests at once never has more in flight, across
// two worker processes, and everything is delivered, once.
func TestMaxConcurrencyAcrossWorkers(t *testing.T) {
	t.Parallel()
	e := twoWorkers(t)
	_, key := e.Account("professional")
	arr := newArrivals()
	rcv := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		leave := arr.enter(r)
		time.Sleep(300 * time.Millisecond)
		leave()
		return e2etest.Status(200)
	})
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/slow"), MaxConcurrency: ptr(2)})
	if v := getThrottle(t, e, key, hook); v.MaxConcurrency != 2 {
		t.Fatalf("maxConcurrency %d", v.MaxConcurrency)
	}
	const n = 20
	for range n {
		e.Publish(key, e2etest.Event{})
	}
	arr.waitDistinct(t, n, e2etest.Deadline)
	time.Sleep(500 * time.Millisecond) // anything more would show now
	at, ids, maxSeen := arr.snapshot()
	t.Logf("%d requests, at most %d at once", len(at), maxSeen)
	if len(at) != n || len(ids) != n {
		t.Fatalf("%d requests for %d deliveries, want one each", len(at), len(ids))
	}
	if maxSeen > 2 {
		t.Fatalf("%d requests at once, want at most 2", maxSeen)
	}
}

// rateLimited publishes n events to a webhook limited to perSecond, with
// two worker processes, and checks they arrive at that rate ±10 %, each
// once.
func rateLimited(t *testing.T, n int, perSecond float64, strict bool) {
	e := twoWorkers(t)
	_, key := e.Account("professional")
	arr := newArrivals()
	rcv := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		arr.enter(r)()
		return e2etest.Status(200)
	})
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/limited"), RateLimitPerSecond: &perSecond})
	started := time.Now()
	for i := range n {
		e.Publish(key, e2etest.Event{ID: fmt.Sprintf("burst-%d", i)})
	}
	published := time.Since(started)
	expected := time.Duration(float64(n-1) / perSecond * float64(time.Second))
	arr.waitDistinct(t, n, expected+time.Minute)
	time.Sleep(time.Second) // anything more would show now
	at, ids, maxSeen := arr.snapshot()
	got := rate(at)
	t.Logf("%d events published in %s; %d requests arrived in %s: %.3f/s (limit %g/s), at most %d at once",
		n, published.Round(time.Millisecond), len(at), at[len(at)-1].Sub(at[0]).Round(time.Millisecond), got, perSecond, maxSeen)
	if len(at) != n || len(ids) != n {
		t.Fatalf("%d requests for %d deliveries, want one each", len(at), len(ids))
	}
	// The limiter's promise is "never faster": that holds however loaded
	// the machine. "Not slower" depends on the machine keeping up, so only
	// the long burst (run on purpose, on a quiet machine) checks it; timed
	// lower bounds do not belong in make test.
	if got > perSecond*1.1 || (strict && got < perSecond*0.9) {
		t.Fatalf("arrived at %.3f/s, want %g/s ± 10 %%", got, perSecond)
	}
}

// 100 events to a webhook limited to 10/s arrive no faster than 10/s (+10 %),
// none lost, with two workers sharing the limit (the rate is logged).
func TestRateLimitAcrossWorkers(t *testing.T) {
	t.Parallel()
	rateLimited(t, 100, 10, false)
}

// The burst: 1,000 events to a webhook limited to 5/s (about 200 s;
// THROTTLE_LONG=1 runs it).
func TestRateLimitLongBurst(t *testing.T) {
	if os.Getenv("THROTTLE_LONG") == "" {
		t.Skip("THROTTLE_LONG=1 runs the 1,000-event burst at 5/s (about 4 minutes)")
	}
	rateLimited(t, 1000, 5, true)
}

// waits counts a workflow's throttled waits (its timers: every answer here
// is a 200, so no timer is a retry) and the SignalSlotFree it got.
func waits(t *testing.T, e *e2etest.Env, workflowID string) (timers, wakes int) {
	t.Helper()
	for _, ev := range e.History(workflowID) {
		if ev.GetTimerStartedEventAttributes() != nil {
			timers++
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == flow.SignalSlotFree {
			wakes++
		}
	}
	return timers, wakes
}

// A webhook limited to 2 in flight with slow answers, two worker processes,
// one SIGKILLed mid-run: never more than 2 requests at once, every delivery
// arrives, the crash re-sends at most the requests the dead worker had in
// flight, and the deliveries waiting for a slot were woken when one came
// free (its own or the dead worker's, once its lease expired) rather than
// polling: about one wait each, where polling took several.
func TestQueuedDeliveriesWokenAfterWorkerKill(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{NoWorker: true})
	var workers []*e2etest.Process
	for range 2 {
		workers = append(workers, e.StartProcess("worker", "DELIVERY_TIMEOUT=5s"))
	}
	_, warmKey := e.Account("professional") // warm-up, as in twoWorkers
	warm := e2etest.NewReceiver(t, nil)
	e.CreateWebhook(warmKey, e2etest.Webhook{URL: warm.At("/warm-up")})
	for range 10 {
		e.Publish(warmKey, e2etest.Event{})
	}
	warm.WaitCount(t, 10)
	_, key := e.Account("professional")

	arr := newArrivals()
	rcv := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		leave := arr.enter(r)
		time.Sleep(500 * time.Millisecond)
		leave()
		return e2etest.Status(200)
	})
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/slow"), MaxConcurrency: ptr(2)})
	const n = 40
	var published []e2etest.Published
	for i := range n {
		published = append(published, e.Publish(key, e2etest.Event{ID: fmt.Sprintf("kill-%d", i)}))
	}
	arr.waitDistinct(t, n/3, e2etest.Deadline)
	workers[0].Kill(t)
	arr.waitDistinct(t, n, e2etest.Deadline)
	for _, p := range published {
		if res := e.Result(p.WorkflowID); len(res.Deliveries) != 1 || res.Deliveries[0].Status != "succeeded" {
			t.Fatalf("result %+v", res)
		}
	}
	at, ids, maxSeen := arr.snapshot()
	var timers, wakes int
	for _, p := range published {
		tm, wk := waits(t, e, p.WorkflowID)
		timers, wakes = timers+tm, wakes+wk
	}
	t.Logf("%d requests for %d deliveries, at most %d at once; %d throttled waits, %d wake-up signals",
		len(at), len(ids), maxSeen, timers, wakes)
	if maxSeen > 2 {
		t.Fatalf("%d requests at once, want at most 2", maxSeen)
	}
	if len(ids) != n || len(at) > n+2 {
		t.Fatalf("%d requests for %d deliveries: want each once, plus at most the 2 the dead worker had in flight", len(at), len(ids))
	}
	// Woken, not polling: with the polling back-off (200 ms growing by
	// half) 40 deliveries at 4/s waited about 6 times each (~240 timers);
	// woken, 1.5–1.7 each (a hand-off missed under load, or a waiter of
	// the dead worker signalled to queue again, adds one).
	if wakes == 0 || timers > 3*n {
		t.Fatalf("%d throttled waits and %d wake-ups for %d deliveries: want the waiters woken, at most 3 waits each on average",
			timers, wakes, n)
	}
}

func ptr[T any](v T) *T { return &v }
