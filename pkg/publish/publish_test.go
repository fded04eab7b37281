package publish

import (
	"errors"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

func TestPrepare(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	p := &Publisher{Now: func() time.Time { return now }}
	e := events.Event{Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage, Data: []byte(`{"envelopeId":"e","envelopeStatus":1}`)}
	if err := p.Prepare(&e); err != nil {
		t.Fatal(err)
	}
	if e.ID == "" || !e.OccurredAt.Equal(now) {
		t.Fatalf("defaults not filled: %+v", e)
	}
	given := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e2 := events.Event{ID: "mine", OccurredAt: given, Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage, Data: e.Data}
	if err := p.Prepare(&e2); err != nil || e2.ID != "mine" || !e2.OccurredAt.Equal(given) {
		t.Fatalf("caller's id/time overwritten: %+v %v", e2, err)
	}

	bad := events.Event{Type: "NOPE", TriggerSource: events.SourceSaaSPage, Data: []byte(`{}`)}
	var fe events.FieldErrors
	if err := p.Prepare(&bad); !errors.As(err, &fe) || fe["type"] == "" {
		t.Fatalf("invalid event accepted: %v", err)
	}
	// An offset pushing the UTC year past 9999 cannot be encoded as JSON.
	late := events.Event{Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage, Data: []byte(`{}`),
		OccurredAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(23*3600+59*60)))}
	if err := p.Prepare(&late); !errors.As(err, &fe) || fe["occurredAt"] == "" {
		t.Fatalf("occurredAt past year 9999 accepted: %v", err)
	}
	// The data is checked against its type's schema, with JSON pointers.
	partial := events.Event{Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage, Data: []byte(`{"envelopeId":"e"}`)}
	var ve *events.ValidationError
	if err := p.Prepare(&partial); !errors.As(err, &ve) || ve.Problems[0].Pointer != "/data/envelopeStatus" {
		t.Fatalf("data without envelopeStatus accepted: %v", err)
	}
	small := &Publisher{MaxDataBytes: 4}
	big := events.Event{Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage, Data: []byte(`{"a":1}`)}
	if err := small.Prepare(&big); !errors.As(err, &fe) || fe["data"] == "" {
		t.Fatalf("MaxDataBytes not applied: %v", err)
	}
}

func TestOptions(t *testing.T) {
	p := &Publisher{}
	o := p.StartOptions("event/a/e", "a", events.EnvelopeStart, events.SourceSaaSPage)
	if o.TaskQueue != "webhooks" || o.ID != "event/a/e" {
		t.Fatalf("options %+v", o)
	}
	if o.TypedSearchAttributes.Size() != 4 {
		t.Fatalf("want account, type, source and status search attributes, got %d", o.TypedSearchAttributes.Size())
	}
	if flow.ResendWorkflowID("d", 2) != "resend/d/2" {
		t.Fatal("resend id rule changed")
	}
}
