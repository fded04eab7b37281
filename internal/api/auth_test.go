package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// webhookRoutes are every webhook-feature route, with a body valid enough to
// pass decoding. {id} is replaced by an existing webhook id where there is one.
func webhookRoutes(id string) []route {
	return []route{
		{"POST", "/v1/webhooks", validWebhook("gated")},
		{"GET", "/v1/webhooks", nil},
		{"GET", "/v1/webhooks/" + id, nil},
		{"PATCH", "/v1/webhooks/" + id, map[string]any{"name": "renamed"}},
		{"DELETE", "/v1/webhooks/" + id + "?confirm=" + id, nil},
		{"POST", "/v1/webhooks/" + id + "/enable", nil},
		{"POST", "/v1/webhooks/" + id + "/disable", nil},
		{"POST", "/v1/webhooks/" + id + "/secret/reset", map[string]any{"gracePeriodSeconds": 0}},
		{"GET", "/v1/webhooks/" + id + "/secret", nil},
		{"POST", "/v1/webhooks/" + id + "/test", nil},
		{"GET", "/v1/deliveries", nil},
		{"GET", "/v1/deliveries/" + uuid.NewString(), nil},
		{"POST", "/v1/deliveries/" + uuid.NewString() + "/resend", nil},
	}
}

func TestPlanGating(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, plan := range []string{"trial", "basic"} {
		t.Run(plan, func(t *testing.T) {
			acct, key := e.account(plan)
			// A webhook row written behind the API's back: the gate must
			// hold even for a webhook that exists (e.g. after a downgrade).
			id := uuid.New()
			enc, err := e.box.Seal([]byte("whsec_x"), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.store.DB().Exec(`INSERT INTO webhooks (id, account_id, name, url, event_types, trigger_sources, enabled, secret_enc)
				VALUES ($1, $2, 'existing', 'https://a.example.com', '{ENVELOPE_START}', '{saas_page}', false, $3)`, id, acct, enc)
			if err != nil {
				t.Fatal(err)
			}
			before := e.webhookRow(id.String())
			for _, rt := range webhookRoutes(id.String()) {
				r := e.do(rt.method, rt.path, key, rt.body)
				r.want(t, http.StatusForbidden, "plan_not_supported")
				r.wantErrorShape(t)
				if !strings.Contains(r.Body["error"].(map[string]any)["message"].(string), plan) {
					t.Errorf("%s %s: message does not name the plan: %s", rt.method, rt.path, r.Raw)
				}
			}
			after := e.webhookRow(id.String())
			if after.Name != before.Name || after.Enabled != before.Enabled || !after.UpdatedAt.Equal(before.UpdatedAt) ||
				string(after.SecretEnc) != string(before.SecretEnc) || after.PreviousSecretEnc != nil {
				t.Errorf("a gated route changed the webhook: before %+v after %+v", before, after)
			}
			var n int
			if err := e.store.DB().Get(&n, `SELECT count(*) FROM webhooks WHERE account_id = $1`, acct); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("account on %s plan has %d webhooks, want the 1 seeded", plan, n)
			}
			// Key management and the catalogue are not gated.
			e.do("GET", "/v1/api-keys", key, nil).want(t, 200, "")
			e.do("GET", "/v1/event-types", "", nil).want(t, 200, "")
		})
	}
	t.Run("professional", func(t *testing.T) {
		_, key := e.account("professional")
		e.do("GET", "/v1/webhooks", key, nil).want(t, 200, "")
		e.createWebhook(key, validWebhook("pro"))
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, admin := e.account("professional")
	revoked := e.newKey(admin, "admin")
	keys := e.do("GET", "/v1/api-keys", admin, nil).want(t, 200, "")
	var revokedID string
	for _, k := range keys.Body["data"].([]any) {
		m := k.(map[string]any)
		if strings.HasPrefix(revoked, m["prefix"].(string)) && m["label"] == "admin key" {
			revokedID = m["id"].(string)
		}
	}
	e.do("DELETE", "/v1/api-keys/"+revokedID, admin, nil).want(t, 204, "")

	for _, tc := range []struct{ name, header string }{
		{"missing", ""},
		{"empty bearer", "Bearer "},
		{"not bearer", "Basic " + admin},
		{"bearer glued to key", "Bearer" + admin},
		{"longer scheme", "Bearerx " + admin},
		{"bare key", admin},
		{"unknown", "Bearer ewk_" + strings.Repeat("a", 43)},
		{"revoked", "Bearer " + revoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/v1/webhooks", "/v1/api-keys"} {
				req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != 401 {
					t.Errorf("%s: got %d, want 401", path, res.StatusCode)
				}
			}
			// And a write changes nothing.
			r := e.doHeader("POST", "/v1/webhooks", tc.header, validWebhook("x"))
			r.want(t, 401, "unauthorized")
			r.wantErrorShape(t)
		})
	}
	if n := e.countWebhooks(); n != 0 {
		t.Errorf("%d webhooks written by unauthenticated requests", n)
	}
}

// TestBearerSchemeCaseInsensitive: auth scheme names are case-insensitive
// (RFC 7235 §2.1), so "bearer" and "BEARER" work like "Bearer".
func TestBearerSchemeCaseInsensitive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, admin := e.account("professional")
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		e.doHeader("GET", "/v1/webhooks", scheme+" "+admin, nil).want(t, 200, "")
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	acct, admin := e.account("professional")
	member := e.newKey(admin, "member")
	publisher := e.newKey(admin, "publisher")
	reader := e.newKey(admin, "reader")
	id, _ := e.createWebhook(admin, validWebhook("hook"))
	e.do("POST", "/v1/webhooks/"+id+"/disable", admin, nil).want(t, 200, "")
	before := e.webhookRow(id)

	writes := []route{
		{"POST", "/v1/webhooks", validWebhook("other")},
		{"PATCH", "/v1/webhooks/" + id, map[string]any{"name": "renamed"}},
		{"DELETE", "/v1/webhooks/" + id + "?confirm=" + id, nil},
		{"POST", "/v1/webhooks/" + id + "/enable", nil},
		{"POST", "/v1/webhooks/" + id + "/disable", nil},
		{"POST", "/v1/webhooks/" + id + "/secret/reset", nil},
		{"GET", "/v1/webhooks/" + id + "/secret", nil},
		{"POST", "/v1/webhooks/" + id + "/test", nil},
		{"POST", "/v1/deliveries/" + uuid.NewString() + "/resend", nil},
		{"POST", "/v1/api-keys", map[string]any{"role": "admin"}},
		{"GET", "/v1/api-keys", nil},
		{"DELETE", "/v1/api-keys/" + uuid.NewString(), nil},
	}
	reads := []string{"/v1/webhooks", "/v1/webhooks/" + id, "/v1/deliveries", "/v1/events/nope"}

	t.Run("member is read only", func(t *testing.T) {
		for _, w := range writes {
			r := e.do(w.method, w.path, member, w.body)
			if r.Status != 403 || r.code() != "forbidden" {
				t.Errorf("member %s %s: got %d %s", w.method, w.path, r.Status, r.Raw)
			}
		}
		e.do("GET", "/v1/webhooks", member, nil).want(t, 200, "")
		g := e.do("GET", "/v1/webhooks/"+id, member, nil).want(t, 200, "")
		if g.str("name") != "hook" {
			t.Errorf("member GET: %s", g.Raw)
		}
		e.do("GET", "/v1/deliveries", member, nil).want(t, 200, "")
		e.do("POST", "/v1/events", member, map[string]any{"type": "ENVELOPE_START"}).want(t, 403, "forbidden")
	})
	t.Run("publisher may only publish", func(t *testing.T) {
		for _, w := range writes {
			r := e.do(w.method, w.path, publisher, w.body)
			if r.Status != 403 || r.code() != "forbidden" {
				t.Errorf("publisher %s %s: got %d %s", w.method, w.path, r.Status, r.Raw)
			}
		}
		for _, p := range reads {
			e.do("GET", p, publisher, nil).want(t, 403, "forbidden")
		}
	})
	t.Run("reader may only read an event", func(t *testing.T) {
		for _, w := range writes {
			r := e.do(w.method, w.path, reader, w.body)
			if r.Status != 403 || r.code() != "forbidden" {
				t.Errorf("reader %s %s: got %d %s", w.method, w.path, r.Status, r.Raw)
			}
		}
		for _, p := range []string{"/v1/webhooks", "/v1/webhooks/" + id, "/v1/deliveries", "/v1/deliveries/" + uuid.NewString(),
			"/v1/api-keys"} {
			e.do("GET", p, reader, nil).want(t, 403, "forbidden")
		}
		e.do("POST", "/v1/events", reader, map[string]any{"type": "ENVELOPE_START", "triggerSource": "saas_page",
			"data": map[string]any{}}).want(t, 403, "forbidden")
		e.do("POST", "/v1/console/links", reader, map[string]any{"role": "member"}).want(t, 403, "forbidden")
		e.do("GET", "/v1/events/nope", reader, nil).want(t, 404, "not_found")
		// An event with a delivery: the reader sees the event as
		// published, not its deliveries (they name the webhooks).
		d := e.pendingDelivery(acct, id)
		got := e.do("GET", "/v1/events/"+d.EventID, reader, nil).want(t, 200, "")
		if got.str("id") != d.EventID || got.str("type") != "ENVELOPE_START" || got.Body["data"] == nil {
			t.Errorf("reader GET event: %s", got.Raw)
		}
		if ds, _ := got.Body["deliveries"].([]any); ds == nil || len(ds) != 0 || strings.Contains(string(got.Raw), id) {
			t.Errorf("reader sees deliveries: %s", got.Raw)
		}
		full := e.do("GET", "/v1/events/"+d.EventID, member, nil).want(t, 200, "")
		if ds, _ := full.Body["deliveries"].([]any); len(ds) != 1 {
			t.Errorf("member GET event: %s", full.Raw)
		}
	})
	after := e.webhookRow(id)
	if after.Name != before.Name || after.Enabled != before.Enabled || !after.UpdatedAt.Equal(before.UpdatedAt) ||
		string(after.SecretEnc) != string(before.SecretEnc) {
		t.Errorf("a forbidden request changed the webhook")
	}
	if n := e.countWebhooks(); n != 1 {
		t.Errorf("%d webhooks, want 1", n)
	}
	var keys int
	_ = e.store.DB().Get(&keys, `SELECT count(*) FROM api_keys`)
	if keys != 4 {
		t.Errorf("%d api keys, want 4 (a forbidden request created one?)", keys)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, admin := e.account("basic") // key management is on every plan
	_, otherAdmin := e.account("professional")

	r := e.do("POST", "/v1/api-keys", admin, map[string]any{"role": "member", "label": "  CI reader  "}).want(t, 201, "")
	key, id := r.str("key"), r.str("id")
	if key == "" || id == "" || r.str("role") != "member" || r.str("label") != "CI reader" || r.str("createdAt") == "" {
		t.Fatalf("create: %s", r.Raw)
	}
	if !strings.HasPrefix(key, r.str("prefix")) || len(r.str("prefix")) >= len(key) {
		t.Errorf("prefix %q is not a strict prefix of the key", r.str("prefix"))
	}
	// Stored hashed: the key is nowhere in the table.
	var n int
	if err := e.store.DB().Get(&n, `SELECT count(*) FROM api_keys WHERE position($1::bytea in key_hash) > 0 OR key_prefix = $2`, []byte(key), key); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("the key is stored in clear")
	}
	// The new key works with its role.
	e.do("GET", "/v1/api-keys", key, nil).want(t, 403, "forbidden")

	list := e.do("GET", "/v1/api-keys", admin, nil).want(t, 200, "")
	if strings.Contains(string(list.Raw), key) {
		t.Fatalf("list shows the key: %s", list.Raw)
	}
	data := list.Body["data"].([]any)
	if len(data) != 2 {
		t.Fatalf("list has %d keys, want 2: %s", len(data), list.Raw)
	}
	if first := data[0].(map[string]any); first["id"] != id {
		t.Errorf("list is not newest first: %s", list.Raw)
	}
	for _, k := range data {
		if _, ok := k.(map[string]any)["key"]; ok {
			t.Errorf("list item has a key field: %v", k)
		}
	}

	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct {
			body  any
			field string
		}{
			{map[string]any{"label": "x"}, "role"},
			{map[string]any{"role": "owner"}, "role"},
			{map[string]any{"role": "admin", "label": strings.Repeat("é", 101)}, "label"},
			{map[string]any{"role": "admin", "label": "a\x00b"}, "label"},
			{map[string]any{"role": 1}, "role"},
			{map[string]any{"role": "admin", "scope": "all"}, "scope"},
		} {
			r := e.do("POST", "/v1/api-keys", admin, tc.body)
			r.want(t, 422, "validation_failed")
			if r.field(tc.field) == "" {
				t.Errorf("%v: no fields.%s in %s", tc.body, tc.field, r.Raw)
			}
		}
		e.do("POST", "/v1/api-keys", admin, map[string]any{"role": "admin", "label": strings.Repeat("é", 100)}).want(t, 201, "")
		e.do("POST", "/v1/api-keys", admin, `{"role":`).want(t, 400, "invalid_json")
	})

	t.Run("tenant isolation", func(t *testing.T) {
		other := e.do("GET", "/v1/api-keys", otherAdmin, nil).want(t, 200, "")
		if strings.Contains(string(other.Raw), id) {
			t.Error("another account lists this account's key")
		}
		e.do("DELETE", "/v1/api-keys/"+id, otherAdmin, nil).want(t, 404, "not_found")
		e.do("GET", "/v1/webhooks", key, nil).want(t, 403, "plan_not_supported") // still valid
	})

	t.Run("revoke", func(t *testing.T) {
		e.do("DELETE", "/v1/api-keys/not-a-uuid", admin, nil).want(t, 404, "not_found")
		e.do("DELETE", "/v1/api-keys/"+uuid.NewString(), admin, nil).want(t, 404, "not_found")
		e.do("DELETE", "/v1/api-keys/"+id, admin, nil).want(t, 204, "")
		e.do("GET", "/v1/webhooks", key, nil).want(t, 401, "unauthorized")
		e.do("DELETE", "/v1/api-keys/"+id, admin, nil).want(t, 404, "not_found")
		list := e.do("GET", "/v1/api-keys", admin, nil).want(t, 200, "")
		if strings.Contains(string(list.Raw), id) {
			t.Errorf("revoked key still listed: %s", list.Raw)
		}
	})
}

// doHeader is do with a raw Authorization header (possibly empty).
func (e *env) doHeader(method, path, authorization string, body any) resp {
	e.t.Helper()
	return e.doReq(method, path, body, func(req *http.Request) {
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
	})
}

type route struct {
	method, path string
	body         any
}
