package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
)

// pollerFresh is how recently Temporal must have seen this worker poll
// for it to count as polling. A workflow task poll is a long poll of up to
// about a minute, and the worker keeps several going: a poll older than
// two minutes means the pollers have stopped.
const pollerFresh = 2 * time.Minute

// workerState is what the worker's readiness knows of its own: started
// and not stopped, and no fatal error (the SDK stops polling after one,
// e.g. the namespace was deleted).
type workerState struct {
	mu      sync.Mutex
	started bool
	fatal   error
}

func (s *workerState) set(started bool, fatal error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = started
	if fatal != nil {
		s.fatal = fatal
	}
}

func (s *workerState) get() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started, s.fatal
}

// Check is the worker's readiness: PostgreSQL answers, Temporal answers,
// and Temporal has seen this worker (its identity) poll its task queue
// lately. It returns each check's state ("ok", or why not) and the names
// of those that failed.
func (w *Worker) Check(ctx context.Context) (checks map[string]string, down []string) {
	checks = map[string]string{"postgres": "ok", "temporal": "ok", "polling": "ok"}
	fail := func(what, state string, err error) {
		// The endpoint is unauthenticated: driver and gRPC errors can
		// name hosts, users and databases, so they go to the log only.
		w.app.Log.Warn("worker readiness: "+what+" "+state, "err", err)
		checks[what] = state
		down = append(down, what)
	}
	if err := w.app.Store.Ping(ctx); err != nil {
		fail("postgres", "unreachable", err)
	}
	if err := w.polling(ctx); err != nil {
		var unreachable errTemporal
		if errors.As(err, &unreachable) {
			fail("temporal", "unreachable", err)
			checks["polling"] = "unknown"
		} else {
			fail("polling", "not polling", err)
		}
	}
	return checks, down
}

// errTemporal is a failed call to Temporal.
type errTemporal struct{ error }

func (e errTemporal) Unwrap() error { return e.error }

// polling reports whether the worker is polling, as it and Temporal see it.
func (w *Worker) polling(ctx context.Context) error {
	started, fatal := w.state.get()
	switch {
	case fatal != nil:
		return fmt.Errorf("the worker stopped on a fatal error: %w", fatal)
	case !started:
		return errors.New("the worker is not started")
	}
	tq, err := w.app.Temporal.DescribeTaskQueue(ctx, w.app.Config.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return errTemporal{err}
	}
	for _, p := range tq.GetPollers() {
		if p.GetIdentity() == w.identity && time.Since(p.GetLastAccessTime().AsTime()) < pollerFresh {
			return nil
		}
	}
	return fmt.Errorf("temporal lists no recent poll by %s on task queue %s", w.identity, w.app.Config.TaskQueue)
}

// ReadyHandler serves the worker's readiness (GET /readyz on the ops
// listener, METRICS_ADDR): 200 when Check finds everything up, else 503
// naming what is down, in the API's /readyz shape.
func (w *Worker) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		checks, down := w.Check(ctx)
		body := map[string]any{"status": "ok", "checks": checks}
		status := http.StatusOK
		if len(down) > 0 {
			slices.Sort(down)
			status = http.StatusServiceUnavailable
			body = map[string]any{"status": "unavailable", "down": down, "checks": checks,
				"error": map[string]string{"code": "service_unavailable", "message": "Not ready: a dependency is down."}}
			rw.Header().Set("Retry-After", "5")
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(status)
		_ = json.NewEncoder(rw).Encode(body)
	})
}

// liveHandler answers 200 while the process is up, and 503 once the
// worker stopped on a fatal error: polling will not come back without a
// restart.
func (w *Worker) liveHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		if _, fatal := w.state.get(); fatal != nil {
			rw.WriteHeader(http.StatusServiceUnavailable)
			_, _ = rw.Write([]byte(`{"status":"stopped"}` + "\n"))
			return
		}
		_, _ = rw.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}
