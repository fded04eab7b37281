package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/events/schemas"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// "Send example": a webhook gets the sample of a type it subscribes to, at
// a real receiver, signed, from one of its trigger sources, marked test in
// the payload and in the log; no other webhook gets it.
func TestSendExampleArrives(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	other := e2etest.NewReceiver(t, nil)
	hook, secret := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook"),
		EventTypes: []string{"ENVELOPE_FINISH", "SIGNER_DECLINED", "WEBHOOK_DISABLED"}, TriggerSources: []string{"third_party_app"},
		AppIDs: []string{"app_9"}})
	e.CreateWebhook(key, e2etest.Webhook{Name: "other", URL: other.At("/other"), EventTypes: []string{"SIGNER_DECLINED"}})

	var sent struct {
		EventID    string `json:"eventId"`
		EventType  string `json:"eventType"`
		DeliveryID string `json:"deliveryId"`
		Success    bool   `json:"success"`
	}
	e.Do("POST", "/v1/webhooks/"+hook+"/test", key, map[string]any{"eventType": "SIGNER_DECLINED"}).Want(t, 200).Decode(t, &sent)
	if !sent.Success || sent.EventType != "SIGNER_DECLINED" || !strings.HasPrefix(sent.EventID, "example-") {
		t.Fatalf("answer %+v", sent)
	}
	r := rcv.WaitCount(t, 1)[0]
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(r.Body, r.Header); err != nil {
		t.Fatalf("signature: %v", err)
	}
	body := delivered(t, r.Body)
	declined, _ := schemas.Get(events.SignerDeclined)
	if body.Event != "SIGNER_DECLINED" || body.EventID != sent.EventID || !body.Test || body.TriggerSource != "third_party_app" ||
		body.AppID != "app_9" || body.OrderingKey != nil || !sameJSON(t, body.EventPayload, declined.Sample) {
		t.Fatalf("delivered %s", r.Body)
	}
	// The log marks it: the delivery, and the event with its schema version.
	if d := e.Delivery(key, sent.DeliveryID); !d.Test || d.EventType != "SIGNER_DECLINED" || d.Status != "succeeded" || len(d.Attempts) != 1 {
		t.Fatalf("logged %+v", d)
	}
	var ev struct {
		Test          bool `json:"test"`
		SchemaVersion int  `json:"schemaVersion"`
	}
	e.Do("GET", "/v1/events/"+sent.EventID, key, nil).Want(t, 200).Decode(t, &ev)
	if !ev.Test || ev.SchemaVersion != declined.Version {
		t.Fatalf("event %+v", ev)
	}
	// An operational type's example comes from the system source.
	e.Do("POST", "/v1/webhooks/"+hook+"/test", key, map[string]any{"eventType": "WEBHOOK_DISABLED"}).Want(t, 200).Decode(t, &sent)
	if body = delivered(t, rcv.WaitCount(t, 2)[1].Body); body.Event != "WEBHOOK_DISABLED" || body.TriggerSource != "system" || !body.Test {
		t.Fatalf("operational example %+v", body)
	}
	// A real event is not marked, and the example went to no other webhook.
	p := e.Publish(key, e2etest.Event{Type: "ENVELOPE_FINISH", TriggerSource: "third_party_app", AppID: "app_9",
		Data: json.RawMessage(`{"envelopeId":"env-7","envelopeStatus":2}`)})
	e.Result(p.WorkflowID)
	if body = delivered(t, rcv.WaitCount(t, 3)[2].Body); body.Event != "ENVELOPE_FINISH" || body.Test {
		t.Fatalf("real event %+v", body)
	}
	if n := other.Count(); n != 0 {
		t.Fatalf("the other webhook got %d requests", n)
	}
}

// The Go publisher (pkg/publish) holds data to its type's schema before it
// starts anything; an event started around it is refused by the worker,
// and nothing is delivered.
func TestPublisherValidatesData(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	acct, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook"), EventTypes: []string{"ENVELOPE_FINISH"}})
	bad := events.Event{ID: "sdk-bad", Type: "ENVELOPE_FINISH", TriggerSource: "saas_page",
		Data: json.RawMessage(`{"envelopeId":"e9","envelopeStatus":"done"}`)}
	_, err := e.Pub.Publish(context.Background(), acct, bad)
	var ve *events.ValidationError
	if !errors.As(err, &ve) || ve.Problems[0].Pointer != "/data/envelopeStatus" {
		t.Fatalf("Publish: %v", err)
	}
	// Around the validation (Start takes the event as given): the worker's check refuses it.
	r, err := e.Pub.Start(context.Background(), acct, bad)
	if err != nil {
		t.Fatal(err)
	}
	res := e.Result(r.WorkflowID)
	if len(res.Deliveries) != 0 || !strings.HasPrefix(res.Skipped, "refused: ") || !strings.Contains(res.Skipped, "data.envelopeStatus") {
		t.Fatalf("result %+v", res)
	}
	// A valid one is delivered and recorded with its schema version.
	good := bad
	good.ID, good.Data = "sdk-good", json.RawMessage(`{"envelopeId":"e9","envelopeStatus":2}`)
	r, err = e.Pub.Publish(context.Background(), acct, good)
	if err != nil || r.WorkflowID != flow.EventWorkflowID(acct, "sdk-good") {
		t.Fatalf("Publish: %+v %v", r, err)
	}
	e.Result(r.WorkflowID)
	var ev struct {
		SchemaVersion int `json:"schemaVersion"`
	}
	e.Do("GET", "/v1/events/sdk-good", key, nil).Want(t, 200).Decode(t, &ev)
	if ev.SchemaVersion != events.SchemaVersion("ENVELOPE_FINISH") || rcv.Count() != 1 {
		t.Fatalf("event %+v, %d requests", ev, rcv.Count())
	}
}

// payload is what a receiver is sent, as far as these tests read it.
type payload struct {
	Event         string          `json:"event"`
	EventID       string          `json:"eventId"`
	TriggerSource string          `json:"triggerSource"`
	AppID         string          `json:"appId"`
	OrderingKey   *string         `json:"orderingKey"`
	Test          bool            `json:"test"`
	EventPayload  json.RawMessage `json:"eventPayload"`
}

func delivered(t *testing.T, body []byte) payload {
	t.Helper()
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("payload %s: %v", body, err)
	}
	return p
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
