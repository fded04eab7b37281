package e2e_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
)

// Per-webhook timeout, retry schedule and thin payload (docs/delivery.md,
// "A webhook's own timeout, schedule and payload").

// TestWebhookScheduleGivesUp: a webhook with its own waits makes its own
// number of attempts, waiting its own waits, and gives up after them; one
// without keeps the global schedule; a preset's first wait is its own.
func TestWebhookScheduleGivesUp(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	failing := func(e2etest.Request) e2etest.Reply { return e2etest.Status(500) }
	own, global := e2etest.NewReceiver(t, failing), e2etest.NewReceiver(t, failing)
	preset := e2etest.NewReceiver(t, e2etest.Sequence(e2etest.Status(500), e2etest.Status(200)))
	// One event type each: an event's timers are all its deliveries' waits.
	e.CreateWebhook(key, e2etest.Webhook{URL: own.At("/own"), EventTypes: []string{"ENVELOPE_START"},
		RetrySchedule: &schedule.Spec{Waits: []string{"1s", "2s"}}})
	e.CreateWebhook(key, e2etest.Webhook{URL: global.At("/global"), EventTypes: []string{"ENVELOPE_FINISH"}})
	e.CreateWebhook(key, e2etest.Webhook{URL: preset.At("/fast"), EventTypes: []string{"ENVELOPE_CANCEL"},
		RetrySchedule: &schedule.Spec{Preset: schedule.Fast}})
	pOwn := e.Publish(key, e2etest.Event{Type: "ENVELOPE_START"})
	pGlobal := e.Publish(key, e2etest.Event{Type: "ENVELOPE_FINISH"})
	pPreset := e.Publish(key, e2etest.Event{Type: "ENVELOPE_CANCEL"})

	for _, tc := range []struct {
		name     string
		p        e2etest.Published
		rcv      *e2etest.Receiver
		status   string
		attempts int
		waits    []time.Duration
	}{
		{"own waits", pOwn, own, "failed", 3, []time.Duration{time.Second, 2 * time.Second}},
		{"global", pGlobal, global, "failed", 4, e.Settings.Retries},
		{"fast preset", pPreset, preset, "succeeded", 2, []time.Duration{5 * time.Second}},
	} {
		id, status := only(t, e, tc.p.WorkflowID)
		d := e.Delivery(key, id)
		if status != tc.status || string(d.Status) != tc.status || d.AttemptCount != tc.attempts || tc.rcv.Count() != tc.attempts {
			t.Errorf("%s: status %s, delivery %s after %d attempts (%d POSTs); want %s after %d",
				tc.name, status, d.Status, d.AttemptCount, tc.rcv.Count(), tc.status, tc.attempts)
		}
		if tc.status == "failed" && d.StatusReason != "gave up after "+strconv.Itoa(tc.attempts)+" attempts" {
			t.Errorf("%s: reason %q", tc.name, d.StatusReason)
		}
		if got := e.Timers(tc.p.WorkflowID); !slices.Equal(got, tc.waits) {
			t.Errorf("%s: waits %v, want %v", tc.name, got, tc.waits)
		}
	}
}

// TestWebhookScheduleChangesFromNextAttempt: each attempt reads the
// webhook afresh, so a schedule edited while a delivery waits (the webhook
// enabled) decides from its next attempt on.
func TestWebhookScheduleChangesFromNextAttempt(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(500) })
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/h"),
		RetrySchedule: &schedule.Spec{Waits: []string{"3s", "3s", "3s"}}})
	p := e.Publish(key, e2etest.Event{})
	rcv.WaitCount(t, 1)
	// Attempt 1 chose its 3 s wait; attempt 2 finds one wait left in the
	// new schedule: it is the last.
	e.Do("PATCH", "/v1/webhooks/"+hook, key, map[string]any{"retrySchedule": map[string]any{"waits": []string{"1s"}}}).
		Want(t, http.StatusOK)
	id, status := only(t, e, p.WorkflowID)
	if d := e.Delivery(key, id); status != "failed" || d.AttemptCount != 2 || d.StatusReason != "gave up after 2 attempts" {
		t.Fatalf("status %s, delivery %+v", status, d)
	}
	if got := e.Timers(p.WorkflowID); !slices.Equal(got, []time.Duration{3 * time.Second}) {
		t.Fatalf("waits %v, want [3s]", got)
	}
}

// TestWebhookTimeout: an attempt waits for its receiver for the webhook's
// own timeout, shorter or longer than the global one.
func TestWebhookTimeout(t *testing.T) {
	t.Parallel()
	slow := func(e2etest.Request) e2etest.Reply {
		time.Sleep(2 * time.Second)
		return e2etest.Status(200)
	}
	one, three := 1, 3
	for _, tc := range []struct {
		name    string
		global  time.Duration
		timeout *int
		ok      bool
	}{
		{"1s webhook, 5s global", 5 * time.Second, &one, false},
		{"global 5s", 5 * time.Second, nil, true},
		{"3s webhook, 1s global", time.Second, &three, true},
		{"global 1s", time.Second, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := e2etest.New(t, e2etest.Options{Settings: settings(func(s *activities.Settings) { s.AttemptTimeout = tc.global })})
			_, key := e.Account("professional")
			rcv := e2etest.NewReceiver(t, slow)
			e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/slow"), TimeoutSeconds: tc.timeout,
				RetrySchedule: &schedule.Spec{Waits: []string{"1s"}}})
			p := e.Publish(key, e2etest.Event{})
			id, status := only(t, e, p.WorkflowID)
			d := e.Delivery(key, id)
			if !tc.ok {
				a := d.Attempts[0]
				limit := tc.global
				if tc.timeout != nil {
					limit = time.Duration(*tc.timeout) * time.Second
				}
				if status != "failed" || d.AttemptCount != 2 || a.ResponseStatus != nil || !strings.Contains(a.Error, "timeout") ||
					time.Duration(a.DurationMS)*time.Millisecond < limit || time.Duration(a.DurationMS)*time.Millisecond > limit+800*time.Millisecond {
					t.Fatalf("want two timeouts after %s: status %s, delivery %+v", limit, status, d)
				}
				return
			}
			if status != "succeeded" || d.AttemptCount != 1 || *d.Attempts[0].ResponseStatus != 200 || d.Attempts[0].DurationMS < 2000 {
				t.Fatalf("want one slow success: status %s, delivery %+v", status, d)
			}
		})
	}
}

// TestThinPayload: a thin webhook's receiver gets the event's head and its
// resource ids, signed, and nothing else of its data; it fetches the event
// with a reader key, which can do nothing else. A full webhook of the same
// event gets all of it.
func TestThinPayload(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	thinRcv, fullRcv := e2etest.NewReceiver(t, nil), e2etest.NewReceiver(t, nil)
	thinHook, secret := e.CreateWebhook(key, e2etest.Webhook{URL: thinRcv.At("/thin"), Payload: "thin"})
	e.CreateWebhook(key, e2etest.Webhook{URL: fullRcv.At("/full")})
	data := `{"envelopeId":"env-9","signerIds":["s-1","s-2"],"envelopeStatus":2,` +
		`"signerEmail":"ann@example.com","document":{"name":"NDA.pdf","ownerId":"u-1"}}`
	p := e.Publish(key, e2etest.Event{Type: "ENVELOPE_FINISH", Data: json.RawMessage(data), OrderingKey: "env-9"})
	e.Result(p.WorkflowID)

	thin := thinRcv.WaitCount(t, 1)[0]
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(thin.Body, thin.Header); err != nil {
		t.Fatalf("the thin payload's signature does not verify: %v", err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(thin.Body, &body); err != nil {
		t.Fatal(err)
	}
	var members []string
	for k := range body {
		members = append(members, k)
	}
	slices.Sort(members)
	want := []string{"event", "eventId", "eventPayload", "occurredAt", "orderingKey", "payload", "sequence", "triggerSource"}
	if !slices.Equal(members, want) || string(body["eventPayload"]) != `{"envelopeId":"env-9","signerIds":["s-1","s-2"]}` ||
		string(body["payload"]) != `"thin"` || string(body["eventId"]) != `"`+p.EventID+`"` || string(body["sequence"]) != "1" {
		t.Fatalf("thin body %s", thin.Body)
	}
	if strings.Contains(string(thin.Body), "ann@example.com") || strings.Contains(string(thin.Body), "NDA.pdf") {
		t.Fatalf("the thin body carries the signing's details: %s", thin.Body)
	}
	if full := fullRcv.WaitCount(t, 1)[0]; !strings.Contains(string(full.Body), "ann@example.com") || strings.Contains(string(full.Body), `"payload"`) {
		t.Fatalf("full body %s", full.Body)
	}

	// The receiver's reader key fetches the whole event, and nothing else.
	reader := e.Do("POST", "/v1/api-keys", key, map[string]any{"role": "reader", "label": "CRM receiver"}).
		Want(t, http.StatusCreated).Str(t, "key")
	var ev struct {
		ID         string          `json:"id"`
		Data       json.RawMessage `json:"data"`
		Deliveries []any           `json:"deliveries"`
	}
	e.Do("GET", "/v1/events/"+p.EventID, reader, nil).Want(t, http.StatusOK).Decode(t, &ev)
	if ev.ID != p.EventID || !strings.Contains(string(ev.Data), "ann@example.com") || ev.Deliveries == nil || len(ev.Deliveries) != 0 {
		t.Fatalf("reader's event: %+v", ev)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/webhooks"}, {"GET", "/v1/webhooks/" + thinHook}, {"GET", "/v1/deliveries"}, {"POST", "/v1/events"},
		{"GET", "/v1/api-keys"},
	} {
		var body any
		if r.method == "POST" {
			body = e2etest.Event{Type: "ENVELOPE_START", TriggerSource: "saas_page", Data: json.RawMessage(`{}`)}
		}
		e.Do(r.method, r.path, reader, body).Want(t, http.StatusForbidden)
	}
}
