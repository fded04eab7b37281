package outbox

import (
	"context"
	"log/slog"
	"sync"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
)

// starter starts the workflows of queued events on a few goroutines: the
// api process's queue, and a worker's dispatcher (workers.go).
type starter struct {
	pub     *workflowclient.Client
	log     *slog.Logger
	metrics *metrics.Metrics
	via     string // the metrics' path label: queue, notify
	queue   chan db.Event
}

func newStarter(pub *workflowclient.Client, log *slog.Logger, m *metrics.Metrics, via string, size int) *starter {
	return &starter{pub: pub, log: log, metrics: m, via: via, queue: make(chan db.Event, size)}
}

// enqueue never blocks: when the queue is full the sweep starts the event
// later.
func (s *starter) enqueue(e db.Event) {
	select {
	case s.queue <- e:
	default:
		s.log.Warn("dispatch queue full; the sweep will start the event", "eventId", e.ID)
	}
}

// run starts queued events on workers goroutines until ctx ends.
func (s *starter) run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-s.queue:
					s.start(ctx, e)
				}
			}
		}()
	}
	wg.Wait()
}

func (s *starter) start(ctx context.Context, e db.Event) {
	_, err := startWithin(ctx, s.pub, e)
	s.metrics.ObserveDispatch(s.via, err)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("starting delivery workflow; the sweep will retry", "eventId", e.ID, "err", err)
	}
}
