// Package dispatch starts the delivery workflows of the events the API has
// stored. The events table is the API's outbox: POST /v1/events answers once
// the event is in PostgreSQL, and the dispatcher starts its workflow at once
// from an in-memory queue. Whatever a crash, a full queue or a Temporal
// outage leaves unstarted is found again by a periodic sweep, so an accepted
// event is never lost and a slow Temporal never slows publishers down. It
// also signals the workflows of a disabled or deleted webhook.
package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/internal/outbox/reconcile"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

// Options tune a Dispatcher; zero values take the defaults.
type Options struct {
	Workers    int           // concurrent workflow starts (default 16)
	QueueSize  int           // events waiting in memory (default 10000)
	StaleAfter time.Duration // age at which the sweep restarts an event (default 30s)
	SweepEvery time.Duration // how often the sweep runs (default 5s)
	Metrics    *metrics.Metrics
	// Reconciler repairs the log of an event whose workflow completed
	// although the event is not marked dispatched (optional).
	Reconciler *reconcile.Reconciler
}

// Dispatcher starts workflows for stored events, and signals the workflows
// of a webhook that was disabled or deleted; Run waits for both on shutdown.
type Dispatcher struct {
	store *db.Store
	pub   *publish.Publisher
	log   *slog.Logger
	opts  Options
	queue chan db.Event

	// Signalling runs in the background on bg (cancelled once Run has
	// waited signalGrace for it after shutdown began), tracked by signals.
	bg       context.Context
	cancelBg context.CancelFunc
	signals  sync.WaitGroup
}

const (
	signalTimeout = 2 * time.Minute
	signalGrace   = 10 * time.Second
)

// New builds a Dispatcher; Run makes it work.
func New(store *db.Store, pub *publish.Publisher, log *slog.Logger, opts Options) *Dispatcher {
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 10000
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = 30 * time.Second
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = 5 * time.Second
	}
	bg, cancel := context.WithCancel(context.Background())
	return &Dispatcher{store: store, pub: pub, log: log, opts: opts, queue: make(chan db.Event, opts.QueueSize),
		bg: bg, cancelBg: cancel}
}

// StopDeliveries signals, in the background, the workflows of the
// webhook's unfinished deliveries so their waits end now. Best effort: each
// attempt also checks the webhook before sending, so a lost signal only
// delays the cancellation. After a long receiver outage there can be
// thousands of pending deliveries: too many to signal within a request.
func (d *Dispatcher) StopDeliveries(webhookID uuid.UUID, reason string) {
	d.signals.Add(1)
	go func() {
		defer d.signals.Done()
		ctx, cancel := context.WithTimeout(d.bg, signalTimeout)
		defer cancel()
		ids, err := d.store.PendingWorkflows(ctx, webhookID)
		if err != nil {
			d.log.Warn("listing pending deliveries", "webhookId", webhookID, "err", err)
			return
		}
		d.pub.SignalAll(ctx, ids, flow.WebhookChange{WebhookID: webhookID.String(), Reason: reason})
		if ctx.Err() != nil {
			d.log.Warn("stopping pending deliveries was cut short; the rest stop at their next attempt",
				"webhookId", webhookID, "workflows", len(ids))
		}
	}()
}

// waitSignals waits for background signalling, for signalGrace at most.
func (d *Dispatcher) waitSignals() {
	done := make(chan struct{})
	go func() { d.signals.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(signalGrace):
		d.cancelBg()
		<-done
	}
	d.cancelBg()
}

// Enqueue asks for e's workflow to be started soon. It never blocks: when
// the queue is full the sweep starts the event later.
func (d *Dispatcher) Enqueue(e db.Event) {
	select {
	case d.queue <- e:
	default:
		d.log.Warn("dispatch queue full; the sweep will start the event", "eventId", e.ID)
	}
}

// Run starts queued events and sweeps for stale ones until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range d.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-d.queue:
					err := d.Start(ctx, e)
					d.opts.Metrics.ObserveDispatch("queue", err)
					if err != nil && ctx.Err() == nil {
						d.log.Warn("starting delivery workflow; the sweep will retry", "eventId", e.ID, "err", err)
					}
				}
			}
		}()
	}
	t := time.NewTicker(d.opts.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			d.waitSignals()
			return
		case <-t.C:
			// While the queue is busy its events are merely waiting, not lost.
			if len(d.queue) > 0 {
				continue
			}
			if n, err := d.Sweep(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("sweeping undispatched events", "err", err)
			} else if n > 0 {
				d.log.Info("started workflows of undispatched events", "count", n)
			}
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
func (d *Dispatcher) Sweep(ctx context.Context) (int, error) {
	stale, err := d.store.UndispatchedEvents(ctx, d.opts.StaleAfter, 20, 500)
	if err != nil {
		return 0, err
	}
	started := 0
	var firstErr error
	for _, e := range stale {
		// One event that cannot be started must not hold back the others.
		res, err := d.startEvent(ctx, e)
		d.opts.Metrics.ObserveDispatch("sweep", err)
		if err == nil && res.Existed && d.opts.Reconciler != nil {
			var done bool
			if done, err = d.opts.Reconciler.Event(ctx, e); err == nil && !done {
				err = errors.New("its workflow is running but has not recorded the event yet")
			}
		}
		// Back off either way: a started workflow records the event at once,
		// and one that has not after a while needs looking at less often.
		d.backOff(ctx, e, err)
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
func (d *Dispatcher) backOff(ctx context.Context, e db.Event, cause error) {
	wait := d.opts.StaleAfter << min(e.DispatchTries, 10)
	if wait > time.Hour || wait <= 0 {
		wait = time.Hour
	}
	reason := "started by the sweep; waiting for its workflow to record the event"
	if cause != nil {
		reason = cause.Error()
	}
	tries, err := d.store.NoteDispatch(ctx, e.AccountID, e.ID, time.Now().Add(wait), reason)
	if err != nil || cause == nil {
		return
	}
	d.log.Warn("event not dispatched; backing off", "accountId", e.AccountID, "eventId", e.ID,
		"tries", tries, "retryIn", wait, "err", cause)
}

// Start starts a stored event's workflow (the queue's path, and the
// reconciler's restart of an event whose last run failed).
func (d *Dispatcher) Start(ctx context.Context, e db.Event) error {
	_, err := d.startEvent(ctx, e)
	return err
}

func (d *Dispatcher) startEvent(ctx context.Context, e db.Event) (publish.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return d.pub.StartStored(ctx, e.AccountID.String(), events.Event{
		ID: e.ID, Type: e.Type, TriggerSource: e.TriggerSource, AppID: e.AppID,
		OccurredAt: e.OccurredAt.UTC(),
	})
}
