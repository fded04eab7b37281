package app

import (
	"context"
	"time"
)

const (
	// statsFoldBatch is the most queued rows one fold transaction takes.
	statsFoldBatch = 5000
	// statsPruneEvery is how often a worker deletes the rollup rows past
	// their retention (a few small DELETEs).
	statsPruneEvery = 10 * time.Minute
)

// keepStats keeps the delivery statistics until ctx ends: every
// STATS_FOLD_INTERVAL it folds what attempts queued into the rollups (until
// the queue is empty; another worker folding meanwhile simply goes first),
// and every statsPruneEvery it deletes the rollup rows past their
// retention.
func (a *App) keepStats(ctx context.Context) {
	t := time.NewTicker(a.Config.StatsFoldInterval)
	defer t.Stop()
	var pruned time.Time
	for {
		a.foldStats(ctx)
		if time.Since(pruned) >= statsPruneEvery {
			a.pruneStats(ctx)
			pruned = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *App) foldStats(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := a.Store.FoldStats(ctx, statsFoldBatch)
		if err != nil {
			if ctx.Err() == nil {
				a.Log.Warn("folding delivery statistics", "err", err)
			}
			return
		}
		if n < statsFoldBatch {
			return
		}
	}
}

func (a *App) pruneStats(ctx context.Context) {
	now := time.Now()
	switch n, err := a.Store.PruneStats(ctx, now.Add(-a.Config.StatsHourlyRetention), now.Add(-a.Config.StatsDailyRetention)); {
	case err != nil && ctx.Err() == nil:
		a.Log.Warn("pruning delivery statistics", "err", err)
	case n > 0:
		a.Log.Debug("pruned delivery statistics past their retention", "rows", n)
	}
}
