package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/tracing"
)

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
	if cfg.Tracing() {
		// The SDK's OpenTelemetry interceptor: a span per workflow start,
		// signal, workflow task and activity, its context carried in the
		// Temporal headers. On the client it also intercepts the worker
		// built from it (the SDK applies a client interceptor that is also
		// a worker interceptor to its workers). It adds headers, never
		// commands: recorded histories replay with or without it.
		ti, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
			Tracer: tracing.Provider().Tracer("temporal-sdk-go"), TextMapPropagator: tracing.Propagator,
			DisableBaggage: true, DisableQueryTracing: true})
		if err != nil {
			return client.Options{}, err
		}
		opts.Interceptors = append(opts.Interceptors, ti)
	}
	if cfg.TemporalAPIKey != "" {
		// Sent as "authorization: Bearer <key>" on every call, over TLS.
		opts.Credentials = client.NewAPIKeyStaticCredentials(string(cfg.TemporalAPIKey))
	}
	return opts, nil
}
