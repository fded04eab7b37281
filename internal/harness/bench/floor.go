package bench

// The floors: what the same Temporal server costs for one delivery with no
// database and no API. Each is a workflow started straight from the SDK that
// makes the same signed HTTP POST per target as webhookd does.
//   - floor: the plain SDK way, one regular activity per target;
//   - lean floor: the cheapest workflow our design allows, started eagerly
//     with one local activity per target, as webhookd's event workflow is.
//     Temporal's CPU per delivery here is the least any one-workflow-per-
//     event design pays this server; ours is measured against it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/signing"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
)

const (
	floorQueue    = "bench-floor"
	floorPostName = "FloorPost"
)

// floorInput is the event, as webhookd's workflow input carries it, plus targets.
type floorInput struct {
	EventID    string
	OccurredAt time.Time
	Data       json.RawMessage
	Targets    []string // hook keys of the receiver
}

type floorPostInput struct {
	MsgID      string
	Target     string
	EventID    string
	OccurredAt time.Time
	Data       json.RawMessage
}

// floorRetry is both floors' retry policy.
var floorRetry = &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5}

// floorWorkflow delivers to every target concurrently, one activity each.
func floorWorkflow(ctx workflow.Context, in floorInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 20 * time.Second, RetryPolicy: floorRetry})
	return postAll(ctx, in, func(ctx workflow.Context, p floorPostInput) workflow.Future {
		return workflow.ExecuteActivity(ctx, floorPostName, p)
	})
}

// leanFloorWorkflow delivers to every target concurrently, one local
// activity each: no activity task, no second workflow task.
func leanFloorWorkflow(ctx workflow.Context, in floorInput) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 20 * time.Second, RetryPolicy: floorRetry})
	return postAll(ctx, in, func(ctx workflow.Context, p floorPostInput) workflow.Future {
		return workflow.ExecuteLocalActivity(ctx, floorPostName, p)
	})
}

// postAll runs one post per target at once and returns the first error.
func postAll(ctx workflow.Context, in floorInput, post func(workflow.Context, floorPostInput) workflow.Future) error {
	futures := make([]workflow.Future, len(in.Targets))
	for i, t := range in.Targets {
		futures[i] = post(ctx, floorPostInput{
			MsgID: fmt.Sprintf("msg_%s_%d", in.EventID, i), Target: t,
			EventID: in.EventID, OccurredAt: in.OccurredAt, Data: in.Data,
		})
	}
	var firstErr error
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// floorActivities makes the HTTP POSTs.
type floorActivities struct {
	hc      *http.Client
	timeout time.Duration
	urlOf   func(key string) string
	mu      sync.RWMutex
	secrets map[string]string
}

func (f *floorActivities) setSecret(key, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[key] = secret
}

func (f *floorActivities) post(ctx context.Context, in floorPostInput) error {
	f.mu.RLock()
	secret := f.secrets[in.Target]
	f.mu.RUnlock()
	body, err := json.Marshal(activities.Payload{
		Event: eventType, EventID: in.EventID, TriggerSource: triggerSource,
		OccurredAt: in.OccurredAt, EventPayload: in.Data,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.urlOf(in.Target), bytes.NewReader(body))
	if err != nil {
		return err
	}
	headers, err := signing.Headers(in.MsgID, time.Now(), body, secret)
	if err != nil {
		return err
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "esign-webhooks-bench-floor")
	resp, err := f.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// floor is the SDK client and in-process worker of the floor measurements.
type floor struct {
	tc   client.Client
	w    worker.Worker
	acts *floorActivities
}

// startFloor dials Temporal and starts a worker on bench-floor with the same
// worker options webhookd uses (read from the same environment variables).
func startFloor(ctx context.Context, address string, urlOf func(string) string) (*floor, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	// TEMPORAL_TLS_* when set (make bench TEMPORAL=cluster: mTLS); nil otherwise.
	tlsCfg, err := cfg.TemporalTLSConfig()
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tc, err := client.DialContext(ctx, client.Options{HostPort: address, Logger: tlog.NewStructuredLogger(quiet),
		ConnectionOptions: client.ConnectionOptions{TLS: tlsCfg}})
	if err != nil {
		return nil, fmt.Errorf("dialling Temporal at %s: %w", address, err)
	}
	acts := &floorActivities{
		hc: &http.Client{Transport: &http.Transport{
			Proxy: nil, MaxIdleConns: 1024, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		}},
		timeout: cfg.DeliveryTimeout,
		urlOf:   urlOf,
		secrets: map[string]string{},
	}
	w := worker.New(tc, floorQueue, worker.Options{
		MaxConcurrentActivityExecutionSize:      cfg.WorkerActivitySlots,
		MaxConcurrentWorkflowTaskPollers:        cfg.WorkerWorkflowPollers,
		MaxConcurrentActivityTaskPollers:        8, // the floor's one activity is a regular one
		MaxConcurrentLocalActivityExecutionSize: cfg.WorkerActivitySlots,
	})
	w.RegisterWorkflowWithOptions(floorWorkflow, workflow.RegisterOptions{Name: "BenchFloor"})
	w.RegisterWorkflowWithOptions(leanFloorWorkflow, workflow.RegisterOptions{Name: "BenchFloorLean"})
	w.RegisterActivityWithOptions(acts.post, activity.RegisterOptions{Name: floorPostName})
	if err := w.Start(); err != nil {
		tc.Close()
		return nil, fmt.Errorf("starting floor worker: %w", err)
	}
	return &floor{tc: tc, w: w, acts: acts}, nil
}

// start starts one floor workflow, as a publisher using the SDK would.
func (f *floor) start(ctx context.Context, eventID string, data json.RawMessage, targets []string) error {
	_, err := f.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "floor/" + eventID, TaskQueue: floorQueue},
		"BenchFloor", floorInput{EventID: eventID, OccurredAt: time.Now().UTC(), Data: data, Targets: targets})
	return err
}

// startLean starts one lean floor workflow eagerly: its first workflow task
// comes back in the start's answer to this process's worker, as webhookd's
// dispatcher gets its own.
func (f *floor) startLean(ctx context.Context, eventID string, data json.RawMessage, targets []string) error {
	_, err := f.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "floor-lean/" + eventID, TaskQueue: floorQueue, EnableEagerStart: true},
		"BenchFloorLean", floorInput{EventID: eventID, OccurredAt: time.Now().UTC(), Data: data, Targets: targets})
	return err
}

func (f *floor) stop() {
	f.w.Stop()
	f.tc.Close()
}
