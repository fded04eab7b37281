package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/tracing"
)

// Run runs the api process, the worker, or both (webhookd serve) from the
// environment's configuration until ctx ends.
func Run(ctx context.Context, withAPI, withWorker bool) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	// API and worker share one client: a new workflow's first task can go
	// straight to this process's worker.
	cfg.EagerStart = withAPI && withWorker
	// Apart, only a worker's client can start a workflow eagerly.
	cfg.DispatchInWorkers = !cfg.EagerStart && cfg.OutboxDispatch == "workers"
	log := cfg.Logger()
	slog.SetDefault(log)
	stopTracing, err := tracing.Setup(ctx, cfg, Version)
	if err != nil {
		return err
	}
	defer func() {
		// Flush the spans still batched; a collector that is gone costs
		// at most this long on shutdown.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(ctx); err != nil {
			log.Warn("flushing traces", "err", err)
		}
	}()
	if cfg.Tracing() {
		log.Info("exporting traces over OTLP", "host", cfg.OTelTracesHost(), "sampler", cfg.OTelTracesSampler)
	}
	a, err := New(ctx, cfg, Options{Log: log})
	if err != nil {
		return err
	}
	defer a.Close()

	g, ctx := errgroup.WithContext(ctx)
	var w *Worker
	if withWorker {
		w = a.Worker()
		g.Go(func() error { return w.Run(ctx) })
	}
	if withAPI {
		p, err := a.API()
		if err != nil {
			return err
		}
		g.Go(func() error { p.Background(ctx); return nil })
		g.Go(func() error { return p.Serve(ctx) })
	}
	a.serveOps(ctx, g, w)
	err = g.Wait()
	log.Info("stopped")
	return err
}

// serveOps serves metrics and profiles on their own listeners when
// METRICS_ADDR and PPROF_ADDR ask for them. A process with a worker (w)
// also serves the worker's readiness (/readyz) and liveness (/healthz)
// beside its metrics: a worker-only process has no other listener.
func (a *App) serveOps(ctx context.Context, g *errgroup.Group, w *Worker) {
	if addr := a.Config.MetricsAddr; addr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", a.Metrics.Handler())
		if w != nil {
			mux.Handle("GET /readyz", w.ReadyHandler())
			mux.Handle("GET /healthz", w.liveHandler())
		}
		g.Go(func() error { return a.serveOp(ctx, "metrics", addr+"/metrics", addr, mux) })
	}
	if addr := a.Config.PprofAddr; addr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		g.Go(func() error { return a.serveOp(ctx, "pprof", addr+"/debug/pprof/", addr, mux) })
	}
}

// serveOp serves an operator-only handler on its own listener until ctx
// ends.
func (a *App) serveOp(ctx context.Context, what, url, addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	a.Log.Info(what+" listening", "url", "http://"+url)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving %s: %w", what, err)
	}
	return nil
}
