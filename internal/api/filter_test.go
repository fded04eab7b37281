package api_test

import (
	"strings"
	"testing"
)

// TestWebhookFilter: a webhook's payload filter is checked and compiled
// when saved — a bad one is a 422 naming filter with the line and column
// of the error, and nothing is written —, shown in answers, changed only
// while the webhook is disabled, and removed by a PATCH of null or "".
func TestWebhookFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	plain := e.do("POST", "/v1/webhooks", key, validWebhook("no filter")).want(t, 201, "")
	if f, ok := plain.Body["filter"]; !ok || f != "" {
		t.Fatalf("a webhook without a filter shows filter %v: %s", f, plain.Raw)
	}

	const src = `event.data.envelopeId.startsWith("A") && event.triggerSource == "saas_page"`
	body := validWebhook("filtered")
	body["filter"] = src
	r := e.do("POST", "/v1/webhooks", key, body).want(t, 201, "")
	id, path := r.str("id"), "/v1/webhooks/"+r.str("id")
	if r.str("filter") != src || e.webhookRow(id).Filter != src {
		t.Fatalf("created: %s", r.Raw)
	}
	if g := e.do("GET", path, key, nil).want(t, 200, ""); g.str("filter") != src {
		t.Fatalf("GET: %s", g.Raw)
	}

	before := e.countWebhooks()
	for _, c := range []struct{ filter, want string }{
		{`event.tpye == "ENVELOPE_START"`, "line 1, column 6: undefined field 'tpye'"},
		{"event.type == \"ENVELOPE_START\" &&\n  evnt.data.x == 1", "line 2, column 3: undeclared reference to 'evnt'"},
		{`event.data.envelopeId.startsWith("A"`, "line 1, column 37: Syntax error"},
		{`event.data.envelopeId`, ""}, // dyn: decided when evaluated
		{`event.type`, "must be true or false (a bool), not a string"},
		{`event.data.a.exists(x, event.data.a.exists(y, x == y))`, "is too expensive"},
		{strings.Repeat("true || ", 260) + "true", "must be at most 2048 bytes"},
	} {
		b := validWebhook("bad filter")
		b["filter"] = c.filter
		if c.want == "" {
			e.do("POST", "/v1/webhooks", key, b).want(t, 201, "")
			before++
			continue
		}
		bad := e.do("POST", "/v1/webhooks", key, b).want(t, 422, "validation_failed")
		if got := bad.field("filter"); !strings.HasPrefix(got, c.want) {
			t.Errorf("filter %q: fields.filter %q, want %q", c.filter, got, c.want)
		}
	}
	if n := e.countWebhooks(); n != before {
		t.Errorf("refused filters wrote webhooks: %d, want %d", n, before)
	}

	// Like the event types, the filter decides what the receiver gets.
	e.do("PATCH", path, key, map[string]any{"filter": `event.type == "ENVELOPE_FINISH"`}).want(t, 409, "webhook_enabled")
	e.do("POST", path+"/disable", key, nil).want(t, 200, "")
	bad := e.do("PATCH", path, key, map[string]any{"filter": `event.data.x ==`}).want(t, 422, "validation_failed")
	if !strings.HasPrefix(bad.field("filter"), "line 1, column 16: Syntax error") || e.webhookRow(id).Filter != src {
		t.Fatalf("a bad PATCH: %s; row %q", bad.Raw, e.webhookRow(id).Filter)
	}
	if r := e.do("PATCH", path, key, map[string]any{"name": "renamed"}).want(t, 200, ""); r.str("filter") != src {
		t.Fatalf("a PATCH without filter changed it: %s", r.Raw)
	}
	r = e.do("PATCH", path, key, map[string]any{"filter": `event.type == "ENVELOPE_FINISH"`}).want(t, 200, "")
	if r.str("filter") != `event.type == "ENVELOPE_FINISH"` {
		t.Fatalf("PATCH filter: %s", r.Raw)
	}
	for _, clear := range []any{nil, "", "  "} {
		e.do("PATCH", path, key, map[string]any{"filter": "event.data.x == 1"}).want(t, 200, "")
		r = e.do("PATCH", path, key, map[string]any{"filter": clear}).want(t, 200, "")
		if r.str("filter") != "" || e.webhookRow(id).Filter != "" {
			t.Fatalf("PATCH filter %q did not clear it: %s", clear, r.Raw)
		}
	}
	if r := e.do("PATCH", path, key, map[string]any{"filter": 7}).want(t, 422, "validation_failed"); r.field("filter") == "" {
		t.Errorf("a number as filter: %s", r.Raw)
	}
}

// TestFilterTest: POST /v1/webhooks/filter-test says whether a filter
// passes a sample event as the worker would decide, for admins and
// members; a filter that cannot be saved is the same 422 as on save.
func TestFilterTest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	member := e.newKey(key, "member")
	event := map[string]any{"type": "ENVELOPE_START", "triggerSource": "saas_page",
		"data": map[string]any{"envelopeId": "A-42", "envelopeStatus": 1, "signerIds": []string{"s-1"}}}
	try := func(k, filter string, ev any) resp {
		return e.do("POST", "/v1/webhooks/filter-test", k, map[string]any{"filter": filter, "event": ev})
	}

	r := try(key, `event.data.envelopeId.startsWith("A") && "s-1" in event.data.signerIds`, event).want(t, 200, "")
	if r.Body["matches"] != true || r.Body["error"] != nil || r.Body["costLimit"] != 100000.0 {
		t.Fatalf("a match: %s", r.Raw)
	}
	if c, _ := r.Body["cost"].(float64); c < 10000 || c > 100000 {
		t.Errorf("cost %v: want the in over 10,000 items and below the limit", r.Body["cost"])
	}
	r = try(member, `event.type == "ENVELOPE_FINISH"`, event).want(t, 200, "")
	if r.Body["matches"] != false || r.Body["error"] != nil {
		t.Fatalf("no match: %s", r.Raw)
	}
	// An evaluation error is no match, and says why.
	r = try(key, `event.data.documentTitle.contains("NDA")`, event).want(t, 200, "")
	if r.Body["matches"] != false || r.str("error") != "no such key: documentTitle" {
		t.Fatalf("a missing key: %s", r.Raw)
	}
	// Without data or occurredAt: {} and now.
	r = try(key, `!has(event.data.x) && event.occurredAt > timestamp("2020-01-01T00:00:00Z")`,
		map[string]any{"type": "ENVELOPE_START"}).want(t, 200, "")
	if r.Body["matches"] != true {
		t.Fatalf("defaults: %s", r.Raw)
	}

	bad := try(key, "event.type == \"x\"\n&& event.dta.x == 1", event).want(t, 422, "validation_failed")
	if bad.field("filter") != "line 2, column 9: undefined field 'dta'" {
		t.Errorf("position: %s", bad.Raw)
	}
	try(key, "", event).want(t, 422, "validation_failed")
	if r := try(key, "true", map[string]any{"data": []int{1}}).want(t, 422, "validation_failed"); r.field("event.data") == "" {
		t.Errorf("data not an object: %s", r.Raw)
	}
	try(key, "true", map[string]any{"data": map[string]any{}, "colour": "red"}).want(t, 422, "validation_failed")
	try(e.newKey(key, "publisher"), "true", event).want(t, 403, "forbidden")
	_, basic := e.account("basic")
	try(basic, "true", event).want(t, 403, "plan_not_supported")
}
