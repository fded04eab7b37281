package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/esign-webhooks/esign-webhooks/activities"
	"github.com/esign-webhooks/esign-webhooks/config"
	"github.com/esign-webhooks/esign-webhooks/db"
	"github.com/esign-webhooks/esign-webhooks/egress"
	"github.com/esign-webhooks/esign-webhooks/metrics"
	"github.com/esign-webhooks/esign-webhooks/secretbox"
	"github.com/esign-webhooks/esign-webhooks/workflows"
)

// Version names the build in the User-Agent of deliveries.
var Version = "0.1.0"

func dialTemporal(ctx context.Context, cfg config.Config, log *slog.Logger) (client.Client, error) {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    tlog.NewStructuredLogger(log.With("component", "temporal")),
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	return c, nil
}

func newWorker(cfg config.Config, log *slog.Logger, store *db.Store, box *secretbox.Box, tc client.Client, m *metrics.Metrics) (worker.Worker, error) {
	acts := &activities.Activities{
		Store:   store,
		Box:     box,
		Metrics: m,
		Client: egress.NewClient(egress.Options{
			AllowCIDRs: cfg.AllowCIDRs,
			Timeout:    cfg.DeliveryTimeout,
		}),
		Settings: activities.Settings{
			AttemptTimeout:   cfg.DeliveryTimeout,
			Retries:          cfg.Retries,
			RetryAfterMax:    cfg.RetryAfterMax,
			ResponseMaxBytes: cfg.ResponseBodyMaxBytes,
			UserAgent:        "esign-webhooks/" + Version,
		},
	}
	w := worker.New(tc, cfg.TaskQueue, worker.Options{
		MaxConcurrentWorkflowTaskPollers: cfg.WorkerWorkflowPollers,
		// Attempts run as local activities: these slots bound the deliveries
		// in flight in this worker.
		MaxConcurrentLocalActivityExecutionSize: cfg.WorkerActivitySlots,
		// On shutdown, let attempts in flight finish rather than be retried.
		WorkerStopTimeout: cfg.DeliveryTimeout + 5*time.Second,
	})
	workflows.Register(w)
	w.RegisterActivityWithOptions(acts, activity.RegisterOptions{})
	return w, nil
}
