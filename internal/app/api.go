package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/api"
	"github.com/esign-webhooks/esign-webhooks/internal/console"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/internal/outbox"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
)

// API is the api process: the REST API and the admin console on one
// handler, and the outbox that starts the workflows of what they store.
type API struct {
	app     *App
	Outbox  *outbox.Outbox
	Handler http.Handler
}

// API builds the api process (once per App: it registers the webhook
// health gauges on Metrics).
func (a *App) API() (*API, error) {
	a.Metrics.CollectHealth(a.webhookHealth)
	ob := outbox.New(a.Store, a.Workflows, a.Log, outbox.Options{
		Metrics: a.Metrics,
		// An attempt's timeout, plus the delay RECONCILE_AFTER allows.
		DeliveryStaleAfter: a.Config.DeliveryTimeout + a.Config.ReconcileAfter,
		// A waiting delivery checks its turn at least every ORDER_RECHECK_MAX.
		WaitingStaleAfter: a.Config.OrderRecheckMax + a.Config.ReconcileAfter,
		NoticeWindow:      a.Config.NoticeDigestWindow,
		InWorkers:         a.Config.DispatchInWorkers,
	})
	// The REST API and the console do the same things through one service
	// layer, and share the listener.
	svc := service.New(service.Deps{Config: a.Config, Log: a.Log, Store: a.Store, Box: a.Box, Workflows: a.Workflows,
		Outbox: ob})
	rest := api.New(api.Deps{Config: a.Config, Log: a.Log, Store: a.Store, Workflows: a.Workflows, Service: svc,
		Metrics: a.Metrics})
	con, err := console.New(console.Deps{Config: a.Config, Log: a.Log, Store: a.Store, Service: svc})
	if err != nil {
		return nil, err
	}
	return &API{app: a, Outbox: ob, Handler: console.Handler(rest, con)}, nil
}

func (a *App) webhookHealth(ctx context.Context) ([]metrics.WebhookHealth, error) {
	rows, err := a.Store.UnhealthyWebhooks(ctx)
	out := make([]metrics.WebhookHealth, len(rows))
	for i, r := range rows {
		out[i] = metrics.WebhookHealth{WebhookID: r.WebhookID.String(), AccountID: r.AccountID.String(),
			ConsecutiveFailures: r.ConsecutiveFailures, OldestUndelivered: time.Duration(r.OldestSeconds * float64(time.Second))}
	}
	return out, err
}

// Server is the HTTP server of Handler on HTTP_ADDR. POST
// /v1/webhooks/{id}/test waits up to the webhook's attempt timeout (at most
// the longer of DeliveryTimeout and schedule.MaxTimeout) + 15s for the
// delivery before answering.
func (p *API) Server() *http.Server {
	longest := max(p.app.Config.DeliveryTimeout, schedule.MaxTimeout)
	return api.NewServer(p.app.Config.HTTPAddr, p.Handler, longest+30*time.Second)
}

// Background runs the loops beside the handler until ctx ends: the outbox
// (dispatcher and reconciler) and the upkeep.
func (p *API) Background(ctx context.Context) {
	done := make(chan struct{})
	go func() { defer close(done); p.Outbox.Run(ctx) }()
	p.app.upkeep(ctx)
	<-done
}

// Serve serves HTTP_ADDR until ctx ends, then shuts down gracefully.
func (p *API) Serve(ctx context.Context) error {
	addr := p.app.Config.HTTPAddr
	ln, err := api.Listen(addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := p.Server()
	shutdown := make(chan error, 1)
	go func() {
		<-ctx.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- srv.Shutdown(ctx)
	}()
	p.app.Log.Info("api listening", "addr", "http://"+addr)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving http: %w", err)
	}
	// Serve returns at once; Shutdown waits for the requests in flight.
	return <-shutdown
}

// upkeep runs the periodic clean-ups every minute until ctx ends: it
// erases previous secrets whose grace period has ended (signing already
// ignores them), expired console links and sessions, adds the log's
// partitions of the next period, drops those past RETENTION, and purges
// audit records older than AUDIT_RETENTION.
func (a *App) upkeep(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		a.eraseExpired(ctx)
		a.ensurePartitions(ctx)
		if a.Config.Retention > 0 {
			a.dropExpired(ctx)
		}
		if a.Config.AuditRetention > 0 {
			a.purgeAuditLog(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *App) eraseExpired(ctx context.Context) {
	switch n, err := a.Store.EraseExpiredSecrets(ctx, time.Now()); {
	case err != nil && ctx.Err() == nil:
		a.Log.Warn("erasing expired secrets", "err", err)
	case n > 0:
		a.Log.Info("erased previous secrets after their grace period", "count", n)
	}
	switch n, err := a.Store.PurgeConsole(ctx, time.Now(), a.Config.ConsoleSessionIdle); {
	case err != nil && ctx.Err() == nil:
		a.Log.Warn("purging console sign-ins", "err", err)
	case n > 0:
		a.Log.Debug("purged expired console links and sessions", "count", n)
	}
}

func (a *App) ensurePartitions(ctx context.Context) {
	switch n, err := a.Store.EnsurePartitions(ctx, db.PartitionUnit(a.Config.LogPartition)); {
	case err != nil && ctx.Err() == nil:
		a.Log.Warn("adding log partitions", "err", err)
	case n > 0:
		a.Log.Info("added log partitions", "periods", n, "unit", a.Config.LogPartition)
	}
}

// dropExpired drops the log's periods past RETENTION; one with work in
// progress waits up to the longest retry schedule.
func (a *App) dropExpired(ctx context.Context) {
	r, err := a.Store.DropExpiredPartitions(ctx, time.Now().Add(-a.Config.Retention), schedule.MaxTotal)
	if err != nil && ctx.Err() == nil {
		a.Log.Warn("dropping expired log partitions", "err", err)
	}
	if len(r.Dropped) > 0 {
		a.Log.Info("dropped log periods past the retention period", "periods", r.Dropped, "retention", a.Config.Retention)
	}
	if len(r.Held) > 0 {
		a.Log.Info("kept log periods past the retention period: deliveries in progress", "periods", r.Held)
	}
}

func (a *App) purgeAuditLog(ctx context.Context) {
	switch n, err := a.Store.PurgeAuditLog(ctx, time.Now().Add(-a.Config.AuditRetention), 1000); {
	case err != nil && ctx.Err() == nil:
		a.Log.Warn("purging old audit records", "err", err)
	case n > 0:
		a.Log.Info("purged audit records past AUDIT_RETENTION", "count", n, "retention", a.Config.AuditRetention)
	}
}
