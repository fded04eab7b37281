package api_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestResendTemporalUnavailable: a resend refused because Temporal is down
// is a 503, and the delivery is failed again so it can be resent later.
func TestResendTemporalUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"TEMPORAL_ADDRESS": unreachableTemporal})
	acct, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	d := e.pendingDelivery(acct, hook)
	if err := e.store.FinishDelivery(context.Background(), d.ID, d.Series, delivery.Failed, "receiver down"); err != nil {
		t.Fatal(err)
	}
	for series := 2; series <= 3; series++ {
		r := e.do("POST", "/v1/deliveries/"+d.ID.String()+"/resend", key, nil).want(t, 503, "service_unavailable")
		r.wantErrorShape(t)
		if got := e.deliveryRow(d.ID); got.Status != delivery.Failed || got.Series != series {
			t.Fatalf("after a refused resend: status %s series %d, want failed %d", got.Status, got.Series, series)
		}
	}
}

func TestTestWebhookTemporalUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"TEMPORAL_ADDRESS": unreachableTemporal})
	_, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	r := e.do("POST", "/v1/webhooks/"+hook+"/test", key, nil).want(t, 503, "service_unavailable")
	r.wantErrorShape(t)
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if strings.Contains(string(r.Raw), "127.0.0.1") {
		t.Errorf("503 leaks the Temporal address: %s", r.Raw)
	}
}

// TestTestWebhookWorkflowFails: a failed test workflow is a 502 naming why,
// not a timeout.
func TestTestWebhookWorkflowFails(t *testing.T) {
	t.Parallel()
	queue := "api-test-" + uuid.NewString()
	e := newEnv(t, map[string]string{"TEMPORAL_TASK_QUEUE": queue})
	w := worker.New(e.tc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(func(workflow.Context, flow.DeliverEventInput) (flow.Result, error) {
		return flow.Result{}, temporal.NewNonRetryableApplicationError("the receiver exploded", "Boom", nil)
	}, workflow.RegisterOptions{Name: flow.DeliverEventWorkflow})
	if err := w.Start(); err != nil {
		t.Fatalf("starting worker (is Temporal up at TEMPORAL_ADDRESS?): %v", err)
	}
	t.Cleanup(w.Stop)
	_, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	r := e.do("POST", "/v1/webhooks/"+hook+"/test", key, nil).want(t, 502, "delivery_failed")
	r.wantErrorShape(t)
	if msg, _ := r.Body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "the receiver exploded") {
		t.Errorf("502 does not say why: %s", r.Raw)
	}
}

// TestTestWebhookTimeout: no worker picks the test up; after
// DELIVERY_TIMEOUT+15s the answer is a 504 (takes ~15 s).
func TestTestWebhookTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 15 s")
	}
	t.Parallel()
	e := newEnv(t, map[string]string{"TEMPORAL_TASK_QUEUE": "api-test-" + uuid.NewString(), "DELIVERY_TIMEOUT": "1ms"})
	_, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	r := e.do("POST", "/v1/webhooks/"+hook+"/test", key, nil).want(t, 504, "service_unavailable")
	if msg, _ := r.Body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "did not finish in time") {
		t.Errorf("504 message: %s", r.Raw)
	}
}

// TestDisableDoesNotWaitForSignals: disabling answers at once even when
// signalling the pending deliveries' workflows hangs (here Temporal accepts
// connections and never answers).
func TestDisableDoesNotWaitForSignals(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	e := newEnv(t, map[string]string{"TEMPORAL_ADDRESS": ln.Addr().String()})
	acct, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	for range 20 {
		e.pendingDelivery(acct, hook)
	}
	start := time.Now()
	e.do("POST", "/v1/webhooks/"+hook+"/disable", key, nil).want(t, 200, "")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("disable took %s: it waits for the signals", d)
	}
}

// A finished delivery whose webhook is now disabled or deleted is not resent
// (it would only be cancelled at its first attempt): 409, nothing changes.
func TestResendNeedsAnEnabledWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"TEMPORAL_ADDRESS": unreachableTemporal})
	acct, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	d := e.pendingDelivery(acct, hook)
	if err := e.store.FinishDelivery(context.Background(), d.ID, d.Series, delivery.Failed, "receiver down"); err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/v1/webhooks/"+hook+"/disable", key, nil).want(t, 200, "")
	e.do("POST", "/v1/deliveries/"+d.ID.String()+"/resend", key, nil).want(t, 409, "webhook_disabled")
	e.do("DELETE", "/v1/webhooks/"+hook+"?confirm="+hook, key, nil).want(t, 204, "")
	e.do("POST", "/v1/deliveries/"+d.ID.String()+"/resend", key, nil).want(t, 409, "conflict")
	if got := e.deliveryRow(d.ID); got.Status != delivery.Failed || got.Series != d.Series {
		t.Fatalf("a refused resend changed the delivery: %s series %d", got.Status, got.Series)
	}
}

// A delivery left pending by a resend whose start never reached Temporal (or
// whose workflow was terminated) can be resent again; one whose workflow
// still runs cannot.
func TestResendRecoversADeadSeries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	acct, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	d := e.pendingDelivery(acct, hook)
	lost := flow.ResendWorkflowID(d.ID.String(), 7)
	if _, err := e.store.DB().Exec(`UPDATE deliveries SET workflow_id = $2 WHERE id = $1`, d.ID, lost); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/v1/deliveries/"+d.ID.String()+"/resend", key, nil).want(t, 202, "")
	wf := r.str("workflowId")
	t.Cleanup(func() { _ = e.tc.TerminateWorkflow(context.Background(), wf, "", "test cleanup") })
	got := e.deliveryRow(d.ID)
	if got.Series != d.Series+1 || got.Status != delivery.Pending || got.WorkflowID != wf {
		t.Fatalf("after recovering: %+v", got)
	}
	// Its workflow now runs (no worker polls this queue): still in progress.
	e.do("POST", "/v1/deliveries/"+d.ID.String()+"/resend", key, nil).want(t, 409, "conflict")

	// An event whose own workflow is not started yet is not "dead": the
	// dispatcher will start it.
	d2 := e.pendingDelivery(acct, hook)
	e.do("POST", "/v1/deliveries/"+d2.ID.String()+"/resend", key, nil).want(t, 409, "conflict")
}

// Bulk recovery resends a webhook's failed deliveries of a time range, and
// only those; it refuses a disabled webhook and bad input.
func TestBulkResend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	acct, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	other, _ := e.createWebhook(key, validWebhook("other"))
	mk := func(webhook string, status delivery.Status, age time.Duration) uuid.UUID {
		d := e.agedDelivery(acct, webhook, age)
		if status != delivery.Pending {
			if err := e.store.FinishDelivery(context.Background(), d.ID, d.Series, status, "x"); err != nil {
				t.Fatal(err)
			}
		}
		return d.ID
	}
	inRange := mk(hook, delivery.Failed, 2*time.Hour)
	mk(hook, delivery.Failed, 48*time.Hour)   // too old
	mk(hook, delivery.Succeeded, 2*time.Hour) // not failed
	mk(hook, delivery.Cancelled, 2*time.Hour) // cancelled: not asked for
	mk(other, delivery.Failed, 2*time.Hour)   // another webhook
	since := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)

	r := e.do("POST", "/v1/deliveries/resend", key, map[string]any{"webhookId": hook, "since": since}).want(t, 202, "")
	var body struct {
		Resent []uuid.UUID `json:"resent"`
		More   bool        `json:"more"`
	}
	if err := json.Unmarshal(r.Raw, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Resent) != 1 || body.Resent[0] != inRange || body.More {
		t.Fatalf("resent %v (more %v), want only %s", body.Resent, body.More, inRange)
	}
	t.Cleanup(func() {
		_ = e.tc.TerminateWorkflow(context.Background(), e.deliveryRow(inRange).WorkflowID, "", "test cleanup")
	})
	if got := e.deliveryRow(inRange); got.Series != 2 || got.Status != delivery.Pending {
		t.Fatalf("resent delivery: %+v", got)
	}

	e.do("POST", "/v1/deliveries/resend", key, map[string]any{"webhookId": hook}).want(t, 422, "validation_failed")
	e.do("POST", "/v1/deliveries/resend", key, map[string]any{"webhookId": hook, "since": since, "status": "succeeded"}).want(t, 422, "validation_failed")
	e.do("POST", "/v1/deliveries/resend", key, map[string]any{"webhookId": uuid.NewString(), "since": since}).want(t, 404, "not_found")
	e.do("POST", "/v1/webhooks/"+hook+"/disable", key, nil).want(t, 200, "")
	e.do("POST", "/v1/deliveries/resend", key, map[string]any{"webhookId": hook, "since": since}).want(t, 409, "webhook_disabled")
}
