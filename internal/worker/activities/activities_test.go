package activities

import (
	"context"
	"strings"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// Anyone who reaches Temporal can start DeliverEvent: inputs the API never
// sends are refused before anything is recorded (no store here: touching
// it would panic). flow_test has every rule of the check.
func TestRecordEventRefusesInputsTheAPINeverSends(t *testing.T) {
	const acct = "7d9f3c1e-0000-4000-8000-000000000001"
	for name, in := range map[string]flow.DeliverEventInput{
		"test without a webhook":  {AccountID: acct, Test: true, Event: events.Event{Type: events.WebhookTest}},
		"one webhook but no test": {AccountID: acct, OnlyWebhookID: "w1", Event: events.Event{Type: events.EnvelopeStart}},
		"test of a real event":    {AccountID: acct, Test: true, OnlyWebhookID: "w1", Event: events.Event{Type: events.EnvelopeStart}},
		"test type as a real one": {AccountID: acct, Event: events.Event{Type: events.WebhookTest}},
		"NUL in the data": {AccountID: acct, Event: events.Event{ID: "e1", Type: events.EnvelopeStart,
			TriggerSource: events.SourceSaaSPage, Data: []byte(`{"a":"\u0000"}`)}},
	} {
		plan, err := (&Activities{}).RecordEvent(context.Background(), in)
		if err != nil || !strings.HasPrefix(plan.Skipped, "refused: ") || len(plan.Deliveries) != 0 {
			t.Errorf("%s: plan %+v, err %v", name, plan, err)
		}
	}
}
