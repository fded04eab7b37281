// Package outbox starts the delivery workflows of the events the API has
// stored and keeps the delivery log in step with them. The events table is
// the API's outbox: POST /v1/events answers once the event is in
// PostgreSQL, and the dispatcher starts its workflow at once from an
// in-memory queue. Whatever a crash, a full queue or a Temporal outage
// leaves unstarted is found again by a periodic sweep, so an accepted event
// is never lost and a slow Temporal never slows publishers down. The
// reconciler repairs the log where it drifted from what Temporal knows, and
// the outbox signals the workflows of a disabled or deleted webhook.
package outbox

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/internal/tracing"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

// Options tune an Outbox; zero values take the defaults.
type Options struct {
	Workers    int           // concurrent workflow starts (default 16)
	QueueSize  int           // events waiting in memory (default 10000)
	StaleAfter time.Duration // age at which the sweep restarts an event (default 30s)
	SweepEvery time.Duration // how often the sweep runs (default 5s)
	// DeliveryStaleAfter is how overdue an unfinished delivery's next step
	// (its first attempt, or the next one it scheduled) may be before the
	// reconciler checks its workflow (default 5m).
	DeliveryStaleAfter time.Duration
	// WaitingStaleAfter is the same for a delivery waiting for its turn
	// (ordered webhooks): it checks its turn again at least every
	// ORDER_RECHECK_MAX, so it is overdue only when it has not for longer
	// (default DeliveryStaleAfter).
	WaitingStaleAfter time.Duration
	ReconcileEvery    time.Duration // how often the reconciler runs (default 1m)
	// NoticeEvery is how often owed notices are handed to Temporal
	// (default 1s); NoticeWindow is a channel's digest window (default 1h).
	NoticeEvery  time.Duration
	NoticeWindow time.Duration
	Metrics      *metrics.Metrics
	// InWorkers: the worker processes start the workflows of stored events
	// (OUTBOX_DISPATCH=workers, workers.go); Enqueue names them on a
	// PostgreSQL notification instead, while a worker's dispatcher is
	// alive.
	InWorkers bool
}

// Outbox starts the workflows of stored events, reconciles the log with
// their outcomes, and signals the workflows of a webhook that was disabled
// or deleted; Run does the first two and waits for the signals on
// shutdown.
type Outbox struct {
	store *db.Store
	pub   *workflowclient.Client
	log   *slog.Logger
	opts  Options
	local *starter
	// notify names events to the workers' dispatchers (InWorkers), nil
	// otherwise.
	notify *notifier

	// Signalling runs in the background on bg (cancelled once Run has
	// waited signalGrace for it after shutdown began), tracked by signals.
	bg       context.Context
	cancelBg context.CancelFunc
	signals  sync.WaitGroup
}

// startTimeout bounds one workflow start.
const startTimeout = 30 * time.Second

// New builds an Outbox; Run makes it work.
func New(store *db.Store, pub *workflowclient.Client, log *slog.Logger, opts Options) *Outbox {
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
	if opts.DeliveryStaleAfter <= 0 {
		opts.DeliveryStaleAfter = 5 * time.Minute
	}
	opts.WaitingStaleAfter = max(opts.WaitingStaleAfter, opts.DeliveryStaleAfter)
	if opts.ReconcileEvery <= 0 {
		opts.ReconcileEvery = time.Minute
	}
	if opts.NoticeEvery <= 0 {
		opts.NoticeEvery = time.Second
	}
	if opts.NoticeWindow <= 0 {
		opts.NoticeWindow = time.Hour
	}
	bg, cancel := context.WithCancel(context.Background())
	o := &Outbox{store: store, pub: pub, log: log, opts: opts, bg: bg, cancelBg: cancel,
		local: newStarter(pub, log, opts.Metrics, "queue", opts.QueueSize)}
	if opts.InWorkers {
		o.notify = newNotifier(store, log, opts.Metrics, opts.QueueSize)
	}
	return o
}

// Run starts queued events, sweeps for stale ones and reconciles stale
// deliveries until ctx ends, then waits for background signalling.
func (o *Outbox) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); o.dispatchNotices(ctx) }()
	go func() { defer wg.Done(); o.dispatch(ctx) }()
	go func() { defer wg.Done(); o.reconcile(ctx) }()
	wg.Wait()
	o.waitSignals()
}

// Start starts the workflow of the stored event e: the one way the queue,
// the sweep, the reconciler and the worker's operational events start one.
// Starting is idempotent on the workflow id.
//
// It runs in a span "outbox start" continuing the trace of the request
// that stored the event (events.trace_parent), however much later and in
// whichever process: the Temporal interceptor then carries that trace into
// the workflow.
func Start(ctx context.Context, pub *workflowclient.Client, e db.Event) (publish.Result, error) {
	ctx, span := tracing.Tracer().Start(tracing.FromTraceParent(ctx, e.TraceParent), "outbox start",
		trace.WithAttributes(attribute.String("webhook.event.id", e.ID), attribute.String("webhook.event.type", e.Type)))
	defer span.End()
	ev := e.Event
	// The database's clock zone is not the event's: histories hold UTC.
	ev.OccurredAt = ev.OccurredAt.UTC()
	res, err := pub.StartStored(ctx, e.AccountID.String(), ev, e.CreatedAt)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "")
	}
	span.SetAttributes(attribute.Bool("webhook.workflow.existed", res.Existed))
	return res, err
}

// start is Start with a bound on how long Temporal may take.
func (o *Outbox) start(ctx context.Context, e db.Event) (publish.Result, error) {
	return startWithin(ctx, o.pub, e)
}

// startWithin is Start bounded by startTimeout: the one bound of the
// sweep, the reconciler and the queues alike.
func startWithin(ctx context.Context, pub *workflowclient.Client, e db.Event) (publish.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return Start(ctx, pub, e)
}

// StopPending signals the workflows of the webhook's unfinished deliveries
// that it changed (reason says how) so their waits end now, and returns how
// many there were. Best effort: each attempt also checks the webhook before
// sending, so a lost signal only delays the cancellation.
func StopPending(ctx context.Context, store *db.Store, pub *workflowclient.Client, webhookID uuid.UUID, reason string) (int, error) {
	ids, err := store.PendingWorkflows(ctx, webhookID)
	if err != nil {
		return 0, err
	}
	pub.SignalAll(ctx, ids, flow.WebhookChange{WebhookID: webhookID.String(), Reason: reason})
	return len(ids), nil
}
