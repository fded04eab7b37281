package app

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
	"github.com/esign-webhooks/esign-webhooks/internal/outbox"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/workflows"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

// Version names the build in the User-Agent of deliveries.
var Version = "0.1.0"

// Worker is the delivery worker: the Temporal worker with the workflows
// and activities, and beside it the sweep that hands the slots of lost
// requests to the deliveries waiting for them, and the fold that keeps the
// delivery statistics.
type Worker struct {
	app       *App
	w         worker.Worker
	acts      *activities.Activities
	stopLoops context.CancelFunc
	loops     sync.WaitGroup
	// identity is the worker's name in Temporal (its pollers, the
	// histories' task events): readiness looks for it among the pollers.
	identity string
	state    *workerState
	// dispatch starts this worker's share of stored events (the outbox's
	// workers mode), nil otherwise.
	dispatch *outbox.Dispatcher
}

// Worker builds the worker on TEMPORAL_TASK_QUEUE.
func (a *App) Worker() *Worker {
	cfg := a.Config
	acts := &activities.Activities{
		Store:   a.Store,
		Box:     a.Box,
		Metrics: a.Metrics,
		Log:     a.Log,
		// Operational events start at once; the dispatcher's sweep (in
		// the api process) is the backstop.
		Workflows: workflowclient.New(&publish.Publisher{Client: a.Temporal, TaskQueue: cfg.TaskQueue}),
		// This process in the queues of full webhooks (see SweepSlots).
		Worker: uuid.NewString(),
		// Notices to notification channels: e-mail and team chats.
		Notices: activities.Noticer{Sender: service.NewNotifier(cfg), ConsoleBase: cfg.ConsoleBaseURL},
		Client: egress.NewClient(egress.Options{
			AllowCIDRs: cfg.AllowCIDRs,
			// A backstop only: each attempt has its own deadline, the
			// webhook's timeout (up to schedule.MaxTimeout) or the global one.
			Timeout: max(cfg.DeliveryTimeout, schedule.MaxTimeout),
			Proxy:   cfg.DeliveryProxy,
		}),
		Settings: activities.Settings{
			AttemptTimeout:         cfg.DeliveryTimeout,
			Retries:                cfg.Retries,
			RetryAfterMax:          cfg.RetryAfterMax,
			ResponseMaxBytes:       cfg.ResponseBodyMaxBytes,
			HealthDisableAfter:     cfg.HealthDisableAfter,
			HealthDisableExhausted: cfg.HealthDisableExhausted,
			ThrottleBase:           cfg.ThrottleBackoffBase,
			ThrottleMax:            cfg.ThrottleBackoffMax,
			TurnRecheckMax:         cfg.OrderRecheckMax,
			UserAgent:              "esign-webhooks/" + Version,
			Proxy:                  cfg.DeliveryProxy.Addr(),
			SlotWait:               cfg.SlotWait,
			// Half the local activity slots at most, so deliveries to
			// webhooks below their maximum always find one.
			SlotWaiters: cfg.WorkerActivitySlots / 2,
		},
	}
	state := &workerState{}
	// Unique per worker, not per process (the SDK's default, pid@host):
	// tests run several workers in one process.
	identity := fmt.Sprintf("%d@%s@%s", os.Getpid(), hostname(), acts.Worker[:8])
	w := worker.New(a.Temporal, cfg.TaskQueue, worker.Options{
		Identity: identity,
		// The SDK stops polling after a fatal error; readiness says so.
		OnFatalError: func(err error) {
			a.Log.Error("the worker stopped polling", "err", err)
			state.set(false, err)
		},
		MaxConcurrentWorkflowTaskPollers: cfg.WorkerWorkflowPollers,
		// Attempts run as local activities: these slots bound the deliveries
		// in flight in this worker.
		MaxConcurrentLocalActivityExecutionSize: cfg.WorkerActivitySlots,
		// On shutdown, let attempts in flight finish rather than be retried.
		WorkerStopTimeout: cfg.DeliveryTimeout + 5*time.Second,
	})
	workflows.Register(w)
	if cfg.DeliveryProxy.IsSet() {
		// Proxy's String leaves its credentials out.
		a.Log.Info("deliveries go through a forward proxy", "proxy", cfg.DeliveryProxy)
	}
	w.RegisterActivityWithOptions(acts, activity.RegisterOptions{})
	wk := &Worker{app: a, w: w, acts: acts, identity: identity, state: state}
	if cfg.DispatchInWorkers {
		// On this worker's client: Temporal hands the first task to it.
		pub := workflowclient.New(&publish.Publisher{Client: a.Temporal, TaskQueue: cfg.TaskQueue,
			MaxDataBytes: cfg.MaxEventData, EagerStart: true})
		wk.dispatch = outbox.NewDispatcher(a.Store, pub, a.Log, a.Metrics)
	}
	return wk
}

// Start starts polling, the slot sweep and the statistics fold.
func (w *Worker) Start() error {
	if err := w.w.Start(); err != nil {
		return fmt.Errorf("starting worker: %w", err)
	}
	w.state.set(true, nil)
	ctx, cancel := context.WithCancel(context.Background())
	w.stopLoops = cancel
	w.loops.Add(2)
	go func() {
		defer w.loops.Done()
		activities.SweepSlots(ctx, w.acts, activities.SweepEvery)
	}()
	if w.acts.Settings.SlotWait > 0 {
		w.loops.Add(1)
		go func() {
			defer w.loops.Done()
			activities.ListenSlots(ctx, w.acts, nil)
		}()
	}
	if w.dispatch != nil {
		w.loops.Add(1)
		go func() {
			defer w.loops.Done()
			if err := w.dispatch.Run(ctx); err != nil {
				// The api process's sweep starts the events, later.
				w.app.Log.Error("the outbox dispatcher stopped", "err", err)
			}
		}()
	}
	go func() {
		defer w.loops.Done()
		w.app.keepStats(ctx)
	}()
	w.app.Log.Info("worker started", "taskQueue", w.app.Config.TaskQueue, "identity", w.identity)
	return nil
}

// Stop stops what Start started, letting attempts in flight finish.
func (w *Worker) Stop() {
	w.state.set(false, nil)
	w.stopLoops()
	w.loops.Wait()
	w.w.Stop()
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// Run runs the worker until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	w.Stop()
	return nil
}
