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
	acct, err := store.CreateAccount(ctx, "Acme", db.PlanProfessional, db.NewAPIKey{Hash: []byte("h"), Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
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
	acct, err := store.CreateAccount(ctx, "Acme", db.PlanProfessional, db.NewAPIKey{Hash: []byte("h"), Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	se := db.SystemEvent{AccountID: acct.ID, ID: "webhook-failing.x.1.50", Type: events.WebhookFailing, Data: map[string]int{"n": 1}}
	e, ok, err := store.PublishSystemEvent(ctx, se)
	if err != nil || !ok {
		t.Fatalf("publishing: %v %v", ok, err)
	}
	if e.WorkflowID != flow.EventWorkflowID(acct.ID.String(), se.ID) || e.TriggerSource != events.SourceSystem ||
		e.Type != se.Type || string(e.Data) != `{"n": 1}` || e.DispatchedAt != nil {
		t.Fatalf("stored %+v", e)
	}
	if _, ok, err := store.PublishSystemEvent(ctx, se); err != nil || ok {
		t.Fatalf("publishing the same id again: %v %v, want nothing stored", ok, err)
	}
}
