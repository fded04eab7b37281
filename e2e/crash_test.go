package e2e_test

import (
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
)

// TestWorkerCrashLosesNothing runs the real webhookd binary as the worker,
// SIGKILLs it while an attempt is in flight, starts another one and checks
// the event is still delivered, once recorded, with the same webhook-id.
func TestWorkerCrashLosesNothing(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{NoWorker: true, Settings: &activities.Settings{
		AttemptTimeout: 2 * time.Second,
		Retries:        []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second},
	}})
	start := func() *e2etest.Process {
		return e.StartProcess("worker", "DELIVERY_TIMEOUT=2s", "DELIVERY_RETRY_SCHEDULE=200ms,500ms,1s")
	}

	_, key := e.Account("professional")
	killed := make(chan struct{})
	rcv := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		if r.N == 1 {
			// Hold the first attempt until its worker is dead.
			return e2etest.Reply{Status: 200, Block: killed}
		}
		return e2etest.Status(200)
	})
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})

	first := start()
	p := e.Publish(key, e2etest.Event{})
	rcv.WaitCount(t, 1)
	first.Kill(t)
	close(killed)

	start()
	res := e.Result(p.WorkflowID)
	if len(res.Deliveries) != 1 || res.Deliveries[0].Status != "succeeded" {
		t.Fatalf("result %+v", res)
	}
	d := e.Delivery(key, res.Deliveries[0].DeliveryID)
	// The lost attempt was made again under the same number: two rows in
	// the log, as the receiver got two POSTs — the first without an
	// outcome (its worker died), the second its next try, answered 200.
	if d.Status != "succeeded" || len(d.Attempts) != 2 {
		t.Fatalf("delivery %+v", d)
	}
	lost, retried := d.Attempts[0], d.Attempts[1]
	if lost.Number != 1 || lost.Try != 1 || lost.Outcome != "unknown" ||
		retried.Number != 1 || retried.Try != 2 || retried.Outcome != "answered" || *retried.ResponseStatus != 200 {
		t.Fatalf("attempts %+v", d.Attempts)
	}
	reqs := rcv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("receiver got %d requests, want 2 (the killed attempt and its retry)", len(reqs))
	}
	for _, r := range reqs {
		if r.Header.Get("webhook-id") != d.MessageID {
			t.Fatalf("webhook-id %q, want %q", r.Header.Get("webhook-id"), d.MessageID)
		}
	}
}
