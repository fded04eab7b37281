package db_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// TestResolveFiltered: ResolveEvent creates the deliveries of the matching
// webhooks without a filter and returns the filters of the others (with
// the stored event's data when it came without it); ResolveFiltered then
// creates those of the webhooks that passed — a disabled one as
// skipped_disabled —, none of the others, and returns no filters; both
// are idempotent.
func TestResolveFiltered(t *testing.T) {
	ctx := context.Background()
	store := dbtest.NewStore(t)
	acct := dbtest.NewAccount(t, store)
	hook := func(name, filter string, enabled bool) uuid.UUID {
		w, err := store.CreateWebhook(ctx, uuid.New(), acct.ID, db.WebhookFields{Name: name, URL: "https://example.com/" + name,
			EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"saas_page"}, Filter: filter}, enabled, []byte{0})
		if err != nil {
			t.Fatal(err)
		}
		return w.ID
	}
	plain, pass, fail, off := hook("plain", "", true), hook("pass", "event.type == 'x'", true),
		hook("fail", "event.type == 'y'", true), hook("off", "event.type == 'z'", false)

	// Stored first, as the API does (the outbox), then resolved without data.
	ev := db.Event{AccountID: acct.ID, WorkflowID: "wf-1", Event: events.Event{ID: "e-1", Type: "ENVELOPE_START",
		TriggerSource: "saas_page", OccurredAt: time.Now(), Data: json.RawMessage(`{"envelopeId": "A-1"}`)}}
	if _, _, err := store.InsertEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	ev.Data = nil
	r, err := store.ResolveEvent(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	var filtered []uuid.UUID
	for _, f := range r.Filters {
		filtered = append(filtered, f.WebhookID)
	}
	want := []uuid.UUID{pass, fail, off}
	slices.SortFunc(want, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	if len(r.Deliveries) != 1 || r.Deliveries[0].WebhookID != plain || !slices.Equal(filtered, want) {
		t.Fatalf("first round: deliveries %+v, filters %+v", r.Deliveries, r.Filters)
	}
	var data map[string]any
	if err := json.Unmarshal(r.Data, &data); err != nil || data["envelopeId"] != "A-1" {
		t.Fatalf("the stored data: %s (%v)", r.Data, err)
	}
	for range 2 { // idempotent
		r, err = store.ResolveFiltered(ctx, ev, []uuid.UUID{pass, off})
		if err != nil {
			t.Fatal(err)
		}
		got := map[uuid.UUID]delivery.Status{}
		for _, d := range r.Deliveries {
			got[d.WebhookID] = d.Status
		}
		if len(got) != 3 || got[plain] != delivery.Pending || got[pass] != delivery.Pending || got[off] != delivery.SkippedDisabled ||
			r.Filters != nil || r.Data != nil {
			t.Fatalf("second round: %v, filters %+v", got, r.Filters)
		}
	}
	// Without a filtered webhook matching: one round, no data read.
	other := db.Event{AccountID: acct.ID, WorkflowID: "wf-2", Event: events.Event{ID: "e-2", Type: "ENVELOPE_FINISH",
		TriggerSource: "saas_page", OccurredAt: time.Now(), Data: json.RawMessage(`{}`)}}
	if r, err := store.ResolveEvent(ctx, other); err != nil || r.Filters != nil || r.Data != nil || len(r.Deliveries) != 0 {
		t.Fatalf("an event no webhook matches: %+v, %v", r, err)
	}
}
