package outbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

const (
	signalTimeout = 2 * time.Minute
	signalGrace   = 10 * time.Second
)

// Enqueue asks for e's workflow to be started soon: by this process, or,
// in the workers mode, by the worker process it belongs to (workers.go).
// It never blocks: when a queue is full the sweep starts the event later.
func (o *Outbox) Enqueue(e db.Event) {
	if o.WorkersAlive() {
		o.notify.enqueue(e)
		return
	}
	o.local.enqueue(e)
}

// WorkersAlive reports whether, in the workers mode, a worker's
// dispatcher wrote its heartbeat lately: Enqueue then leaves the start to
// it.
func (o *Outbox) WorkersAlive() bool { return o.notify != nil && o.notify.alive.Load() }

// dispatch starts queued events and sweeps for stale ones until ctx ends.
func (o *Outbox) dispatch(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); o.local.run(ctx, o.opts.Workers) }()
	if o.notify != nil {
		wg.Add(1)
		go func() { defer wg.Done(); o.notify.run(ctx) }()
	}
	every(ctx, o.opts.SweepEvery, func() {
		// While the queue is busy its events are merely waiting, not lost.
		if len(o.local.queue) > 0 {
			return
		}
		if n, err := o.Sweep(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("sweeping undispatched events", "err", err)
		} else if n > 0 {
			o.log.Info("started workflows of undispatched events", "count", n)
		}
	})
}

// every runs fn every d, the first time after d, until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// Sweep starts the workflows of events stored more than StaleAfter ago that
// no workflow has recorded yet, at most 20 per account so one account's
// stuck events never hold back another's. Starting is idempotent on the
// workflow id, so an event whose workflow is merely slow is not delivered
// twice; an event whose workflow already completed (its record was lost) is
// reconciled from the workflow's result instead of started forever; an
// event that cannot be started backs off on its own schedule.
func (o *Outbox) Sweep(ctx context.Context) (int, error) {
	stale, err := o.store.UndispatchedEvents(ctx, o.opts.StaleAfter, 20, 500)
	if err != nil {
		return 0, err
	}
	started := 0
	var firstErr error
	for _, e := range stale {
		// One event that cannot be started must not hold back the others.
		res, err := o.start(ctx, e)
		o.opts.Metrics.ObserveDispatch("sweep", err)
		if err == nil && res.Existed {
			var done bool
			if done, err = o.reconcileEvent(ctx, e); err == nil && !done {
				err = errors.New("its workflow is running but has not recorded the event yet")
			}
		}
		// Back off either way: a started workflow records the event at once,
		// and one that has not after a while needs looking at less often.
		o.backOff(ctx, e, err)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		started++
	}
	return started, firstErr
}

// backOff records a sweep's try and when to look again: doubling from
// StaleAfter (the time a started workflow gets to record its event) up to
// an hour. A failure is logged with the event, and the
// event's dispatch_error says why until its workflow records it.
func (o *Outbox) backOff(ctx context.Context, e db.Event, cause error) {
	wait := o.opts.StaleAfter << min(e.DispatchTries, 10)
	if wait > time.Hour || wait <= 0 {
		wait = time.Hour
	}
	reason := "started by the sweep; waiting for its workflow to record the event"
	if cause != nil {
		reason = cause.Error()
	}
	tries, err := o.store.NoteDispatch(ctx, e.AccountID, e.ID, time.Now().Add(wait), reason)
	if err != nil || cause == nil {
		return
	}
	o.log.Warn("event not dispatched; backing off", "accountId", e.AccountID, "eventId", e.ID,
		"tries", tries, "retryIn", wait, "err", cause)
}

// StopDeliveries signals, in the background, the workflows of the
// webhook's unfinished deliveries so their waits end now (see
// StopPending). After a long receiver outage there can be thousands of
// pending deliveries: too many to signal within a request.
func (o *Outbox) StopDeliveries(webhookID uuid.UUID, reason string) {
	o.signals.Add(1)
	go func() {
		defer o.signals.Done()
		ctx, cancel := context.WithTimeout(o.bg, signalTimeout)
		defer cancel()
		n, err := StopPending(ctx, o.store, o.pub, webhookID, reason)
		switch {
		case err != nil:
			o.log.Warn("listing pending deliveries", "webhookId", webhookID, "err", err)
		case ctx.Err() != nil:
			o.log.Warn("stopping pending deliveries was cut short; the rest stop at their next attempt",
				"webhookId", webhookID, "workflows", n)
		}
	}()
}

// waitSignals waits for background signalling, for signalGrace at most.
func (o *Outbox) waitSignals() {
	done := make(chan struct{})
	go func() { o.signals.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(signalGrace):
		o.cancelBg()
		<-done
	}
	o.cancelBg()
}
