package activities

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// classified is the result of a 500 answer to attempt n of a delivery to t.
func classified(a *Activities, t db.DeliveryTarget, n int) *attempt {
	at := &attempt{in: DeliverInput{Attempt: n}, t: t, ans: answer{status: 500}}
	a.classify(at)
	return at
}

// TestClassifyFollowsTheWebhookSchedule: the waits and the give-up are the
// webhook's own schedule when it has one, the global one otherwise.
func TestClassifyFollowsTheWebhookSchedule(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	a := &Activities{Now: func() time.Time { return now },
		Settings: Settings{Retries: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}}}
	global := db.DeliveryTarget{}
	own := db.DeliveryTarget{DeliveryOptions: db.DeliveryOptions{RetryWaits: []int64{60, 120}}}
	fast := schedule.Fast
	preset := db.DeliveryTarget{DeliveryOptions: db.DeliveryOptions{RetryPreset: &fast}}
	for _, tc := range []struct {
		name string
		t    db.DeliveryTarget
		n    int
		want time.Duration // 0: gave up
	}{
		{"global 1", global, 1, time.Second},
		{"global 3", global, 3, 3 * time.Second},
		{"global 4", global, 4, 0},
		{"own 1", own, 1, time.Minute},
		{"own 2", own, 2, 2 * time.Minute},
		{"own 3", own, 3, 0},
		{"preset 6", preset, 6, 5 * time.Minute},
		{"preset 7", preset, 7, 0},
	} {
		at := classified(a, tc.t, tc.n)
		switch {
		case tc.want == 0 && (at.res.Outcome != delivery.OutcomeFailed || at.signal != db.HealthExhausted ||
			at.res.Reason != "gave up after "+strconv.Itoa(tc.n)+" attempts"):
			t.Errorf("%s: %+v, signal %v; want a give-up", tc.name, at.res, at.signal)
		case tc.want != 0 && (at.res.Outcome != delivery.OutcomeRetry || at.res.Wait != tc.want ||
			!at.outcome.NextAttemptAt.Equal(now.Add(tc.want))):
			t.Errorf("%s: %+v; want a retry in %s", tc.name, at.res, tc.want)
		}
	}
}

func TestAttemptTimeout(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	a := &Activities{Now: func() time.Time { return now }, Settings: Settings{AttemptTimeout: 5 * time.Second}}
	thirty := 30
	own := db.DeliveryTarget{DeliveryOptions: db.DeliveryOptions{TimeoutSeconds: &thirty}}
	ctx := context.Background()
	if got := a.attemptTimeout(ctx, db.DeliveryTarget{}); got != 5*time.Second {
		t.Errorf("global: %s", got)
	}
	if got := a.attemptTimeout(ctx, own); got != 30*time.Second {
		t.Errorf("own: %s", got)
	}
	// A plan of an older worker: the activity ends 15 s from now.
	short, cancel := context.WithDeadline(ctx, now.Add(15*time.Second))
	defer cancel()
	if got := a.attemptTimeout(short, own); got != 13*time.Second {
		t.Errorf("cut to the activity's deadline: %s, want 13s", got)
	}
	if got := a.attemptTimeout(short, db.DeliveryTarget{}); got != 5*time.Second {
		t.Errorf("global within the deadline: %s", got)
	}
	if got := a.activityTimeout(); got != 40*time.Second {
		t.Errorf("activity timeout %s, want the longest timeout (30s) + 10s", got)
	}
}

func TestResourceIDs(t *testing.T) {
	for in, want := range map[string]string{
		`{"envelopeId":"env-42","envelopeStatus":1,"signerName":"Ann","signerIds":["s1","s2"],"docId":7}`:          `{"docId":7,"envelopeId":"env-42","signerIds":["s1","s2"]}`,
		`{"envelope":{"envelopeId":"nested"},"ownerId":{"name":"Ann"},"mixedIds":["a",{"x":1}],"id":"x","Id":"y"}`: `{"Id":"y"}`,
		`{"hugeId":123456789012345678901234567890,"noneId":null,"okId":true}`:                                      `{"hugeId":123456789012345678901234567890}`,
		`{}`:     `{}`,
		`[1]`:    `{}`,
		``:       `{}`,
		`"text"`: `{}`,
	} {
		if got := string(resourceIDs(json.RawMessage(in))); got != want {
			t.Errorf("resourceIDs(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestBodyOf: a thin webhook's body has the event's head and resource ids;
// a full one is as before, without the payload member.
func TestBodyOf(t *testing.T) {
	occurred := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	e := events.Event{ID: "e1", Type: "ENVELOPE_FINISH", TriggerSource: "saas_page", AppID: "app", OccurredAt: occurred,
		Data: json.RawMessage(`{"envelopeId":"env-1","signerEmail":"ann@example.com"}`), OrderingKey: "env-1"}
	target := db.DeliveryTarget{Event: e, Delivery: db.Delivery{Turn: db.Turn{Sequence: 3}}}
	full, err := json.Marshal(bodyOf(target, false))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"event":"ENVELOPE_FINISH","eventId":"e1","triggerSource":"saas_page","appId":"app","occurredAt":"2026-12-06T12:00:00Z","eventPayload":{"envelopeId":"env-1","signerEmail":"ann@example.com"},"orderingKey":"env-1","sequence":3}`; string(full) != want {
		t.Errorf("full body\n got %s\nwant %s", full, want)
	}
	target.Payload = db.PayloadThin
	thin, err := json.Marshal(bodyOf(target, false))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"event":"ENVELOPE_FINISH","eventId":"e1","triggerSource":"saas_page","appId":"app","occurredAt":"2026-12-06T12:00:00Z","eventPayload":{"envelopeId":"env-1"},"orderingKey":"env-1","sequence":3,"payload":"thin"}`; string(thin) != want {
		t.Errorf("thin body\n got %s\nwant %s", thin, want)
	}
}
