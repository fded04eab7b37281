package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/secretbox"
	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/workflows"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

// Version names the build in the User-Agent of deliveries.
var Version = "0.1.0"

func dialTemporal(ctx context.Context, cfg config.Config, log *slog.Logger) (client.Client, error) {
	opts, err := temporalOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	return c, nil
}

// temporalOptions are the client options: address, namespace, TLS or mTLS
// and an API key when configured.
func temporalOptions(cfg config.Config, log *slog.Logger) (client.Options, error) {
	tlsCfg, err := cfg.TemporalTLSConfig()
	if err != nil {
		return client.Options{}, err
	}
	opts := client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    tlog.NewStructuredLogger(log.With("component", "temporal")),
		ConnectionOptions: client.ConnectionOptions{
			TLS: tlsCfg,
			// gRPC waits up to 10 s (the SDK's setting) between reconnects:
			// /readyz and the API would go on answering 503 that long after
			// Temporal is back. A reconnect a second is cheap.
			DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: 10 * time.Second,
			})},
		},
	}
	if !cfg.TemporalGzip() {
		opts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	}
	if cfg.TemporalAPIKey != "" {
		// Sent as "authorization: Bearer <key>" on every call, over TLS.
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.TemporalAPIKey)
	}
	return opts, nil
}

// newWorker builds the worker and its activities (whose SweepSlots the
// caller runs beside it).
func newWorker(cfg config.Config, log *slog.Logger, store *db.Store, box *secretbox.Box, tc client.Client, m *metrics.Metrics) (worker.Worker, *activities.Activities, error) {
	acts := &activities.Activities{
		Store:   store,
		Box:     box,
		Metrics: m,
		Log:     log,
		// Operational events start at once; the dispatcher's sweep (in
		// the api process) is the backstop.
		Publisher: &publish.Publisher{Client: tc, TaskQueue: cfg.TaskQueue},
		// This process in the queues of full webhooks (see SweepSlots).
		Worker: uuid.NewString(),
		Client: egress.NewClient(egress.Options{
			AllowCIDRs: cfg.AllowCIDRs,
			Timeout:    cfg.DeliveryTimeout,
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
			UserAgent:              "esign-webhooks/" + Version,
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
	return w, acts, nil
}
