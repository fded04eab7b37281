package api_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
)

// The secrets of the receiver options in these tests: none may appear in
// an answer, a log or a column in clear.
var receiverSecrets = []string{"hdr-s3cret-value", "pw-s3cret-value", "tok-s3cret-value", "cs-s3cret-value"}

// lockedBuffer collects logs written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func noSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range receiverSecrets {
		if strings.Contains(text, s) {
			t.Fatalf("%s holds the secret %s: %.2000s", where, s, text)
		}
	}
}

func withReceiver(name string) map[string]any {
	b := validWebhook(name)
	b["headers"] = []map[string]any{
		{"name": "X-Tenant", "value": "acme"},
		{"name": "X-Api-Key", "value": "hdr-s3cret-value", "secret": true},
	}
	b["auth"] = map[string]any{"type": "basic", "username": "esign", "password": "pw-s3cret-value"}
	return b
}

// TestReceiverOptionsNeverShown: headers and auth are stored and shown,
// a secret header by name only and the auth without its secret, in every
// answer that shows a webhook; the table holds no secret in clear; the
// API's log neither.
func TestReceiverOptionsNeverShown(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	e := newEnvFull(t, dbtest.NewStore(t), nil, logs)
	_, key := e.account("professional")
	created := e.do("POST", "/v1/webhooks", key, withReceiver("hooks")).want(t, 201, "")
	id := created.str("id")
	var w struct {
		Headers []map[string]any `json:"headers"`
		Auth    map[string]any   `json:"auth"`
	}
	if err := json.Unmarshal(created.Raw, &w); err != nil {
		t.Fatal(err)
	}
	if len(w.Headers) != 2 || w.Headers[0]["value"] != "acme" || w.Headers[0]["secret"] != false ||
		w.Headers[1]["name"] != "X-Api-Key" || w.Headers[1]["secret"] != true || w.Headers[1]["value"] != nil {
		t.Errorf("headers shown: %v", w.Headers)
	}
	if len(w.Auth) != 2 || w.Auth["type"] != "basic" || w.Auth["username"] != "esign" {
		t.Errorf("auth shown: %v", w.Auth)
	}
	answers := []resp{created, e.do("GET", "/v1/webhooks/"+id, key, nil).want(t, 200, ""),
		e.do("GET", "/v1/webhooks", key, nil).want(t, 200, ""),
		e.do("POST", "/v1/webhooks/"+id+"/disable", key, nil).want(t, 200, "")}
	// Each type shown without its secret.
	for _, auth := range []map[string]any{
		{"type": "bearer", "token": "tok-s3cret-value"},
		{"type": "oauth2", "tokenUrl": "https://auth.example.com/token", "clientId": "client-1",
			"clientSecret": "cs-s3cret-value", "scopes": []string{"webhooks"}, "audience": "https://api.example.com"},
	} {
		r := e.do("PATCH", "/v1/webhooks/"+id, key, map[string]any{"auth": auth}).want(t, 200, "")
		answers = append(answers, r)
		got, _ := r.Body["auth"].(map[string]any)
		if got["type"] != auth["type"] || (auth["type"] == "oauth2" && (got["clientId"] != "client-1" ||
			got["tokenUrl"] != "https://auth.example.com/token" || got["audience"] != "https://api.example.com")) {
			t.Errorf("auth %v shown as %v", auth["type"], got)
		}
	}
	answers = append(answers, e.do("POST", "/v1/webhooks/"+id+"/enable", key, nil).want(t, 200, ""),
		e.do("POST", "/v1/webhooks/"+id+"/secret/reset", key, nil).want(t, 200, ""))
	for _, r := range answers {
		noSecrets(t, "an answer", string(r.Raw))
	}
	var dump string
	if err := e.store.DB().Get(&dump, `SELECT string_agg(w::text, E'\n') FROM webhooks w`); err != nil {
		t.Fatal(err)
	}
	noSecrets(t, "the webhooks table", dump)
	if !strings.Contains(dump, "acme") {
		t.Error("the plain header value is not in the table")
	}
	noSecrets(t, "the API's log", logs.String())
}

// TestReceiverOptionsEdit: PATCH replaces headers and auth, keeps a
// secret left out, needs the webhook disabled, and leaves the row as it
// was when refused.
func TestReceiverOptionsEdit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	id, _ := e.createWebhook(key, withReceiver("hooks"))
	path := "/v1/webhooks/" + id
	before := e.webhookRow(id)

	// Enabled: refused like any edit, even with the limits.
	e.do("PATCH", path, key, map[string]any{"headers": []any{}}).want(t, 409, "webhook_enabled")
	e.do("PATCH", path, key, map[string]any{"maxConcurrency": 5, "auth": map[string]any{"type": "none"}}).
		want(t, 409, "webhook_enabled")
	e.do("POST", path+"/disable", key, nil).want(t, 200, "")

	// Keep: the secret header without its value, the password left out.
	r := e.do("PATCH", path, key, map[string]any{
		"headers": []map[string]any{{"name": "x-api-key", "secret": true}, {"name": "X-Region", "value": "eu"}},
		"auth":    map[string]any{"type": "basic", "username": "other"},
	}).want(t, 200, "")
	after := e.webhookRow(id)
	if !bytes.Equal(after.AuthSecretEnc, before.AuthSecretEnc) || !bytes.Equal(after.Headers[0].ValueEnc, before.Headers[1].ValueEnc) {
		t.Fatal("a kept secret changed")
	}
	if r.Body["auth"].(map[string]any)["username"] != "other" || len(r.Body["headers"].([]any)) != 2 {
		t.Errorf("edit answered %s", r.Raw)
	}
	// Absent keeps both; another field's edit does not touch them.
	e.do("PATCH", path, key, map[string]any{"name": "renamed"}).want(t, 200, "")
	if row := e.webhookRow(id); !bytes.Equal(row.AuthSecretEnc, after.AuthSecretEnc) || len(row.Headers) != 2 {
		t.Fatal("an edit of the name changed the receiver options")
	}

	// Refused: each names its field, and nothing is written.
	unchanged := e.webhookRow(id)
	for _, tc := range []struct {
		body  map[string]any
		field string
		want  string
	}{
		{map[string]any{"headers": []map[string]any{{"name": "Host", "value": "x"}}}, "headers", `"Host" cannot be set`},
		{map[string]any{"headers": []map[string]any{{"name": "Authorization", "value": "x"}}}, "headers", `"Authorization" cannot be set`},
		{map[string]any{"headers": []map[string]any{{"name": "X-Tenant", "secret": true}}}, "headers", "no secret value is stored"},
		{map[string]any{"headers": []map[string]any{{"name": "X-A", "value": "a\r\nb"}}}, "headers", "control characters"},
		{map[string]any{"auth": map[string]any{"type": "bearer"}}, "auth.token", "is required"},
		{map[string]any{"auth": map[string]any{"type": "oauth2", "tokenUrl": "https://10.1.2.3/token", "clientId": "c",
			"clientSecret": "s"}}, "auth.tokenUrl", "public address"},
		{map[string]any{"auth": map[string]any{"type": "kerberos"}}, "auth.type", "must be one of"},
		// encoding/json names an unknown field without its path.
		{map[string]any{"auth": map[string]any{"type": "basic", "username": "u", "bogus": 1}}, "bogus", "is not a known field"},
		{map[string]any{"auth": map[string]any{"type": "basic", "username": "u", "password": 5}}, "auth.password", "must be a JSON string"},
		{map[string]any{"name": "", "auth": map[string]any{"type": "none", "token": "t"}}, "auth.token", "not used by auth type none"},
	} {
		r := e.do("PATCH", path, key, tc.body).want(t, 422, "validation_failed")
		if !strings.Contains(r.field(tc.field), tc.want) {
			t.Errorf("%v: %s = %q, want %q (%s)", tc.body, tc.field, r.field(tc.field), tc.want, r.Raw)
		}
	}
	if row := e.webhookRow(id); !row.UpdatedAt.Equal(unchanged.UpdatedAt) || len(row.Headers) != 2 ||
		row.AuthParams.Username != "other" || row.Name != "renamed" {
		t.Fatal("a refused edit changed the row")
	}

	// Removed: [] and none.
	r = e.do("PATCH", path, key, map[string]any{"headers": []any{}, "auth": map[string]any{"type": "none"}}).want(t, 200, "")
	if row := e.webhookRow(id); len(row.Headers) != 0 || row.AuthType != "none" || row.AuthSecretEnc != nil {
		t.Fatalf("removed: %+v", row.Receiver)
	}
	if string(mustJSON(t, r.Body["auth"])) != `{"type":"none"}` || string(mustJSON(t, r.Body["headers"])) != `[]` {
		t.Errorf("removed shown as %s", r.Raw)
	}
	// Now an Authorization header is fine; auth over it is not.
	e.do("PATCH", path, key, map[string]any{"headers": []map[string]any{{"name": "Authorization", "value": "ApiKey k"}}}).
		want(t, 200, "")
	r = e.do("PATCH", path, key, map[string]any{"auth": map[string]any{"type": "bearer", "token": "t"}}).want(t, 422, "validation_failed")
	if !strings.Contains(r.field("auth"), `custom header "Authorization"`) {
		t.Errorf("auth over an Authorization header: %s", r.Raw)
	}
}

// TestReceiverOptionsCreateRefused: a create with bad options is a 422
// naming every field, and creates nothing.
func TestReceiverOptionsCreateRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, key := e.account("professional")
	b := validWebhook("")
	b["headers"] = []map[string]any{{"name": "webhook-signature", "value": "v1,x"}, {"name": "Bad Name", "value": "x"}}
	b["auth"] = map[string]any{"type": "basic", "username": "u"}
	r := e.do("POST", "/v1/webhooks", key, b).want(t, 422, "validation_failed")
	for field, want := range map[string]string{"name": "is required", "auth.password": "is required",
		"headers": `"webhook-signature" cannot be set`} {
		if !strings.Contains(r.field(field), want) {
			t.Errorf("%s = %q, want %q (%s)", field, r.field(field), want, r.Raw)
		}
	}
	if !strings.Contains(r.field("headers"), `"Bad Name" is invalid`) {
		t.Errorf("headers names one problem only: %s", r.field("headers"))
	}
	many := make([]map[string]any, 21)
	for i := range many {
		many[i] = map[string]any{"name": "X-H" + strings.Repeat("a", i), "value": "v"}
	}
	b = validWebhook("many")
	b["headers"] = many
	if r := e.do("POST", "/v1/webhooks", key, b).want(t, 422, "validation_failed"); r.field("headers") != "must have at most 20 items" {
		t.Errorf("21 headers: %s", r.Raw)
	}
	if n := e.countWebhooks(); n != 0 {
		t.Fatalf("%d webhooks created", n)
	}
	// A webhook without the options shows none.
	r = e.do("POST", "/v1/webhooks", key, validWebhook("plain")).want(t, 201, "")
	if string(mustJSON(t, r.Body["auth"])) != `{"type":"none"}` || string(mustJSON(t, r.Body["headers"])) != `[]` {
		t.Errorf("plain webhook shown as %s", r.Raw)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
