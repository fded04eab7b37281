package flow

import (
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// The id rules are part of every stored delivery and every running
// workflow: changing one would deliver existing events twice.
func TestWorkflowIDRules(t *testing.T) {
	if got := EventWorkflowID("a", "e"); got != "event/a/e" {
		t.Fatalf("event id rule changed: %s", got)
	}
	if got := ResendWorkflowID("d", 2); got != "resend/d/2" || !IsResendWorkflowID(got) || IsResendWorkflowID("event/a/e") {
		t.Fatalf("resend id rule changed: %s", got)
	}
	if got := BatchWorkflowID("event/a/e", 3); got != "event/a/e/batch-3" {
		t.Fatalf("batch id rule changed: %s", got)
	}
}

// Check accepts every input the server starts DeliverEvent with, and
// refuses what only someone going around the API could send.
func TestDeliverEventInputCheck(t *testing.T) {
	published := events.Event{ID: "e1", Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage,
		OccurredAt: time.Now(), Data: []byte(`{"envelopeId":"x","envelopeStatus":1}`)}
	head := published
	head.Data = nil
	system := events.Event{ID: "webhook-failing.w.1.50", Type: events.WebhookFailing, TriggerSource: events.SourceSystem,
		OccurredAt: time.Now()}
	test := published
	test.Type, test.Data = events.WebhookTest, []byte(`{"message":"hi"}`)
	with := func(e events.Event, edit func(*events.Event)) events.Event { edit(&e); return e }
	for name, in := range map[string]DeliverEventInput{
		"published (pkg/publish)":      {AccountID: "a", Event: published},
		"stored by the API":            {AccountID: "a", Event: head, Stored: true},
		"operational, from the outbox": {AccountID: "a", Event: system, Stored: true},
		"test":                         {AccountID: "a", Event: test, OnlyWebhookID: "w", Test: true},
		"example (send example)":       {AccountID: "a", Event: published, OnlyWebhookID: "w", Test: true},
	} {
		if err := in.Check(); err != nil {
			t.Errorf("%s refused: %v", name, err)
		}
	}
	for name, in := range map[string]DeliverEventInput{
		"test without a webhook":    {AccountID: "a", Event: test, Test: true},
		"one webhook but no test":   {AccountID: "a", Event: published, OnlyWebhookID: "w"},
		"test with an ordering key": {AccountID: "a", Event: with(published, func(e *events.Event) { e.OrderingKey = "k" }), OnlyWebhookID: "w", Test: true},
		"data its schema refuses":   {AccountID: "a", Event: with(published, func(e *events.Event) { e.Data = []byte(`{"envelopeId":"x"}`) })},
		"test type as a real one":   {AccountID: "a", Event: test},
		"operational, published":    {AccountID: "a", Event: system},
		"operational, not system":   {AccountID: "a", Event: with(system, func(e *events.Event) { e.TriggerSource = events.SourceSaaSPage }), Stored: true},
		"system source, real type":  {AccountID: "a", Event: with(head, func(e *events.Event) { e.TriggerSource = events.SourceSystem }), Stored: true},
		"no data":                   {AccountID: "a", Event: head},
		"NUL in data":               {AccountID: "a", Event: with(published, func(e *events.Event) { e.Data = []byte(`{"a":"\u0000"}`) })},
		"stored, bad id":            {AccountID: "a", Event: with(head, func(e *events.Event) { e.ID = "a\x00" }), Stored: true},
	} {
		if err := in.Check(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	// The worker sets no bound of its own on the data.
	big := with(published, func(e *events.Event) {
		e.Data = []byte(`{"envelopeId":"x","envelopeStatus":1,"a":"` + strings.Repeat("x", events.DefaultMaxDataBytes) + `"}`)
	})
	if err := (DeliverEventInput{AccountID: "a", Event: big}).Check(); err != nil {
		t.Errorf("large data refused: %v", err)
	}
}
