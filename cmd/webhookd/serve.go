package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/esign-webhooks/esign-webhooks/internal/api"
	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/console"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/secretbox"
	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/internal/outbox"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
)

// run starts the API, the worker, or both, until ctx ends.
func run(ctx context.Context, withAPI, withWorker bool) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := cfg.Logger()
	slog.SetDefault(log)
	cfg.EagerStart = withAPI && withWorker

	store, err := db.Open(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx, log); err != nil {
		return err
	}
	box, err := loadSecretsBox(cfg, log)
	if err != nil {
		return err
	}
	tc, err := dialTemporal(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer tc.Close()

	m := metrics.New()
	g, ctx := errgroup.WithContext(ctx)
	if withWorker {
		w, acts, err := newWorker(cfg, log, store, box, tc, m)
		if err != nil {
			return err
		}
		g.Go(func() error {
			if err := w.Start(); err != nil {
				return fmt.Errorf("starting worker: %w", err)
			}
			log.Info("worker started", "taskQueue", cfg.TaskQueue)
			<-ctx.Done()
			w.Stop()
			return nil
		})
		// Slots of lost requests go to the deliveries waiting for them.
		g.Go(func() error {
			activities.SweepSlots(ctx, acts, activities.SweepEvery)
			return nil
		})
	}
	if withAPI {
		m.CollectHealth(func(ctx context.Context) ([]metrics.WebhookHealth, error) {
			rows, err := store.UnhealthyWebhooks(ctx)
			out := make([]metrics.WebhookHealth, len(rows))
			for i, r := range rows {
				out[i] = metrics.WebhookHealth{WebhookID: r.WebhookID.String(), AccountID: r.AccountID.String(),
					ConsecutiveFailures: r.ConsecutiveFailures, OldestUndelivered: time.Duration(r.OldestSeconds * float64(time.Second))}
			}
			return out, err
		})
		pub := api.NewPublisher(cfg, tc)
		disp := outbox.New(store, pub, log, outbox.Options{Metrics: m, DeliveryStaleAfter: staleAfter(cfg)})
		g.Go(func() error { disp.Run(ctx); return nil })
		apiHandler := api.New(api.Deps{Config: cfg, Log: log, Store: store, Box: box, Publisher: pub,
			Dispatcher: disp, Metrics: m})
		// The admin console shares the listener: /console, and the API
		// behind it, called in-process.
		con, err := console.New(console.Deps{Config: cfg, Log: log, Store: store, API: apiHandler})
		if err != nil {
			return err
		}
		// POST /v1/webhooks/{id}/test waits up to DeliveryTimeout+15s for
		// the delivery before answering.
		srv := api.NewServer(cfg.HTTPAddr, console.Handler(apiHandler, con), cfg.DeliveryTimeout+30*time.Second)
		ln, err := api.Listen(cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", cfg.HTTPAddr, err)
		}
		g.Go(func() error {
			log.Info("api listening", "addr", "http://"+cfg.HTTPAddr)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serving http: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(shutdownCtx)
		})
	}
	if withAPI {
		g.Go(func() error { maintain(ctx, cfg, store, log); return nil })
	}
	if cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.Handler())
		g.Go(func() error { return serveOps(ctx, "metrics", cfg.MetricsAddr+"/metrics", cfg.MetricsAddr, mux, log) })
	}
	if cfg.PprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		g.Go(func() error { return serveOps(ctx, "pprof", cfg.PprofAddr+"/debug/pprof/", cfg.PprofAddr, mux, log) })
	}
	err = g.Wait()
	log.Info("stopped")
	return err
}

// staleAfter is how overdue a delivery's next step may be before the
// reconciler checks its workflow: an attempt's timeout plus RECONCILE_AFTER.
func staleAfter(cfg config.Config) time.Duration {
	return cfg.DeliveryTimeout + cfg.ReconcileAfter
}

// loadSecretsBox builds the cipher for webhook secrets at rest.
func loadSecretsBox(cfg config.Config, log *slog.Logger) (*secretbox.Box, error) {
	var key []byte
	var err error
	if cfg.SecretsKey != "" {
		key, err = secretbox.ParseKey(cfg.SecretsKey)
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

func migrate(ctx context.Context) error {
	store, _, err := openMigrated(ctx)
	if err != nil {
		return err
	}
	return store.Close()
}

// openMigrated opens a small store for a one-shot command (migrate,
// accounts, console-link) with the schema brought up to date first.
func openMigrated(ctx context.Context) (*db.Store, config.Config, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, config.Config{}, err
	}
	store, err := db.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return nil, config.Config{}, err
	}
	if err := store.Migrate(ctx, cfg.Logger()); err != nil {
		store.Close()
		return nil, config.Config{}, err
	}
	return store, cfg, nil
}

// maintain runs the periodic clean-ups every minute until ctx ends: it
// erases previous secrets whose grace period has ended (signing already
// ignores them), expired console links and sessions, and purges events
// older than RETENTION.
func maintain(ctx context.Context, cfg config.Config, store *db.Store, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		n, err := store.EraseExpiredSecrets(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("erasing expired secrets", "err", err)
		case n > 0:
			log.Info("erased previous secrets after their grace period", "count", n)
		}
		switch n, err := store.PurgeConsole(ctx, time.Now(), cfg.ConsoleSessionIdle); {
		case err != nil && ctx.Err() == nil:
			log.Warn("purging console sign-ins", "err", err)
		case n > 0:
			log.Debug("purged expired console links and sessions", "count", n)
		}
		if cfg.Retention > 0 {
			n, err := store.PurgeEvents(ctx, time.Now().Add(-cfg.Retention), 1000)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("purging old events", "err", err)
			case n > 0:
				log.Info("purged events past the retention period", "count", n, "retention", cfg.Retention)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serveOps serves an operator-only handler (metrics, profiles) on its own
// listener until ctx ends.
func serveOps(ctx context.Context, what, url, addr string, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info(what+" listening", "url", "http://"+url)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving %s: %w", what, err)
	}
	return nil
}
