package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// Payload filters (docs/delivery.md, "Payload filters"): an event a
// webhook's filter leaves out is not a delivery of it — no row, no POST —
// while the webhooks it passes get it as usual.

// TestPayloadFilters: events fan out to webhooks with and without
// filters; each receiver gets exactly the events its filter passes, the
// delivery log has no row for the others, a disabled webhook's missed
// delivery is recorded only when its filter passes, a filter that cannot
// be evaluated on an event (a missing data member) is no match, an event
// through pkg/publish (its data in the workflow's input, not the outbox)
// is filtered alike, and a cleared filter lets everything through again.
func TestPayloadFilters(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	acct, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	both := []string{"ENVELOPE_START", "ENVELOPE_FINISH"}
	hooks := map[string]string{} // name -> id
	for _, h := range []struct {
		name, filter string
		types        []string
	}{
		{"a", `event.data.envelopeId.startsWith("A")`, both},
		{"finish", `event.type == "ENVELOPE_FINISH" && event.triggerSource == "saas_page"`, both},
		{"all", "", both},
		{"amount", `event.data.amount > 100`, both}, // an error without amount
		{"cancel", `event.data.envelopeId == "nobody"`, []string{"ENVELOPE_CANCEL"}},
		{"off", `event.data.envelopeId.startsWith("A")`, both}, // disabled below
	} {
		hooks[h.name], _ = e.CreateWebhook(key, e2etest.Webhook{Name: h.name, URL: rcv.At("/" + h.name), EventTypes: h.types,
			Filter: h.filter})
	}
	e.Do("POST", "/v1/webhooks/"+hooks["off"]+"/disable", key, nil).Want(t, http.StatusOK)

	publish := func(id, typ, data string) string {
		return e.Publish(key, e2etest.Event{ID: id, Type: typ, Data: json.RawMessage(data)}).WorkflowID
	}
	viaGo := func(id, typ, data string) string {
		r, err := e.Pub.Publish(context.Background(), acct, events.Event{ID: id, Type: typ, TriggerSource: "saas_page",
			Data: json.RawMessage(data)})
		if err != nil {
			t.Fatal(err)
		}
		return r.WorkflowID
	}
	for _, c := range []struct {
		wf      string
		want    []string // the webhooks with a delivery
		skipped string
	}{
		{publish("e1", "ENVELOPE_START", `{"envelopeId": "A-1", "envelopeStatus": 1}`), []string{"a", "all", "off"}, ""},
		{publish("e2", "ENVELOPE_FINISH", `{"envelopeId": "B-2", "envelopeStatus": 1, "amount": 150}`), []string{"all", "amount", "finish"}, ""},
		{publish("e3", "ENVELOPE_START", `{"envelopeId": "B-3", "envelopeStatus": 1, "amount": 100.5}`), []string{"all", "amount"}, ""},
		{viaGo("e4", "ENVELOPE_FINISH", `{"envelopeId": "A-4", "envelopeStatus": 1, "amount": 5}`), []string{"a", "all", "finish", "off"}, ""},
		{publish("e5", "ENVELOPE_CANCEL", `{"envelopeId": "A-5", "envelopeStatus": 1}`), nil, "no matching webhook: the filters of 1 left it out"},
	} {
		res := e.Result(c.wf)
		var got []string
		for _, d := range res.Deliveries {
			got = append(got, nameOf(hooks, d.WebhookID))
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) || res.Skipped != c.skipped {
			t.Errorf("%s: deliveries to %v (skipped %q), want %v (%q)", c.wf, got, res.Skipped, c.want, c.skipped)
		}
	}

	// Each receiver got what its filter passed, once; the disabled one
	// nothing, its missed deliveries only those its filter passed.
	wantPosts := map[string][]string{"a": {"e1", "e4"}, "finish": {"e2", "e4"}, "all": {"e1", "e2", "e3", "e4"},
		"amount": {"e2", "e3"}}
	gotPosts := map[string][]string{}
	for _, r := range rcv.Requests() {
		var body struct {
			EventID string `json:"eventId"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(r.Path, "/")
		gotPosts[name] = append(gotPosts[name], body.EventID)
	}
	for name := range gotPosts {
		slices.Sort(gotPosts[name])
	}
	if fmt.Sprint(gotPosts) != fmt.Sprint(wantPosts) { // fmt sorts map keys
		t.Errorf("POSTs %v, want %v", gotPosts, wantPosts)
	}
	for name, want := range map[string]int{"a": 2, "finish": 2, "all": 4, "amount": 2, "cancel": 0, "off": 2} {
		var page struct {
			Data []e2etest.Delivery `json:"data"`
		}
		e.Do("GET", "/v1/deliveries?webhookId="+hooks[name], key, nil).Want(t, http.StatusOK).Decode(t, &page)
		if len(page.Data) != want {
			t.Errorf("webhook %s: %d deliveries in the log, want %d", name, len(page.Data), want)
		}
		for _, d := range page.Data {
			if name == "off" && d.Status != "skipped_disabled" {
				t.Errorf("the disabled webhook's delivery of %s is %s", d.EventID, d.Status)
			}
		}
	}

	// Cleared, the filter no longer leaves anything out.
	path := "/v1/webhooks/" + hooks["a"]
	e.Do("POST", path+"/disable", key, nil).Want(t, http.StatusOK)
	e.Do("PATCH", path, key, map[string]any{"filter": nil}).Want(t, http.StatusOK)
	e.Do("POST", path+"/enable", key, nil).Want(t, http.StatusOK)
	res := e.Result(publish("e6", "ENVELOPE_START", `{"envelopeId": "B-6", "envelopeStatus": 1}`))
	var got []string
	for _, d := range res.Deliveries {
		got = append(got, nameOf(hooks, d.WebhookID))
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "all"}) {
		t.Errorf("after clearing: deliveries to %v, want [a all]", got)
	}
}

// TestPayloadFiltersLargeFanOut: one event for 60 webhooks, half of whose
// filters pass it: the 30 it passes (more than one batch child's 25) each
// get one POST, the others none and no row.
func TestPayloadFiltersLargeFanOut(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, nil)
	const n = 60
	pass := map[string]bool{}
	for i := range n {
		id, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At(fmt.Sprintf("/h/%d", i)), EventTypes: []string{"ENVELOPE_FINISH"},
			Filter: fmt.Sprintf(`event.data.shard == %d`, i%2)})
		pass[id] = i%2 == 1
	}
	p := e.Publish(key, e2etest.Event{Type: "ENVELOPE_FINISH", Data: json.RawMessage(`{"envelopeId": "env-9", "envelopeStatus": 1, "shard": 1}`)})
	res := e.Result(p.WorkflowID)
	if len(res.Deliveries) != n/2 {
		t.Fatalf("%d deliveries, want %d", len(res.Deliveries), n/2)
	}
	for _, d := range res.Deliveries {
		if !pass[d.WebhookID] || d.Status != "succeeded" {
			t.Errorf("delivery to %s (its filter passes: %v): %s", d.WebhookID, pass[d.WebhookID], d.Status)
		}
	}
	paths := map[string]int{}
	for _, r := range rcv.Requests() {
		paths[r.Path]++
	}
	for i := range n {
		want := i % 2
		if got := paths[fmt.Sprintf("/h/%d", i)]; got != want {
			t.Errorf("receiver %d: %d POSTs, want %d", i, got, want)
		}
	}
	if ds := e.EventDeliveries(key, p.EventID); len(ds) != n/2 {
		t.Errorf("the event lists %d deliveries, want %d", len(ds), n/2)
	}
	if _, err := e.TC.DescribeWorkflow(context.Background(), flow.BatchWorkflowID(p.WorkflowID, 2), ""); err != nil {
		t.Errorf("30 deliveries and no second batch child: %v", err)
	}
}

func nameOf(hooks map[string]string, id string) string {
	for name, h := range hooks {
		if h == id {
			return name
		}
	}
	return id
}
