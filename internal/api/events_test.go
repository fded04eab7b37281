package api_test

import (
	"strings"
	"testing"
)

// TestGetEventMalformedID: an id no event can have is a 404 without a query
// (a NUL byte used to reach PostgreSQL and give a 500).
func TestGetEventMalformedID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	for _, id := range []string{"a%00b", "a%20b", "a%2Fb", strings.Repeat("a", 201), "%C3%A9"} {
		r := e.do("GET", "/v1/events/"+id, key, nil)
		if r.Status != 404 || r.code() != "not_found" {
			t.Errorf("GET /v1/events/%.20s: got %d %s", id, r.Status, r.Raw)
			continue
		}
		r.wantErrorShape(t)
	}
	// A well-formed id still reaches the store.
	e.do("POST", "/v1/events", key, map[string]any{
		"id": "env-1:finish_2.a", "type": "ENVELOPE_START", "triggerSource": "saas_page", "data": map[string]any{"envelopeId": "env-1", "envelopeStatus": 1},
	}).want(t, 202, "")
	e.do("GET", "/v1/events/env-1:finish_2.a", key, nil).want(t, 200, "")
}

// TestPublishNULData: PostgreSQL jsonb refuses \u0000; it must be a 422,
// not a 500 (validated in events.Validate).
func TestPublishNULData(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	r := e.do("POST", "/v1/events", key, `{"type":"ENVELOPE_START","triggerSource":"saas_page","data":{"x":"a\u0000b"}}`)
	r.want(t, 422, "validation_failed")
	if r.field("data") == "" {
		t.Errorf("422 does not name data: %s", r.Raw)
	}
}

// TestPublishOccurredAtOutOfRange: an offset pushing the UTC year outside
// 0001-9999 was accepted with 202 and then broke reading the event back.
func TestPublishOccurredAtOutOfRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	for _, at := range []string{"9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"} {
		r := e.do("POST", "/v1/events", key, map[string]any{
			"type": "ENVELOPE_START", "triggerSource": "saas_page", "occurredAt": at, "data": map[string]any{"envelopeId": "env-1", "envelopeStatus": 1},
		}).want(t, 422, "validation_failed")
		if r.field("occurredAt") == "" {
			t.Errorf("%s: 422 does not name occurredAt: %s", at, r.Raw)
		}
	}
	// The last representable instant is fine, and reads back.
	e.do("POST", "/v1/events", key, map[string]any{
		"id": "late", "type": "ENVELOPE_START", "triggerSource": "saas_page", "occurredAt": "9999-12-31T23:59:59Z", "data": map[string]any{"envelopeId": "env-1", "envelopeStatus": 1},
	}).want(t, 202, "")
	e.do("GET", "/v1/events/late", key, nil).want(t, 200, "")
}
