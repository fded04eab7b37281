package e2e_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/outbox"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// convergence is an outbox (dispatcher and reconciler) as webhookd serve
// has, whose loops the test runs by hand.
func convergence(e *e2etest.Env) *outbox.Outbox {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return outbox.New(e.Store, workflowclient.New(e.Pub), log, outbox.Options{StaleAfter: time.Minute, DeliveryStaleAfter: time.Hour})
}

// lostDeliveries deletes an event's deliveries and their attempts, as
// lost commits would have lost them (the attempts were committed after
// their delivery; the partitioned log has no cascade from deliveries to
// attempts).
func lostDeliveries(t *testing.T, e *e2etest.Env, eventID string) {
	t.Helper()
	exec(t, e, `DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id = $1)`, eventID)
	exec(t, e, `DELETE FROM deliveries WHERE event_id = $1`, eventID)
}

func exec(t *testing.T, e *e2etest.Env, q string, args ...any) {
	t.Helper()
	if _, err := e.Store.DB().Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// PostgreSQL lost the commits its workflow made (an asynchronous replica
// promoted, say): the event is undispatched again and its delivery is gone,
// although the receiver has it. The sweep must notice the workflow already
// completed, restore the log from its result, and stop: not start the same
// closed workflow every few seconds for good.
func TestSweepRestoresLostCommitsFromTheWorkflow(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	res := e.Result(p.WorkflowID)
	if len(res.Deliveries) != 1 || res.Deliveries[0].Status != "succeeded" {
		t.Fatalf("result %+v", res)
	}
	exec(t, e, `UPDATE events SET dispatched_at = NULL WHERE id = $1`, p.EventID)
	lostDeliveries(t, e, p.EventID)

	// A sweep for which the event is old enough at once: moving the
	// event's created_at instead would part it from its deliveries' ids,
	// which hold it (the log's partition key).
	d := outbox.New(e.Store, workflowclient.New(e.Pub), slog.New(slog.NewTextHandler(io.Discard, nil)),
		outbox.Options{StaleAfter: time.Millisecond, DeliveryStaleAfter: time.Hour})
	if n, err := d.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	got := e.Delivery(key, res.Deliveries[0].DeliveryID)
	if got.Status != "succeeded" || got.WebhookID == "" {
		t.Fatalf("restored delivery %+v", got)
	}
	var undispatched int
	if err := e.Store.DB().QueryRow(`SELECT count(*) FROM events WHERE dispatched_at IS NULL`).Scan(&undispatched); err != nil || undispatched != 0 {
		t.Fatalf("%d events still undispatched (%v)", undispatched, err)
	}
	exec(t, e, `UPDATE events SET dispatch_next_at = NULL`)
	if n, err := d.Sweep(context.Background()); n != 0 || err != nil {
		t.Fatalf("a later sweep started %d (%v): it would go on forever", n, err)
	}
	if rcv.Count() != 1 {
		t.Fatalf("receiver got %d POSTs, want 1: repairing the log must not deliver again", rcv.Count())
	}
}

// A delivery the log shows pending long after its workflow completed (its
// final update was lost) takes the state the workflow's result reports.
func TestReconcilerRestoresAStalePendingDelivery(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	res := e.Result(p.WorkflowID)
	exec(t, e, `UPDATE deliveries SET status = 'pending', updated_at = now() - interval '2 hours'`)

	rec := convergence(e)
	if n, err := rec.ReconcileDeliveries(context.Background(), 100); n != 1 || err != nil {
		t.Fatalf("reconciler checked %d (%v)", n, err)
	}
	if got := e.Delivery(key, res.Deliveries[0].DeliveryID); got.Status != "succeeded" {
		t.Fatalf("delivery %+v, want succeeded as the workflow reported", got)
	}
}

// An event's workflow terminated (by an operator, say) while its delivery
// waited to retry: the reconciler starts the event's workflow again, which
// resumes the unfinished delivery.
func TestReconcilerRestartsATerminatedEvent(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{Settings: settings(func(s *activities.Settings) {
		s.Retries = []time.Duration{time.Hour}
	})})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, e2etest.Sequence(e2etest.Status(500), e2etest.Status(200)))
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	rcv.WaitCount(t, 1)
	e2etest.Eventually(t, "the retry to be scheduled", func() bool {
		return len(e.Timers(p.WorkflowID)) > 0
	})
	if err := e.TC.TerminateWorkflow(context.Background(), p.WorkflowID, "", "operator"); err != nil {
		t.Fatal(err)
	}
	// An hour later its next attempt is long overdue.
	exec(t, e, `UPDATE deliveries SET updated_at = now() - interval '2 hours', next_attempt_at = now() - interval '2 hours'`)

	rec := convergence(e)
	if _, err := rec.ReconcileDeliveries(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	res := e.Result(p.WorkflowID)
	if len(res.Deliveries) != 1 || res.Deliveries[0].Status != "succeeded" {
		t.Fatalf("result of the restarted run %+v", res)
	}
	if rcv.Count() != 2 {
		t.Fatalf("receiver got %d POSTs, want 2", rcv.Count())
	}
}

// A receiver may answer anything: NUL bytes and invalid UTF-8 are stored
// byte for byte and the attempt counts (it was retried for ever before).
func TestAnyResponseBodyIsStored(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{Settings: settings(func(s *activities.Settings) { s.ResponseMaxBytes = 64 })})
	_, key := e.Account("professional")
	body := "ok\x00\xff\xfe end"
	rcv := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Reply{Status: 200, Body: body} })
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	res := e.Result(p.WorkflowID)
	d := e.Delivery(key, res.Deliveries[0].DeliveryID)
	if d.Status != "succeeded" || len(d.Attempts) != 1 || rcv.Count() != 1 {
		t.Fatalf("delivery %+v after %d POSTs", d, rcv.Count())
	}
	a := d.Attempts[0]
	raw, err := base64.StdEncoding.DecodeString(a.ResponseBodyBase64)
	if err != nil || string(raw) != body || a.ResponseBody != "ok\x00\uFFFD end" {
		t.Fatalf("body %q base64 %q (%v)", a.ResponseBody, a.ResponseBodyBase64, err)
	}
}

// An event published over HTTP is in the outbox already: its workflow's
// input does not carry the data again (it may be 256 KiB), yet the
// receiver gets it whole.
func TestPublishedEventDataStaysOutOfHistory(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{Data: []byte(`{"envelopeId":"env-outbox","envelopeStatus":1,"marker":"only-in-postgres"}`)})
	e.Result(p.WorkflowID)
	if got := rcv.Requests(); len(got) != 1 || !strings.Contains(string(got[0].Body), "only-in-postgres") {
		t.Fatalf("receiver got %d requests: %+v", len(got), got)
	}
	it := e.TC.GetWorkflowHistory(context.Background(), p.WorkflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	input := first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0].GetData()
	if strings.Contains(string(input), "only-in-postgres") || !strings.Contains(string(input), `"Stored":true`) {
		t.Fatalf("workflow input %s", input)
	}
}

// The event workflow lists itself with its first upsert (folded into the
// closing record for a first-try delivery): account, type, source,
// webhooks and the final status are all searchable once it is done.
func TestSearchAttributesListTheEvent(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	acct, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	e.Result(p.WorkflowID)
	desc, err := e.TC.DescribeWorkflow(context.Background(), p.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	sa := desc.TypedSearchAttributes
	got := map[string]string{}
	for _, k := range []temporal.SearchAttributeKeyKeyword{flow.AttrAccountID, flow.AttrEventType, flow.AttrTriggerSource, flow.AttrDeliveryStatus} {
		v, _ := sa.GetKeyword(k)
		got[k.GetName()] = v
	}
	ids, _ := sa.GetKeywordList(flow.AttrWebhookIDs)
	if got["WebhookAccountId"] != acct || got["WebhookEventType"] != "ENVELOPE_START" || got["WebhookTriggerSource"] != "saas_page" ||
		got["WebhookDeliveryStatus"] != "succeeded" || len(ids) != 1 || ids[0] != hook {
		t.Fatalf("search attributes %v, webhooks %v", got, ids)
	}
}

// PostgreSQL lost the delivery row (commits lost in a failover) while its
// workflow waited to retry: the next attempt restores the row and is made,
// instead of ending the delivery "cancelled: delivery not found".
func TestLostDeliveryRowIsRestoredAndAttempted(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{Settings: settings(func(s *activities.Settings) {
		s.Retries = []time.Duration{2 * time.Second}
	})})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, e2etest.Sequence(e2etest.Status(500), e2etest.Status(200)))
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	rcv.WaitCount(t, 1)
	e2etest.Eventually(t, "the retry to be scheduled", func() bool { return len(e.Timers(p.WorkflowID)) > 0 })
	lostDeliveries(t, e, p.EventID)
	res := e.Result(p.WorkflowID)
	if len(res.Deliveries) != 1 || res.Deliveries[0].Status != "succeeded" || rcv.Count() != 2 {
		t.Fatalf("result %+v after %d POSTs", res, rcv.Count())
	}
	d := e.Delivery(key, res.Deliveries[0].DeliveryID)
	if d.Status != "succeeded" || len(d.Attempts) != 1 || d.Attempts[0].Number != 2 {
		t.Fatalf("restored delivery %+v", d)
	}
}
