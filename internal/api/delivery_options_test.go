package api_test

import (
	"slices"
	"strings"
	"testing"
)

// TestWebhookDeliveryOptions: timeoutSeconds, retrySchedule and payload are
// set on create and shown in GET (null and "full" by default); the timing
// changes with PATCH even while the webhook is enabled (null returns to the
// global one), the payload form only while it is disabled; a bad value is a
// 422 naming the field and its bounds, never a 500.
func TestWebhookDeliveryOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	def := e.do("POST", "/v1/webhooks", key, validWebhook("defaults")).want(t, 201, "")
	if def.Body["timeoutSeconds"] != nil || def.Body["retrySchedule"] != nil || def.str("payload") != "full" {
		t.Fatalf("defaults: %s", def.Raw)
	}
	if w := e.webhookRow(def.str("id")); w.TimeoutSeconds != nil || w.RetryPreset != nil || w.RetryWaits != nil || w.Payload != "full" {
		t.Fatalf("default row %+v", w.DeliveryOptions)
	}

	body := validWebhook("own")
	body["timeoutSeconds"], body["payload"] = 12, "thin"
	body["retrySchedule"] = map[string]any{"waits": []string{"10s", "300s", "1h30m"}}
	r := e.do("POST", "/v1/webhooks", key, body).want(t, 201, "")
	id, path := r.str("id"), "/v1/webhooks/"+r.str("id")
	if r.Body["timeoutSeconds"] != 12.0 || r.str("payload") != "thin" || !sameWaits(r, "10s", "5m", "1h30m") {
		t.Fatalf("created: %s", r.Raw)
	}
	if w := e.webhookRow(id); *w.TimeoutSeconds != 12 || !slices.Equal(w.RetryWaits, []int64{10, 300, 5400}) || w.RetryPreset != nil {
		t.Fatalf("row %+v", w.DeliveryOptions)
	}

	// Timing while enabled: a preset, then back to the global ones.
	r = e.do("PATCH", path, key, map[string]any{"retrySchedule": map[string]any{"preset": "fast"}, "timeoutSeconds": 30}).want(t, 200, "")
	if sch, _ := r.Body["retrySchedule"].(map[string]any); sch["preset"] != "fast" || sch["waits"] != nil ||
		r.Body["timeoutSeconds"] != 30.0 || r.str("status") != "enabled" || r.str("payload") != "thin" {
		t.Fatalf("PATCH timing while enabled: %s", r.Raw)
	}
	if w := e.webhookRow(id); *w.RetryPreset != "fast" || w.RetryWaits != nil {
		t.Fatalf("row after preset %+v", w.DeliveryOptions)
	}
	r = e.do("PATCH", path, key, map[string]any{"maxConcurrency": 4}).want(t, 200, "")
	if r.Body["timeoutSeconds"] != 30.0 || r.Body["retrySchedule"] == nil {
		t.Fatalf("an edit without them changed them: %s", r.Raw)
	}
	r = e.do("PATCH", path, key, map[string]any{"retrySchedule": nil, "timeoutSeconds": nil}).want(t, 200, "")
	if r.Body["retrySchedule"] != nil || r.Body["timeoutSeconds"] != nil {
		t.Fatalf("PATCH null: %s", r.Raw)
	}
	// The payload form is the receiver's contract, like its URL.
	e.do("PATCH", path, key, map[string]any{"payload": "full"}).want(t, 409, "webhook_enabled")
	e.do("PATCH", path, key, map[string]any{"payload": "full", "timeoutSeconds": 5}).want(t, 409, "webhook_enabled")
	e.do("POST", path+"/disable", key, nil).want(t, 200, "")
	r = e.do("PATCH", path, key, map[string]any{"payload": "full"}).want(t, 200, "")
	if r.str("payload") != "full" {
		t.Fatalf("PATCH payload: %s", r.Raw)
	}

	for _, tc := range []struct {
		value      any
		field, say string
	}{
		{map[string]any{"timeoutSeconds": 0}, "timeoutSeconds", "from 1 to 30"},
		{map[string]any{"timeoutSeconds": 31}, "timeoutSeconds", "from 1 to 30"},
		{map[string]any{"timeoutSeconds": 2.5}, "timeoutSeconds", "number"},
		{map[string]any{"timeoutSeconds": "5"}, "timeoutSeconds", "number"},
		{map[string]any{"payload": "slim"}, "payload", "full"},
		{map[string]any{"payload": 1}, "payload", "string"},
		{map[string]any{"retrySchedule": "fast"}, "retrySchedule", "object"},
		{map[string]any{"retrySchedule": map[string]any{}}, "retrySchedule", `{"preset"`},
		{map[string]any{"retrySchedule": map[string]any{"preset": "fast", "waits": []string{"1s"}}}, "retrySchedule", "not both"},
		{map[string]any{"retrySchedule": map[string]any{"preset": "slow"}}, "retrySchedule.preset", "standard, fast, patient"},
		{map[string]any{"retrySchedule": map[string]any{"waits": []string{}}}, "retrySchedule.waits", "from 1 to 30 waits"},
		{map[string]any{"retrySchedule": map[string]any{"waits": []string{"1s", "2d"}}}, "retrySchedule.waits", `wait 2 ("2d")`},
		{map[string]any{"retrySchedule": map[string]any{"waits": []string{"500ms"}}}, "retrySchedule.waits", "from 1s to 24h"},
		{map[string]any{"retrySchedule": map[string]any{"waits": slices.Repeat([]string{"24h"}, 8)}}, "retrySchedule.waits", "7 days"},
		{map[string]any{"retrySchedule": map[string]any{"waits": slices.Repeat([]string{"1s"}, 31)}}, "retrySchedule.waits", "from 1 to 30 waits"},
		{map[string]any{"retrySchedule": map[string]any{"waits": []any{1}}}, "retrySchedule.waits", "string"},
	} {
		m := tc.value.(map[string]any)
		create := validWebhook("bad")
		for k, v := range m {
			create[k] = v
		}
		for _, r := range []resp{e.do("PATCH", path, key, m), e.do("POST", "/v1/webhooks", key, create)} {
			r.want(t, 422, "validation_failed")
			if !strings.Contains(r.field(tc.field), tc.say) {
				t.Errorf("%v: field %s should say %q: %s", m, tc.field, tc.say, r.Raw)
			}
		}
	}
	// Every invalid field in one answer.
	bad := validWebhook("")
	bad["timeoutSeconds"], bad["payload"] = 99, "x"
	r = e.do("POST", "/v1/webhooks", key, bad).want(t, 422, "validation_failed")
	for _, f := range []string{"name", "timeoutSeconds", "payload"} {
		if r.field(f) == "" {
			t.Errorf("no error on %s: %s", f, r.Raw)
		}
	}
}

func sameWaits(r resp, want ...string) bool {
	sch, _ := r.Body["retrySchedule"].(map[string]any)
	got, _ := sch["waits"].([]any)
	if len(got) != len(want) || sch["preset"] != nil {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestWebhookTraceContext: traceContext (docs/tracing.md) is off by
// default, set on create, changed by PATCH while the webhook is enabled
// (it only adds two headers from the next attempt on), kept by an edit
// without it; a value that is not a boolean is a 422 naming the field.
func TestWebhookTraceContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	def := e.do("POST", "/v1/webhooks", key, validWebhook("defaults")).want(t, 201, "")
	if def.Body["traceContext"] != false || e.webhookRow(def.str("id")).TraceContext {
		t.Fatalf("default traceContext: %s", def.Raw)
	}
	body := validWebhook("traced")
	body["traceContext"] = true
	r := e.do("POST", "/v1/webhooks", key, body).want(t, 201, "")
	id, path := r.str("id"), "/v1/webhooks/"+r.str("id")
	if r.Body["traceContext"] != true || !e.webhookRow(id).TraceContext {
		t.Fatalf("created: %s", r.Raw)
	}
	r = e.do("PATCH", path, key, map[string]any{"maxConcurrency": 3}).want(t, 200, "")
	if r.Body["traceContext"] != true {
		t.Fatalf("an edit without traceContext changed it: %s", r.Raw)
	}
	r = e.do("PATCH", path, key, map[string]any{"traceContext": false}).want(t, 200, "")
	if r.Body["traceContext"] != false || r.str("status") != "enabled" || e.webhookRow(id).TraceContext {
		t.Fatalf("PATCH traceContext false while enabled: %s", r.Raw)
	}
	for _, bad := range []any{"yes", 1, map[string]any{}} {
		r := e.do("PATCH", path, key, map[string]any{"traceContext": bad})
		if r.Status != 422 || !strings.Contains(string(r.Raw), `"traceContext":"must be a JSON boolean"`) {
			t.Fatalf("traceContext %v: %d %s", bad, r.Status, r.Raw)
		}
		b := validWebhook("bad")
		b["traceContext"] = bad
		if r := e.do("POST", "/v1/webhooks", key, b); r.Status != 422 || !strings.Contains(string(r.Raw), `"traceContext":"must be a JSON boolean"`) {
			t.Fatalf("create with traceContext %v: %d %s", bad, r.Status, r.Raw)
		}
	}
}
