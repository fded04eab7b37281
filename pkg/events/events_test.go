package events

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	valid := func() Event {
		return Event{Type: EnvelopeFinish, TriggerSource: SourceSaaSPage, Data: []byte(`{"envelopeId":"e1"}`)}
	}
	if err := func() error { e := valid(); return e.Validate(0) }(); err != nil {
		t.Fatalf("valid event rejected: %v", err)
	}
	cases := []struct {
		name  string
		edit  func(*Event)
		field string
	}{
		{"bad id", func(e *Event) { e.ID = "has space" }, "id"},
		{"long id", func(e *Event) { e.ID = strings.Repeat("a", 201) }, "id"},
		{"no type", func(e *Event) { e.Type = "" }, "type"},
		{"unknown type", func(e *Event) { e.Type = "ENVELOPE_EXPLODED" }, "type"},
		{"test type is not publishable", func(e *Event) { e.Type = WebhookTest }, "type"},
		{"no source", func(e *Event) { e.TriggerSource = "" }, "triggerSource"},
		{"unknown source", func(e *Event) { e.TriggerSource = "email" }, "triggerSource"},
		{"app without id", func(e *Event) { e.TriggerSource = SourceThirdPartyApp }, "appId"},
		{"no data", func(e *Event) { e.Data = nil }, "data"},
		{"array data", func(e *Event) { e.Data = []byte(`[1]`) }, "data"},
		{"broken data", func(e *Event) { e.Data = []byte(`{"a":`) }, "data"},
		{"occurredAt past 9999 in UTC", func(e *Event) {
			e.OccurredAt = time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(23*3600+59*60)))
		}, "occurredAt"},
		{"occurredAt before 0001 in UTC", func(e *Event) {
			e.OccurredAt = time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600))
		}, "occurredAt"},
		{"large data", func(e *Event) { e.Data = []byte(`{"a":"` + strings.Repeat("x", 300) + `"}`) }, "data"},
		{"long ordering key", func(e *Event) { e.OrderingKey = strings.Repeat("k", 201) }, "orderingKey"},
		{"ordering key with a control character", func(e *Event) { e.OrderingKey = "env\n1" }, "orderingKey"},
		{"ordering key not UTF-8", func(e *Event) { e.OrderingKey = "env\xff" }, "orderingKey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.edit(&e)
			err := e.Validate(256)
			var fe FieldErrors
			if !errors.As(err, &fe) || fe[tc.field] == "" {
				t.Fatalf("want an error on %s, got %v", tc.field, err)
			}
		})
	}
	e := valid()
	e.TriggerSource, e.AppID = SourceThirdPartyApp, "app_1"
	if err := e.Validate(0); err != nil {
		t.Fatalf("third-party event with app id rejected: %v", err)
	}
}

func TestCatalogue(t *testing.T) {
	if len(Catalogue) != 8 {
		t.Fatalf("catalogue has %d types, want the product's 8", len(Catalogue))
	}
	for _, c := range Catalogue {
		if !IsType(c.Name) || c.Description == "" {
			t.Errorf("%+v", c)
		}
	}
}

func TestNULInData(t *testing.T) {
	for data, bad := range map[string]bool{
		`{"x":"a\u0000b"}`:  true,
		`{"x":"\\\u0000"}`:  true,  // escaped backslash, then a NUL
		`{"x":"a\\u0000b"}`: false, // the text \u0000, no NUL
		`{"x":"a\u0001b"}`:  false,
		`{"x":"\\\\u0000"}`: false,
	} {
		e := Event{Type: EnvelopeStart, TriggerSource: SourceSaaSPage, Data: []byte(data)}
		err := e.Validate(0)
		if got := err != nil; got != bad {
			t.Errorf("%s: error %v, want error=%v", data, err, bad)
		}
	}
	e := Event{Type: EnvelopeStart, TriggerSource: SourceThirdPartyApp, AppID: "app\x00", Data: []byte(`{}`)}
	if err := e.Validate(0); err == nil {
		t.Error("control character in appId accepted")
	}
}

// The origin decides the type and trigger source; the other rules are the
// same for all, and ValidateHead leaves Data out.
func TestValidateFrom(t *testing.T) {
	test := Event{ID: "test-1", Type: WebhookTest, TriggerSource: SourceSaaSPage, Data: []byte(`{}`)}
	system := Event{ID: "webhook-failing.w.1.50", Type: WebhookFailing, TriggerSource: SourceSystem, Data: []byte(`{}`)}
	for _, tc := range []struct {
		name  string
		e     Event
		o     Origin
		field string // "" when valid
	}{
		{"test", test, FromTest, ""},
		{"test from a publisher", test, FromPublisher, "type"},
		{"real type as a test", Event{Type: EnvelopeStart, TriggerSource: SourceSaaSPage, Data: []byte(`{}`)}, FromTest, "type"},
		{"test from the system source", Event{Type: WebhookTest, TriggerSource: SourceSystem, Data: []byte(`{}`)}, FromTest, "triggerSource"},
		{"operational", system, FromEngine, ""},
		{"operational from a publisher", system, FromPublisher, "type"},
		{"engine's real type", Event{Type: EnvelopeStart, TriggerSource: SourceSystem, Data: []byte(`{}`)}, FromEngine, "type"},
		{"engine's publisher source", Event{Type: WebhookDisabled, TriggerSource: SourceSaaSPage, Data: []byte(`{}`)}, FromEngine, "triggerSource"},
		{"engine's bad data", Event{Type: WebhookDisabled, TriggerSource: SourceSystem, Data: []byte(`[]`)}, FromEngine, "data"},
	} {
		err := tc.e.ValidateFrom(tc.o, 0)
		var fe FieldErrors
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe[tc.field] == ""):
			t.Errorf("%s: want an error on %s, got %v", tc.name, tc.field, err)
		}
	}
	head := system
	head.Data = nil
	if err := head.ValidateHead(FromEngine); err != nil {
		t.Errorf("head without data: %v", err)
	}
	if err := head.ValidateFrom(FromEngine, 0); err == nil {
		t.Error("no data accepted by ValidateFrom")
	}
}
