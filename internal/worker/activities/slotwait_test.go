package activities

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// An attempt queued at a full webhook (one slot, held by a request the
// receiver keeps) waits in the worker: handed the slot when that request
// ends, it sends there and then, without going back to its workflow —
// also when the request was another worker's (the slot comes by a
// PostgreSQL notification: no workflow here could be signalled). Without
// room for another waiter, or once its wait runs out, it goes back
// queued, as before, and leaves no waiter behind.
func TestQueuedAttemptWaitsInTheWorker(t *testing.T) {
	for _, tc := range []struct {
		name    string
		wait    time.Duration
		waiters int
		handed  bool
		other   bool // the first attempt is another worker's
	}{
		{"handed", 30 * time.Second, 10, true, false},
		{"handed by another worker", 30 * time.Second, 10, true, true},
		{"no room", 30 * time.Second, 0, false, false},
		{"wait ran out", 200 * time.Millisecond, 10, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var calls, inFlight, most atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				if n > most.Load() {
					most.Store(n)
				}
				if calls.Add(1) == 1 {
					<-release
				}
			}))
			defer srv.Close()
			a, ds := deliveriesTo(t, srv.URL, 1, 2)
			a.Settings.SlotWait, a.Settings.SlotWaiters, a.Metrics = tc.wait, tc.waiters, metrics.New()
			waiter := a // the worker of the second attempt
			if tc.other {
				waiter = &Activities{Store: a.Store, Box: a.Box, Client: a.Client, Settings: a.Settings, Metrics: metrics.New()}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				ready := make(chan struct{})
				go ListenSlots(ctx, waiter, func() { close(ready) })
				<-ready
			}

			// The first attempt (outside a workflow: it never queues) takes
			// the slot and is held by the receiver.
			first := make(chan error, 1)
			go func() {
				_, err := a.Deliver(context.Background(), DeliverInput{DeliveryID: ds[0].ID.String(), Series: 1, Attempt: 1})
				first <- err
			}()
			for calls.Load() == 0 {
				time.Sleep(10 * time.Millisecond)
			}

			// The second, in an activity, queues.
			var env testsuite.WorkflowTestSuite
			aenv := env.NewTestActivityEnvironment()
			aenv.RegisterActivity(waiter)
			second := make(chan flow.AttemptResult, 1)
			go func() {
				var res flow.AttemptResult
				v, err := aenv.ExecuteActivity(waiter.Deliver, DeliverInput{DeliveryID: ds[1].ID.String(), Series: 1, Attempt: 1})
				if err == nil {
					err = v.Get(&res)
				}
				if err != nil {
					res.Error = err.Error()
				}
				second <- res
			}()
			if tc.handed {
				for waiting(waiter) == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			} else {
				res := <-second
				if res.Outcome != delivery.OutcomeThrottled || !res.Queued {
					t.Fatalf("second attempt: %+v, want throttled and queued", res)
				}
			}
			close(release)
			if err := <-first; err != nil {
				t.Fatalf("first attempt: %v", err)
			}
			if tc.handed {
				if res := <-second; res.Outcome != delivery.OutcomeSucceeded {
					t.Fatalf("second attempt: %+v, want sent in the same call", res)
				}
			}
			if want := int32(1 + btoi(tc.handed)); calls.Load() != want || most.Load() != 1 {
				t.Fatalf("%d requests, at most %d at once; want %d, one at a time", calls.Load(), most.Load(), want)
			}
			if waiting(a)+waiting(waiter) != 0 {
				t.Fatalf("%d waiters left behind", waiting(waiter))
			}
			metrics := scrape(waiter.Metrics)
			want := map[string]int{"handed": 0, "queued": 0, "no_room": 0}
			switch {
			case tc.handed:
				want["handed"] = 1
			case tc.waiters == 0:
				want["no_room"] = 1
			default:
				want["queued"] = 1
			}
			for result, n := range want {
				line := fmt.Sprintf(`webhookd_slot_waits_total{result=%q} 1`, result)
				if strings.Contains(metrics, line) != (n == 1) {
					t.Errorf("metrics say %s: %v, want %d", line, strings.Contains(metrics, line), n)
				}
			}
		})
	}
}

func scrape(m *metrics.Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// waiting counts a's attempts registered to wait (see reserve).
func waiting(a *Activities) int {
	a.slotWaiters.mu.Lock()
	defer a.slotWaiters.mu.Unlock()
	return len(a.slotWaiters.m)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
