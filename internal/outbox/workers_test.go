package outbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/sdk/client"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/internal/outbox"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

// Owner is rendezvous hashing: every dispatcher gets a share, and when one
// leaves only its events move.
func TestOwnerMovesOnlyTheLeaversEvents(t *testing.T) {
	live := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	acct := uuid.New()
	share := map[uuid.UUID]int{}
	for i := range 3000 {
		k := db.EventKey{AccountID: acct, ID: fmt.Sprintf("ev-%d", i)}
		was := outbox.Owner(live, k)
		share[was]++
		now := outbox.Owner(live[:2], k)
		if was != live[2] && now != was {
			t.Fatalf("event %s moved from %s to %s although its owner stayed", k.ID, was, now)
		}
	}
	for _, id := range live {
		if share[id] < 800 {
			t.Errorf("dispatcher %s owns %d of 3000 events; want about 1000", id, share[id])
		}
	}
}

// The workers mode: with two dispatchers alive, the api process's outbox
// starts nothing itself; the notified events are started, each by exactly
// one dispatcher, both take a share; once one leaves, the other starts
// everything.
func TestWorkersModeStartsEachEventOnce(t *testing.T) {
	store, tc, _, acct := setup(t)
	ob, apiMetrics, queue := workersOutbox(t, store, tc)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type worker struct {
		d    *outbox.Dispatcher
		m    *metrics.Metrics
		stop context.CancelFunc
		done chan struct{}
	}
	var workers []worker
	for range 2 {
		w := worker{m: metrics.New(), done: make(chan struct{})}
		pub := workflowclient.New(&publish.Publisher{Client: tc, TaskQueue: queue, EagerStart: true})
		w.d = outbox.NewDispatcher(store, pub, discard, w.m)
		var wctx context.Context
		wctx, w.stop = context.WithCancel(ctx)
		go func() { defer close(w.done); _ = w.d.Run(wctx) }()
		workers = append(workers, w)
	}
	waitFor(t, "the api process to see the dispatchers", ob.WorkersAlive)
	waitFor(t, "the dispatchers to see each other", func() bool {
		return len(workers[0].d.Live()) == 2 && len(workers[1].d.Live()) == 2
	})

	started := func(w worker) int {
		return counter(t, w.m, "notify")
	}
	publish := func(n int) {
		var evs []db.Event
		for range n {
			e := storeEvent(t, store, acct)
			ob.Enqueue(e)
			evs = append(evs, e)
		}
		for _, e := range evs {
			waitFor(t, "the workflow of "+e.ID, func() bool {
				_, err := tc.DescribeWorkflow(context.Background(), e.WorkflowID, "")
				return err == nil
			})
			runID(t, tc, e.WorkflowID)
		}
	}
	publish(40)
	a, b := started(workers[0]), started(workers[1])
	if a+b != 40 || a == 0 || b == 0 {
		t.Fatalf("dispatchers started %d and %d workflows of 40 events; want a share each, 40 in all", a, b)
	}
	if n := counter(t, apiMetrics, "queue"); n != 0 {
		t.Fatalf("the api process started %d itself", n)
	}

	// What the workflows' first activity does (no worker runs them here):
	// else the remaining dispatcher would start the leaver's recent events
	// again (takeOver), as undispatched.
	if _, err := store.DB().Exec(`UPDATE events SET dispatched_at = now() WHERE account_id = $1`, acct); err != nil {
		t.Fatal(err)
	}
	// One leaves (a clean shutdown, which it announces): the other starts
	// every event.
	workers[1].stop()
	<-workers[1].done
	waitFor(t, "the remaining dispatcher to hear of it", func() bool { return len(workers[0].d.Live()) == 1 })
	publish(20)
	if a2, b2 := started(workers[0]), started(workers[1]); a2 != a+20 || b2 != b {
		t.Fatalf("after one left: %d and %d started (were %d and %d); want all 20 by the first", a2, b2, a, b)
	}
}

// workersOutbox runs, until t ends, the api process's outbox in the
// workers mode (no sweep for an hour), on a task queue of its own.
func workersOutbox(t *testing.T, store *db.Store, tc client.Client) (*outbox.Outbox, *metrics.Metrics, string) {
	queue := "workers-test-" + uuid.NewString()
	m := metrics.New()
	ob := outbox.New(store, workflowclient.New(&publish.Publisher{Client: tc, TaskQueue: queue}),
		slog.New(slog.NewTextHandler(io.Discard, nil)), outbox.Options{StaleAfter: time.Hour, Metrics: m, InWorkers: true})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go ob.Run(ctx)
	return ob, m, queue
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// counter reads webhookd_dispatch_starts_total{via, result="started"}.
func counter(t *testing.T, m *metrics.Metrics, via string) int {
	t.Helper()
	var out dto.Metric
	if err := m.Dispatched.WithLabelValues(via, "started").Write(&out); err != nil {
		t.Fatal(err)
	}
	return int(out.GetCounter().GetValue())
}

// A dispatcher that dies without leaving (a killed worker: here one that
// beat once and never again) owns a share of the events notified until the
// others drop it, a heartbeat's TTL later; then they start that share
// themselves, not the api process's sweep (an hour away here).
func TestKilledDispatchersShareIsTakenOver(t *testing.T) {
	store, tc, _, acct := setup(t)
	ob, apiMetrics, queue := workersOutbox(t, store, tc)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	killed := uuid.New()
	if _, err := store.DispatcherBeat(ctx, killed, time.Minute); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	d := outbox.NewDispatcher(store, workflowclient.New(&publish.Publisher{Client: tc, TaskQueue: queue, EagerStart: true}), discard, m)
	go func() { _ = d.Run(ctx) }()
	waitFor(t, "the dispatcher to see the killed one", func() bool { return len(d.Live()) == 2 })
	live := d.Live()
	waitFor(t, "the api process to see the dispatchers", ob.WorkersAlive)

	var evs []db.Event
	theirs := 0
	for range 20 {
		e := storeEvent(t, store, acct)
		if outbox.Owner(live, db.EventKey{AccountID: acct, ID: e.ID}) == killed {
			theirs++
		}
		ob.Enqueue(e)
		evs = append(evs, e)
	}
	if theirs == 0 {
		t.Fatal("the killed dispatcher owns none of the 20 events; the test proves nothing")
	}
	for _, e := range evs {
		waitFor(t, "the workflow of "+e.ID, func() bool {
			_, err := tc.DescribeWorkflow(context.Background(), e.WorkflowID, "")
			return err == nil
		})
		runID(t, tc, e.WorkflowID)
	}
	if n, api := counter(t, m, "notify"), counter(t, apiMetrics, "queue")+counter(t, apiMetrics, "sweep"); n != 20 || api != 0 {
		t.Fatalf("the live dispatcher started %d of 20 (%d were the killed one's), the api process %d; want all 20 by the dispatcher", n, theirs, api)
	}
	if len(d.Live()) != 1 {
		t.Fatalf("live set %v, want the killed one dropped", d.Live())
	}
}
