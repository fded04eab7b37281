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
// notification (ListenSlots); if that is lost, the wait stays below
// db.HandOffLease, so the slot is still held for it when its workflow
// comes back for it (woken by the signal sent too).

// slotWaiters are the attempts of this worker waiting in-process for a
// slot, by delivery: a slot handed to one of them (Activities.wake) is
// passed to it here instead of by a signal to its workflow.
type slotWaiters struct {
	mu      sync.Mutex
	m       map[uuid.UUID]chan struct{}
	tickets int // reserved by attempts about to ask for a slot, or waiting
}

// reserve takes a ticket to wait, unless max are taken: each waiter holds
// one of the worker's local activity slots, which deliveries to other
// webhooks need too. A ticket is reserved before the attempt asks for its
// slot, so the database knows whether it will wait in the worker
// (db.GateInput.InWorker); await or release gives it back.
func (w *slotWaiters) reserve(max int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tickets >= max {
		return false
	}
	w.tickets++
	return true
}

// release gives back a ticket not used to wait.
func (w *slotWaiters) release() {
	w.mu.Lock()
	w.tickets--
	w.mu.Unlock()
}

// await waits, on a reserved ticket, up to d for a slot to be handed to
// delivery id, and reports whether one was.
func (w *slotWaiters) await(ctx context.Context, id uuid.UUID, d time.Duration) bool {
	ch := make(chan struct{})
	w.mu.Lock()
	if w.m == nil {
		w.m = map[uuid.UUID]chan struct{}{}
	}
	w.m[id] = ch
	w.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tickets--
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
	l := a.Store.Listener(func(ev pq.ListenerEventType, err error) {
		if err != nil && ctx.Err() == nil {
			a.log().Warn("listening for handed slots", "event", ev, "err", err)
		}
	})
	defer l.Close()
	listening := make(chan error, 1)
	go func() { listening <- l.Listen(db.SlotsChannel) }()
	select {
	case <-ctx.Done():
		return
	case err := <-listening:
		if err != nil {
			a.log().Error("listening for handed slots; they reach waiters by signal only", "err", err)
			return
		}
	}
	if ready != nil {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-l.Notify:
			if n == nil {
				continue // reconnected
			}
			if id, err := uuid.Parse(n.Extra); err == nil {
				a.slotWaiters.hand(id)
			}
		}
	}
}
