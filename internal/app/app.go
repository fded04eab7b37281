// Package app is the composition root: it builds webhookd's api process
// and its delivery worker from the configuration, for the binary and for
// tests alike (the "serverenv" of Google's exposure-notifications-server).
// A test hands in what it already has (a dbtest store, a Temporal client, a
// secrets box, a logger) and expresses the rest as configuration values, so
// it runs the same wiring as production.
package app

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/secretbox"
	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
	"github.com/esign-webhooks/esign-webhooks/pkg/events/schemas"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

// Options are what a caller already has; each nil one is built from the
// configuration (and closed by App.Close).
type Options struct {
	Store    *db.Store      // an open, migrated store; nil opens DATABASE_URL and migrates
	Temporal client.Client  // nil dials TEMPORAL_ADDRESS
	Box      *secretbox.Box // nil reads SECRETS_KEY, or SECRETS_KEY_FILE
	Log      *slog.Logger   // nil logs as LOG_LEVEL and LOG_FORMAT say
}

// App holds what the api process and the worker share. API and Worker
// build the two from it.
type App struct {
	Config    config.Config
	Log       *slog.Logger
	Store     *db.Store
	Box       *secretbox.Box
	Temporal  client.Client
	Metrics   *metrics.Metrics
	Workflows *workflowclient.Client // the API's: starts, signals and looks up workflows

	closers []func()
}

// New builds an App from cfg and what o already holds.
func New(ctx context.Context, cfg config.Config, o Options) (*App, error) {
	// The event schemas are compiled once, here: a broken one stops the
	// process now rather than failing its first event.
	if err := schemas.Load(); err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: o.Log, Store: o.Store, Box: o.Box, Temporal: o.Temporal, Metrics: metrics.New()}
	if a.Log == nil {
		a.Log = cfg.Logger()
	}
	if err := a.open(ctx); err != nil {
		a.Close()
		return nil, err
	}
	a.Workflows = workflowclient.New(&publish.Publisher{Client: a.Temporal, TaskQueue: cfg.TaskQueue,
		MaxDataBytes: cfg.MaxEventData, EagerStart: cfg.EagerStart})
	return a, nil
}

// open opens what the caller did not hand in.
func (a *App) open(ctx context.Context) error {
	var err error
	if a.Store == nil {
		if a.Store, err = openStore(ctx, a.Config, a.Config.DatabaseMaxConns, a.Log); err != nil {
			return err
		}
		a.closers = append(a.closers, func() { a.Store.Close() })
	}
	if a.Box == nil {
		if a.Box, err = secretsBox(a.Config, a.Log); err != nil {
			return err
		}
	}
	if a.Temporal == nil {
		if a.Temporal, err = dialTemporal(ctx, a.Config, a.Log); err != nil {
			return err
		}
		a.closers = append(a.closers, a.Temporal.Close)
	}
	return nil
}

// Close closes what New opened, last first.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// OpenStore opens a small store for a one-shot command (migrate, accounts,
// console-link) with the schema brought up to date first.
func OpenStore(ctx context.Context) (*db.Store, config.Config, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, config.Config{}, err
	}
	store, err := openStore(ctx, cfg, 2, cfg.Logger())
	return store, cfg, err
}

func openStore(ctx context.Context, cfg config.Config, maxConns int, log *slog.Logger) (*db.Store, error) {
	store, err := db.Open(ctx, cfg.DatabaseURL, maxConns)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx, log); err != nil {
		store.Close()
		return nil, err
	}
	// The log's partitions of now and the next period exist before
	// anything is stored (the upkeep adds the later ones).
	if _, err := store.EnsurePartitions(ctx, db.PartitionUnit(cfg.LogPartition)); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// secretsBox builds the cipher for webhook secrets at rest.
func secretsBox(cfg config.Config, log *slog.Logger) (*secretbox.Box, error) {
	var key []byte
	var err error
	if cfg.SecretsKey != "" {
		key, err = secretbox.ParseKey(string(cfg.SecretsKey))
	} else {
		var created bool
		key, created, err = secretbox.LoadOrCreateKeyFile(cfg.SecretsKeyFile)
		if created {
			log.Warn("generated a development secrets key; set SECRETS_KEY in production", "file", cfg.SecretsKeyFile)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("loading secrets key: %w", err)
	}
	return secretbox.New(key)
}
