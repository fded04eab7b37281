package activities

import (
	"context"
	"math"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// A concurrency slot's lease: short, so the slots of a worker lost
// mid-request come free within leaseTTL (then the sweep hands them to
// waiting deliveries), and renewed every renewEvery while the request
// runs. A request answered within renewEvery — the common case — costs no
// renewal.
const (
	leaseTTL   = 3 * time.Second
	renewEvery = time.Second
)

// SweepEvery is how often each worker hands slots freed by an expired
// lease to waiting deliveries (SweepSlots).
const SweepEvery = time.Second

// queueAs is the workflow an attempt waits as in a full webhook's queue:
// the workflow running it, or none outside one (no queue: it polls).
func queueAs(ctx context.Context) string {
	if !activity.IsActivity(ctx) {
		return ""
	}
	return activity.GetInfo(ctx).WorkflowExecution.ID
}

// queuedWait is the fallback poll of an attempt waiting in a webhook's
// queue, after waits waits: a slot handed to it comes with a signal, so
// this only bounds how long a lost signal delays it: 10 s, growing by half
// each time, up to 30 s.
func queuedWait(waits int) time.Duration {
	return min(30*time.Second, time.Duration(float64(10*time.Second)*math.Pow(1.5, float64(min(waits, 10)))))
}

// keepLease renews the lease of the slot t took every renewEvery until
// the returned stop is called (it returns once renewing has stopped).
func (a *Activities) keepLease(ctx context.Context, t db.DeliveryTarget, in DeliverInput) (stop func()) {
	if t.Slot == 0 {
		return func() {}
	}
	l := db.Lease{WebhookID: t.WebhookID, Slot: t.Slot, DeliveryID: t.ID, Series: in.Series, Number: in.Attempt, Try: t.Try}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(renewEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			ok, err := a.Store.RenewLease(ctx, l, leaseTTL)
			switch {
			case err != nil:
				a.log().Warn("renewing a concurrency slot's lease", "deliveryId", l.DeliveryID, "err", err)
			case !ok:
				// Expired and taken by another request: this one stays
				// in flight, one over the webhook's maximum for now.
				a.log().Warn("concurrency slot lost while its request runs", "deliveryId", l.DeliveryID, "slot", l.Slot)
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// wake tells a waiter a slot was handed to: its attempt, when it waits in
// this worker (slotwait.go) or, by a notification, in another one
// (ListenSlots); else its workflow, by a signal. A lost notification or
// a failed signal is only logged: the hand-off lease expires and the
// sweep hands the slot on; the waiter comes back by its fallback poll.
func (a *Activities) wake(ctx context.Context, w db.Waiter) {
	if a.slotWaiters.hand(w.DeliveryID) {
		return
	}
	if w.InWorker {
		if err := a.Store.NotifySlot(ctx, w.DeliveryID); err != nil {
			a.log().Info("notifying a handed slot", "deliveryId", w.DeliveryID, "err", err)
		}
		return
	}
	if a.Workflows == nil {
		return
	}
	err := a.Workflows.SignalSlotFree(ctx, w.WorkflowID, flow.SlotFree{WebhookID: w.WebhookID.String(), DeliveryID: w.DeliveryID.String()})
	if err != nil {
		a.log().Info("waking a delivery waiting for a slot", "workflowId", w.WorkflowID, "deliveryId", w.DeliveryID, "err", err)
	}
}

// SweepSlots hands the slots of lost requests (expired leases) to the
// waiting deliveries of their webhooks and wakes those (and the waiters of
// dead workers, once), every interval, until ctx ends; it also keeps
// a.Worker seen. Every worker runs it beside a's worker; they skip what
// another holds. (A function, not a method: every exported method of
// Activities is registered as an activity.)
func SweepSlots(ctx context.Context, a *Activities, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ws, err := a.Store.HandFreedSlots(ctx, a.Worker)
		if err != nil {
			// Logged once per kind while the database is away.
			if err.Error() != lastErr && ctx.Err() == nil {
				a.log().Warn("handing freed concurrency slots", "err", err)
			}
			lastErr = err.Error()
			continue
		}
		lastErr = ""
		for _, w := range ws {
			a.wake(ctx, w)
		}
	}
}
