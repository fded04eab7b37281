package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// logged is one event stored age ago with its delivery to webhook, in a
// status, its last answer code (0: none).
type logged struct {
	id, typ, source, key, envelope string
	age                            time.Duration
	webhook                        string
	status                         delivery.Status
	code                           int
}

// store records l as the engine would have: the event, then its delivery.
func (l logged) store(t *testing.T, e *env, acct string) {
	t.Helper()
	ctx := context.Background()
	ev := db.Event{AccountID: uuid.MustParse(acct), WorkflowID: flow.EventWorkflowID(acct, l.id), Event: events.Event{
		ID: l.id, Type: l.typ, TriggerSource: l.source, OccurredAt: time.Now(), OrderingKey: l.key,
		Data: json.RawMessage(`{"envelopeId":"` + l.envelope + `"}`)}}
	if l.source == events.SourceThirdPartyApp {
		ev.AppID = "app-1"
	}
	if _, _, err := e.store.InsertEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DB().Exec(`UPDATE events SET created_at = now() - make_interval(secs => $2) WHERE id = $1`,
		l.id, l.age.Seconds()); err != nil {
		t.Fatal(err)
	}
	ds, err := e.store.RecordEvent(ctx, ev, []uuid.UUID{uuid.MustParse(l.webhook)})
	if err != nil || len(ds) != 1 {
		t.Fatalf("recording %s: %v %v", l.id, ds, err)
	}
	if l.status != delivery.Pending {
		if err := e.store.FinishDelivery(ctx, ds[0].ID, 1, l.status, ""); err != nil {
			t.Fatal(err)
		}
	}
	if l.code != 0 {
		if _, err := e.store.DB().Exec(`UPDATE deliveries SET last_status_code = $2 WHERE id = $1`, ds[0].ID, l.code); err != nil {
			t.Fatal(err)
		}
	}
}

// eventIDs lists the event ids of a page of deliveries or events.
func eventIDs(t *testing.T, r resp, member string) []string {
	t.Helper()
	var page struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(r.Raw, &page); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range page.Data {
		out = append(out, d[member].(string))
	}
	return out
}

// Every filter of the delivery log and the event list finds what it names,
// together with the others; the newest first.
func TestSearchTheLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	acct, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	erp, _ := e.createWebhook(key, validWebhook("erp"))
	h := time.Hour
	for _, l := range []logged{
		{"a", events.EnvelopeStart, events.SourceSaaSPage, "env-1", "env-1", 50 * h, hook, delivery.Succeeded, 200},
		{"b", events.EnvelopeSignerSigned, events.SourceSaaSPage, "env-1", "env-1", 49 * h, erp, delivery.Failed, 404},
		{"c", events.EnvelopeStart, events.SourceThirdPartyApp, "", "env-2", 30 * h, hook, delivery.Failed, 503},
		{"d", events.EnvelopeFinish, events.SourceSaaSPage, "", "env-1", 2 * h, erp, delivery.Succeeded, 200},
		{"e", events.EnvelopeStart, events.SourceSaaSPage, "", "env-3", h, hook, delivery.Pending, 0},
	} {
		l.store(t, e, acct)
	}
	at := func(d time.Duration) string { return time.Now().Add(-d).UTC().Format(time.RFC3339) }
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{"e", "d", "c", "b", "a"}},
		{"envelopeId=env-1", []string{"d", "b", "a"}},
		{"envelopeId=env-1&webhookId=" + erp, []string{"d", "b"}},
		{"orderingKey=env-1", []string{"b", "a"}},
		{"eventId=c", []string{"c"}},
		{"eventType=ENVELOPE_START", []string{"e", "c", "a"}},
		{"triggerSource=third_party_app", []string{"c"}},
		{"status=failed", []string{"c", "b"}},
		{"httpStatus=404", []string{"b"}},
		{"httpStatus=4xx", []string{"b"}},
		{"httpStatus=5XX", []string{"c"}},
		{"httpStatus=2xx&eventType=ENVELOPE_FINISH", []string{"d"}},
		{"from=" + at(40*h), []string{"e", "d", "c"}},
		{"from=" + at(49*h+30*time.Minute) + "&to=" + at(10*h), []string{"c", "b"}},
		{"to=" + at(49*h+30*time.Minute) + "&envelopeId=env-1", []string{"a"}},
		{"envelopeId=env-9", nil},
	} {
		r := e.do("GET", "/v1/deliveries?"+c.query, key, nil).want(t, 200, "")
		if got := eventIDs(t, r, "eventId"); !slices.Equal(got, c.want) {
			t.Errorf("deliveries?%s: %v, want %v", c.query, got, c.want)
		}
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{"e", "d", "c", "b", "a"}},
		{"envelopeId=env-1", []string{"d", "b", "a"}},
		{"orderingKey=env-1&eventType=ENVELOPE_SIGNER_SIGNED", []string{"b"}},
		{"triggerSource=saas_page&from=" + at(40*h), []string{"e", "d"}},
		{"eventId=a", []string{"a"}},
	} {
		r := e.do("GET", "/v1/events?"+c.query, key, nil).want(t, 200, "")
		if got := eventIDs(t, r, "id"); !slices.Equal(got, c.want) {
			t.Errorf("events?%s: %v, want %v", c.query, got, c.want)
		}
		if _, has := r.Body["data"].([]any)[0].(map[string]any)["deliveries"]; has {
			t.Errorf("events?%s: an item has its deliveries", c.query)
		}
	}
	// A delivery shows its event's trigger source.
	r := e.do("GET", "/v1/deliveries?eventId=c", key, nil)
	if src := r.Body["data"].([]any)[0].(map[string]any)["triggerSource"]; src != "third_party_app" {
		t.Errorf("triggerSource %v", src)
	}
}

// A wrong query is refused naming what is wrong: an unknown parameter 400,
// a malformed or backwards value 422; a reader key lists no events.
func TestSearchRefusesBadQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	acct, key := e.account("professional")
	for _, c := range []struct {
		path, status, code, field string
	}{
		{"/v1/deliveries?stauts=failed", "400", "unknown_parameter", "stauts"},
		{"/v1/deliveries?status=failed&envelope=x", "400", "unknown_parameter", "envelope"},
		{"/v1/events?status=failed", "400", "unknown_parameter", "status"},
		{"/v1/events?webhookId=" + uuid.NewString(), "400", "unknown_parameter", "webhookId"},
		{"/v1/deliveries?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "422", "validation_failed", "to"},
		{"/v1/events?from=2026-12-02T00:00:00Z&to=2026-12-02T00:00:00Z", "422", "validation_failed", "to"},
		{"/v1/deliveries?from=yesterday", "422", "validation_failed", "from"},
		{"/v1/events?to=2026-12-01", "422", "validation_failed", "to"},
		{"/v1/deliveries?httpStatus=4x", "422", "validation_failed", "httpStatus"},
		{"/v1/deliveries?httpStatus=600", "422", "validation_failed", "httpStatus"},
		{"/v1/deliveries?triggerSource=email", "422", "validation_failed", "triggerSource"},
		{"/v1/deliveries?eventId=" + url.QueryEscape("a b"), "422", "validation_failed", "eventId"},
		{"/v1/events?orderingKey=" + url.QueryEscape("a\x00b"), "422", "validation_failed", "orderingKey"},
		{"/v1/deliveries?envelopeId=%ff", "422", "validation_failed", "envelopeId"},
		{"/v1/events?cursor=nope", "422", "validation_failed", "cursor"},
		{"/v1/events?limit=101", "422", "validation_failed", "limit"},
	} {
		r := e.do("GET", c.path, key, nil)
		if r.code() != c.code || r.field(c.field) == "" || r.Status != map[string]int{"400": 400, "422": 422}[c.status] {
			t.Errorf("%s: %d %s, want %s %s naming %s", c.path, r.Status, r.Raw, c.status, c.code, c.field)
		}
		r.wantErrorShape(t)
	}
	reader := e.newKey(key, "reader")
	e.do("GET", "/v1/events", reader, nil).want(t, 403, "forbidden")
	_ = acct
}

// Paging walks the log newest first with no row twice or missed, while
// newer events and deliveries are stored between the pages.
func TestSearchPagesStayStable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	acct, key := e.account("professional")
	hook, _ := e.createWebhook(key, validWebhook("hook"))
	var want []string
	for i := range 7 {
		id := string(rune('a' + i))
		logged{id, events.EnvelopeStart, events.SourceSaaSPage, "", "env", time.Duration(10-i) * time.Minute, hook,
			delivery.Succeeded, 200}.store(t, e, acct)
		want = append([]string{id}, want...)
	}
	for _, route := range []struct{ path, member, prefix string }{{"/v1/deliveries", "eventId", "d"}, {"/v1/events", "id", "e"}} {
		var got []string
		path := route.path + "?limit=3&envelopeId=env"
		for page := 0; ; page++ {
			r := e.do("GET", path, key, nil).want(t, 200, "")
			got = append(got, eventIDs(t, r, route.member)...)
			// Newer rows arrive between the pages.
			logged{route.prefix + string(rune('0'+page)), events.EnvelopeStart, events.SourceSaaSPage, "", "env", 0, hook,
				delivery.Pending, 0}.store(t, e, acct)
			next, _ := r.Body["nextCursor"].(string)
			if next == "" {
				break
			}
			path = route.path + "?limit=3&envelopeId=env&cursor=" + url.QueryEscape(next)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s pages: %v, want %v", route.path, got, want)
		}
		want = append([]string{route.prefix + "2", route.prefix + "1", route.prefix + "0"}, want...)
	}
}
