package resource

import (
	"encoding/json"
	"slices"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/events/schemas"
)

// EventType is one type of the event catalogue: what it means, the JSON
// Schema (draft 2020-12) its data is checked against, and a sample event
// whose data validates against it.
type EventType struct {
	Name          string          `json:"name"`
	Description   string          `json:"description"`
	SchemaVersion int             `json:"schemaVersion"`
	Schema        json.RawMessage `json:"schema"`
	Sample        events.Event    `json:"sample"`
}

// EventTypes is the answer to GET /v1/event-types.
type EventTypes struct {
	Data           []EventType       `json:"data"`
	TriggerSources []events.TypeInfo `json:"triggerSources"`
	// System: operational events (endpoint health), subscribable by type
	// whatever the webhook's trigger sources; never published by clients.
	System []EventType `json:"system"`
}

// testType describes WEBHOOK_TEST, which is in neither catalogue.
var testType = events.TypeInfo{Name: events.WebhookTest,
	Description: `Sent by "send test event" only, to one webhook; nobody subscribes to it.`}

// Catalogue is every event type with its schema and sample.
func Catalogue() EventTypes {
	return EventTypes{Data: eventTypes(events.Catalogue), TriggerSources: events.TriggerSources,
		System: eventTypes(events.SystemCatalogue)}
}

// EventTypeOf is one type of either catalogue, or WEBHOOK_TEST.
func EventTypeOf(name string) (EventType, bool) {
	all := slices.Concat(events.Catalogue, events.SystemCatalogue, []events.TypeInfo{testType})
	i := slices.IndexFunc(all, func(t events.TypeInfo) bool { return t.Name == name })
	if i < 0 {
		return EventType{}, false
	}
	return eventType(all[i]), true
}

func eventTypes(infos []events.TypeInfo) []EventType {
	out := make([]EventType, 0, len(infos))
	for _, t := range infos {
		out = append(out, eventType(t))
	}
	return out
}

// eventType joins a type's description with its schema; every type has
// one (pkg/events/schemas' tests hold them together).
func eventType(t events.TypeInfo) EventType {
	out := EventType{Name: t.Name, Description: t.Description}
	if s, ok := schemas.Get(t.Name); ok {
		out.SchemaVersion, out.Schema = s.Version, s.Doc
	}
	out.Sample, _ = events.Sample(t.Name)
	return out
}
