package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
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
	if cfg.TemporalAPIKey != "" {
		// Sent as "authorization: Bearer <key>" on every call, over TLS.
		opts.Credentials = client.NewAPIKeyStaticCredentials(string(cfg.TemporalAPIKey))
	}
	return opts, nil
}
