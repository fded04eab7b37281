package db_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

func auditRecord(acct uuid.UUID, action string) *db.Audit {
	return &db.Audit{Entry: db.AuditEntry{AccountID: acct, ActorType: events.ActorAPIKey, ActorID: "k1", ActorName: "ci",
		ActorRole: db.RoleAdmin, ClientAddr: "192.0.2.1", Action: action, ResourceType: "webhook", ResourceID: "w1",
		Changes: db.AuditChanges{"secret": {Changed: true}}, Details: db.AuditDetails{"n": 1}}}
}

// TestAuditLogAppendOnly: the table refuses every UPDATE, DELETE and
// TRUNCATE but the retention purge's, which deletes only what is older
// than its cutoff and never a record of the last day.
func TestAuditLogAppendOnly(t *testing.T) {
	ctx := context.Background()
	store := dbtest.NewStore(t)
	acct := dbtest.NewAccount(t, store)
	// Nobody streams the log: the record, and no event.
	quiet := auditRecord(acct.ID, "webhook.test")
	if err := store.RecordAudit(ctx, quiet); err != nil || quiet.Logged.ID != "" {
		t.Fatalf("a record nobody streams: event %+v, %v", quiet.Logged, err)
	}
	if _, err := store.CreateWebhook(ctx, uuid.New(), acct.ID, db.WebhookFields{Name: "SIEM", URL: "https://siem.example.com",
		EventTypes: []string{events.AuditLogged}, TriggerSources: []string{"saas_page"}}, true, []byte{0}); err != nil {
		t.Fatal(err)
	}
	a := auditRecord(acct.ID, "webhook.update")
	if err := store.RecordAudit(ctx, a); err != nil {
		t.Fatal(err)
	}
	// Its event is in the outbox, with the record as its data.
	if a.Logged.Type != events.AuditLogged || a.Logged.ID != "audit-"+a.Entry.ID.String() ||
		!strings.Contains(string(a.Logged.Data), `"changed": true`) && !strings.Contains(string(a.Logged.Data), `"changed":true`) {
		t.Fatalf("logged event %+v", a.Logged)
	}
	// A record of long ago, as a year of use leaves them (INSERT is allowed).
	old := uuid.New()
	if _, err := store.DB().Exec(`INSERT INTO audit_log (id, account_id, at, actor_type, actor_id, action, resource_type, resource_id)
		VALUES ($1, $2, now() - interval '400 days', 'system', 'x', 'webhook.create', 'webhook', 'w0')`, old, acct.ID); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE audit_log SET action = 'nothing'`,
		`UPDATE audit_log SET changes = '{}' WHERE id = '` + a.Entry.ID.String() + `'`,
		`DELETE FROM audit_log WHERE id = '` + a.Entry.ID.String() + `'`,
		`DELETE FROM audit_log WHERE id = '` + old.String() + `'`,
		`TRUNCATE audit_log`,
	} {
		_, err := store.DB().Exec(q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused as append-only", q, err)
		}
	}
	// Naming a cutoff of today lets nothing through either.
	tx, err := store.DB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`SELECT set_config('webhookd.audit_purge_before', $1, true)`, time.Now().UTC().Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`DELETE FROM audit_log`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("a delete under a cutoff of today: %v, want refused", err)
	}
	_ = tx.Rollback()
	// The purge: the old record goes, the new one stays.
	n, err := store.PurgeAuditLog(ctx, time.Now().Add(-365*24*time.Hour), 100)
	if err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1 record", n, err)
	}
	rows, err := store.ListAuditLog(ctx, acct.ID, db.AuditFilter{Limit: 10})
	if err != nil || len(rows) != 2 || rows[0].ID != a.Entry.ID && rows[1].ID != a.Entry.ID {
		t.Fatalf("after the purge: %v %v", rows, err)
	}
	// A cutoff within the last day is refused as soon as a row falls
	// before it.
	if _, err := store.DB().Exec(`INSERT INTO audit_log (id, account_id, at, actor_type, actor_id, action, resource_type, resource_id)
		VALUES ($1, $2, now() - interval '2 hours', 'system', 'x', 'webhook.create', 'webhook', 'w2')`, uuid.New(), acct.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PurgeAuditLog(ctx, time.Now().Add(-time.Hour), 100); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("a purge of the last day: %v", err)
	}
	if rows, _ := store.ListAuditLog(ctx, acct.ID, db.AuditFilter{Limit: 10}); len(rows) != 3 {
		t.Fatalf("a refused purge deleted: %d rows left", len(rows))
	}
	rows, _ = store.ListAuditLog(ctx, acct.ID, db.AuditFilter{Limit: 1})
	got := rows[0].Record()
	if got.Actor.ID != "k1" || !got.Changes["secret"].Changed || got.Details["n"] != float64(1) || got.ClientAddress != "192.0.2.1" {
		t.Fatalf("record read back: %+v", got)
	}
}

// TestAuditRolledBackWithItsChange: a change that fails writes no record,
// and a record that cannot be written undoes its change.
func TestAuditRolledBackWithItsChange(t *testing.T) {
	ctx := context.Background()
	store, acct, hook := orderedAccount(t, db.OnFailureHold)
	a := auditRecord(acct, "webhook.delete")
	refuse := func(db.Webhook) error { return db.ErrConflict }
	if err := store.DeleteWebhook(ctx, acct, hook, refuse, a); err == nil {
		t.Fatal("a refused delete went through")
	}
	bad := auditRecord(acct, "webhook.disable")
	bad.Entry.ActorType = "nobody" // the table's check refuses it
	if _, err := store.SetWebhookEnabled(ctx, acct, hook, false, bad); err == nil {
		t.Fatal("a change went through without its record")
	}
	if w, err := store.Webhook(ctx, acct, hook); err != nil || !w.Enabled {
		t.Fatalf("the webhook after a change whose record failed: %+v %v", w.Health, err)
	}
	if rows, _ := store.ListAuditLog(ctx, acct, db.AuditFilter{Limit: 10}); len(rows) != 0 {
		t.Fatalf("%d records of changes that did not happen", len(rows))
	}
}
