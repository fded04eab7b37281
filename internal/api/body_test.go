package api_test

import (
	"net/http"
	"testing"
)

// TestUnsupportedMediaType: a body that is not declared as JSON was parsed
// as JSON; now 415, on every route that takes a body.
func TestUnsupportedMediaType(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	id, _ := e.createWebhook(key, validWebhook("hook"))
	e.do("POST", "/v1/webhooks/"+id+"/disable", key, nil).want(t, 200, "")
	routes := []struct {
		method, path, body string
	}{
		{"POST", "/v1/webhooks", `{"name":"x"}`},
		{"PATCH", "/v1/webhooks/" + id, `{"name":"renamed"}`},
		{"POST", "/v1/api-keys", `{"role":"admin"}`},
		{"POST", "/v1/events", `{"type":"ENVELOPE_START","triggerSource":"saas_page","data":{}}`},
		{"POST", "/v1/webhooks/" + id + "/secret/reset", `{"gracePeriodSeconds":0}`},
		{"POST", "/v1/deliveries/resend", `{"webhookId":"` + id + `","since":"2026-01-01T00:00:00Z"}`},
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", ""} {
		for _, rt := range routes {
			r := e.doReq(rt.method, rt.path, rt.body, func(req *http.Request) {
				req.Header.Set("Authorization", "Bearer "+key)
				if ct == "" {
					req.Header.Del("Content-Type")
				} else {
					req.Header.Set("Content-Type", ct)
				}
			})
			if r.Status != 415 || r.code() != "unsupported_media_type" {
				t.Errorf("%s %s as %q: got %d %s", rt.method, rt.path, ct, r.Status, r.Raw)
				continue
			}
			r.wantErrorShape(t)
		}
	}
	if n := e.countWebhooks(); n != 1 {
		t.Errorf("%d webhooks, want 1", n)
	}
	if w := e.webhookRow(id); w.Name != "hook" {
		t.Errorf("a 415 PATCH renamed the webhook to %q", w.Name)
	}
	// JSON media types with parameters or a +json suffix are JSON.
	for _, ct := range []string{"application/json; charset=utf-8", "application/merge-patch+json"} {
		e.doReq("PATCH", "/v1/webhooks/"+id, `{"name":"renamed"}`, func(req *http.Request) {
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", ct)
		}).want(t, 200, "")
	}
	// No Content-Type and no body: fine where the body is optional.
	e.doReq("POST", "/v1/webhooks/"+id+"/secret/reset", nil, func(req *http.Request) {
		req.Header.Set("Authorization", "Bearer "+key)
	}).want(t, 200, "")
}

// TestDuplicateKeys: {"role":"member","role":"admin"} made an admin key
// (the last copy won). Now any repeated member name, at any depth, is a 400.
func TestDuplicateKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	for _, body := range []string{
		`{"role":"member","role":"admin"}`,
		`{"role":"member","Role":"admin"}`, // encoding/json matches names case-insensitively
		`{"role":"member","label":"a","label":"b"}`,
	} {
		r := e.do("POST", "/v1/api-keys", key, body).want(t, 400, "duplicate_key")
		r.wantErrorShape(t)
	}
	r := e.do("GET", "/v1/api-keys", key, nil).want(t, 200, "")
	if keys, _ := r.Body["data"].([]any); len(keys) != 1 {
		t.Errorf("a key was created from a duplicate-key body: %s", r.Raw)
	}
	r = e.do("POST", "/v1/events", key, `{"type":"ENVELOPE_START","triggerSource":"saas_page","data":{"envelopeId":"a","envelopeId":"b"}}`)
	r.want(t, 400, "duplicate_key")
	// Keys differing in case are distinct inside event data.
	e.do("POST", "/v1/events", key, `{"type":"ENVELOPE_START","triggerSource":"saas_page","data":{"envelopeId":"e","envelopeStatus":1,"a":1,"A":2}}`).want(t, 202, "")
	body := `{"name":"a","url":"https://hooks.example.com/x","eventTypes":["ENVELOPE_START"],"triggerSources":["saas_page"],"name":"b"}`
	e.do("POST", "/v1/webhooks", key, body).want(t, 400, "duplicate_key")
	if n := e.countWebhooks(); n != 0 {
		t.Errorf("%d webhooks created from a duplicate-key body", n)
	}
}
