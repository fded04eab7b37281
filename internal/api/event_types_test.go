package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// The catalogue gives each type its JSON Schema, schema version and a
// sample event; a product type's sample is publishable as it is, and the
// stored event records the schema version it was checked against.
func TestEventTypeSchemas(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	r := e.do("GET", "/v1/event-types", "", nil).want(t, 200, "")
	var cat struct {
		Data, System []struct {
			Name          string          `json:"name"`
			SchemaVersion int             `json:"schemaVersion"`
			Schema        json.RawMessage `json:"schema"`
			Sample        events.Event    `json:"sample"`
		}
	}
	if err := json.Unmarshal(r.Raw, &cat); err != nil {
		t.Fatal(err)
	}
	if len(cat.Data) != len(events.Catalogue) || len(cat.System) != len(events.SystemCatalogue) {
		t.Fatalf("%d types and %d operational ones", len(cat.Data), len(cat.System))
	}
	for i, item := range slices.Concat(cat.Data, cat.System) {
		var schema struct {
			Draft    string `json:"$schema"`
			ID       string `json:"$id"`
			Examples []any  `json:"examples"`
		}
		if err := json.Unmarshal(item.Schema, &schema); err != nil || schema.Draft != "https://json-schema.org/draft/2020-12/schema" ||
			schema.ID != fmt.Sprintf("urn:esign-webhooks:event:%s:v%d", item.Name, item.SchemaVersion) || item.SchemaVersion < 1 {
			t.Errorf("%s: schema %s (%v), version %d", item.Name, schema.ID, err, item.SchemaVersion)
		}
		if item.Sample.Type != item.Name || len(item.Sample.Data) == 0 {
			t.Errorf("%s: sample %+v", item.Name, item.Sample)
		}
		one := e.do("GET", "/v1/event-types/"+item.Name, "", nil).want(t, 200, "")
		if got := one.str("name"); got != item.Name || !strings.Contains(string(one.Raw), `"schemaVersion":`) {
			t.Errorf("GET /v1/event-types/%s: %s", item.Name, one.Raw)
		}
		if i >= len(cat.Data) {
			if item.Sample.TriggerSource != events.SourceSystem {
				t.Errorf("%s: operational sample from %s", item.Name, item.Sample.TriggerSource)
			}
			continue
		}
		sample := item.Sample
		sample.ID = "sample-" + uuid.NewString()
		e.do("POST", "/v1/events", key, sample).want(t, 202, "")
		ev := e.do("GET", "/v1/events/"+sample.ID, key, nil).want(t, 200, "")
		if v, _ := ev.Body["schemaVersion"].(float64); int(v) != item.SchemaVersion || ev.Body["test"] != nil {
			t.Errorf("%s: stored event %s", item.Name, ev.Raw)
		}
	}
	e.do("GET", "/v1/event-types/"+events.WebhookTest, "", nil).want(t, 200, "")
	e.do("GET", "/v1/event-types/ENVELOPE_EXPLODED", "", nil).want(t, 404, "not_found").wantErrorShape(t)
}

// A publish whose data breaks its type's schema is a 422 naming each
// problem with its JSON pointer; nothing is stored.
func TestPublishSchemaViolations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	type detail struct{ Field, Pointer, Message string }
	cases := []struct {
		name string
		body string
		want []detail
	}{
		{"missing members", `{"id":"v1","type":"ENVELOPE_FINISH","triggerSource":"saas_page","data":{"signerList":[]}}`, []detail{
			{"data.envelopeId", "/data/envelopeId", "is required"},
			{"data.envelopeStatus", "/data/envelopeStatus", "is required"},
		}},
		{"wrong types, nested and in arrays", `{"id":"v2","type":"ENVELOPE_SIGNER_SIGNED","triggerSource":"saas_page","data":` +
			`{"envelopeId":"e","envelopeStatus":"4","signerInfo":{"userEmail":"nobody","signerStatus":2},` +
			`"signerList":[{"userEmail":"a@example.com","signerStatus":9}]}}`, []detail{
			{"data.envelopeStatus", "/data/envelopeStatus", "must be an integer, not a string"},
			{"data.signerInfo.userEmail", "/data/signerInfo/userEmail", "must be a valid email"},
			{"data.signerList[0].signerStatus", "/data/signerList/0/signerStatus", "must be one of 0, 1, 2, 3"},
		}},
		{"the event's own fields first", `{"id":"v3","type":"ENVELOPE_START","triggerSource":"third_party_app","data":{"envelopeId":""}}`, []detail{
			{"appId", "/appId", "is required when triggerSource is third_party_app"},
			{"data.envelopeId", "/data/envelopeId", "must be at least 1 characters"},
			{"data.envelopeStatus", "/data/envelopeStatus", "is required"},
		}},
		{"a member of the wrong JSON type", `{"id":"v4","type":7,"triggerSource":"saas_page","data":{}}`, []detail{
			{"type", "/type", "must be a JSON string"},
		}},
		{"a member name to escape", `{"id":"v5","type":"ENVELOPE_START","triggerSource":"saas_page","data":{},"a/b~":1}`, []detail{
			{"a/b~", "/a~1b~0", "is not a known field"},
		}},
	}
	for _, tc := range cases {
		r := e.do("POST", "/v1/events", key, tc.body).want(t, 422, "validation_failed")
		r.wantErrorShape(t)
		var body struct {
			Error struct {
				Fields map[string]string `json:"fields"`
				Errors []detail          `json:"errors"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.Raw, &body); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(body.Error.Errors, tc.want) {
			t.Errorf("%s: errors %+v\nwant %+v", tc.name, body.Error.Errors, tc.want)
		}
		for _, d := range tc.want {
			if body.Error.Fields[d.Field] != d.Message {
				t.Errorf("%s: fields %v lack %s", tc.name, body.Error.Fields, d.Field)
			}
		}
	}
	for _, id := range []string{"v1", "v2", "v3", "v4", "v5"} {
		e.do("GET", "/v1/events/"+id, key, nil).want(t, 404, "not_found")
	}
	// Unknown members are allowed, at every level: receivers' contracts grow.
	e.do("POST", "/v1/events", key, map[string]any{"type": "ENVELOPE_SIGNER_SIGNED", "triggerSource": "saas_page",
		"data": map[string]any{"envelopeId": "e", "envelopeStatus": 1, "crmId": "0065g",
			"signerInfo": map[string]any{"userEmail": "a@example.com", "signerStatus": 2, "ipAddress": "203.0.113.42"}}}).want(t, 202, "")
}

// "Send example" refuses a type the webhook does not subscribe to, and an
// unknown one, before anything is sent.
func TestSendExampleRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook")) // ENVELOPE_START, ENVELOPE_FINISH
	for eventType, want := range map[string]string{
		"SIGNER_DECLINED":   "does not subscribe to SIGNER_DECLINED",
		"ENVELOPE_EXPLODED": "unknown event type",
	} {
		r := e.do("POST", "/v1/webhooks/"+hook+"/test", key, map[string]any{"eventType": eventType}).want(t, 422, "validation_failed")
		if !strings.Contains(r.field("eventType"), want) {
			t.Errorf("%s: %s", eventType, r.Raw)
		}
	}
	e.do("POST", "/v1/webhooks/"+hook+"/test", key, map[string]any{"eventTyp": "ENVELOPE_START"}).want(t, 422, "validation_failed")
	if n := len(e.do("GET", "/v1/deliveries?webhookId="+hook, key, nil).want(t, 200, "").Body["data"].([]any)); n != 0 {
		t.Errorf("%d deliveries after refused examples", n)
	}
}
