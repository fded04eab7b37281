package api_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestMalformedJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	id, _ := e.createWebhook(key, validWebhook("hook"))
	e.do("POST", "/v1/webhooks/"+id+"/disable", key, nil).want(t, 200, "")
	before := e.webhookRow(id)
	for _, body := range []string{
		``, `{`, `{"name": "x",}`, `not json`, `[]`, `"a string"`, `42`,
		`{}{}`, `{} trailing`, `{}}`, `{}]`, `{} ,`,
	} {
		for _, rt := range []struct{ method, path string }{
			{"POST", "/v1/webhooks"},
			{"PATCH", "/v1/webhooks/" + id},
			{"POST", "/v1/api-keys"},
		} {
			if body == `` && rt.path != "/v1/webhooks" {
				continue
			}
			r := e.do(rt.method, rt.path, key, body)
			if r.Status != 400 || r.code() != "invalid_json" {
				t.Errorf("%s %s %q: got %d %s", rt.method, rt.path, body, r.Status, r.Raw)
				continue
			}
			r.wantErrorShape(t)
		}
	}
	if n := e.countWebhooks(); n != 1 {
		t.Errorf("%d webhooks, want 1", n)
	}
	if after := e.webhookRow(id); after.Name != before.Name || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Error("a malformed PATCH changed the webhook")
	}
	// Secret reset takes an optional body, but not a broken one.
	e.do("POST", "/v1/webhooks/"+id+"/secret/reset", key, `{"gracePeriodSeconds": 5`).want(t, 400, "invalid_json")
	if after := e.webhookRow(id); string(after.SecretEnc) != string(before.SecretEnc) {
		t.Error("a malformed reset changed the secret")
	}
}

func TestOversizedBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"MAX_BODY_BYTES": "4096", "MAX_EVENT_DATA_BYTES": "1024"})
	_, key := e.account("professional")
	big := validWebhook(strings.Repeat("n", 50))
	big["appIds"] = []string{strings.Repeat("a", 5000)}

	t.Run("declared length", func(t *testing.T) {
		r := e.do("POST", "/v1/webhooks", key, big).want(t, 413, "payload_too_large")
		r.wantErrorShape(t)
	})
	t.Run("streamed", func(t *testing.T) {
		// Chunked: no Content-Length, so only reading reveals the size.
		r := e.doReq("POST", "/v1/webhooks", big, func(req *http.Request) {
			req.Header.Set("Authorization", "Bearer "+key)
			req.ContentLength = -1
			body := req.Body
			req.Body = io.NopCloser(struct{ io.Reader }{body})
		})
		r.want(t, 413, "payload_too_large")
		r.wantErrorShape(t)
	})
	t.Run("just under the limit is read", func(t *testing.T) {
		ok := validWebhook("small")
		ok["appIds"] = []string{strings.Repeat("a", 200)}
		e.do("POST", "/v1/webhooks", key, ok).want(t, 201, "")
	})
	if n := e.countWebhooks(); n != 1 {
		t.Errorf("%d webhooks, want only the small one", n)
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	for _, rt := range []struct{ method, path, key string }{
		{"GET", "/", ""},
		{"GET", "/v1/nothing", key},
		{"GET", "/v1/nothing", ""}, // unknown route is 404 even without a key
		{"POST", "/v2/webhooks", key},
		{"GET", "/v1/webhooks/" + "00000000-0000-0000-0000-000000000000", key},
		{"GET", "/v1/webhooks/not-a-uuid", key},
		{"GET", "/v1/webhooks/" + strings.Repeat("9", 300), key},
		{"GET", "/v1/webhooks/%00", key},
		{"GET", "/v1/webhooks/x/secret/extra", key},
	} {
		r := e.do(rt.method, rt.path, rt.key, nil)
		if r.Status != 404 || r.code() != "not_found" {
			t.Errorf("%s %s: got %d %s", rt.method, rt.path, r.Status, r.Raw)
			continue
		}
		r.wantErrorShape(t)
	}
	r := e.do("PUT", "/v1/webhooks", key, map[string]any{})
	if r.Status != 405 {
		t.Errorf("PUT /v1/webhooks: %d %s", r.Status, r.Raw)
	}
	r.wantErrorShape(t)
}

// TestErrorShape gathers one error of each kind and checks the shape.
func TestErrorShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	_, trial := e.account("trial")
	member := e.newKey(key, "member")
	id, _ := e.createWebhook(key, validWebhook("hook"))
	for _, tc := range []struct {
		r      resp
		status int
		code   string
	}{
		{e.do("GET", "/v1/webhooks", "", nil), 401, "unauthorized"},
		{e.do("POST", "/v1/webhooks", member, validWebhook("x")), 403, "forbidden"},
		{e.do("GET", "/v1/webhooks", trial, nil), 403, "plan_not_supported"},
		{e.do("POST", "/v1/webhooks", key, `{`), 400, "invalid_json"},
		{e.do("POST", "/v1/webhooks", key, map[string]any{}), 422, "validation_failed"},
		{e.do("GET", "/v1/webhooks/x", key, nil), 404, "not_found"},
		{e.do("PATCH", "/v1/webhooks/"+id, key, map[string]any{}), 409, "webhook_enabled"},
		{e.do("DELETE", "/v1/webhooks/"+id, key, nil), 428, "confirmation_required"},
	} {
		tc.r.want(t, tc.status, tc.code)
		tc.r.wantErrorShape(t)
		fields, has := tc.r.Body["error"].(map[string]any)["fields"]
		if (tc.status == 422) != has {
			t.Errorf("%s: fields present=%v: %s", tc.code, has, tc.r.Raw)
		}
		if has && len(fields.(map[string]any)) == 0 {
			t.Errorf("empty fields: %s", tc.r.Raw)
		}
	}
	// 422 names every missing field at once.
	r := e.do("POST", "/v1/webhooks", key, map[string]any{})
	for _, f := range []string{"name", "url", "eventTypes", "triggerSources"} {
		if r.field(f) == "" {
			t.Errorf("empty body: no fields.%s: %s", f, r.Raw)
		}
	}
}

func TestEventTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.do("GET", "/v1/event-types", "", nil).want(t, 200, "")
	want := []string{"ENVELOPE_START", "ENVELOPE_SIGNER_VIEWED", "ENVELOPE_SIGNER_SIGNED", "ENVELOPE_ALL_SIGNER_SIGNED",
		"SIGNER_DECLINED", "ENVELOPE_FINISH", "ENVELOPE_CANCEL", "ENVELOPE_EXPIRED"}
	var got []string
	for _, item := range r.Body["data"].([]any) {
		m := item.(map[string]any)
		name, _ := m["name"].(string)
		if desc, _ := m["description"].(string); len(desc) < 10 {
			t.Errorf("%s has no real description: %q", name, desc)
		}
		got = append(got, name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("event types %v, want %v", got, want)
	}
	var sources []string
	for _, item := range r.Body["triggerSources"].([]any) {
		sources = append(sources, item.(map[string]any)["name"].(string))
	}
	if !slices.Equal(sources, []string{"saas_page", "third_party_app"}) {
		t.Errorf("trigger sources %v", sources)
	}
	// Every listed type is accepted by create, and nothing else.
	_, key := e.account("professional")
	b := validWebhook("all")
	b["eventTypes"] = got
	b["triggerSources"] = sources
	e.do("POST", "/v1/webhooks", key, b).want(t, 201, "")
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if r := e.do("GET", "/healthz", "", nil).want(t, 200, ""); r.str("status") != "ok" {
		t.Errorf("healthz: %s", r.Raw)
	}
	r := e.do("GET", "/readyz", "", nil)
	if r.Status != 200 || r.str("status") != "ok" {
		t.Fatalf("readyz (is Temporal up at TEMPORAL_ADDRESS?): %d %s", r.Status, r.Raw)
	}
	checks, _ := r.Body["checks"].(map[string]any)
	if checks["postgres"] != "ok" || checks["temporal"] != "ok" {
		t.Errorf("readyz checks: %s", r.Raw)
	}
}

func TestReadyReportsDownDependency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	// Close the pool: PostgreSQL is now "down" for this server.
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/readyz", "", nil)
	if r.Status != 503 {
		t.Fatalf("readyz with the database closed: %d %s", r.Status, r.Raw)
	}
	if down, _ := r.Body["down"].([]any); !slices.Contains(down, any("postgres")) {
		t.Errorf("readyz does not name postgres: %s", r.Raw)
	}
	if code, _ := r.Body["error"].(map[string]any)["code"].(string); code != "service_unavailable" {
		t.Errorf("readyz error: %s", r.Raw)
	}
	// Unauthenticated callers learn what is down, not the driver's error.
	checks, _ := r.Body["checks"].(map[string]any)
	if checks["postgres"] != "unreachable" || checks["temporal"] != "ok" {
		t.Errorf("readyz checks: %s", r.Raw)
	}
	if strings.Contains(string(r.Raw), "closed") {
		t.Errorf("readyz leaks the driver error: %s", r.Raw)
	}
}

func TestReadyHidesTemporalError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"TEMPORAL_ADDRESS": unreachableTemporal})
	r := e.do("GET", "/readyz", "", nil)
	if r.Status != 503 {
		t.Fatalf("readyz with Temporal down: %d %s", r.Status, r.Raw)
	}
	if down, _ := r.Body["down"].([]any); !slices.Equal(down, []any{"temporal"}) {
		t.Errorf("readyz down: %s", r.Raw)
	}
	checks, _ := r.Body["checks"].(map[string]any)
	if checks["temporal"] != "unreachable" || checks["postgres"] != "ok" {
		t.Errorf("readyz checks: %s", r.Raw)
	}
	for _, leak := range []string{"127.0.0.1", "refused", "dial"} {
		if strings.Contains(string(r.Raw), leak) {
			t.Errorf("readyz leaks %q: %s", leak, r.Raw)
		}
	}
}

// TestNoServerErrorForClientMistakes throws odd input at every writing route:
// a refusal must be a 4xx in the one error shape, never a 500.
func TestNoServerErrorForClientMistakes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	id, _ := e.createWebhook(key, validWebhook("hook"))
	e.do("POST", "/v1/webhooks/"+id+"/disable", key, nil).want(t, 200, "")
	cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	nul := "a\u0000b"
	bodies := []any{
		map[string]any{"name": nul}, map[string]any{"url": "https://exa" + nul + "mple.com/"},
		map[string]any{"appIds": []string{nul}}, map[string]any{"eventTypes": []string{nul}},
		map[string]any{"triggerSources": []string{nul}}, map[string]any{"eventTypes": []any{nil}},
		map[string]any{"name": map[string]any{"a": 1}}, map[string]any{"url": 1e300},
		`{"url": 1e400}`, `{"appIds": [1, 2]}`, `{"name": "\ud800"}`, `{"eventTypes": [[]]}`,
		map[string]any{"url": "https://[fe80::1%25en0]/x"}, map[string]any{"url": "https://example.com:/x"},
		map[string]any{"url": "https://" + strings.Repeat("a", 300) + ".com/"},
	}
	for i, b := range bodies {
		for _, rt := range []struct{ method, path string }{{"POST", "/v1/webhooks"}, {"PATCH", "/v1/webhooks/" + id}} {
			if m, ok := b.(map[string]any); ok && rt.method == "POST" {
				full := validWebhook(fmt.Sprintf("odd %d", i))
				for k, v := range m {
					full[k] = v
				}
				b = full
			}
			r := e.do(rt.method, rt.path, key, b)
			if r.Status >= 500 || r.Status < 400 {
				// A few are legitimately accepted (e.g. a zoned IPv6 literal in
				// this permissive env); anything 5xx is a bug.
				if r.Status >= 500 {
					t.Errorf("%s %s %v: %d %s", rt.method, rt.path, b, r.Status, r.Raw)
				}
				continue
			}
			r.wantErrorShape(t)
		}
	}
	for _, q := range []string{
		"cursor=" + cursor("99999999999999999999:"+id), "cursor=" + cursor("-9223372036854775808:"+id),
		"cursor=" + cursor("9223372036854775807:"+id), "cursor=%ff", "limit=99999999999999999999", "status=%00",
	} {
		r := e.do("GET", "/v1/webhooks?"+q, key, nil)
		if r.Status >= 500 {
			t.Errorf("GET ?%s: %d %s", q, r.Status, r.Raw)
		}
	}
	for _, p := range []string{"/v1/webhooks/%ff", "/v1/webhooks/%2F", "/v1/api-keys/%ff"} {
		for _, m := range []string{"GET", "DELETE"} {
			if r := e.do(m, p, key, nil); r.Status >= 500 {
				t.Errorf("%s %s: %d %s", m, p, r.Status, r.Raw)
			}
		}
	}
	for _, b := range []any{
		map[string]any{"role": "admin", "label": nul}, map[string]any{"role": nul},
		map[string]any{"gracePeriodSeconds": 9223372036854775807}, `{"gracePeriodSeconds": 1e400}`,
	} {
		for _, p := range []string{"/v1/api-keys", "/v1/webhooks/" + id + "/secret/reset"} {
			if r := e.do("POST", p, key, b); r.Status >= 500 {
				t.Errorf("POST %s %v: %d %s", p, b, r.Status, r.Raw)
			}
		}
	}
}
