package e2e_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/events/schemas"
)

// auditExempt are the mutating routes that write no audit record, and
// why. Every other POST, PUT, PATCH and DELETE of the OpenAPI document
// (and the secret's GET) must have a scenario below that proves it writes
// exactly one.
var auditExempt = map[string]string{
	"post /v1/events":               "the data plane: an event is its own record (the outbox), with its deliveries",
	"post /v1/webhooks/filter-test": "changes nothing: it evaluates an expression on a sample",
}

// auditedReads are the GET routes that are on record all the same.
var auditedReads = []string{"get /v1/webhooks/{id}/secret"}

// auditedOperations lists the OpenAPI document's operations that must
// write a record.
func auditedOperations(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../internal/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for p, item := range doc.Paths {
		for m := range item {
			op := m + " " + p
			if (slices.Contains([]string{"post", "put", "patch", "delete"}, m) || slices.Contains(auditedReads, op)) &&
				auditExempt[op] == "" {
				ops = append(ops, op)
			}
		}
	}
	sort.Strings(ops)
	return ops
}

// auditEnv is an account with a SIEM webhook subscribed to AUDIT_LOGGED,
// and what it has received.
type auditEnv struct {
	*e2etest.Env
	acct, key, keyID string
	siem             *e2etest.Receiver
	receiver         *e2etest.Receiver // answers 200: for webhooks under test
}

type auditRecord = events.AuditRecord

// records reads the account's records through the API, every page.
func (a *auditEnv) records(t *testing.T, query string) []auditRecord {
	t.Helper()
	var out []auditRecord
	cursor := ""
	for {
		q, _ := url.ParseQuery(query)
		q.Set("limit", "2") // several pages: the cursor is tested too
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var pg struct {
			Data       []auditRecord `json:"data"`
			NextCursor *string       `json:"nextCursor"`
		}
		a.Do("GET", "/v1/audit-log?"+q.Encode(), a.key, nil).Want(t, http.StatusOK).Decode(t, &pg)
		out = append(out, pg.Data...)
		if pg.NextCursor == nil {
			return out
		}
		cursor = *pg.NextCursor
	}
}

// count is how many records the account has, read from the table.
func (a *auditEnv) count(t *testing.T) int {
	t.Helper()
	var n int
	if err := a.Store.DB().Get(&n, `SELECT count(*) FROM audit_log WHERE account_id = $1`, a.acct); err != nil {
		t.Fatal(err)
	}
	return n
}

func newAuditEnv(t *testing.T) *auditEnv {
	e := e2etest.New(t, e2etest.Options{})
	a := &auditEnv{Env: e, receiver: e2etest.NewReceiver(t, nil), siem: e2etest.NewReceiver(t, nil)}
	a.acct, a.key = e.Account("professional")
	if err := e.Store.DB().Get(&a.keyID, `SELECT id FROM api_keys WHERE account_id = $1`, a.acct); err != nil {
		t.Fatal(err)
	}
	a.CreateWebhook(a.key, e2etest.Webhook{Name: "SIEM", URL: a.siem.URL, EventTypes: []string{events.AuditLogged}})
	return a
}

// hook creates a webhook on the test receiver: enabled or not, ordered
// holding its keys.
func (a *auditEnv) hook(t *testing.T, enabled bool) string {
	t.Helper()
	id, _ := a.CreateWebhook(a.key, e2etest.Webhook{URL: a.receiver.URL, Enabled: &enabled, Ordered: true, OrderedOnFailure: "hold"})
	return id
}

// delivered publishes an event to webhook and waits for its delivery to
// succeed.
func (a *auditEnv) delivered(t *testing.T, webhook string) string {
	t.Helper()
	p := a.Publish(a.key, e2etest.Event{})
	var d e2etest.Delivery
	e2etest.Eventually(t, "the event's delivery", func() bool {
		var ok bool
		d, ok = a.EventDeliveries(a.key, p.EventID)[webhook]
		return ok
	})
	a.WaitStatus(a.key, d.ID, "succeeded")
	return d.ID
}

// scenario prepares one call (outside the count) and makes it: it returns
// the request, the status it must answer, and the record it must write.
type scenario func(t *testing.T, a *auditEnv) (call func() e2etest.Resp, status int, action, resource string)

// chatToken is in every channel's URL, as a platform's token is: never
// in a record.
const chatToken = "tok-SECRET-4f1c9e"

// channel adds a Slack channel on the test receiver.
func (a *auditEnv) channel(t *testing.T) string {
	t.Helper()
	return a.Do("POST", "/v1/notification-channels", a.key, map[string]any{"name": "ops " + uuid.NewString()[:8], "kind": "slack",
		"url": a.receiver.At("/services/" + chatToken)}).Want(t, 201).Str(t, "id")
}

func auditScenarios() map[string]scenario {
	return map[string]scenario{
		"post /v1/notification-channels": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			return func() e2etest.Resp {
				return a.Do("POST", "/v1/notification-channels", a.key, map[string]any{"name": "on call", "kind": "dingtalk",
					"url": a.receiver.At("/robot/send?access_token=" + chatToken), "secret": "SEC" + chatToken, "language": "zh-CN"})
			}, 201, "notification_channel.create", ""
		},
		"patch /v1/notification-channels/{id}": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.channel(t)
			return func() e2etest.Resp {
				return a.Do("PATCH", "/v1/notification-channels/"+id, a.key, map[string]any{"noticeTypes": []string{"WEBHOOK_DISABLED"},
					"url": a.receiver.At("/services/v2/" + chatToken)})
			}, 200, "notification_channel.update", id
		},
		"delete /v1/notification-channels/{id}": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.channel(t)
			return func() e2etest.Resp { return a.Do("DELETE", "/v1/notification-channels/"+id, a.key, nil) },
				204, "notification_channel.delete", id
		},
		"post /v1/notification-channels/{id}/test": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.channel(t)
			return func() e2etest.Resp { return a.Do("POST", "/v1/notification-channels/"+id+"/test", a.key, nil) },
				200, "notification_channel.test", id
		},
		"post /v1/api-keys": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			return func() e2etest.Resp {
				return a.Do("POST", "/v1/api-keys", a.key, map[string]any{"role": "member", "label": "audited"})
			}, 201, "api_key.create", ""
		},
		"delete /v1/api-keys/{id}": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.Do("POST", "/v1/api-keys", a.key, map[string]any{"role": "reader"}).Want(t, 201).Str(t, "id")
			return func() e2etest.Resp { return a.Do("DELETE", "/v1/api-keys/"+id, a.key, nil) }, 204, "api_key.revoke", id
		},
		"post /v1/console/links": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			return func() e2etest.Resp { return a.Do("POST", "/v1/console/links", a.key, map[string]any{"role": "admin"}) },
				201, "console_link.create", ""
		},
		"post /v1/webhooks": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			body := e2etest.Webhook{Name: "created", URL: a.receiver.URL, EventTypes: []string{"ENVELOPE_START"},
				TriggerSources: []string{"saas_page"}}
			return func() e2etest.Resp { return a.Do("POST", "/v1/webhooks", a.key, body) }, 201, "webhook.create", ""
		},
		"patch /v1/webhooks/{id}": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.hook(t, false)
			return func() e2etest.Resp {
				return a.Do("PATCH", "/v1/webhooks/"+id, a.key, map[string]any{"url": a.receiver.At("/v2")})
			}, 200, "webhook.update", id
		},
		"delete /v1/webhooks/{id}": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.hook(t, false)
			return func() e2etest.Resp { return a.Do("DELETE", "/v1/webhooks/"+id+"?confirm="+id, a.key, nil) },
				204, "webhook.delete", id
		},
		"post /v1/webhooks/{id}/enable": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.hook(t, false)
			return func() e2etest.Resp {
				return a.Do("POST", "/v1/webhooks/"+id+"/enable", a.key, map[string]any{"replayMissed": true})
			}, 200, "webhook.enable", id
		},
		"post /v1/webhooks/{id}/disable": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.hook(t, true)
			return func() e2etest.Resp { return a.Do("POST", "/v1/webhooks/"+id+"/disable", a.key, nil) }, 200, "webhook.disable", id
		},
		"post /v1/webhooks/{id}/secret/reset": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.hook(t, true)
			return func() e2etest.Resp { return a.Do("POST", "/v1/webhooks/"+id+"/secret/reset", a.key, nil) },
				200, "webhook.secret.reset", id
		},
		"get /v1/webhooks/{id}/secret": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.hook(t, true)
			return func() e2etest.Resp { return a.Do("GET", "/v1/webhooks/"+id+"/secret", a.key, nil) }, 200, "webhook.secret.view", id
		},
		"post /v1/webhooks/{id}/test": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.hook(t, true)
			return func() e2etest.Resp { return a.Do("POST", "/v1/webhooks/"+id+"/test", a.key, nil) }, 200, "webhook.test", id
		},
		"post /v1/webhooks/{id}/release": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.hook(t, true)
			return func() e2etest.Resp {
				return a.Do("POST", "/v1/webhooks/"+id+"/release", a.key, map[string]any{"orderingKey": "env-1"})
			}, 200, "webhook.ordering_key.release", id
		},
		"post /v1/deliveries/{id}/resend": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			d := a.delivered(t, a.hook(t, true))
			return func() e2etest.Resp { return a.Do("POST", "/v1/deliveries/"+d+"/resend", a.key, nil) }, 202, "delivery.resend", d
		},
		"post /v1/deliveries/resend": func(t *testing.T, a *auditEnv) (func() e2etest.Resp, int, string, string) {
			id := a.hook(t, true)
			since := time.Now().Add(-time.Hour).UTC()
			return func() e2etest.Resp {
				return a.Do("POST", "/v1/deliveries/resend", a.key, map[string]any{"webhookId": id, "since": since})
			}, 202, "delivery.bulk_resend", id
		},
	}
}

// TestEveryMutatingRouteAudited calls every mutating route of the OpenAPI
// document once, successfully, and checks that it wrote exactly one
// record, with the key as its actor and the client's address; that each
// record reached the SIEM webhook as an AUDIT_LOGGED event, valid
// against its schema; and that no secret is in any of them.
func TestEveryMutatingRouteAudited(t *testing.T) {
	a := newAuditEnv(t)
	scenarios := auditScenarios()
	ops := auditedOperations(t)
	if len(ops) < 14 {
		t.Fatalf("only %d mutating routes in the OpenAPI document: %v", len(ops), ops)
	}
	var secrets []string // every secret an answer showed, and the channels'
	secrets = append(secrets, a.key, chatToken)
	for _, op := range ops {
		sc, ok := scenarios[op]
		if !ok {
			t.Errorf("%s: no audit scenario; a new mutating route must write a record (and get a scenario here) or be exempt", op)
			continue
		}
		call, status, action, resource := sc(t, a)
		before := a.count(t)
		r := call().Want(t, status)
		var body map[string]any
		if len(r.Raw) > 0 {
			r.Decode(t, &body)
		}
		for _, k := range []string{"secret", "key", "url"} {
			if s, _ := body[k].(string); s != "" && (k != "url" || strings.Contains(s, "token=")) {
				secrets = append(secrets, s)
			}
		}
		if got := a.count(t) - before; got != 1 {
			t.Errorf("%s wrote %d audit records, want 1", op, got)
			continue
		}
		recs := a.records(t, "action="+action)
		if len(recs) == 0 {
			t.Errorf("%s: no %s record in GET /v1/audit-log", op, action)
			continue
		}
		rec := recs[0] // newest first
		if resource != "" && rec.Resource.ID != resource {
			t.Errorf("%s: record of resource %q, want %q", op, rec.Resource.ID, resource)
		}
		if rec.Actor.Type != "api_key" || rec.Actor.ID != a.keyID || rec.Actor.Role != "admin" || rec.ClientAddress != "127.0.0.1" {
			t.Errorf("%s: actor %+v from %q, want the admin key %s from 127.0.0.1", op, rec.Actor, rec.ClientAddress, a.keyID)
		}
	}

	// What the records say of particular changes.
	update := a.records(t, "action=webhook.update")[0]
	if ch := update.Changes["url"]; !strings.HasSuffix(string(ch.After), `/v2"`) || len(ch.Before) == 0 || len(update.Changes) != 1 {
		t.Errorf("update's changes: %s", mustJSON(update.Changes))
	}
	reset := a.records(t, "action=webhook.secret.reset")[0]
	if !reset.Changes["secret"].Changed || reset.Changes["secret"].After != nil {
		t.Errorf("reset's changes: %s", mustJSON(reset.Changes))
	}
	enable := a.records(t, "action=webhook.enable")[0]
	if enable.Details["replayMissed"] != true || string(enable.Changes["status"].After) != `"enabled"` {
		t.Errorf("enable: changes %s details %v", mustJSON(enable.Changes), enable.Details)
	}
	chUpdate := a.records(t, "action=notification_channel.update")[0]
	if !chUpdate.Changes["url"].Changed || string(chUpdate.Changes["noticeTypes"].After) != `["WEBHOOK_DISABLED"]` {
		t.Errorf("channel update's changes: %s", mustJSON(chUpdate.Changes))
	}
	created := a.records(t, "action=webhook.create&resourceType=webhook")
	if len(created) == 0 || !created[0].Changes["secret"].Changed || created[0].Changes["url"].After == nil {
		t.Errorf("create's changes: %s", mustJSON(created[0].Changes))
	}

	// Every record reached the SIEM webhook, once, as its event.
	all := a.records(t, "")
	if len(all) != a.count(t) {
		t.Fatalf("GET /v1/audit-log pages hold %d records, the table %d", len(all), a.count(t))
	}
	e2etest.Eventually(t, "every record at the SIEM webhook", func() bool { return a.siem.Count() >= len(all) })
	got := map[string]int{}
	for _, req := range a.siem.Requests() {
		var m struct {
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"eventPayload"`
		}
		if err := json.Unmarshal(req.Body, &m); err != nil || m.Event != events.AuditLogged {
			t.Fatalf("SIEM got %s (%v)", req.Body, err)
		}
		s, _ := schemas.Get(events.AuditLogged)
		if v, err := s.Validate(m.Payload); err != nil || len(v) > 0 {
			t.Errorf("AUDIT_LOGGED data breaks its schema: %v %v: %s", v, err, m.Payload)
		}
		var rec auditRecord
		_ = json.Unmarshal(m.Payload, &rec)
		got[rec.ID]++
		for _, secret := range secrets {
			if strings.Contains(string(req.Body), secret) {
				t.Errorf("a secret (%.8s…) is in the event of %s", secret, rec.Action)
			}
		}
	}
	for _, r := range all {
		if got[r.ID] != 1 {
			t.Errorf("record %s (%s) reached the SIEM webhook %d times", r.ID, r.Action, got[r.ID])
		}
	}
	var stored string
	if err := a.Store.DB().Get(&stored, `SELECT coalesce(string_agg(changes::text || details::text, ' '), '') FROM audit_log`); err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		if strings.Contains(stored, secret) {
			t.Errorf("a secret (%.8s…) is in the audit_log table", secret)
		}
	}
}

// TestAuditLogRefusedChangesAndFilters: a change refused writes no
// record; the list's filters and access.
func TestAuditLogRefusedChangesAndFilters(t *testing.T) {
	a := newAuditEnv(t)
	id := a.hook(t, true)
	before := a.count(t)
	a.Do("PATCH", "/v1/webhooks/"+id, a.key, map[string]any{"name": "x"}).Want(t, http.StatusConflict)
	a.Do("DELETE", "/v1/webhooks/"+id+"?confirm="+id, a.key, nil).Want(t, http.StatusConflict)
	a.Do("POST", "/v1/webhooks/"+uuid.NewString()+"/disable", a.key, nil).Want(t, http.StatusNotFound)
	a.Do("DELETE", "/v1/api-keys/"+uuid.NewString(), a.key, nil).Want(t, http.StatusNotFound)
	if n := a.count(t); n != before {
		t.Fatalf("refused changes wrote %d records", n-before)
	}

	a.Do("POST", "/v1/webhooks/"+id+"/disable", a.key, nil).Want(t, http.StatusOK)
	for q, want := range map[string]int{
		"resourceId=" + id: 2, // create, disable
		"resourceId=" + id + "&action=webhook.disable": 1,
		"actor=" + a.keyID:          3, // the SIEM webhook's creation too
		"actor=" + uuid.NewString(): 0,
		"resourceType=api_key":      0,
		"from=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)): 0,
		"to=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)):   3,
	} {
		if got := len(a.records(t, q)); got != want {
			t.Errorf("?%s: %d records, want %d", q, got, want)
		}
	}
	for q, field := range map[string]string{
		"action=webhook.explode": "action",
		"from=yesterday":         "from",
		"from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z": "to",
		"cursor=nope": "cursor",
		"limit=101":   "limit",
	} {
		r := a.Do("GET", "/v1/audit-log?"+q, a.key, nil).Want(t, http.StatusUnprocessableEntity)
		if !strings.Contains(string(r.Raw), `"`+field+`"`) {
			t.Errorf("?%s: %s does not name %s", q, r.Raw, field)
		}
	}
	member := a.Do("POST", "/v1/api-keys", a.key, map[string]any{"role": "member"}).Want(t, 201).Str(t, "key")
	a.Do("GET", "/v1/audit-log", member, nil).Want(t, http.StatusForbidden)
}

// mustJSON is v as JSON, for messages.
func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
