package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

func strs(v any) []string {
	out := []string{}
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// wantSecretShape checks whsec_ + standard base64 of 32 bytes.
func wantSecretShape(t *testing.T, secret string) {
	t.Helper()
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		t.Fatalf("secret %q lacks the whsec_ prefix", secret)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not base64 of 32 bytes (%d bytes, %v)", secret, len(raw), err)
	}
}

func TestCreateWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")

	body := validWebhook("  Orders  ")
	body["appIds"] = []string{"app-1", "app-2"}
	body["triggerSources"] = []string{"saas_page", "third_party_app"}
	r := e.do("POST", "/v1/webhooks", key, body).want(t, 201, "")
	id, secret := r.str("id"), r.str("secret")
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("id %q: %v", id, err)
	}
	wantSecretShape(t, secret)
	if r.str("name") != "Orders" || r.str("url") != "https://hooks.example.com/esign" || r.str("status") != "enabled" {
		t.Errorf("create response: %s", r.Raw)
	}
	if got := strs(r.Body["eventTypes"]); !slices.Equal(got, []string{"ENVELOPE_START", "ENVELOPE_FINISH"}) {
		t.Errorf("eventTypes %v", got)
	}
	if got := strs(r.Body["triggerSources"]); !slices.Equal(got, []string{"saas_page", "third_party_app"}) {
		t.Errorf("triggerSources %v", got)
	}
	if got := strs(r.Body["appIds"]); !slices.Equal(got, []string{"app-1", "app-2"}) {
		t.Errorf("appIds %v", got)
	}
	for _, k := range []string{"createdAt", "updatedAt"} {
		if _, err := time.Parse(time.RFC3339Nano, r.str(k)); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}

	// Two webhooks never share a secret.
	_, secret2 := e.createWebhook(key, validWebhook("second"))
	wantSecretShape(t, secret2)
	if secret2 == secret {
		t.Error("two webhooks got the same secret")
	}

	// GET and list never show the secret.
	g := e.do("GET", "/v1/webhooks/"+id, key, nil).want(t, 200, "")
	l := e.do("GET", "/v1/webhooks", key, nil).want(t, 200, "")
	for _, raw := range [][]byte{g.Raw, l.Raw} {
		if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte("whsec_")) || bytes.Contains(raw, []byte(`"secret"`)) {
			t.Errorf("secret shown: %s", raw)
		}
	}
	wantKeys := []string{"appIds", "createdAt", "eventTypes", "health", "id", "maxConcurrency", "name", "ordered", "orderedOnFailure",
		"payload", "rateLimitPerSecond", "retrySchedule", "status", "throttle", "timeoutSeconds", "triggerSources", "updatedAt", "url"}
	wantKeys = append(wantKeys, "auth", "headers", "tls") // receiver options
	wantKeys = append(wantKeys, "traceContext")           // docs/tracing.md
	wantKeys = append(wantKeys, "filter")                 // payload filter
	slices.Sort(wantKeys)
	var gotKeys []string
	for k := range g.Body {
		gotKeys = append(gotKeys, k)
	}
	slices.Sort(gotKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("GET fields %v, want %v", gotKeys, wantKeys)
	}
	if g.str("name") != "Orders" || g.str("status") != "enabled" {
		t.Errorf("GET: %s", g.Raw)
	}

	// The secret endpoint gives it back.
	s := e.do("GET", "/v1/webhooks/"+id+"/secret", key, nil).want(t, 200, "")
	if s.str("secret") != secret {
		t.Errorf("GET secret: %s, want %s", s.Raw, secret)
	}

	t.Run("appIds optional, enabled false", func(t *testing.T) {
		b := validWebhook("disabled one")
		b["enabled"] = false
		r := e.do("POST", "/v1/webhooks", key, b).want(t, 201, "")
		if r.str("status") != "disabled" {
			t.Errorf("status %q", r.str("status"))
		}
		if got := strs(r.Body["appIds"]); len(got) != 0 {
			t.Errorf("appIds %v, want []", got)
		}
		b = validWebhook("explicitly enabled")
		b["enabled"] = true
		if r := e.do("POST", "/v1/webhooks", key, b).want(t, 201, ""); r.str("status") != "enabled" {
			t.Errorf("status %q", r.str("status"))
		}
	})
}

func TestSecretEncryptedAtRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	id, secret := e.createWebhook(key, validWebhook("hook"))
	reset := e.do("POST", "/v1/webhooks/"+id+"/secret/reset", key, nil).want(t, 200, "")
	newSecret := reset.str("secret")

	// A dump of the table: every column of every row as text.
	var dump string
	if err := e.store.DB().Get(&dump, `SELECT string_agg(w::text, E'\n') FROM webhooks w`); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	w := e.webhookRow(id)
	for _, s := range []string{secret, newSecret} {
		if strings.Contains(dump, s) || strings.Contains(dump, strings.TrimPrefix(s, "whsec_")) {
			t.Fatalf("secret %s in clear in the dump", s)
		}
		for _, enc := range [][]byte{w.SecretEnc, w.PreviousSecretEnc} {
			if bytes.Contains(enc, []byte(s)) || bytes.Contains(enc, raw) {
				t.Fatal("secret in clear in a ciphertext column")
			}
		}
	}
	uid := uuid.MustParse(id)
	cur, err := e.box.Open(w.SecretEnc, db.SecretAAD(uid))
	if err != nil || string(cur) != newSecret {
		t.Fatalf("decrypting secret_enc: %q %v", cur, err)
	}
	prev, err := e.box.Open(w.PreviousSecretEnc, db.SecretAAD(uid))
	if err != nil || string(prev) != secret {
		t.Fatalf("decrypting previous_secret_enc: %q %v", prev, err)
	}
	// Bound to the row: another webhook's id does not open it.
	if _, err := e.box.Open(w.SecretEnc, db.SecretAAD(uuid.New())); err == nil {
		t.Error("ciphertext opens with another webhook's id")
	}
}

func TestWebhookValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")

	with := func(k string, v any) map[string]any {
		b := validWebhook("valid")
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	host := "https://hooks.example.com/"
	cases := []struct {
		name  string
		body  any
		field string
		want  string // substring of the field message
	}{
		{"name missing", with("name", nil), "name", "required"},
		{"name empty", with("name", ""), "name", "required"},
		{"name blank", with("name", "   "), "name", "required"},
		{"name 101 ascii", with("name", strings.Repeat("a", 101)), "name", "100"},
		{"name 101 multibyte", with("name", strings.Repeat("名", 101)), "name", "100"},
		{"name NUL", with("name", "a\x00b"), "name", "control"},
		{"name newline", with("name", "a\nb"), "name", "control"},
		{"name number", with("name", 7), "name", "string"},
		{"url missing", with("url", nil), "url", "required"},
		{"url relative", with("url", "/hook"), "url", "absolute"},
		{"url no host", with("url", "https:///path"), "url", "absolute"},
		{"url port only", with("url", "https://:443/path"), "url", "absolute"},
		{"url ftp", with("url", "ftp://example.com/x"), "url", "https"},
		{"url user info", with("url", "https://user:pw@example.com/x"), "url", "user"},
		{"url user only", with("url", "https://user@example.com/x"), "url", "user"},
		{"url 2049 bytes", with("url", host+strings.Repeat("a", 2049-len(host))), "url", "2048"},
		{"url 2048 chars over 2048 bytes", with("url", host+strings.Repeat("é", 2048-len(host))), "url", "2048"},
		{"url private IP", with("url", "https://10.1.2.3/x"), "url", "public"},
		{"url metadata IP", with("url", "https://169.254.169.254/latest"), "url", "public"},
		{"url bad port", with("url", "https://example.com:99999/x"), "url", "port"},
		{"url array", with("url", []string{"https://a.example.com"}), "url", "string"},
		{"eventTypes missing", with("eventTypes", nil), "eventTypes", "required"},
		{"eventTypes empty", with("eventTypes", []string{}), "eventTypes", "empty"},
		{"eventTypes unknown", with("eventTypes", []string{"ENVELOPE_START", "ENVELOPE_EXPLODED"}), "eventTypes", "ENVELOPE_EXPLODED"},
		{"eventTypes test type", with("eventTypes", []string{"WEBHOOK_TEST"}), "eventTypes", "WEBHOOK_TEST"},
		{"eventTypes lowercase", with("eventTypes", []string{"envelope_start"}), "eventTypes", "envelope_start"},
		{"eventTypes repeated", with("eventTypes", []string{"ENVELOPE_START", "ENVELOPE_START"}), "eventTypes", "repeat"},
		{"eventTypes string", with("eventTypes", "ENVELOPE_START"), "eventTypes", "array"},
		{"triggerSources missing", with("triggerSources", nil), "triggerSources", "required"},
		{"triggerSources empty", with("triggerSources", []string{}), "triggerSources", "empty"},
		{"triggerSources unknown", with("triggerSources", []string{"api_call"}), "triggerSources", "api_call"},
		{"appIds empty id", with("appIds", []string{""}), "appIds", "1"},
		{"appIds non ascii", with("appIds", []string{"appé"}), "appIds", "ASCII"},
		{"appIds repeated", with("appIds", []string{"a", "a"}), "appIds", "repeat"},
		{"enabled string", with("enabled", "yes"), "enabled", "boolean"},
		{"unknown field", with("secret", "whsec_mine"), "secret", "not a known field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/v1/webhooks", key, tc.body)
			r.want(t, 422, "validation_failed")
			r.wantErrorShape(t)
			if msg := r.field(tc.field); !strings.Contains(msg, tc.want) {
				t.Errorf("fields.%s = %q, want it to mention %q; body %s", tc.field, msg, tc.want, r.Raw)
			}
		})
	}
	if n := e.countWebhooks(); n != 0 {
		t.Fatalf("invalid requests wrote %d webhooks", n)
	}

	t.Run("boundaries accepted", func(t *testing.T) {
		for i, b := range []map[string]any{
			with("name", strings.Repeat("名", 100)), // 100 characters, 300 bytes
			with("name", strings.Repeat("a", 100)),
			with("name", "x"),
			with("url", host+strings.Repeat("a", 2048-len(host))),
			with("url", "http://hooks.example.com/x"), // allowed by this env's operator
			with("url", "https://hooks.example.com:8443/x?token=abc"),
			with("url", "http://127.0.0.1:9000/hook"), // allow-listed loopback
			with("url", "http://localhost:9000/hook"),
			with("eventTypes", []string{"ENVELOPE_START", "ENVELOPE_SIGNER_VIEWED", "ENVELOPE_SIGNER_SIGNED",
				"ENVELOPE_ALL_SIGNER_SIGNED", "SIGNER_DECLINED", "ENVELOPE_FINISH", "ENVELOPE_CANCEL", "ENVELOPE_EXPIRED"}),
			with("triggerSources", []string{"third_party_app"}),
			with("appIds", []string{}),
			with("appIds", nil),
		} {
			if _, ok := b["name"].(string); !ok || b["name"] == "valid" {
				b["name"] = fmt.Sprintf("ok %d", i)
			}
			r := e.do("POST", "/v1/webhooks", key, b)
			if r.Status != 201 {
				t.Errorf("%v: got %d %s", b, r.Status, r.Raw)
			}
		}
	})

	t.Run("name unique per account", func(t *testing.T) {
		e.createWebhook(key, validWebhook("Unique"))
		n := e.countWebhooks()
		for _, name := range []string{"Unique", " Unique "} {
			r := e.do("POST", "/v1/webhooks", key, validWebhook(name)).want(t, 422, "validation_failed")
			if r.field("name") == "" {
				t.Errorf("no fields.name: %s", r.Raw)
			}
		}
		if e.countWebhooks() != n {
			t.Error("a duplicate name wrote a row")
		}
		_, other := e.account("professional")
		e.createWebhook(other, validWebhook("Unique"))
	})
}

func TestStrictCallbackURLs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"WEBHOOK_ALLOW_HTTP": "false", "EGRESS_ALLOW_CIDRS": ""})
	_, key := e.account("professional")
	for _, tc := range []struct{ url, want string }{
		{"http://hooks.example.com/x", "https"},
		{"https://127.0.0.1/x", "public"},
		{"https://[::1]/x", "public"},
		{"https://[::ffff:127.0.0.1]/x", "public"},
		{"https://10.0.0.1/x", "public"},
		{"https://192.168.1.1/x", "public"},
		{"https://172.16.0.1/x", "public"},
		{"https://169.254.169.254/x", "public"},
		{"https://0.0.0.0/x", "public"},
		{"https://[fe80::1]/x", "public"},
		{"https://[fd00::1]/x", "public"},
		{"https://localhost/x", "public"},
		{"https://LOCALHOST./x", "public"},
		{"https://api.localhost/x", "public"},
		{"https://printer.local/x", "public"},
	} {
		r := e.do("POST", "/v1/webhooks", key, map[string]any{
			"name": "strict", "url": tc.url, "eventTypes": []string{"ENVELOPE_START"}, "triggerSources": []string{"saas_page"},
		})
		r.want(t, 422, "validation_failed")
		if !strings.Contains(r.field("url"), tc.want) {
			t.Errorf("%s: fields.url = %q, want %q", tc.url, r.field("url"), tc.want)
		}
	}
	if n := e.countWebhooks(); n != 0 {
		t.Fatalf("%d webhooks written", n)
	}
	for _, u := range []string{"https://hooks.example.com/x", "https://93.184.216.34/x", "https://[2606:4700::1111]/x"} {
		b := validWebhook(u)
		b["url"] = u
		e.do("POST", "/v1/webhooks", key, b).want(t, 201, "")
	}
	// PATCH applies the same rules.
	id, _ := e.createWebhook(key, validWebhook("patched"))
	e.do("POST", "/v1/webhooks/"+id+"/disable", key, nil).want(t, 200, "")
	r := e.do("PATCH", "/v1/webhooks/"+id, key, map[string]any{"url": "http://hooks.example.com/x"}).want(t, 422, "validation_failed")
	if r.field("url") == "" {
		t.Errorf("no fields.url: %s", r.Raw)
	}
	if e.webhookRow(id).URL != "https://hooks.example.com/esign" {
		t.Error("refused PATCH changed the url")
	}
}

func TestListWebhooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	_, otherKey := e.account("professional")
	otherID, _ := e.createWebhook(otherKey, validWebhook("theirs"))

	var ids []string // creation order
	for i := range 7 {
		id, _ := e.createWebhook(key, validWebhook(fmt.Sprintf("hook %d", i)))
		ids = append(ids, id)
		if i%2 == 1 {
			e.do("POST", "/v1/webhooks/"+id+"/disable", key, nil).want(t, 200, "")
		}
	}
	newestFirst := slices.Clone(ids)
	slices.Reverse(newestFirst)

	collect := func(query string, limit int) (got []string, pages int) {
		t.Helper()
		cursor := ""
		for {
			q := url.Values{}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			path := "/v1/webhooks?" + q.Encode() + query
			r := e.do("GET", path, key, nil).want(t, 200, "")
			data := r.Body["data"].([]any)
			if limit > 0 && len(data) > limit {
				t.Fatalf("%s: %d items over limit %d", path, len(data), limit)
			}
			for _, d := range data {
				m := d.(map[string]any)
				got = append(got, m["id"].(string))
				if _, ok := m["secret"]; ok {
					t.Fatal("list shows a secret")
				}
			}
			pages++
			next, _ := r.Body["nextCursor"].(string)
			if _, present := r.Body["nextCursor"]; !present {
				t.Fatalf("no nextCursor key: %s", r.Raw)
			}
			if next == "" {
				return got, pages
			}
			cursor = next
			if pages > 20 {
				t.Fatal("pagination does not end")
			}
		}
	}

	got, pages := collect("", 0)
	if !slices.Equal(got, newestFirst) || pages != 1 {
		t.Errorf("default list = %v in %d pages, want %v newest first", got, pages, newestFirst)
	}
	if slices.Contains(got, otherID) {
		t.Error("list shows another account's webhook")
	}
	got, pages = collect("", 3)
	if !slices.Equal(got, newestFirst) || pages != 3 {
		t.Errorf("limit 3 = %v in %d pages, want %v in 3", got, pages, newestFirst)
	}
	got, pages = collect("", 7) // exactly one full page: no cursor to an empty page
	if !slices.Equal(got, newestFirst) || pages != 1 {
		t.Errorf("limit 7 = %v in %d pages", got, pages)
	}
	var enabled, disabled []string
	for _, id := range newestFirst {
		if slices.Index(ids, id)%2 == 1 {
			disabled = append(disabled, id)
		} else {
			enabled = append(enabled, id)
		}
	}
	if got, _ = collect("&status=enabled", 2); !slices.Equal(got, enabled) {
		t.Errorf("status=enabled = %v, want %v", got, enabled)
	}
	if got, _ = collect("&status=disabled", 2); !slices.Equal(got, disabled) {
		t.Errorf("status=disabled = %v, want %v", got, disabled)
	}
	r := e.do("GET", "/v1/webhooks?status=disabled", key, nil).want(t, 200, "")
	for _, d := range r.Body["data"].([]any) {
		if d.(map[string]any)["status"] != "disabled" {
			t.Errorf("status filter let through %v", d)
		}
	}

	for _, q := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=101", "limit"}, {"limit=-1", "limit"}, {"limit=ten", "limit"}, {"limit=1.5", "limit"},
		{"cursor=garbage!", "cursor"}, {"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("123:not-a-uuid")), "cursor"},
		{"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("soon:"+uuid.NewString())), "cursor"},
		{"status=on", "status"}, {"status=ENABLED", "status"},
	} {
		r := e.do("GET", "/v1/webhooks?"+q.query, key, nil).want(t, 422, "validation_failed")
		if r.field(q.field) == "" {
			t.Errorf("%s: no fields.%s: %s", q.query, q.field, r.Raw)
		}
	}
	e.do("GET", "/v1/webhooks?limit=100", key, nil).want(t, 200, "")
	e.do("GET", "/v1/webhooks?limit=1", key, nil).want(t, 200, "")
}

func TestUpdateWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	id, _ := e.createWebhook(key, validWebhook("original"))
	e.createWebhook(key, validWebhook("taken"))
	path := "/v1/webhooks/" + id

	t.Run("refused while enabled", func(t *testing.T) {
		before := e.webhookRow(id)
		for _, body := range []map[string]any{{"name": "new"}, {"url": "https://other.example.com"}, {}} {
			r := e.do("PATCH", path, key, body).want(t, 409, "webhook_enabled")
			r.wantErrorShape(t)
		}
		after := e.webhookRow(id)
		if after.Name != "original" || !after.UpdatedAt.Equal(before.UpdatedAt) || after.URL != before.URL {
			t.Errorf("refused PATCH changed the row: %+v", after)
		}
	})

	e.do("POST", path+"/disable", key, nil).want(t, 200, "")
	created := e.webhookRow(id)

	t.Run("partial updates", func(t *testing.T) {
		r := e.do("PATCH", path, key, map[string]any{"name": "  renamed  "}).want(t, 200, "")
		if r.str("name") != "renamed" || r.str("url") != "https://hooks.example.com/esign" || r.str("status") != "disabled" {
			t.Errorf("PATCH name: %s", r.Raw)
		}
		if got := strs(r.Body["eventTypes"]); !slices.Equal(got, []string{"ENVELOPE_START", "ENVELOPE_FINISH"}) {
			t.Errorf("eventTypes changed: %v", got)
		}
		r = e.do("PATCH", path, key, map[string]any{
			"url": "https://new.example.com/h", "eventTypes": []string{"SIGNER_DECLINED"},
			"triggerSources": []string{"third_party_app"}, "appIds": []string{"app-9"},
		}).want(t, 200, "")
		g := e.do("GET", path, key, nil).want(t, 200, "")
		if g.str("name") != "renamed" || g.str("url") != "https://new.example.com/h" ||
			!slices.Equal(strs(g.Body["eventTypes"]), []string{"SIGNER_DECLINED"}) ||
			!slices.Equal(strs(g.Body["triggerSources"]), []string{"third_party_app"}) ||
			!slices.Equal(strs(g.Body["appIds"]), []string{"app-9"}) {
			t.Errorf("after PATCH: %s", g.Raw)
		}
		// appIds can be cleared with [], and null leaves a field alone.
		e.do("PATCH", path, key, map[string]any{"appIds": []string{}, "name": nil}).want(t, 200, "")
		g = e.do("GET", path, key, nil).want(t, 200, "")
		if len(strs(g.Body["appIds"])) != 0 || g.str("name") != "renamed" {
			t.Errorf("after clearing appIds: %s", g.Raw)
		}
		after := e.webhookRow(id)
		if !after.UpdatedAt.After(created.UpdatedAt) || !after.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("updatedAt %v createdAt %v; was %v %v", after.UpdatedAt, after.CreatedAt, created.UpdatedAt, created.CreatedAt)
		}
		if !bytes.Equal(after.SecretEnc, created.SecretEnc) || after.Enabled {
			t.Error("PATCH touched the secret or the status")
		}
	})

	t.Run("validation", func(t *testing.T) {
		before := e.webhookRow(id)
		for _, tc := range []struct {
			body  any
			field string
		}{
			{map[string]any{"name": ""}, "name"},
			{map[string]any{"name": "  "}, "name"},
			{map[string]any{"name": strings.Repeat("ü", 101)}, "name"},
			{map[string]any{"name": "taken"}, "name"},
			{map[string]any{"url": "notaurl"}, "url"},
			{map[string]any{"url": "https://u:p@example.com"}, "url"},
			{map[string]any{"eventTypes": []string{}}, "eventTypes"},
			{map[string]any{"eventTypes": []string{"NOPE"}}, "eventTypes"},
			{map[string]any{"triggerSources": []string{}}, "triggerSources"},
			{map[string]any{"triggerSources": []string{"email"}}, "triggerSources"},
			{map[string]any{"enabled": true}, "enabled"}, // status changes only through enable/disable
			{map[string]any{"status": "enabled"}, "status"},
			{map[string]any{"name": 1}, "name"},
		} {
			r := e.do("PATCH", path, key, tc.body).want(t, 422, "validation_failed")
			if r.field(tc.field) == "" {
				t.Errorf("%v: no fields.%s: %s", tc.body, tc.field, r.Raw)
			}
		}
		e.do("PATCH", path, key, `{"name":`).want(t, 400, "invalid_json")
		after := e.webhookRow(id)
		if !after.UpdatedAt.Equal(before.UpdatedAt) || after.Name != before.Name || after.URL != before.URL ||
			!slices.Equal(after.EventTypes, before.EventTypes) || !slices.Equal(after.TriggerSources, before.TriggerSources) {
			t.Errorf("an invalid PATCH changed the row: %+v", after)
		}
		// A 100-character multibyte name is fine.
		e.do("PATCH", path, key, map[string]any{"name": strings.Repeat("ü", 100)}).want(t, 200, "")
	})

	t.Run("unknown ids", func(t *testing.T) {
		e.do("PATCH", "/v1/webhooks/"+uuid.NewString(), key, map[string]any{"name": "x"}).want(t, 404, "not_found")
		e.do("PATCH", "/v1/webhooks/nope", key, map[string]any{"name": "x"}).want(t, 404, "not_found")
	})
}

func TestEnableDisable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	id, _ := e.createWebhook(key, validWebhook("hook"))
	path := "/v1/webhooks/" + id
	for _, step := range []struct{ action, want string }{
		{"disable", "disabled"}, {"disable", "disabled"}, {"enable", "enabled"}, {"enable", "enabled"}, {"disable", "disabled"},
	} {
		r := e.do("POST", path+"/"+step.action, key, nil).want(t, 200, "")
		if r.str("status") != step.want || r.str("id") != id {
			t.Fatalf("%s: %s", step.action, r.Raw)
		}
		if g := e.do("GET", path, key, nil); g.str("status") != step.want {
			t.Fatalf("after %s GET says %s", step.action, g.str("status"))
		}
		if e.webhookRow(id).Enabled != (step.want == "enabled") {
			t.Fatalf("after %s the row disagrees", step.action)
		}
	}
	// Idempotent: a repeated disable does not even touch updatedAt.
	before := e.webhookRow(id)
	e.do("POST", path+"/disable", key, nil).want(t, 200, "")
	if !e.webhookRow(id).UpdatedAt.Equal(before.UpdatedAt) {
		t.Error("a no-op disable changed updatedAt")
	}
	for _, a := range []string{"enable", "disable"} {
		e.do("POST", "/v1/webhooks/"+uuid.NewString()+"/"+a, key, nil).want(t, 404, "not_found")
		e.do("POST", "/v1/webhooks/xyz/"+a, key, nil).want(t, 404, "not_found")
	}
	// Status filter and enable survive together.
	e.do("POST", path+"/enable", key, nil).want(t, 200, "")
	r := e.do("GET", "/v1/webhooks?status=enabled", key, nil).want(t, 200, "")
	if len(r.Body["data"].([]any)) != 1 {
		t.Errorf("enabled list: %s", r.Raw)
	}
}

func TestDeleteWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	id, _ := e.createWebhook(key, validWebhook("doomed"))
	otherID, _ := e.createWebhook(key, validWebhook("other"))
	path := "/v1/webhooks/" + id

	e.do("DELETE", path+"?confirm="+id, key, nil).want(t, 409, "webhook_enabled")
	e.do("POST", path+"/disable", key, nil).want(t, 200, "")
	for _, q := range []string{"", "?confirm=", "?confirm=yes", "?confirm=" + otherID, "?confirm=" + strings.ToUpper(id) + "x"} {
		r := e.do("DELETE", path+q, key, nil).want(t, 428, "confirmation_required")
		r.wantErrorShape(t)
	}
	if e.countWebhooks() != 2 {
		t.Fatal("an unconfirmed delete removed a row")
	}
	e.do("DELETE", "/v1/webhooks/"+uuid.NewString()+"?confirm="+id, key, nil).want(t, 404, "not_found")
	e.do("DELETE", "/v1/webhooks/bogus?confirm=bogus", key, nil).want(t, 404, "not_found")

	r := e.do("DELETE", path+"?confirm="+id, key, nil).want(t, 204, "")
	if len(r.Raw) != 0 {
		t.Errorf("204 with a body: %s", r.Raw)
	}
	e.do("GET", path, key, nil).want(t, 404, "not_found")
	e.do("DELETE", path+"?confirm="+id, key, nil).want(t, 404, "not_found")
	if e.countWebhooks() != 1 {
		t.Fatal("delete removed the wrong number of rows")
	}
	e.do("GET", "/v1/webhooks/"+otherID, key, nil).want(t, 200, "")
	// The name is free again.
	e.createWebhook(key, validWebhook("doomed"))
}

func TestResetSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	id, first := e.createWebhook(key, validWebhook("hook"))
	path := "/v1/webhooks/" + id

	// Default grace: 24 hours, previous secret kept encrypted.
	start := time.Now()
	r := e.do("POST", path+"/secret/reset", key, nil).want(t, 200, "")
	second := r.str("secret")
	wantSecretShape(t, second)
	if second == first {
		t.Fatal("reset returned the same secret")
	}
	if wh, _ := r.Body["webhook"].(map[string]any); wh == nil || wh["id"] != id {
		t.Errorf("reset response lacks the webhook: %s", r.Raw)
	}
	if e.do("GET", path+"/secret", key, nil).str("secret") != second {
		t.Error("GET /secret does not return the new secret")
	}
	w := e.webhookRow(id)
	if w.PreviousSecretEnc == nil || w.PreviousSecretExpiresAt == nil {
		t.Fatal("previous secret not kept")
	}
	prev, err := e.box.Open(w.PreviousSecretEnc, db.SecretAAD(w.ID))
	if err != nil || string(prev) != first {
		t.Fatalf("previous secret = %q, %v", prev, err)
	}
	lo, hi := start.Add(24*time.Hour-time.Minute), time.Now().Add(24*time.Hour+time.Minute)
	if w.PreviousSecretExpiresAt.Before(lo) || w.PreviousSecretExpiresAt.After(hi) {
		t.Errorf("previous expires %v, want ~24h from now", w.PreviousSecretExpiresAt)
	}
	exp, err := time.Parse(time.RFC3339Nano, r.str("previousSecretExpiresAt"))
	if err != nil || exp.Sub(*w.PreviousSecretExpiresAt).Abs() > time.Millisecond {
		t.Errorf("previousSecretExpiresAt %q vs stored %v", r.str("previousSecretExpiresAt"), w.PreviousSecretExpiresAt)
	}

	// Explicit grace.
	r = e.do("POST", path+"/secret/reset", key, map[string]any{"gracePeriodSeconds": 604800}).want(t, 200, "")
	third := r.str("secret")
	w = e.webhookRow(id)
	if d := time.Until(*w.PreviousSecretExpiresAt); d < 7*24*time.Hour-time.Minute || d > 7*24*time.Hour+time.Minute {
		t.Errorf("grace 604800: expires in %v", d)
	}
	if prev, _ := e.box.Open(w.PreviousSecretEnc, db.SecretAAD(w.ID)); string(prev) != second {
		t.Error("previous is not the secret just replaced")
	}

	// Grace 0: the previous secret is erased at once.
	r = e.do("POST", path+"/secret/reset", key, map[string]any{"gracePeriodSeconds": 0}).want(t, 200, "")
	fourth := r.str("secret")
	if _, ok := r.Body["previousSecretExpiresAt"]; ok {
		t.Errorf("grace 0 but previousSecretExpiresAt: %s", r.Raw)
	}
	w = e.webhookRow(id)
	if w.PreviousSecretEnc != nil || w.PreviousSecretExpiresAt != nil {
		t.Error("grace 0 kept the previous secret")
	}
	if len(slices.Compact([]string{first, second, third, fourth})) != 4 {
		t.Error("a reset repeated a secret")
	}

	// Erasure after the grace period.
	e.do("POST", path+"/secret/reset", key, map[string]any{"gracePeriodSeconds": 1}).want(t, 200, "")
	if n, err := e.store.EraseExpiredSecrets(t.Context(), time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("erasing: %d %v", n, err)
	}
	if w = e.webhookRow(id); w.PreviousSecretEnc != nil {
		t.Error("expired previous secret not erased")
	}

	// Bounds and types.
	cur := e.do("GET", path+"/secret", key, nil).str("secret")
	for _, body := range []any{
		map[string]any{"gracePeriodSeconds": -1},
		map[string]any{"gracePeriodSeconds": 604801},
		map[string]any{"gracePeriodSeconds": 1e12},
		map[string]any{"gracePeriodSeconds": 1.5},
		map[string]any{"gracePeriodSeconds": "60"},
		map[string]any{"grace": 60},
	} {
		r := e.do("POST", path+"/secret/reset", key, body).want(t, 422, "validation_failed")
		if r.field("gracePeriodSeconds") == "" && r.field("grace") == "" {
			t.Errorf("%v: no field named: %s", body, r.Raw)
		}
	}
	e.do("POST", path+"/secret/reset", key, `{"gracePeriodSeconds":`).want(t, 400, "invalid_json")
	if e.do("GET", path+"/secret", key, nil).str("secret") != cur {
		t.Error("a refused reset changed the secret")
	}
	e.do("POST", path+"/secret/reset", key, `{}`).want(t, 200, "")

	// Unknown ids.
	e.do("POST", "/v1/webhooks/"+uuid.NewString()+"/secret/reset", key, nil).want(t, 404, "not_found")
	e.do("GET", "/v1/webhooks/"+uuid.NewString()+"/secret", key, nil).want(t, 404, "not_found")
	e.do("GET", "/v1/webhooks/not-an-id/secret", key, nil).want(t, 404, "not_found")
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, a := e.account("professional")
	_, b := e.account("professional")
	bMember := e.newKey(b, "member")
	id, secret := e.createWebhook(a, validWebhook("A's hook"))
	e.do("POST", "/v1/webhooks/"+id+"/disable", a, nil).want(t, 200, "")
	before := e.webhookRow(id)

	for _, rt := range []route{
		{"GET", "/v1/webhooks/" + id, nil},
		{"PATCH", "/v1/webhooks/" + id, map[string]any{"name": "stolen"}},
		{"DELETE", "/v1/webhooks/" + id + "?confirm=" + id, nil},
		{"DELETE", "/v1/webhooks/" + id, nil},
		{"POST", "/v1/webhooks/" + id + "/enable", nil},
		{"POST", "/v1/webhooks/" + id + "/disable", nil},
		{"GET", "/v1/webhooks/" + id + "/secret", nil},
		{"POST", "/v1/webhooks/" + id + "/secret/reset", nil},
		{"POST", "/v1/webhooks/" + id + "/test", nil},
	} {
		r := e.do(rt.method, rt.path, b, rt.body)
		if r.Status != 404 || r.code() != "not_found" {
			t.Errorf("B %s %s: got %d %s", rt.method, rt.path, r.Status, r.Raw)
		}
		if bytes.Contains(r.Raw, []byte(secret)) || bytes.Contains(r.Raw, []byte("A's hook")) {
			t.Errorf("B %s %s leaks A's webhook: %s", rt.method, rt.path, r.Raw)
		}
	}
	e.do("GET", "/v1/webhooks/"+id, bMember, nil).want(t, 404, "not_found")
	for _, k := range []string{b, bMember} {
		l := e.do("GET", "/v1/webhooks", k, nil).want(t, 200, "")
		if len(l.Body["data"].([]any)) != 0 {
			t.Errorf("B lists A's webhooks: %s", l.Raw)
		}
	}
	after := e.webhookRow(id)
	if after.Name != before.Name || after.Enabled || !after.UpdatedAt.Equal(before.UpdatedAt) ||
		!bytes.Equal(after.SecretEnc, before.SecretEnc) || after.PreviousSecretEnc != nil {
		t.Errorf("B changed A's webhook: %+v", after)
	}
	// A still sees it, and B may use the same name.
	e.do("GET", "/v1/webhooks/"+id, a, nil).want(t, 200, "")
	e.createWebhook(b, validWebhook("A's hook"))
}

// TestConcurrentCreateSameName: the unique name holds under a race, and the
// losers get the validation error, not a 500.
func TestConcurrentCreateSameName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	body, _ := json.Marshal(validWebhook("raced"))
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", e.srv.URL+"/v1/webhooks", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[201] != 1 || counts[422] != n-1 {
		t.Errorf("statuses %v, want one 201 and %d 422", counts, n-1)
	}
	if got := e.countWebhooks(); got != 1 {
		t.Errorf("%d rows", got)
	}
}

// TestWebhookLimit: MAX_WEBHOOKS_PER_ACCOUNT holds under concurrent
// creates (the account row is locked), answers 422 webhook_limit_reached,
// and counts per account.
func TestWebhookLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"MAX_WEBHOOKS_PER_ACCOUNT": "3"})
	_, key := e.account("professional")
	const n = 10
	statuses := make(chan resp, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses <- e.do("POST", "/v1/webhooks", key, validWebhook(fmt.Sprintf("hook %d", i))) })
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for r := range statuses {
		counts[r.Status]++
		if r.Status == 422 {
			if r.code() != "webhook_limit_reached" || !strings.Contains(string(r.Raw), "limit of 3 webhooks") {
				t.Errorf("at the limit: %s", r.Raw)
			}
			r.wantErrorShape(t)
		}
	}
	if counts[201] != 3 || counts[422] != n-3 {
		t.Errorf("statuses %v, want 3 201 and %d 422", counts, n-3)
	}
	if got := e.countWebhooks(); got != 3 {
		t.Fatalf("%d webhooks, want 3", got)
	}
	// Another account has its own allowance.
	_, other := e.account("professional")
	e.createWebhook(other, validWebhook("other"))
	// Deleting one makes room again.
	r := e.do("GET", "/v1/webhooks", key, nil).want(t, 200, "")
	id := r.Body["data"].([]any)[0].(map[string]any)["id"].(string)
	e.do("POST", "/v1/webhooks/"+id+"/disable", key, nil).want(t, 200, "")
	e.do("DELETE", "/v1/webhooks/"+id+"?confirm="+id, key, nil).want(t, 204, "")
	e.createWebhook(key, validWebhook("after delete"))
	e.do("POST", "/v1/webhooks", key, validWebhook("one too many")).want(t, 422, "webhook_limit_reached")
}

// Receiver limits: set on create, shown with the throttle in GET, and
// changed by PATCH even while the webhook is enabled (alone: any other
// field still needs it disabled); rateLimitPerSecond null removes the
// limit. Out-of-range values are a 422 naming the field.
func TestWebhookLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	body := validWebhook("limited")
	body["maxConcurrency"], body["rateLimitPerSecond"] = 3, 2.5
	r := e.do("POST", "/v1/webhooks", key, body).want(t, 201, "")
	id := r.str("id")
	if r.Body["maxConcurrency"] != 3.0 || r.Body["rateLimitPerSecond"] != 2.5 {
		t.Fatalf("created: %s", r.Raw)
	}
	if th, _ := r.Body["throttle"].(map[string]any); th["throttled"] != false || th["until"] != nil || th["step"] != 0.0 {
		t.Fatalf("throttle of a new webhook: %s", r.Raw)
	}
	def := e.do("POST", "/v1/webhooks", key, validWebhook("defaults")).want(t, 201, "")
	if def.Body["maxConcurrency"] != 10.0 || def.Body["rateLimitPerSecond"] != nil {
		t.Fatalf("defaults: %s", def.Raw)
	}

	path := "/v1/webhooks/" + id
	r = e.do("PATCH", path, key, map[string]any{"maxConcurrency": 1}).want(t, 200, "")
	if r.Body["maxConcurrency"] != 1.0 || r.Body["rateLimitPerSecond"] != 2.5 || r.str("status") != "enabled" {
		t.Fatalf("PATCH maxConcurrency while enabled: %s", r.Raw)
	}
	r = e.do("PATCH", path, key, map[string]any{"rateLimitPerSecond": nil}).want(t, 200, "")
	if r.Body["rateLimitPerSecond"] != nil || r.Body["maxConcurrency"] != 1.0 {
		t.Fatalf("PATCH rateLimitPerSecond null: %s", r.Raw)
	}
	if w := e.webhookRow(id); w.MaxConcurrency != 1 || w.RateLimitPerSecond != nil {
		t.Fatalf("row %+v", w.Throttle)
	}
	e.do("PATCH", path, key, map[string]any{"maxConcurrency": 2, "name": "x"}).want(t, 409, "webhook_enabled")
	// Raising the maximum adds concurrency slots (a trigger keeps them).
	e.do("PATCH", path, key, map[string]any{"maxConcurrency": 20}).want(t, 200, "")
	var slots int
	if err := e.store.DB().Get(&slots, `SELECT count(*) FROM webhook_leases WHERE webhook_id = $1`, id); err != nil || slots != 20 {
		t.Fatalf("%d concurrency slots after raising the maximum to 20 (%v)", slots, err)
	}

	for _, bad := range []map[string]any{
		{"maxConcurrency": 0}, {"maxConcurrency": 101}, {"rateLimitPerSecond": 0.05}, {"rateLimitPerSecond": 1001},
	} {
		for field := range bad {
			r := e.do("PATCH", path, key, bad).want(t, 422, "validation_failed")
			if r.field(field) == "" {
				t.Errorf("PATCH %v: %s", bad, r.Raw)
			}
			create := validWebhook("bad")
			create[field] = bad[field]
			if r := e.do("POST", "/v1/webhooks", key, create).want(t, 422, "validation_failed"); r.field(field) == "" {
				t.Errorf("POST %v: %s", bad, r.Raw)
			}
		}
	}
}
