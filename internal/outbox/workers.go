package outbox

// The workers mode (OUTBOX_DISPATCH=workers, the default when `webhookd
// api` and `webhookd worker` run apart): the worker processes start the
// workflows of stored events, so Temporal hands each new workflow's first
// task straight to the worker that started it (eager start), which only a
// worker's own client can ask for. The api process names each event it
// stored on a PostgreSQL notification (batched: one per burst); each
// worker's Dispatcher hears them all and starts those that belong to it:
// the live dispatchers, from their heartbeat rows, share events by
// rendezvous hashing, so one worker starts each without a write per
// event. A worker killed (it never left) drops out of the others' live
// set within beatTTL; they then start its share of the events notified
// lately (takeOver). What a notification misses all the same (a
// connection lost, dispatchers disagreeing for a moment after one joined)
// the api process's sweep starts after StaleAfter, as always; a start by two
// workers at once is harmless (starting is idempotent on the id). While
// no dispatcher is alive the api process starts events itself.

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
)

const (
	// beatEvery is how often a dispatcher writes its heartbeat and learns
	// who else is alive; one silent for beatTTL is taken for gone.
	beatEvery = 2 * time.Second
	beatTTL   = 3 * beatEvery
	// maxNotifyBatch bounds the events named in one notification.
	maxNotifyBatch = 50
	// keepHeard is how long a dispatcher remembers the events notified,
	// so that it can start a departed one's share: longer than the
	// beatTTL (plus a beat) it takes to notice a killed one, and than a
	// start queue takes to drain.
	keepHeard = beatTTL + 4*beatEvery
)

// notifier is the api process's side: it names stored events to the
// dispatchers, one notification per burst.
type notifier struct {
	store   *db.Store
	log     *slog.Logger
	metrics *metrics.Metrics
	keys    chan db.EventKey
	// alive: a dispatcher wrote its heartbeat lately (checked every
	// beatEvery); while none has, Enqueue starts events itself.
	alive atomic.Bool
}

func newNotifier(store *db.Store, log *slog.Logger, m *metrics.Metrics, size int) *notifier {
	return &notifier{store: store, log: log, metrics: m, keys: make(chan db.EventKey, size)}
}

func (n *notifier) enqueue(e db.Event) {
	select {
	case n.keys <- db.EventKey{AccountID: e.AccountID, ID: e.ID, CreatedAt: e.CreatedAt}:
	default:
		n.log.Warn("notification queue full; the sweep will start the event", "eventId", e.ID)
	}
}

// run sends notifications and watches the dispatchers' liveness until ctx
// ends.
func (n *notifier) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); n.watch(ctx) }()
	defer wg.Wait()
	for {
		var first db.EventKey
		select {
		case <-ctx.Done():
			return
		case first = <-n.keys:
		}
		// Whatever queued up meanwhile goes in the same notification.
		batch := []db.EventKey{first}
	drain:
		for len(batch) < maxNotifyBatch {
			select {
			case k := <-n.keys:
				batch = append(batch, k)
			default:
				break drain
			}
		}
		n.send(ctx, batch)
	}
}

// send notifies batch, halved until each payload fits PostgreSQL's limit.
func (n *notifier) send(ctx context.Context, batch []db.EventKey) {
	payload, err := json.Marshal(batch)
	if err != nil {
		n.log.Error("encoding a notification", "err", err)
		return
	}
	if len(payload) > db.MaxNotifyBytes && len(batch) > 1 {
		n.send(ctx, batch[:len(batch)/2])
		n.send(ctx, batch[len(batch)/2:])
		return
	}
	if err := n.store.NotifyEvents(ctx, payload); err != nil && ctx.Err() == nil {
		n.log.Warn("notifying the workers of stored events; the sweep will start them", "events", len(batch), "err", err)
	}
}

func (n *notifier) watch(ctx context.Context) {
	n.check(ctx)
	every(ctx, beatEvery, func() { n.check(ctx) })
}

// check counts the live dispatchers: Enqueue leaves starts to them while
// there is one.
func (n *notifier) check(ctx context.Context) {
	live, err := n.store.LiveDispatchers(ctx, beatTTL)
	if err != nil && ctx.Err() == nil {
		n.log.Warn("checking the workers' dispatchers", "err", err)
	}
	n.metrics.SetDispatchers(live)
	switch was := n.alive.Swap(live > 0); {
	case !was && live > 0:
		n.log.Info("worker processes start stored events", "dispatchers", live)
	case was && live == 0:
		n.log.Warn("no worker's dispatcher is alive; this process starts stored events itself")
	}
}

// Dispatcher is a worker process's side of the workers mode: it starts
// the workflows of the notified events that belong to it, eagerly.
type Dispatcher struct {
	store *db.Store
	log   *slog.Logger
	id    uuid.UUID
	start *starter
	// live are the dispatchers alive at the last heartbeat, sorted.
	live  atomic.Pointer[[]uuid.UUID]
	mu    sync.Mutex  // guards heard
	heard []heardKeys // oldest first, within keepHeard
}

// heardKeys are the events of one notification, and when it came.
type heardKeys struct {
	at   time.Time
	keys []db.EventKey
}

// NewDispatcher builds a dispatcher that starts workflows through pub, a
// publisher on the client of this process's worker with eager start.
func NewDispatcher(store *db.Store, pub *workflowclient.Client, log *slog.Logger, m *metrics.Metrics) *Dispatcher {
	d := &Dispatcher{store: store, log: log, id: uuid.New(), start: newStarter(pub, log, m, "notify", 10000)}
	d.live.Store(&[]uuid.UUID{d.id})
	return d
}

// Run listens and starts events until ctx ends, then leaves the live set
// so the others take its share at once.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	listening := false
	err := d.store.Listen(ctx, db.EventsChannel, d.report, func() {
		listening = true
		d.beat(ctx)
		wg.Add(2)
		go func() { defer wg.Done(); d.start.run(ctx, 16) }()
		go func() { defer wg.Done(); every(ctx, beatEvery, func() { d.beat(ctx) }) }()
	}, func(payload string) {
		d.handle(ctx, payload) // a reconnection's gap: the sweep starts what was missed
	})
	if err != nil {
		return fmt.Errorf("listening for stored events: %w", err)
	}
	if listening {
		d.leave()
	}
	return nil
}

// leave takes this dispatcher out of the live set and tells the others,
// which take its share at once (an empty notification: see handle).
func (d *Dispatcher) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := d.store.LeaveDispatchers(ctx, d.id)
	if err == nil {
		err = d.store.NotifyEvents(ctx, []byte("[]"))
	}
	if err != nil {
		d.log.Warn("leaving the dispatchers; the others notice within "+beatTTL.String(), "err", err)
	}
}

// Live returns the dispatchers alive at the last heartbeat, this one
// included.
func (d *Dispatcher) Live() []uuid.UUID { return slices.Clone(*d.live.Load()) }

func (d *Dispatcher) report(ev pq.ListenerEventType, err error) {
	if err != nil {
		d.log.Warn("listening for stored events; the sweep starts those missed", "event", ev, "err", err)
	}
}

// beat writes the heartbeat and learns the live set; when dispatchers
// left it, this one starts its share of the events they owned.
func (d *Dispatcher) beat(ctx context.Context) {
	live, err := d.store.DispatcherBeat(ctx, d.id, beatTTL)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("dispatcher heartbeat", "err", err)
		}
		return
	}
	was := *d.live.Swap(&live)
	if gone := slices.DeleteFunc(slices.Clone(was), func(id uuid.UUID) bool {
		return slices.Contains(live, id)
	}); len(gone) > 0 {
		d.takeOver(ctx, was, live, gone)
	}
}

// takeOver starts the events heard lately that belonged to a departed
// dispatcher (gone, out of was) and now belong to this one: a killed
// worker's share then waits a heartbeat's TTL, not the api's sweep. Those
// it started before it went are skipped (dispatched already).
func (d *Dispatcher) takeOver(ctx context.Context, was, live, gone []uuid.UUID) {
	d.mu.Lock()
	heard := slices.Clone(d.heard)
	d.mu.Unlock()
	var mine []db.EventKey
	for _, h := range heard {
		for _, k := range h.keys {
			if slices.Contains(gone, Owner(was, k)) && Owner(live, k) == d.id {
				mine = append(mine, k)
			}
		}
	}
	d.log.Info("dispatchers left; starting their share of recent events", "left", len(gone), "events", len(mine))
	d.startUndispatched(ctx, mine)
}

// hear remembers the events of a notification for keepHeard.
func (d *Dispatcher) hear(keys []db.EventKey) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	i := 0
	for i < len(d.heard) && now.Sub(d.heard[i].at) > keepHeard {
		i++
	}
	d.heard = append(d.heard[i:], heardKeys{at: now, keys: keys})
}

// handle starts the notified events that are this dispatcher's.
func (d *Dispatcher) handle(ctx context.Context, payload string) {
	keys, err := db.ParseEventKeys(payload)
	if err != nil {
		d.log.Warn("ignoring a notification", "err", err)
		return
	}
	if len(keys) == 0 { // a dispatcher left
		d.beat(ctx)
		return
	}
	d.hear(keys)
	live := *d.live.Load()
	mine := slices.DeleteFunc(slices.Clone(keys), func(k db.EventKey) bool { return Owner(live, k) != d.id })
	d.startUndispatched(ctx, mine)
}

// startUndispatched queues the starts of the events of keys that are not
// started yet.
func (d *Dispatcher) startUndispatched(ctx context.Context, keys []db.EventKey) {
	evs, err := d.store.UndispatchedByKeys(ctx, keys)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("reading notified events; the sweep will start them", "err", err)
		}
		return
	}
	for _, e := range evs {
		d.start.enqueue(e)
	}
}

// Owner is the dispatcher among live that starts the event k: the one
// with the highest hash of (dispatcher, event) (rendezvous hashing: when
// one joins or leaves, only the events it takes or gave up move).
func Owner(live []uuid.UUID, k db.EventKey) uuid.UUID {
	var best uuid.UUID
	var top uint64
	for i, id := range live {
		h := fnv.New64a()
		h.Write(id[:])
		h.Write(k.AccountID[:])
		h.Write([]byte(k.ID))
		if v := mix(h.Sum64()); i == 0 || v > top {
			best, top = id, v
		}
	}
	return best
}

// mix is MurmurHash3's 64-bit finalizer: FNV's high bits alone split
// events unevenly (measured 20/20/60 % among three).
func mix(v uint64) uint64 {
	v ^= v >> 33
	v *= 0xff51afd7ed558ccd
	v ^= v >> 33
	v *= 0xc4ceb9fe1a85ec53
	v ^= v >> 33
	return v
}
