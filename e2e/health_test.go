package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/pkg/events/schemas"
)

// notices collects the operational events an "ops" webhook receives, and
// any whose data breaks its type's schema (the engine's own contract).
type notices struct {
	mu     sync.Mutex
	got    []notice
	broken []string
}

type notice struct {
	Event        string `json:"event"`
	TriggerSoure string `json:"triggerSource"`
	Payload      struct {
		WebhookID        string `json:"webhookId"`
		Reason           string `json:"reason"`
		ThresholdPercent int    `json:"thresholdPercent"`
		DeliveryID       string `json:"deliveryId"`
	} `json:"eventPayload"`
}

func (n *notices) reply(r e2etest.Request) e2etest.Reply {
	var got notice
	_ = json.Unmarshal(r.Body, &got)
	var raw struct {
		Payload json.RawMessage `json:"eventPayload"`
	}
	_ = json.Unmarshal(r.Body, &raw)
	var broken string
	if s, ok := schemas.Get(got.Event); !ok {
		broken = got.Event + ": no schema"
	} else if v, err := s.Validate(raw.Payload); err != nil || len(v) > 0 {
		broken = fmt.Sprintf("%s %s: %v %v", got.Event, raw.Payload, v, err)
	}
	n.mu.Lock()
	n.got = append(n.got, got)
	if broken != "" {
		n.broken = append(n.broken, broken)
	}
	n.mu.Unlock()
	return e2etest.Status(http.StatusOK)
}

// wait waits for a notice of type typ about webhook and returns it.
func (n *notices) wait(t *testing.T, typ, webhook string) notice {
	t.Helper()
	var found notice
	e2etest.Eventually(t, typ+" about "+webhook, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, g := range n.got {
			if g.Event == typ && g.Payload.WebhookID == webhook {
				found = g
				return true
			}
		}
		return false
	})
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.broken) > 0 {
		t.Errorf("operational events whose data breaks their schema: %v", n.broken)
	}
	return found
}

func (n *notices) count(typ string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, g := range n.got {
		if g.Event == typ {
			c++
		}
	}
	return c
}

var allNotices = []string{"WEBHOOK_FAILING", "WEBHOOK_DISABLED", "WEBHOOK_RECOVERED", "DELIVERY_EXHAUSTED"}

func healthEnv(t *testing.T, exhausted int) (*e2etest.Env, string, *notices) {
	e := e2etest.New(t, e2etest.Options{Settings: settings(func(s *activities.Settings) {
		s.Retries = []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}
		s.HealthDisableExhausted = exhausted
		s.HealthDisableAfter = time.Hour
	})})
	_, key := e.Account("professional")
	ops := &notices{}
	opsRcv := e2etest.NewReceiver(t, ops.reply)
	e.CreateWebhook(key, e2etest.Webhook{Name: "ops", URL: opsRcv.At("/ops"), EventTypes: allNotices})
	return e, key, ops
}

// A webhook whose deliveries keep failing is warned about at 50 % of the
// threshold, then disabled with a reason; its owners hear of both (and of
// each exhausted delivery) on the webhook subscribed to operational events,
// never on the failing webhook itself. What it misses while disabled is
// recorded as skipped_disabled, and enabling it with replay delivers it.
func TestFailingWebhookIsDisabledAndNothingIsForgotten(t *testing.T) {
	t.Parallel()
	e, key, ops := healthEnv(t, 2)
	var healthy sync.Mutex
	up := false
	rcv := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		healthy.Lock()
		defer healthy.Unlock()
		if up {
			return e2etest.Status(200)
		}
		return e2etest.Status(500)
	})
	// Subscribed to the operational events too: it must never get one
	// about itself.
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{Name: "orders", URL: rcv.At("/orders"),
		EventTypes: append([]string{"ENVELOPE_START"}, allNotices...)})

	e.Result(e.Publish(key, e2etest.Event{}).WorkflowID)
	warned := ops.wait(t, "WEBHOOK_FAILING", hook)
	if warned.Payload.ThresholdPercent != 50 || warned.TriggerSoure != "system" {
		t.Fatalf("warning %+v", warned)
	}
	ops.wait(t, "DELIVERY_EXHAUSTED", hook)

	e.Result(e.Publish(key, e2etest.Event{}).WorkflowID)
	disabled := ops.wait(t, "WEBHOOK_DISABLED", hook)
	if disabled.Payload.Reason != "auto_disabled_failing" {
		t.Fatalf("disabled notice %+v", disabled)
	}
	w := e.Do("GET", "/v1/webhooks/"+hook, key, nil).Want(t, 200)
	if w.Str(t, "status") != "disabled" || w.Str(t, "disabledReason") != "auto_disabled_failing" || w.Str(t, "disabledMessage") == "" {
		t.Fatalf("webhook %s", w.Raw)
	}
	for _, r := range rcv.Requests() {
		if strings.Contains(string(r.Body), `"event":"WEBHOOK_`) || strings.Contains(string(r.Body), `"event":"DELIVERY_EXHAUSTED"`) {
			t.Fatalf("the failing webhook got an operational event: %s", r.Body)
		}
	}
	posts := rcv.Count() // 3 attempts × 2 deliveries

	// Missed while disabled: recorded, never sent.
	missed := e.Publish(key, e2etest.Event{})
	e.Result(missed.WorkflowID)
	d := e.EventDeliveries(key, missed.EventID)[hook]
	if d.Status != "skipped_disabled" || rcv.Count() != posts {
		t.Fatalf("delivery while disabled %+v, receiver %d POSTs (was %d)", d, rcv.Count(), posts)
	}
	list := e.Do("GET", "/v1/deliveries?status=skipped_disabled", key, nil).Want(t, 200)
	if !strings.Contains(string(list.Raw), d.ID) {
		t.Fatalf("skipped delivery not listed: %s", list.Raw)
	}

	healthy.Lock()
	up = true
	healthy.Unlock()
	en := e.Do("POST", "/v1/webhooks/"+hook+"/enable", key, map[string]any{"replayMissed": true}).Want(t, 200)
	if !strings.Contains(string(en.Raw), d.ID) || !strings.Contains(string(en.Raw), `"missedDeliveries":1`) {
		t.Fatalf("enable with replay: %s", en.Raw)
	}
	e.WaitStatus(key, d.ID, "succeeded")
	if rcv.Count() != posts+1 {
		t.Fatalf("receiver got %d POSTs after the replay, want %d", rcv.Count(), posts+1)
	}
	if h := e.Do("GET", "/v1/webhooks/"+hook, key, nil).Want(t, 200); !strings.Contains(string(h.Raw), `"state":"healthy"`) {
		t.Fatalf("health after enabling: %s", h.Raw)
	}
}

// A receiver answering 410 Gone disables its webhook at once.
func TestGoneDisablesTheWebhook(t *testing.T) {
	t.Parallel()
	e, key, ops := healthEnv(t, 100)
	rcv := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(http.StatusGone) })
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/gone")})
	e.Result(e.Publish(key, e2etest.Event{}).WorkflowID)
	if n := ops.wait(t, "WEBHOOK_DISABLED", hook); n.Payload.Reason != "receiver_gone" {
		t.Fatalf("notice %+v", n)
	}
	w := e.Do("GET", "/v1/webhooks/"+hook, key, nil).Want(t, 200)
	if w.Str(t, "status") != "disabled" || w.Str(t, "disabledReason") != "receiver_gone" {
		t.Fatalf("webhook %s", w.Raw)
	}
	if ops.count("DELIVERY_EXHAUSTED") != 0 {
		t.Fatal("a 410 is not an exhausted schedule")
	}
}

// A warned webhook that delivers again sends a recovery notice and is
// healthy again.
func TestRecoveryIsAnnounced(t *testing.T) {
	t.Parallel()
	e, key, ops := healthEnv(t, 2)
	var mu sync.Mutex
	up := false
	rcv := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply {
		mu.Lock()
		defer mu.Unlock()
		if up {
			return e2etest.Status(200)
		}
		return e2etest.Status(503)
	})
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/flaky")})
	e.Result(e.Publish(key, e2etest.Event{}).WorkflowID)
	ops.wait(t, "WEBHOOK_FAILING", hook)
	mu.Lock()
	up = true
	mu.Unlock()
	e.Result(e.Publish(key, e2etest.Event{}).WorkflowID)
	ops.wait(t, "WEBHOOK_RECOVERED", hook)
	w := e.Do("GET", "/v1/webhooks/"+hook, key, nil).Want(t, 200)
	if !strings.Contains(string(w.Raw), `"state":"healthy"`) || w.Str(t, "status") != "enabled" {
		t.Fatalf("webhook %s", w.Raw)
	}
}

// A healthy webhook records its last success (refreshed at most once a
// minute, so a busy webhook's row is not written on every delivery).
func TestLastSuccessIsRecorded(t *testing.T) {
	t.Parallel()
	e, key, _ := healthEnv(t, 100)
	rcv := e2etest.NewReceiver(t, nil)
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/ok")})
	e.Result(e.Publish(key, e2etest.Event{}).WorkflowID)
	w := e.Do("GET", "/v1/webhooks/"+hook, key, nil).Want(t, 200)
	if !strings.Contains(string(w.Raw), `"state":"healthy"`) || strings.Contains(string(w.Raw), `"lastSuccessAt":null`) {
		t.Fatalf("webhook %s", w.Raw)
	}
}
