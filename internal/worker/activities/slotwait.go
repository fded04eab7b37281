package activities

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

// An attempt queued at a full webhook first waits inside the worker, up
// to Settings.SlotWait, for a slot to be handed to it, before it goes back
// to its workflow to wait durably (a timer, the slot's signal, a workflow
// task and a visibility update: about three times the cost of a delivery
// that never waited). In a burst over a webhook's maximum, slots turn over
// in milliseconds, so most queued attempts get theirs within the wait.
// A slot handed by another worker reaches the waiter by a PostgreSQL
// notification (ListenSlots). One lost only costs that waiter: its slot's
// hold (db.HandOffLease) runs out and the sweep hands it on, and the
// waiter comes back by its workflow's fallback poll.

// slotWait is one Deliver call's chance to wait in its worker for a slot.
type slotWait struct {
	a   *Activities
	id  uuid.UUID
	may bool          // queued in a workflow, with the wait on, not asked yet
	d   time.Duration // registered to wait this long; 0: no room
}

// slotWait registers the attempt of delivery id, queued (if at all) as
// the workflow queue, to wait in this worker, when there is room.
func (a *Activities) slotWait(id uuid.UUID, queue string) *slotWait {
	w := &slotWait{a: a, id: id, may: queue != "" && a.Settings.SlotWait > 0}
	if w.may && a.slotWaiters.reserve(id, a.Settings.SlotWaiters) {
		w.d = a.Settings.SlotWait
	}
	return w
}

// handed is asked after the attempt asked for its slot; full says it
// queued at a full webhook. The first time, a registered attempt that
// queued waits, and handed reports whether a slot was handed to it; any
// other answer is false.
func (w *slotWait) handed(ctx context.Context, full bool) bool {
	if !w.may {
		return false
	}
	w.may = false
	switch {
	case w.d == 0:
		if full {
			w.a.Metrics.ObserveSlotWait("no_room")
		}
		return false
	case !full:
		w.a.slotWaiters.cancel(w.id)
		return false
	}
	if w.a.slotWaiters.await(ctx, w.id, w.d) {
		w.a.Metrics.ObserveSlotWait("handed")
		return true
	}
	w.a.Metrics.ObserveSlotWait("queued")
	return false
}

// slotWaiters are the attempts of this worker that may wait in-process
// for a slot, by delivery: a slot handed to one of them (Activities.wake,
// ListenSlots) is passed to it here instead of by a signal to its
// workflow.
type slotWaiters struct {
	mu sync.Mutex
	m  map[uuid.UUID]chan struct{}
}

// reserve registers delivery id as a waiter, unless max are registered:
// each waiter holds one of the worker's local activity slots, which
// deliveries to other webhooks need too. An attempt registers before it
// asks for its slot, so a slot handed to it in the moment after it queued
// finds it, and the database knows whether it waits in the worker
// (db.GateInput.InWorker). await or cancel ends the registration.
func (w *slotWaiters) reserve(id uuid.UUID, max int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.m) >= max {
		return false
	}
	if w.m == nil {
		w.m = map[uuid.UUID]chan struct{}{}
	}
	w.m[id] = make(chan struct{})
	return true
}

// cancel ends a registration not used to wait.
func (w *slotWaiters) cancel(id uuid.UUID) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

// await waits, as the registered delivery id, up to d for a slot to be
// handed to it, and reports whether one was.
func (w *slotWaiters) await(ctx context.Context, id uuid.UUID, d time.Duration) bool {
	w.mu.Lock()
	ch, ok := w.m[id]
	w.mu.Unlock()
	if !ok {
		return true // handed already
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[id] != ch {
		return true // handed to it (at the latest as the wait ended)
	}
	delete(w.m, id)
	return false
}

// hand passes a slot handed to delivery id to its in-process waiter, and
// reports whether there was one.
func (w *slotWaiters) hand(id uuid.UUID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.m[id]
	if ok {
		delete(w.m, id)
		close(ch)
	}
	return ok
}

// ListenSlots passes to a's waiting attempts the slots other workers hand
// them (db.SlotsChannel), until ctx ends; ready, if not nil, is called
// once it listens. A notification lost (a connection dropped) only
// delays the waiter: its wait runs out and its workflow, signalled too,
// takes the slot. (A function, not a method: every exported method of
// Activities is registered as an activity.)
func ListenSlots(ctx context.Context, a *Activities, ready func()) {
	report := func(ev pq.ListenerEventType, err error) {
		if err != nil && ctx.Err() == nil {
			a.log().Warn("listening for handed slots", "event", ev, "err", err)
		}
	}
	err := a.Store.Listen(ctx, db.SlotsChannel, report, ready, func(payload string) {
		if id, err := uuid.Parse(payload); err == nil {
			a.slotWaiters.hand(id)
		}
	})
	if err != nil {
		a.log().Error("listening for handed slots; they reach waiters by signal only", "err", err)
	}
}
