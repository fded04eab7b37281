package db_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// oldLog is a log in the shape before migration 00015, as the store of
// that time wrote it: UUIDv4 delivery ids, a delivery's created_at a little
// after its event's, foreign keys with cascades.
type oldLog struct {
	acct, hook uuid.UUID
	// deliveries by event id
	deliveries map[string]uuid.UUID
	created    map[string]time.Time // events' created_at
}

// writeOldLog fills a database migrated up to 00014 with events of 10
// weeks ago (older than the weekly partitions the migration makes: they
// share one), 2 weeks ago and now, their deliveries (one still retrying,
// one waiting in a webhook's queue) and attempts.
func writeOldLog(t *testing.T, store *db.Store) oldLog {
	t.Helper()
	l := oldLog{acct: uuid.New(), hook: uuid.New(), deliveries: map[string]uuid.UUID{}, created: map[string]time.Time{}}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := store.DB().Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO accounts (id, name, plan) VALUES ($1, 'Acme', 'professional')`, l.acct)
	exec(`INSERT INTO webhooks (id, account_id, name, url, event_types, trigger_sources, secret_enc)
		VALUES ($1, $2, 'h', 'https://example.com', '{ENVELOPE_START,ENVELOPE_FINISH}', '{saas_page,third_party_app}', '\x00')`,
		l.hook, l.acct)
	for _, e := range []struct {
		id, typ, source, key string
		age                  time.Duration
		status               delivery.Status
		attempts             int
	}{
		{"ancient", events.EnvelopeStart, events.SourceSaaSPage, "", 70 * 24 * time.Hour, delivery.Succeeded, 1},
		{"older", events.EnvelopeFinish, events.SourceThirdPartyApp, "env-7", 14 * 24 * time.Hour, delivery.Failed, 3},
		{"recent", events.EnvelopeStart, events.SourceSaaSPage, "env-8", time.Minute, delivery.Retrying, 2},
	} {
		created := time.Now().Add(-e.age).UTC().Truncate(time.Microsecond)
		l.created[e.id] = created
		exec(`INSERT INTO events (account_id, id, type, trigger_source, app_id, occurred_at, data, workflow_id, created_at,
				dispatched_at, ordering_key, sequence)
			VALUES ($1, $2, $3, $4, 'app-1', $5, $6, 'wf-' || $2, $5, $5, $7, CASE WHEN $7 = '' THEN 0 ELSE 1 END)`,
			l.acct, e.id, e.typ, e.source, created, fmt.Sprintf(`{"envelopeId":"env-of-%s","n":1}`, e.id), e.key)
		id := uuid.New()
		l.deliveries[e.id] = id
		exec(`INSERT INTO deliveries (id, account_id, event_id, webhook_id, event_type, message_id, status, attempt_count,
				workflow_id, last_status_code, created_at, updated_at, ordering_key)
			VALUES ($1::uuid, $2, $3, $4, $5, 'msg_' || replace($1::uuid::text, '-', ''), $6, $7, 'wf-' || $3::text, 500,
				$8::timestamptz + interval '3 milliseconds', now(), $9)`,
			id, l.acct, e.id, l.hook, e.typ, e.status, e.attempts, created, e.key)
		for n := 1; n <= e.attempts; n++ {
			exec(`INSERT INTO attempts (delivery_id, series, number, try, url, started_at, duration_ms, response_status,
					response_body, finished_at)
				VALUES ($1, 1, $2, 1, 'https://example.com', $3, 12, 500, 'no', $3)`, id, n, created.Add(time.Duration(n)*time.Second))
		}
	}
	exec(`INSERT INTO webhook_waiters (webhook_id, delivery_id, series, workflow_id) VALUES ($1, $2, 1, 'wf-recent')`,
		l.hook, l.deliveries["recent"])
	return l
}

// Migration 00015 turns a log with rows into the partitioned one: every
// row is kept, in the shape the store now reads, the old (v4) delivery ids
// are still found and their deliveries go on, and rolling it back keeps
// the rows too.
func TestMigrationToPartitions(t *testing.T) {
	store, err := db.Open(context.Background(), dbtest.NewBlankDatabase(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	if err := store.MigrateUpTo(ctx, 14); err != nil {
		t.Fatal(err)
	}
	l := writeOldLog(t, store)
	if err := store.Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	checkMigratedLog(t, store, l)
	checkOldRowsWork(t, store, l)

	if err := store.MigrateDownTo(ctx, 14); err != nil {
		t.Fatal(err)
	}
	// The attempt checkOldRowsWork made is one more (and its delivery
	// left the webhook's queue).
	for table, want := range map[string]int{"events": 3, "deliveries": 3, "attempts": 7, "webhook_waiters": 0} {
		if n := count(t, store, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%d rows in %s after rolling back, want %d", n, table, want)
		}
	}
	if err := store.Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("migrating again after the roll-back: %v", err)
	}
	if n := count(t, store, `SELECT count(*) FROM attempts a JOIN deliveries d
		ON d.id = a.delivery_id AND d.created_at = a.delivery_created_at`); n != 7 {
		t.Fatalf("%d attempts with their delivery after migrating again, want 7", n)
	}
}

// checkMigratedLog checks the rows and partitions the migration made.
func checkMigratedLog(t *testing.T, store *db.Store, l oldLog) {
	t.Helper()
	for table, want := range map[string]int{"events": 3, "deliveries": 3, "attempts": 6, "webhook_waiters": 1} {
		if n := count(t, store, `SELECT count(*) FROM `+table); n != want {
			t.Errorf("%d rows in %s, want %d", n, table, want)
		}
	}
	// Each delivery in its event's period, with its created_at; each
	// attempt with its delivery's.
	if n := count(t, store, `SELECT count(*) FROM deliveries d JOIN events e
		ON e.account_id = d.account_id AND e.id = d.event_id AND e.created_at = d.created_at
		AND e.tableoid::regclass::text = replace(d.tableoid::regclass::text, 'deliveries', 'events')
		AND e.trigger_source = d.trigger_source`); n != 3 {
		t.Errorf("%d deliveries in their event's partition with its created_at and trigger source, want 3", n)
	}
	if n := count(t, store, `SELECT count(*) FROM attempts a JOIN deliveries d
		ON d.id = a.delivery_id AND d.created_at = a.delivery_created_at`); n != 6 {
		t.Errorf("%d attempts with their delivery's created_at, want 6", n)
	}
	var keys []string
	if err := store.DB().Select(&keys, `SELECT search_key FROM events ORDER BY created_at`); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"env-of-ancient", "env-of-older", "env-of-recent"}) {
		t.Errorf("search keys %v", keys)
	}
	// The 10-week-old event is in the one partition of the time before
	// the last 8 weeks; then one partition a week up to next week's.
	ps := periods(t, store, time.Time{})
	if len(ps) < 10 || !ps[0].Lower.Equal(week(-10)) || !ps[0].Upper.Equal(week(-8)) || !ps[len(ps)-1].Lower.Equal(week(1)) {
		t.Errorf("periods %v, want [10 weeks ago, 8 weeks ago), then weekly up to next week", ps)
	}
	var within int
	if err := store.DB().Get(&within, `SELECT count(*) FROM events_p`+week(-10).Format("20060102")); err != nil || within != 1 {
		t.Errorf("%d events in the oldest partition (%v), want 1", within, err)
	}
}

// checkOldRowsWork reads and moves migrated rows as the store does.
func checkOldRowsWork(t *testing.T, store *db.Store, l oldLog) {
	t.Helper()
	ctx := context.Background()
	old := l.deliveries["recent"]
	d, err := store.Delivery(ctx, l.acct, old)
	if err != nil || !d.CreatedAt.Equal(l.created["recent"]) || d.Status != delivery.Retrying {
		t.Fatalf("delivery %+v, %v", d, err)
	}
	as, err := store.Attempts(ctx, l.deliveries["older"])
	if err != nil || len(as) != 3 || string(as[0].ResponseBody) != "no" {
		t.Fatalf("attempts %+v, %v", as, err)
	}
	tg, err := store.StartAttempt(ctx, db.AttemptStart{DeliveryID: old, Series: 1, Number: 3, StartedAt: time.Now(),
		Gate: db.GateInput{Lease: time.Minute}})
	if err != nil || tg.Gate != db.GateSend || tg.Try != 1 || tg.Event.ID != "recent" {
		t.Fatalf("next attempt of a migrated delivery: gate %q try %d event %q, %v", tg.Gate, tg.Try, tg.Event.ID, err)
	}
	code := 200
	if _, err := store.FinishAttempt(ctx, db.Attempt{DeliveryID: old, Series: 1, Number: 3, Try: 1, StartedAt: time.Now(),
		ResponseStatus: &code}, db.AttemptOutcome{Status: delivery.Succeeded}, db.HealthSuccess, db.ThrottleSignal{}); err != nil {
		t.Fatal(err)
	}
	if d, _ := store.Delivery(ctx, l.acct, old); d.Status != delivery.Succeeded || d.AttemptCount != 3 {
		t.Fatalf("after its attempt: %+v", d)
	}
	// An event id stored before is still taken, whatever its partition.
	e := db.Event{AccountID: l.acct, WorkflowID: "wf-x", Event: events.Event{ID: "ancient", Type: events.EnvelopeStart,
		TriggerSource: events.SourceSaaSPage, OccurredAt: time.Now(), Data: []byte(`{}`)}}
	got, created, err := store.InsertEvent(ctx, e)
	if err != nil || created || got.WorkflowID != "wf-ancient" {
		t.Fatalf("publishing a stored id again: created %v, %+v, %v", created, got, err)
	}
	ds, err := store.ListDeliveries(ctx, l.acct, db.DeliveryFilter{EnvelopeID: "env-of-older"})
	if err != nil || len(ds) != 1 || ds[0].ID != l.deliveries["older"] {
		t.Fatalf("deliveries of envelope env-of-older: %+v, %v", ds, err)
	}
	ds, err = store.ListDeliveries(ctx, l.acct, db.DeliveryFilter{TriggerSource: events.SourceThirdPartyApp})
	if err != nil || len(ds) != 1 || ds[0].EventID != "older" {
		t.Fatalf("deliveries from third_party_app: %+v, %v", ds, err)
	}
}
