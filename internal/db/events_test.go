package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// The health metrics list failing webhooks and those with deliveries
// waiting, with the age of the oldest; healthy idle ones are left out.
func TestUnhealthyWebhooks(t *testing.T) {
	store := dbtest.NewStore(t)
	ctx := context.Background()
	acct := dbtest.NewAccount(t, store)
	hooks := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	for i, h := range hooks {
		if _, err := store.DB().Exec(`INSERT INTO webhooks (id, account_id, name, url, event_types, trigger_sources, secret_enc, consecutive_failures)
			VALUES ($1, $2, $3, 'https://example.com', '{ENVELOPE_START}', '{saas_page}', '\x00', $4)`, h, acct.ID, h.String(), []int{3, 0, 0}[i]); err != nil {
			t.Fatal(err)
		}
	}
	e := db.Event{AccountID: acct.ID, WorkflowID: "wf", Event: events.Event{ID: "e1", Type: "ENVELOPE_START",
		TriggerSource: "saas_page", OccurredAt: time.Now(), Data: []byte(`{}`)}}
	if _, err := store.RecordEvent(ctx, e, []uuid.UUID{hooks[1]}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.DB().Exec(`UPDATE deliveries SET created_at = now() - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	rows, err := store.UnhealthyWebhooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uuid.UUID]db.WebhookHealthRow{}
	for _, r := range rows {
		got[r.WebhookID] = r
	}
	if len(got) != 2 || got[hooks[0]].ConsecutiveFailures != 3 || got[hooks[1]].OldestSeconds < 3599 {
		t.Fatalf("rows %+v", rows)
	}
}

// A system event goes into the outbox under its flow workflow id, from the
// trigger source system, once per id.
func TestPublishSystemEvent(t *testing.T) {
	store := dbtest.NewStore(t)
	ctx := context.Background()
	acct := dbtest.NewAccount(t, store)
	se := db.SystemEvent{AccountID: acct.ID, ID: "webhook-failing.x.1.50", Type: events.WebhookFailing, Data: map[string]int{"n": 1}}
	e, ok, err := store.PublishSystemEvent(ctx, se)
	if err != nil || !ok {
		t.Fatalf("publishing: %v %v", ok, err)
	}
	if e.WorkflowID != flow.EventWorkflowID(acct.ID.String(), se.ID) || e.TriggerSource != events.SourceSystem ||
		e.Type != se.Type || string(e.Data) != `{"n": 1}` || e.DispatchedAt != nil ||
		e.SchemaVersion == nil || *e.SchemaVersion != events.SchemaVersion(se.Type) || e.Test {
		t.Fatalf("stored %+v", e)
	}
	if _, ok, err := store.PublishSystemEvent(ctx, se); err != nil || ok {
		t.Fatalf("publishing the same id again: %v %v, want nothing stored", ok, err)
	}
}

// The schema version the data was checked against is stored with the
// event; a test send marks its event and its delivery test, and a real
// event's stay unmarked.
func TestSchemaVersionAndTestMark(t *testing.T) {
	store := dbtest.NewStore(t)
	ctx := context.Background()
	acct := dbtest.NewAccount(t, store)
	hook := uuid.New()
	if _, err := store.DB().Exec(`INSERT INTO webhooks (id, account_id, name, url, event_types, trigger_sources, secret_enc)
		VALUES ($1, $2, 'h', 'https://example.com', '{ENVELOPE_START}', '{saas_page}', '\x00')`, hook, acct.ID); err != nil {
		t.Fatal(err)
	}
	v := 3
	ev := func(id string) db.Event {
		return db.Event{AccountID: acct.ID, WorkflowID: "wf-" + id, SchemaVersion: &v, Event: events.Event{ID: id,
			Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage, OccurredAt: time.Now(), Data: []byte(`{}`)}}
	}
	stored, _, err := store.InsertEvent(ctx, ev("published"))
	if err != nil || stored.SchemaVersion == nil || *stored.SchemaVersion != 3 || stored.Test {
		t.Fatalf("inserted %+v: %v", stored, err)
	}
	example := ev("example-1")
	example.Test = true
	ds, err := store.RecordEvent(ctx, example, []uuid.UUID{hook})
	if err != nil || len(ds) != 1 || !ds[0].Test {
		t.Fatalf("test deliveries %+v: %v", ds, err)
	}
	got, err := store.Event(ctx, acct.ID, "example-1")
	if err != nil || !got.Test || got.SchemaVersion == nil || *got.SchemaVersion != 3 {
		t.Fatalf("test event %+v: %v", got, err)
	}
	if d, err := store.Delivery(ctx, acct.ID, ds[0].ID); err != nil || !d.Test {
		t.Fatalf("test delivery %+v: %v", d, err)
	}
	res, err := store.ResolveEvent(ctx, ev("resolved"))
	if err != nil || len(res.Deliveries) != 1 || res.Deliveries[0].Test {
		t.Fatalf("resolved %+v: %v", res, err)
	}
	// The webhooks' names come along, for the Temporal UI's summaries.
	if len(res.WebhookNames) != 1 || res.WebhookNames[hook] != "h" {
		t.Fatalf("resolved webhook names %v", res.WebhookNames)
	}
	if got, err := store.Event(ctx, acct.ID, "resolved"); err != nil || got.SchemaVersion == nil || *got.SchemaVersion != 3 || got.Test {
		t.Fatalf("resolved event %+v: %v", got, err)
	}
}
