package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/esign-webhooks/esign-webhooks/internal/app"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// only returns the single delivery of a workflow result.
func only(t *testing.T, e *e2etest.Env, wfID string) (string, string) {
	t.Helper()
	res := e.Result(wfID)
	if len(res.Deliveries) != 1 {
		t.Fatalf("workflow %s: %d deliveries, want 1: %+v", wfID, len(res.Deliveries), res)
	}
	return res.Deliveries[0].DeliveryID, string(res.Deliveries[0].Status)
}

func settings(mod func(*activities.Settings)) *activities.Settings {
	s := e2etest.FastSettings()
	mod(&s)
	return &s
}

func TestDeliverSucceedsFirstTry(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	hook, secret := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{Data: json.RawMessage(`{"envelopeId":"env-42","envelopeStatus":1}`)})

	id, status := only(t, e, p.WorkflowID)
	if status != "succeeded" {
		t.Fatalf("status %s", status)
	}
	d := e.Delivery(key, id)
	if d.Status != "succeeded" || d.AttemptCount != 1 || len(d.Attempts) != 1 || d.WebhookID != hook ||
		*d.Attempts[0].ResponseStatus != 200 || d.Attempts[0].ResponseBody != `{"code":"200","msg":"success"}` {
		t.Fatalf("delivery %+v", d)
	}
	reqs := rcv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Header.Get("webhook-id") != d.MessageID || r.Header.Get("Content-Type") != "application/json" ||
		r.Header.Get("User-Agent") != "esign-webhooks/"+app.Version {
		t.Fatalf("headers %v, message id %s", r.Header, d.MessageID)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.Body, r.Header); err != nil {
		t.Fatalf("signature does not verify with the official library: %v", err)
	}
	var body struct {
		Event         string          `json:"event"`
		EventID       string          `json:"eventId"`
		TriggerSource string          `json:"triggerSource"`
		EventPayload  json.RawMessage `json:"eventPayload"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Event != "ENVELOPE_START" || body.EventID != p.EventID || body.TriggerSource != "saas_page" ||
		!strings.Contains(string(body.EventPayload), `"env-42"`) {
		t.Fatalf("body %s", r.Body)
	}
}

func TestDeliverRetriesUntilSuccess(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	long := strings.Repeat("x", 500)
	rcv := e2etest.NewReceiver(t, e2etest.Sequence(
		e2etest.Reply{Status: 500, Body: long},
		e2etest.Reply{Status: 502, Body: "bad gateway"},
		e2etest.Status(200)))
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})

	id, status := only(t, e, p.WorkflowID)
	d := e.Delivery(key, id)
	if status != "succeeded" || d.Status != "succeeded" || d.AttemptCount != 3 || len(d.Attempts) != 3 {
		t.Fatalf("status %s, delivery %+v", status, d)
	}
	for i, want := range []int{500, 502, 200} {
		a := d.Attempts[i]
		if a.Number != i+1 || a.Series != 1 || a.ResponseStatus == nil || *a.ResponseStatus != want || a.DurationMS < 0 {
			t.Fatalf("attempt %d: %+v", i+1, a)
		}
	}
	if got := d.Attempts[0].ResponseBody; got != long[:64] {
		t.Fatalf("response body not truncated to 64 bytes: %d bytes", len(got))
	}
	// The waits are the schedule's, the second one lengthened to the
	// webhook's throttle that the 502 set (1 s, the first step).
	if got := e.Timers(p.WorkflowID); len(got) != 2 || got[0] != 100*time.Millisecond ||
		got[1] < 900*time.Millisecond || got[1] > time.Second {
		t.Fatalf("waits %v, want [100ms ~1s]", got)
	}
	// One message: the same webhook-id on every retry.
	for _, r := range rcv.Requests() {
		if r.Header.Get("webhook-id") != d.MessageID {
			t.Fatalf("webhook-id %q, want %q", r.Header.Get("webhook-id"), d.MessageID)
		}
	}
}

func TestDeliverGivesUpAfterSchedule(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(500) })
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	id, status := only(t, e, p.WorkflowID)
	d := e.Delivery(key, id)
	// The first attempt and one retry per scheduled wait.
	if status != "failed" || d.Status != "failed" || d.AttemptCount != 4 || rcv.Count() != 4 ||
		d.StatusReason != "gave up after 4 attempts" || d.NextAttemptAt != nil {
		t.Fatalf("status %s, delivery %+v, %d requests", status, d, rcv.Count())
	}
}

func TestRetryAfterHonouredAndBounded(t *testing.T) {
	t.Parallel()
	// The throttle's own back-off (which doubles) is kept short here: this
	// is about the receiver's Retry-After.
	e := e2etest.New(t, e2etest.Options{Settings: settings(func(s *activities.Settings) {
		s.RetryAfterMax = 1500 * time.Millisecond
		s.ThrottleBase = 10 * time.Millisecond
	})})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, e2etest.Sequence(
		e2etest.Reply{Status: 429, Header: map[string]string{"Retry-After": "3600"}}, // bounded to 1.5s
		e2etest.Reply{Status: 503, Header: map[string]string{"Retry-After": "1"}},    // 1s beats 200ms
		e2etest.Reply{Status: 503, Header: map[string]string{"Retry-After": "0"}},    // the schedule's 300ms
		e2etest.Status(200)))
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	if _, status := only(t, e, p.WorkflowID); status != "succeeded" {
		t.Fatalf("status %s", status)
	}
	want := []time.Duration{1500 * time.Millisecond, time.Second, 300 * time.Millisecond}
	if got := e.Timers(p.WorkflowID); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
}

func TestGoneStopsAtOnce(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(410) })
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	id, status := only(t, e, p.WorkflowID)
	d := e.Delivery(key, id)
	if status != "failed" || d.AttemptCount != 1 || rcv.Count() != 1 || !strings.Contains(d.StatusReason, "410") ||
		d.LastStatusCode == nil || *d.LastStatusCode != 410 {
		t.Fatalf("status %s, delivery %+v", status, d)
	}
	if got := e.Timers(p.WorkflowID); len(got) != 0 {
		t.Fatalf("waited %v after a 410", got)
	}
}

func TestTimeoutIsRecordedAndRetried(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	never := make(chan struct{}) // the first answer never comes (within the attempt timeout)
	rcv := e2etest.NewReceiver(t, e2etest.Sequence(e2etest.Reply{Status: 200, Block: never}, e2etest.Status(200)))
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	id, status := only(t, e, p.WorkflowID)
	d := e.Delivery(key, id)
	if status != "succeeded" || len(d.Attempts) != 2 {
		t.Fatalf("status %s, delivery %+v", status, d)
	}
	a := d.Attempts[0]
	if a.ResponseStatus != nil || !strings.HasPrefix(a.Error, "timeout") {
		t.Fatalf("first attempt %+v, want a timeout without status", a)
	}
	if d.Attempts[1].ResponseStatus == nil || *d.Attempts[1].ResponseStatus != 200 {
		t.Fatalf("second attempt %+v", d.Attempts[1])
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		if r.Path == "/moved" {
			return e2etest.Status(200)
		}
		return e2etest.Reply{Status: 302, Header: map[string]string{"Location": "/moved"}}
	})
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	id, status := only(t, e, p.WorkflowID)
	d := e.Delivery(key, id)
	if status != "failed" || len(d.Attempts) != 4 || *d.Attempts[0].ResponseStatus != 302 {
		t.Fatalf("status %s, delivery %+v", status, d)
	}
	for _, r := range rcv.Requests() {
		if r.Path != "/hook" {
			t.Fatalf("the redirect was followed to %s", r.Path)
		}
	}
}

func TestDuplicatePublishDeliversOnce(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	acct, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	ev := e2etest.Event{ID: "evt-dup-1"}
	first := e.Publish(key, ev)
	ev.Data = json.RawMessage(`{"envelopeId":"changed","envelopeStatus":1}`)
	second := e.Publish(key, ev)
	if first.Duplicate || !second.Duplicate || first.EventID != second.EventID || first.WorkflowID != second.WorkflowID {
		t.Fatalf("first %+v, second %+v", first, second)
	}
	e.Result(first.WorkflowID)
	// Again after the workflow finished, and through the Go publisher.
	third := e.Publish(key, ev)
	r, err := e.Pub.Publish(context.Background(), acct, events.Event{ID: "evt-dup-1", Type: "ENVELOPE_START",
		TriggerSource: "saas_page", Data: json.RawMessage(`{"envelopeId":"env-1","envelopeStatus":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !third.Duplicate || third.WorkflowID != first.WorkflowID || r.WorkflowID != first.WorkflowID {
		t.Fatalf("third %+v, publisher %+v", third, r)
	}
	if n := rcv.Count(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	if !strings.Contains(string(rcv.Requests()[0].Body), `"env-1"`) {
		t.Fatalf("delivered %s, want the first publish's data", rcv.Requests()[0].Body)
	}
	if ds := e.EventDeliveries(key, first.EventID); len(ds) != 1 {
		t.Fatalf("%d deliveries", len(ds))
	}
}

func TestPublisherPublishes(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	acct, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook"), EventTypes: []string{"ENVELOPE_FINISH"}})
	r, err := e.Pub.Publish(context.Background(), acct, events.Event{Type: "ENVELOPE_FINISH", TriggerSource: "saas_page",
		Data: json.RawMessage(`{"envelopeId":"e9","envelopeStatus":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	if r.EventID == "" || r.WorkflowID != flow.EventWorkflowID(acct, r.EventID) {
		t.Fatalf("result %+v", r)
	}
	if _, status := only(t, e, r.WorkflowID); status != "succeeded" {
		t.Fatalf("status %s", status)
	}
	// The workflow recorded the event for the API.
	if ds := e.EventDeliveries(key, r.EventID); len(ds) != 1 {
		t.Fatalf("%d deliveries", len(ds))
	}
	if _, err := e.Pub.Publish(context.Background(), acct, events.Event{Type: "NOPE"}); err == nil {
		t.Fatal("an invalid event was published")
	}
}

func TestSubscriptionFiltering(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	a, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/a"), EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"saas_page"}})
	b, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/b"), EventTypes: []string{"ENVELOPE_FINISH"},
		TriggerSources: []string{"saas_page", "third_party_app"}, AppIDs: []string{"app-1"}})
	c, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/c"), EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"third_party_app"}})
	d, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/d"), EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"saas_page"}})
	e.Do("POST", "/v1/webhooks/"+d+"/disable", key, nil).Want(t, 200)

	for _, tc := range []struct {
		ev   e2etest.Event
		want []string
	}{
		// d matches but is disabled: recorded as skipped_disabled, not sent.
		{e2etest.Event{Type: "ENVELOPE_START", TriggerSource: "saas_page"}, []string{a, d + " skipped_disabled"}},
		{e2etest.Event{Type: "ENVELOPE_FINISH", TriggerSource: "saas_page"}, []string{b}},
		{e2etest.Event{Type: "ENVELOPE_FINISH", TriggerSource: "third_party_app", AppID: "app-1"}, []string{b}},
		{e2etest.Event{Type: "ENVELOPE_FINISH", TriggerSource: "third_party_app", AppID: "app-2"}, nil},
		{e2etest.Event{Type: "ENVELOPE_START", TriggerSource: "third_party_app", AppID: "app-9"}, []string{c}},
		{e2etest.Event{Type: "ENVELOPE_CANCEL", TriggerSource: "saas_page"}, nil},
	} {
		p := e.Publish(key, tc.ev)
		res := e.Result(p.WorkflowID)
		var got []string
		for _, dr := range res.Deliveries {
			if dr.Status == delivery.SkippedDisabled {
				got = append(got, dr.WebhookID+" skipped_disabled")
				continue
			}
			got = append(got, dr.WebhookID)
		}
		slices.Sort(got)
		slices.Sort(tc.want)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%+v delivered to %v, want %v", tc.ev, got, tc.want)
		}
		if len(tc.want) == 0 && res.Skipped != "no matching webhook" {
			t.Errorf("%+v: skipped %q", tc.ev, res.Skipped)
		}
	}
	paths := map[string]int{}
	for _, r := range rcv.Requests() {
		paths[r.Path]++
	}
	if paths["/a"] != 1 || paths["/b"] != 2 || paths["/c"] != 1 || paths["/d"] != 0 {
		t.Fatalf("requests by path %v", paths)
	}
}

func TestPlansWithoutWebhooksGetNothing(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	rcv := e2etest.NewReceiver(t, nil)
	for _, plan := range []string{"trial", "basic"} {
		// Webhooks made while on Professional, then the account moved down.
		acct, key := e.Account("professional")
		e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/" + plan)})
		if _, err := e.Store.DB().Exec(`UPDATE accounts SET plan = $1 WHERE id = $2`, plan, acct); err != nil {
			t.Fatal(err)
		}
		p := e.Publish(key, e2etest.Event{})
		res := e.Result(p.WorkflowID)
		if len(res.Deliveries) != 0 || res.Skipped != "the "+plan+" plan does not include webhooks" {
			t.Fatalf("%s: %+v", plan, res)
		}
		var n int // the account's own events (the audit log's are the engine's)
		if err := e.Store.DB().Get(&n, `SELECT count(*) FROM events WHERE account_id = $1 AND trigger_source <> 'system'`, acct); err != nil || n != 1 {
			t.Fatalf("%s: %d events recorded (%v), want 1", plan, n, err)
		}
	}
	if n := rcv.Count(); n != 0 {
		t.Fatalf("%d requests, want none", n)
	}
}

// waitingOnRetry publishes to a failing receiver on a schedule with a long
// second wait and returns once the delivery is waiting for it.
func waitingOnRetry(t *testing.T) (*e2etest.Env, string, string, string, e2etest.Published, *e2etest.Receiver) {
	e := e2etest.New(t, e2etest.Options{Settings: settings(func(s *activities.Settings) {
		s.Retries = []time.Duration{10 * time.Minute}
	})})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(500) })
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	var id string
	e2etest.Eventually(t, "the delivery to be recorded", func() bool {
		ds := e.EventDeliveries(key, p.EventID)
		id = ds[hook].ID
		return id != ""
	})
	e.WaitDelivery(key, id, "retrying after attempt 1", func(d e2etest.Delivery) bool {
		return d.Status == "retrying" && d.AttemptCount == 1 && d.NextAttemptAt != nil
	})
	return e, key, hook, id, p, rcv
}

func TestDisableDuringWaitCancels(t *testing.T) {
	t.Parallel()
	e, key, hook, id, p, rcv := waitingOnRetry(t)
	// A delivery in progress cannot be resent.
	e.Do("POST", "/v1/deliveries/"+id+"/resend", key, nil).Want(t, http.StatusConflict)
	e.Do("POST", "/v1/webhooks/"+hook+"/disable", key, nil).Want(t, 200)
	res := e.Result(p.WorkflowID)
	if r := res.Deliveries[0]; r.Status != "cancelled" || r.Attempts != 1 || r.Last.Reason != "webhook was disabled" {
		t.Fatalf("result %+v", r)
	}
	d := e.Delivery(key, id)
	if d.Status != "cancelled" || d.StatusReason != "webhook was disabled" || d.NextAttemptAt != nil || len(d.Attempts) != 1 {
		t.Fatalf("delivery %+v", d)
	}
	if n := rcv.Count(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestDeleteDuringWaitCancels(t *testing.T) {
	t.Parallel()
	e, key, hook, id, p, rcv := waitingOnRetry(t)
	// Disabled behind the API's back (no signal), so the delete's own
	// signal is what ends the wait.
	if _, err := e.Store.DB().Exec(`UPDATE webhooks SET enabled = false WHERE id = $1`, hook); err != nil {
		t.Fatal(err)
	}
	e.Do("DELETE", "/v1/webhooks/"+hook+"?confirm="+hook, key, nil).Want(t, http.StatusNoContent)
	res := e.Result(p.WorkflowID)
	if r := res.Deliveries[0]; r.Status != "cancelled" || r.Last.Reason != "webhook was deleted" {
		t.Fatalf("result %+v", r)
	}
	d := e.Delivery(key, id)
	if d.Status != "cancelled" || d.StatusReason != "webhook was deleted" || rcv.Count() != 1 {
		t.Fatalf("delivery %+v, %d requests", d, rcv.Count())
	}
}

// Without the signal (it is best effort), the next attempt notices the
// webhook is disabled and cancels instead of sending.
func TestDisabledWithoutSignalCancelsAtNextAttempt(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{Settings: settings(func(s *activities.Settings) {
		s.Retries = []time.Duration{time.Second, time.Second}
	})})
	_, key := e.Account("professional")
	var hook string
	rcv := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		if _, err := e.Store.DB().Exec(`UPDATE webhooks SET enabled = false WHERE id = $1`, hook); err != nil {
			t.Error(err)
		}
		return e2etest.Status(500)
	})
	hook, _ = e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	id, status := only(t, e, p.WorkflowID)
	d := e.Delivery(key, id)
	if status != "cancelled" || d.StatusReason != "webhook was disabled" || rcv.Count() != 1 || d.AttemptCount != 1 {
		t.Fatalf("status %s, delivery %+v, %d requests", status, d, rcv.Count())
	}
}

// The URL is read at each attempt: a change made while an attempt is in
// flight is used by the next one.
func TestURLChangePickedUpOnNextAttempt(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	newRcv := e2etest.NewReceiver(t, nil)
	var hook string
	oldRcv := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		if _, err := e.Store.DB().Exec(`UPDATE webhooks SET url = $1 WHERE id = $2`, newRcv.At("/new"), hook); err != nil {
			t.Error(err)
		}
		return e2etest.Status(503)
	})
	hook, _ = e.CreateWebhook(key, e2etest.Webhook{URL: oldRcv.At("/old")})
	p := e.Publish(key, e2etest.Event{})
	id, status := only(t, e, p.WorkflowID)
	d := e.Delivery(key, id)
	if status != "succeeded" || len(d.Attempts) != 2 || d.Attempts[0].URL != oldRcv.At("/old") || d.Attempts[1].URL != newRcv.At("/new") {
		t.Fatalf("status %s, delivery %+v", status, d)
	}
	if oldRcv.Count() != 1 || newRcv.Count() != 1 {
		t.Fatalf("old got %d, new got %d", oldRcv.Count(), newRcv.Count())
	}
}

// The settings-page flow: a delivery failed; the admin disables the
// webhook, edits its URL, enables it and resends. The resend is a new series
// to the new URL with the same webhook-id.
func TestEditURLThenResend(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	// The old receiver refuses: 400 is not 410 (which would disable the
	// webhook by itself), and the schedule is short.
	oldRcv := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(400) })
	newRcv := e2etest.NewReceiver(t, nil)
	hook, secret := e.CreateWebhook(key, e2etest.Webhook{URL: oldRcv.At("/old")})
	p := e.Publish(key, e2etest.Event{})
	id, status := only(t, e, p.WorkflowID)
	if status != "failed" {
		t.Fatalf("status %s", status)
	}
	tries := oldRcv.Count()
	e.Do("PATCH", "/v1/webhooks/"+hook, key, map[string]any{"url": newRcv.At("/new")}).Want(t, http.StatusConflict)
	e.Do("POST", "/v1/webhooks/"+hook+"/disable", key, nil).Want(t, 200)
	e.Do("PATCH", "/v1/webhooks/"+hook, key, map[string]any{"url": newRcv.At("/new")}).Want(t, 200)
	e.Do("POST", "/v1/webhooks/"+hook+"/enable", key, nil).Want(t, 200)

	var resent e2etest.Delivery
	e.Do("POST", "/v1/deliveries/"+id+"/resend", key, nil).Want(t, http.StatusAccepted).Decode(t, &resent)
	if resent.Series != 2 || resent.WorkflowID != flow.ResendWorkflowID(id, 2) {
		t.Fatalf("resend answered %+v", resent)
	}
	d := e.WaitStatus(key, id, "succeeded")
	last := d.Attempts[len(d.Attempts)-1]
	if len(d.Attempts) != tries+1 || d.Attempts[0].Series != 1 || d.Attempts[0].URL != oldRcv.At("/old") ||
		last.Series != 2 || last.Number != 1 || last.URL != newRcv.At("/new") || d.Series != 2 {
		t.Fatalf("delivery %+v", d)
	}
	if newRcv.Count() != 1 || oldRcv.Count() != tries {
		t.Fatalf("old got %d, new got %d", oldRcv.Count(), newRcv.Count())
	}
	first, again := oldRcv.Requests()[0], newRcv.Requests()[0]
	if first.Header.Get("webhook-id") != again.Header.Get("webhook-id") || again.Header.Get("webhook-id") != d.MessageID {
		t.Fatalf("webhook-id %q then %q", first.Header.Get("webhook-id"), again.Header.Get("webhook-id"))
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(again.Body, again.Header); err != nil {
		t.Fatalf("resent message does not verify: %v", err)
	}
	// Resending it once more works too: series 3.
	e.Do("POST", "/v1/deliveries/"+id+"/resend", key, nil).Want(t, http.StatusAccepted)
	e.WaitDelivery(key, id, "series 3 succeeded", func(d e2etest.Delivery) bool { return d.Series == 3 && d.Status == "succeeded" })
	if newRcv.Count() != 2 {
		t.Fatalf("new got %d, want 2", newRcv.Count())
	}
}

func TestSignaturesAcrossSecretReset(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	hook, secret1 := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	deliver := func() e2etest.Request {
		t.Helper()
		n := rcv.Count()
		p := e.Publish(key, e2etest.Event{})
		e.Result(p.WorkflowID)
		return rcv.WaitCount(t, n+1)[n]
	}
	verifies := func(secret string, r e2etest.Request) bool {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		return wh.Verify(r.Body, r.Header) == nil
	}

	r1 := deliver()
	if !verifies(secret1, r1) || strings.Count(r1.Header.Get("webhook-signature"), "v1,") != 1 {
		t.Fatalf("first delivery: %q", r1.Header.Get("webhook-signature"))
	}

	// Reset with the default grace period: both signatures, each verifies.
	secret2 := e.Do("POST", "/v1/webhooks/"+hook+"/secret/reset", key, nil).Want(t, 200).Str(t, "secret")
	r2 := deliver()
	if sigs := strings.Fields(r2.Header.Get("webhook-signature")); len(sigs) != 2 {
		t.Fatalf("during grace: signatures %v, want 2", sigs)
	}
	if !verifies(secret2, r2) || !verifies(secret1, r2) {
		t.Fatalf("during grace: new verifies %v, old verifies %v", verifies(secret2, r2), verifies(secret1, r2))
	}

	// Reset without grace: only the newest secret signs.
	secret3 := e.Do("POST", "/v1/webhooks/"+hook+"/secret/reset", key, map[string]any{"gracePeriodSeconds": 0}).Want(t, 200).Str(t, "secret")
	r3 := deliver()
	if !verifies(secret3, r3) || verifies(secret2, r3) || verifies(secret1, r3) {
		t.Fatalf("after a reset without grace: %q", r3.Header.Get("webhook-signature"))
	}
	// Tampering is detected.
	r3.Body = append([]byte(nil), r3.Body...)
	r3.Body[len(r3.Body)-2] ^= 1
	if verifies(secret3, r3) {
		t.Fatal("a tampered body verifies")
	}
}

func TestSSRFRefusedAtConnectTime(t *testing.T) {
	t.Parallel()
	// The API allows 127.0.0.0/8 (so the URL can be saved); the worker's
	// egress client does not.
	e := e2etest.New(t, e2etest.Options{WorkerAllow: []netip.Prefix{}})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})
	p := e.Publish(key, e2etest.Event{})
	id, status := only(t, e, p.WorkflowID)
	d := e.Delivery(key, id)
	if status != "failed" || !strings.Contains(d.StatusReason, "not allowed") || len(d.Attempts) != 1 ||
		!strings.Contains(d.Attempts[0].Error, "non-public address") || d.Attempts[0].ResponseStatus != nil {
		t.Fatalf("status %s, delivery %+v", status, d)
	}
	if n := rcv.Count(); n != 0 {
		t.Fatalf("receiver got %d requests", n)
	}
}

func TestSlowReceiverDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{Settings: settings(func(s *activities.Settings) { s.AttemptTimeout = 45 * time.Second })})
	_, key := e.Account("professional")
	release := make(chan struct{})
	slow := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Reply{Status: 200, Block: release} })
	fast := e2etest.NewReceiver(t, nil)
	slowHook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: slow.At("/slow")})
	fastHook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: fast.At("/fast")})
	p := e.Publish(key, e2etest.Event{})

	slow.WaitCount(t, 1) // the slow receiver holds its request...
	var ds map[string]e2etest.Delivery
	e2etest.Eventually(t, "the healthy webhook's delivery to succeed", func() bool {
		ds = e.EventDeliveries(key, p.EventID)
		return ds[fastHook].Status == "succeeded"
	})
	// ...and still does: the healthy receiver was served meanwhile.
	if ds[slowHook].Status != "pending" || fast.Count() != 1 {
		t.Fatalf("slow %+v, fast got %d", ds[slowHook], fast.Count())
	}
	close(release)
	res := e.Result(p.WorkflowID)
	for _, r := range res.Deliveries {
		if r.Status != "succeeded" || r.Attempts != 1 {
			t.Fatalf("result %+v", r)
		}
	}
}

func TestWebhookTestEndpoint(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	ok := e2etest.NewReceiver(t, nil)
	bad := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(500) })
	okHook, secret := e.CreateWebhook(key, e2etest.Webhook{URL: ok.At("/ok")})
	badHook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: bad.At("/bad")})
	// Test events go out while disabled too.
	e.Do("POST", "/v1/webhooks/"+okHook+"/disable", key, nil).Want(t, 200)

	var got struct {
		EventID    string `json:"eventId"`
		DeliveryID string `json:"deliveryId"`
		Success    bool   `json:"success"`
		StatusCode int    `json:"statusCode"`
		Error      string `json:"error"`
	}
	e.Do("POST", "/v1/webhooks/"+okHook+"/test", key, nil).Want(t, 200).Decode(t, &got)
	if !got.Success || got.StatusCode != 200 || got.DeliveryID == "" || ok.Count() != 1 {
		t.Fatalf("test of a healthy receiver: %+v, %d requests", got, ok.Count())
	}
	r := ok.Requests()[0]
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(r.Body, r.Header); err != nil || !strings.Contains(string(r.Body), `"event":"WEBHOOK_TEST"`) {
		t.Fatalf("test message %s: %v", r.Body, err)
	}
	if d := e.Delivery(key, got.DeliveryID); d.EventType != "WEBHOOK_TEST" || d.Status != "succeeded" {
		t.Fatalf("logged test delivery %+v", d)
	}

	// A failed test is the documented 502 delivery_failed, with the attempt.
	var failed struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Attempt struct {
			DeliveryID string `json:"deliveryId"`
			Success    bool   `json:"success"`
			StatusCode int    `json:"statusCode"`
			Error      string `json:"error"`
		} `json:"attempt"`
	}
	e.Do("POST", "/v1/webhooks/"+badHook+"/test", key, nil).Want(t, http.StatusBadGateway).Decode(t, &failed)
	if failed.Error.Code != "delivery_failed" || failed.Attempt.Success || failed.Attempt.StatusCode != 500 ||
		!strings.Contains(failed.Error.Message, "500") {
		t.Fatalf("test of a failing receiver: %+v", failed)
	}
	// One attempt, never retried.
	if d := e.Delivery(key, failed.Attempt.DeliveryID); d.Status != "failed" || len(d.Attempts) != 1 || bad.Count() != 1 {
		t.Fatalf("logged test delivery %+v, %d requests", d, bad.Count())
	}
	// A redirect is a failure (never followed), and so is a refused connection.
	redirect := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(http.StatusFound) })
	redirectHook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: redirect.At("/moved")})
	failed.Attempt.StatusCode = 0
	e.Do("POST", "/v1/webhooks/"+redirectHook+"/test", key, nil).Want(t, http.StatusBadGateway).Decode(t, &failed)
	if failed.Error.Code != "delivery_failed" || failed.Attempt.Success || failed.Attempt.StatusCode != http.StatusFound {
		t.Fatalf("test of a redirecting receiver: %+v", failed)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + closed.Addr().String() + "/hook"
	closed.Close() // nothing listens there now: the connection is refused
	refusedHook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: refusedURL})
	failed.Attempt.Error = ""
	e.Do("POST", "/v1/webhooks/"+refusedHook+"/test", key, nil).Want(t, http.StatusBadGateway).Decode(t, &failed)
	if failed.Error.Code != "delivery_failed" || failed.Attempt.Success || failed.Attempt.Error == "" ||
		!strings.Contains(failed.Error.Message, failed.Attempt.Error) {
		t.Fatalf("test of a refused address: %+v", failed)
	}
	e.Do("POST", "/v1/webhooks/"+uuid.NewString()+"/test", key, nil).Want(t, http.StatusNotFound)
}

func TestEventAndDeliveryQueries(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	_, otherKey := e.Account("professional")
	ok := e2etest.NewReceiver(t, nil)
	// Refuses every time (400, not 410: a 410 disables the webhook, and the
	// second event could then be skipped instead of failed).
	gone := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(400) })
	okHook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: ok.At("/ok")})
	goneHook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: gone.At("/gone")})
	start := e.Publish(key, e2etest.Event{Type: "ENVELOPE_START"})
	finish := e.Publish(key, e2etest.Event{Type: "ENVELOPE_FINISH"})
	e.Result(start.WorkflowID)
	e.Result(finish.WorkflowID)

	var ev struct {
		ID         string             `json:"id"`
		Type       string             `json:"type"`
		WorkflowID string             `json:"workflowId"`
		Deliveries []e2etest.Delivery `json:"deliveries"`
		Data       map[string]any     `json:"data"`
	}
	e.Do("GET", "/v1/events/"+start.EventID, key, nil).Want(t, 200).Decode(t, &ev)
	if ev.ID != start.EventID || ev.Type != "ENVELOPE_START" || ev.WorkflowID != start.WorkflowID || len(ev.Deliveries) != 2 {
		t.Fatalf("event %+v", ev)
	}
	byHook := map[string]e2etest.Delivery{}
	for _, d := range ev.Deliveries {
		byHook[d.WebhookID] = d
	}
	if byHook[okHook].Status != "succeeded" || byHook[goneHook].Status != "failed" {
		t.Fatalf("deliveries %+v", ev.Deliveries)
	}

	list := func(k, query string) []e2etest.Delivery {
		t.Helper()
		var page struct {
			Data []e2etest.Delivery `json:"data"`
		}
		e.Do("GET", "/v1/deliveries"+query, k, nil).Want(t, 200).Decode(t, &page)
		return page.Data
	}
	check := func(query string, want int, ok func(e2etest.Delivery) bool) {
		t.Helper()
		ds := list(key, query)
		if len(ds) != want {
			t.Fatalf("%s: %d deliveries, want %d", query, len(ds), want)
		}
		for _, d := range ds {
			if !ok(d) {
				t.Fatalf("%s: unexpected %+v", query, d)
			}
		}
	}
	check("", 4, func(e2etest.Delivery) bool { return true })
	check("?webhookId="+okHook, 2, func(d e2etest.Delivery) bool { return d.WebhookID == okHook })
	check("?status=failed", 2, func(d e2etest.Delivery) bool { return d.WebhookID == goneHook })
	check("?eventType=ENVELOPE_FINISH", 2, func(d e2etest.Delivery) bool { return d.EventID == finish.EventID })
	check("?eventType=ENVELOPE_FINISH&status=succeeded&webhookId="+okHook, 1, func(d e2etest.Delivery) bool {
		return d.EventID == finish.EventID && d.WebhookID == okHook
	})
	check("?status=cancelled", 0, nil)
	e.Do("GET", "/v1/deliveries?status=bogus", key, nil).Want(t, http.StatusUnprocessableEntity)
	e.Do("GET", "/v1/deliveries?webhookId=nope", key, nil).Want(t, http.StatusUnprocessableEntity)

	// Another account sees none of it.
	e.Do("GET", "/v1/events/"+start.EventID, otherKey, nil).Want(t, http.StatusNotFound)
	e.Do("GET", "/v1/deliveries/"+byHook[okHook].ID, otherKey, nil).Want(t, http.StatusNotFound)
	e.Do("POST", "/v1/deliveries/"+byHook[goneHook].ID+"/resend", otherKey, nil).Want(t, http.StatusNotFound)
	if ds := list(otherKey, ""); len(ds) != 0 {
		t.Fatalf("another account lists %d deliveries", len(ds))
	}
	if ds := list(otherKey, "?webhookId="+okHook); len(ds) != 0 {
		t.Fatalf("another account lists %d deliveries of a foreign webhook", len(ds))
	}
}
