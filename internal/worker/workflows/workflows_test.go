package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// harness is a TestWorkflowEnvironment with the activities mocked and the
// timers and search attribute upserts it saw.
type harness struct {
	testsuite.WorkflowTestSuite
	env  *testsuite.TestWorkflowEnvironment
	acts *activities.Activities

	mu      sync.Mutex
	timers  []time.Duration
	status  []string   // WebhookDeliveryStatus values upserted, in order
	listed  [][]string // WebhookIds values upserted, in order
	cancels []activities.CancelInput
}

func newHarness(t *testing.T, plan activities.DeliveryPlan) *harness {
	t.Helper()
	h := &harness{acts: &activities.Activities{}}
	h.env = h.NewTestWorkflowEnvironment()
	h.env.RegisterActivity(h.acts)
	Register(h.env)
	h.env.OnActivity(h.acts.RecordEvent, mock.Anything, mock.Anything).Return(plan, nil)
	h.env.OnActivity(h.acts.PrepareResend, mock.Anything, mock.Anything).Return(plan, nil)
	h.env.OnActivity(h.acts.CancelDelivery, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CancelInput) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.cancels = append(h.cancels, in)
			return nil
		})
	h.env.SetOnTimerScheduledListener(func(_ string, d time.Duration) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.timers = append(h.timers, d)
	})
	h.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		h.mu.Lock()
		defer h.mu.Unlock()
		if v, ok := sa.GetKeyword(flow.AttrDeliveryStatus); ok {
			h.status = append(h.status, v)
		}
		if v, ok := sa.GetKeywordList(flow.AttrWebhookIDs); ok {
			h.listed = append(h.listed, v)
		}
	}).Return(nil)
	return h
}

// deliver mocks Deliver with fn, which gets the input and returns the result.
func (h *harness) deliver(fn func(in activities.DeliverInput) flow.AttemptResult) {
	h.env.OnActivity(h.acts.Deliver, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.DeliverInput) (flow.AttemptResult, error) {
			r := fn(in)
			if r.Outcome == delivery.OutcomeSucceeded || r.Outcome == delivery.OutcomeCancelled {
				return r, nil
			}
			// As the real activity does: a failed attempt is a non-retryable
			// application error carrying its result.
			return flow.AttemptResult{}, temporal.NewNonRetryableApplicationError("attempt failed", activities.ErrAttemptFailed, nil, r)
		})
}

func (h *harness) run(t *testing.T) flow.Result {
	t.Helper()
	h.env.ExecuteWorkflow(DeliverEvent, stored)
	return h.result(t)
}

// stored is the input the outbox starts an event's workflow with.
var stored = flow.DeliverEventInput{AccountID: "acct", Stored: true,
	Event: events.Event{ID: "e1", Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage}}

func (h *harness) result(t *testing.T) flow.Result {
	t.Helper()
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var res flow.Result
	if err := h.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func (h *harness) lastStatus(t *testing.T) string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.status) == 0 {
		t.Fatal("no WebhookDeliveryStatus upserted")
	}
	return h.status[len(h.status)-1]
}

func plan(webhookIDs ...string) activities.DeliveryPlan {
	p := activities.DeliveryPlan{ActivityTimeout: 15 * time.Second}
	for _, w := range webhookIDs {
		p.Deliveries = append(p.Deliveries, flow.DeliveryRef{DeliveryID: "d-" + w, WebhookID: w, Series: 1})
	}
	return p
}

func retry(wait time.Duration, status int) flow.AttemptResult {
	return flow.AttemptResult{Outcome: delivery.OutcomeRetry, StatusCode: status, Wait: wait}
}

func TestDeliverEventSucceedsFirstTime(t *testing.T) {
	h := newHarness(t, plan("w1"))
	h.deliver(func(in activities.DeliverInput) flow.AttemptResult {
		if in.DeliveryID != "d-w1" || in.Series != 1 || in.Attempt != 1 || in.Test {
			t.Errorf("unexpected input %+v", in)
		}
		return flow.AttemptResult{Outcome: delivery.OutcomeSucceeded, StatusCode: 200}
	})
	res := h.run(t)
	if len(res.Deliveries) != 1 || res.Deliveries[0].Status != "succeeded" || res.Deliveries[0].Attempts != 1 ||
		res.Deliveries[0].Last.StatusCode != 200 {
		t.Fatalf("result %+v", res)
	}
	if len(h.timers) != 0 {
		t.Fatalf("timers %v, want none", h.timers)
	}
	// Delivered at the first try: one visibility update, with the ids.
	if got := h.status; len(got) != 1 || got[0] != "succeeded" {
		t.Fatalf("DeliveryStatus upserts %v, want [succeeded]", got)
	}
	if len(h.listed) != 1 || len(h.listed[0]) != 1 || h.listed[0][0] != "w1" {
		t.Fatalf("WebhookIds upserts %v, want [[w1]]", h.listed)
	}
}

// The loop sleeps exactly the Wait each failed attempt asks for, numbers the
// attempts 1, 2, 3, and stops at the first success.
func TestDeliverEventRetriesWithTheAttemptsWait(t *testing.T) {
	h := newHarness(t, plan("w1"))
	waits := []time.Duration{7 * time.Second, 90 * time.Second}
	var seen []int
	h.deliver(func(in activities.DeliverInput) flow.AttemptResult {
		seen = append(seen, in.Attempt)
		if in.Attempt <= len(waits) {
			return retry(waits[in.Attempt-1], 500)
		}
		return flow.AttemptResult{Outcome: delivery.OutcomeSucceeded, StatusCode: 204}
	})
	res := h.run(t)
	d := res.Deliveries[0]
	if d.Status != "succeeded" || d.Attempts != 3 || d.Last.StatusCode != 204 {
		t.Fatalf("result %+v", d)
	}
	if len(seen) != 3 || seen[0] != 1 || seen[1] != 2 || seen[2] != 3 {
		t.Fatalf("attempt numbers %v", seen)
	}
	if len(h.timers) != 2 || h.timers[0] != waits[0] || h.timers[1] != waits[1] {
		t.Fatalf("timers %v, want %v", h.timers, waits)
	}
	// While it waits to retry, the workflow can be found by webhook: the ids
	// are listed once, at the first wait, not again at the end.
	if len(h.listed) != 1 || len(h.listed[0]) != 1 || h.listed[0][0] != "w1" {
		t.Fatalf("WebhookIds upserts %v, want [[w1]]", h.listed)
	}
}

func TestDeliverEventStopsOnFinalOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		last     flow.AttemptResult
		status   string
		attempts int
	}{
		{"failed", flow.AttemptResult{Outcome: delivery.OutcomeFailed, StatusCode: 410, Reason: "gone"}, "failed", 2},
		{"cancelled", flow.AttemptResult{Outcome: delivery.OutcomeCancelled, Reason: "webhook was disabled"}, "cancelled", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, plan("w1"))
			calls := 0
			h.deliver(func(in activities.DeliverInput) flow.AttemptResult {
				calls++
				if in.Attempt == 1 {
					return retry(time.Minute, 503)
				}
				return tc.last
			})
			d := h.run(t).Deliveries[0]
			if string(d.Status) != tc.status || d.Attempts != tc.attempts || d.Last.Reason != tc.last.Reason || calls != 2 {
				t.Fatalf("result %+v after %d calls", d, calls)
			}
			if got := h.lastStatus(t); got != tc.status {
				t.Fatalf("DeliveryStatus %q, want %q", got, tc.status)
			}
			if len(h.cancels) != 0 {
				t.Fatalf("CancelDelivery called: %+v", h.cancels)
			}
		})
	}
}

// An activity that fails otherwise than with an attempt result (a bug, or a
// non-retryable infrastructure error) ends the delivery as failed.
func TestDeliverEventActivityErrorFails(t *testing.T) {
	h := newHarness(t, plan("w1"))
	h.env.OnActivity(h.acts.Deliver, mock.Anything, mock.Anything).Return(
		flow.AttemptResult{}, temporal.NewNonRetryableApplicationError("boom", "Other", nil))
	d := h.run(t).Deliveries[0]
	if d.Status != "failed" || !strings.HasPrefix(d.Last.Reason, "delivery could not be attempted") || d.Attempts != 0 {
		t.Fatalf("result %+v", d)
	}
	// The delivery log says so too, or the delivery would stay pending.
	if len(h.cancels) != 1 || h.cancels[0].Status != "failed" || h.cancels[0].DeliveryID != "d-w1" {
		t.Fatalf("CancelDelivery calls %+v, want one with status failed", h.cancels)
	}
}

// Every webhook's delivery runs at once: w1's first attempt cannot finish
// until w2's has started.
func TestDeliverEventFansOutConcurrently(t *testing.T) {
	h := newHarness(t, plan("w1", "w2", "w3"))
	w2Started := make(chan struct{})
	var once sync.Once
	h.deliver(func(in activities.DeliverInput) flow.AttemptResult {
		switch in.DeliveryID {
		case "d-w1":
			select {
			case <-w2Started:
				return flow.AttemptResult{Outcome: delivery.OutcomeSucceeded, StatusCode: 200}
			case <-time.After(30 * time.Second):
				return flow.AttemptResult{Outcome: delivery.OutcomeFailed, Reason: "w2 never started while w1 was in flight"}
			}
		case "d-w2":
			once.Do(func() { close(w2Started) })
			return flow.AttemptResult{Outcome: delivery.OutcomeSucceeded, StatusCode: 200}
		}
		return flow.AttemptResult{Outcome: delivery.OutcomeFailed, StatusCode: 500, Reason: "gave up"}
	})
	res := h.run(t)
	got := map[string]string{}
	for _, d := range res.Deliveries {
		got[d.WebhookID] = string(d.Status) + " " + d.Last.Reason
	}
	if got["w1"] != "succeeded " || got["w2"] != "succeeded " || got["w3"] != "failed gave up" {
		t.Fatalf("results %v", got)
	}
	// The worst state wins.
	if s := h.lastStatus(t); s != "failed" {
		t.Fatalf("DeliveryStatus %q, want failed", s)
	}
}

// The webhook-changed signal during a wait cancels that webhook's remaining
// attempts, records the reason through CancelDelivery, and leaves the other
// webhooks of the event alone.
func TestDeliverEventSignalCancelsWait(t *testing.T) {
	h := newHarness(t, plan("w1", "w2"))
	h.deliver(func(in activities.DeliverInput) flow.AttemptResult {
		if in.DeliveryID == "d-w1" {
			return retry(time.Hour, 500)
		}
		if in.Attempt == 1 {
			return retry(2*time.Hour, 500)
		}
		return flow.AttemptResult{Outcome: delivery.OutcomeSucceeded, StatusCode: 200}
	})
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(flow.SignalWebhookChanged, flow.WebhookChange{WebhookID: "w1", Reason: "webhook was disabled"})
		// A second signal does not overwrite the first reason.
		h.env.SignalWorkflow(flow.SignalWebhookChanged, flow.WebhookChange{WebhookID: "w1", Reason: "webhook was deleted"})
	}, 10*time.Minute)
	res := h.run(t)
	byHook := map[string]flow.DeliveryResult{}
	for _, d := range res.Deliveries {
		byHook[d.WebhookID] = d
	}
	if d := byHook["w1"]; d.Status != "cancelled" || d.Attempts != 1 || d.Last.Reason != "webhook was disabled" {
		t.Fatalf("w1 %+v", d)
	}
	if d := byHook["w2"]; d.Status != "succeeded" || d.Attempts != 2 {
		t.Fatalf("w2 %+v", d)
	}
	want := activities.CancelInput{DeliveryID: "d-w1", Series: 1, Reason: "webhook was disabled", Status: "cancelled"}
	if len(h.cancels) != 1 || h.cancels[0] != want {
		t.Fatalf("CancelDelivery calls %+v, want [%+v]", h.cancels, want)
	}
	if s := h.lastStatus(t); s != "cancelled" {
		t.Fatalf("DeliveryStatus %q, want cancelled", s)
	}
}

// A signal that arrives while an attempt is in flight lets the attempt
// finish; if it failed, no further attempt is made.
func TestDeliverEventSignalDuringAttempt(t *testing.T) {
	h := newHarness(t, plan("w1"))
	calls := 0
	h.env.OnActivity(h.acts.Deliver, mock.Anything, mock.Anything).After(time.Minute).Return(
		func(_ context.Context, in activities.DeliverInput) (flow.AttemptResult, error) {
			calls++
			r := retry(time.Second, 500)
			return r, temporal.NewNonRetryableApplicationError("attempt failed", activities.ErrAttemptFailed, nil, r)
		})
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(flow.SignalWebhookChanged, flow.WebhookChange{WebhookID: "w1", Reason: "webhook was deleted"})
	}, 10*time.Second)
	d := h.run(t).Deliveries[0]
	if d.Status != "cancelled" || d.Attempts != 1 || calls != 1 || d.Last.Reason != "webhook was deleted" {
		t.Fatalf("result %+v after %d calls", d, calls)
	}
	if len(h.cancels) != 1 || h.cancels[0].Reason != "webhook was deleted" {
		t.Fatalf("CancelDelivery calls %+v", h.cancels)
	}
}

func TestDeliverEventNothingToDeliver(t *testing.T) {
	h := newHarness(t, activities.DeliveryPlan{Skipped: "the trial plan does not include webhooks"})
	res := h.run(t)
	if len(res.Deliveries) != 0 || res.Skipped != "the trial plan does not include webhooks" {
		t.Fatalf("result %+v", res)
	}
	if s := h.lastStatus(t); s != "none" {
		t.Fatalf("DeliveryStatus %q, want none", s)
	}
}

func TestDeliverEventRecordEventErrorFailsWorkflow(t *testing.T) {
	h := &harness{acts: &activities.Activities{}}
	h.env = h.NewTestWorkflowEnvironment()
	h.env.RegisterActivity(h.acts)
	h.env.OnActivity(h.acts.RecordEvent, mock.Anything, mock.Anything).Return(
		activities.DeliveryPlan{}, temporal.NewNonRetryableApplicationError("bad", "Bad", nil))
	h.env.ExecuteWorkflow(DeliverEvent, stored)
	var appErr *temporal.ApplicationError
	if err := h.env.GetWorkflowError(); !errors.As(err, &appErr) {
		t.Fatalf("workflow error %v, want the activity's", err)
	}
}

func TestDeliverEventTestFlagReachesDeliver(t *testing.T) {
	h := newHarness(t, plan("w1"))
	var got activities.DeliverInput
	h.deliver(func(in activities.DeliverInput) flow.AttemptResult {
		got = in
		return flow.AttemptResult{Outcome: delivery.OutcomeFailed, StatusCode: 500, Reason: "test event: one attempt only"}
	})
	h.env.ExecuteWorkflow(DeliverEvent, flow.DeliverEventInput{AccountID: "acct", OnlyWebhookID: "w1", Test: true,
		Event: events.Event{ID: "test-1", Type: events.WebhookTest, TriggerSource: events.SourceSaaSPage, Data: []byte(`{}`)}})
	res := h.result(t)
	if !got.Test || res.Deliveries[0].Status != "failed" || res.Deliveries[0].Last.StatusCode != 500 {
		t.Fatalf("input %+v result %+v", got, res)
	}
}

func TestResendDeliveryUsesTheNewSeries(t *testing.T) {
	p := activities.DeliveryPlan{ActivityTimeout: time.Minute, Deliveries: []flow.DeliveryRef{{DeliveryID: "d1", WebhookID: "w1", Series: 3}}}
	h := newHarness(t, p)
	var got activities.DeliverInput
	h.deliver(func(in activities.DeliverInput) flow.AttemptResult {
		got = in
		return flow.AttemptResult{Outcome: delivery.OutcomeSucceeded, StatusCode: 200}
	})
	h.env.ExecuteWorkflow(ResendDelivery, flow.ResendInput{AccountID: "acct", DeliveryID: "d1", Series: 3})
	res := h.result(t)
	if got.Series != 3 || got.Attempt != 1 || got.Test || res.Deliveries[0].Status != "succeeded" {
		t.Fatalf("input %+v result %+v", got, res)
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"succeeded"}, "succeeded"},
		{[]string{"succeeded", "cancelled"}, "cancelled"},
		{[]string{"cancelled", "failed", "succeeded"}, "failed"},
		{[]string{"failed", "cancelled"}, "failed"},
	} {
		var ds []flow.DeliveryResult
		for _, s := range tc.in {
			ds = append(ds, flow.DeliveryResult{Status: delivery.Status(s)})
		}
		if got := summary(ds); got != tc.want {
			t.Errorf("summary(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A rerun (or a retried workflow task whose attempts did happen) finds some
// deliveries finished: they are not attempted again, and the result and
// search attributes still list them with their final state.
func TestDeliverEventReportsFinishedDeliveries(t *testing.T) {
	p := plan("w1", "w2")
	p.Deliveries[0].Done, p.Deliveries[0].Status, p.Deliveries[0].Attempts = true, "succeeded", 2
	h := newHarness(t, p)
	var calls []string
	h.deliver(func(in activities.DeliverInput) flow.AttemptResult {
		calls = append(calls, in.DeliveryID)
		return flow.AttemptResult{Outcome: delivery.OutcomeSucceeded, StatusCode: 200}
	})
	res := h.run(t)
	if len(calls) != 1 || calls[0] != "d-w2" {
		t.Fatalf("attempted %v, want only d-w2", calls)
	}
	if len(res.Deliveries) != 2 || res.Deliveries[0].Status != "succeeded" || res.Deliveries[0].Attempts != 2 ||
		res.Deliveries[1].Status != "succeeded" {
		t.Fatalf("result %+v", res)
	}
	if s := h.lastStatus(t); s != "succeeded" {
		t.Fatalf("DeliveryStatus %q", s)
	}
	if len(h.listed) != 1 || len(h.listed[0]) != 2 {
		t.Fatalf("WebhookIds %v, want both", h.listed)
	}
}

// More deliveries than batchSize go to DeliverBatch children; the event's
// result still lists every one, in plan order.
func TestDeliverEventBatchesALargeFanOut(t *testing.T) {
	var ids []string
	for i := range 2*batchSize + 3 {
		ids = append(ids, fmt.Sprintf("w%03d", i))
	}
	h := newHarness(t, plan(ids...))
	var mu sync.Mutex
	seen := map[string]int{}
	h.deliver(func(in activities.DeliverInput) flow.AttemptResult {
		mu.Lock()
		defer mu.Unlock()
		seen[in.DeliveryID]++
		if seen[in.DeliveryID] < 2 {
			return retry(time.Minute, 500)
		}
		return flow.AttemptResult{Outcome: delivery.OutcomeSucceeded, StatusCode: 200}
	})
	res := h.run(t)
	if len(res.Deliveries) != len(ids) {
		t.Fatalf("%d results, want %d", len(res.Deliveries), len(ids))
	}
	for i, d := range res.Deliveries {
		if d.WebhookID != ids[i] || d.Status != "succeeded" || d.Attempts != 2 || seen[d.DeliveryID] != 2 {
			t.Fatalf("delivery %d: %+v (attempted %d times)", i, d, seen[d.DeliveryID])
		}
	}
}

// A delivery queued at a full webhook waits for its slot-free signal, not
// its fallback poll; a signal for another delivery does not wake it.
func TestQueuedDeliveryWokenBySlotFree(t *testing.T) {
	h := newHarness(t, plan("w1"))
	var calls []time.Time
	h.deliver(func(in activities.DeliverInput) flow.AttemptResult {
		calls = append(calls, h.env.Now())
		if len(calls) == 1 {
			return flow.AttemptResult{Outcome: delivery.OutcomeThrottled, Queued: true, Wait: time.Hour}
		}
		return flow.AttemptResult{Outcome: delivery.OutcomeSucceeded, StatusCode: 200}
	})
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(flow.SignalSlotFree, flow.SlotFree{WebhookID: "w1", DeliveryID: "d-other"})
	}, time.Minute)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(flow.SignalSlotFree, flow.SlotFree{WebhookID: "w1", DeliveryID: "d-w1"})
	}, 2*time.Minute)
	d := h.run(t).Deliveries[0]
	if d.Status != "succeeded" || d.Attempts != 1 || len(calls) != 2 {
		t.Fatalf("result %+v after %d calls", d, len(calls))
	}
	if waited := calls[1].Sub(calls[0]); waited < 2*time.Minute || waited >= time.Hour {
		t.Fatalf("second attempt %s after the first, want at the signal (2m), not the fallback poll (1h)", waited)
	}
}
