package db_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// logAccount is an account with one webhook to ENVELOPE_START.
func logAccount(t *testing.T) (*db.Store, uuid.UUID, uuid.UUID) {
	t.Helper()
	store := dbtest.NewStore(t)
	ctx := context.Background()
	acct := dbtest.NewAccount(t, store)
	hook, err := store.CreateWebhook(ctx, uuid.New(), acct.ID, db.WebhookFields{Name: "h", URL: "https://example.com",
		EventTypes: []string{events.EnvelopeStart}, TriggerSources: []string{events.SourceSaaSPage}}, true, []byte{0})
	if err != nil {
		t.Fatal(err)
	}
	return store, acct.ID, hook.ID
}

// week is the start of the ISO week (UTC) n weeks from this one.
func week(n int) time.Time { return dbtest.Week(n) }

// addPeriod adds the log partitions of [from, to).
func addPeriod(t *testing.T, store *db.Store, from, to time.Time) {
	t.Helper()
	if _, err := store.DB().Exec(`SELECT log_partition_add($1, $2)`, from, to); err != nil {
		t.Fatal(err)
	}
}

// storedAt stores event id as if published at: the event, its delivery to
// hook (left pending, or finished with status) and one attempt.
func storedAt(t *testing.T, store *db.Store, acct, hook uuid.UUID, id string, at time.Time, status delivery.Status) db.Delivery {
	t.Helper()
	ctx := context.Background()
	at = at.UTC().Truncate(time.Microsecond) // as PostgreSQL keeps it
	e := db.Event{AccountID: acct, WorkflowID: "wf-" + id, Event: events.Event{ID: id, Type: events.EnvelopeStart,
		TriggerSource: events.SourceSaaSPage, OccurredAt: at, Data: []byte(`{"envelopeId":"env-` + id + `"}`)}}
	if _, _, err := store.InsertEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := store.DB().Exec(`UPDATE events SET created_at = $2 WHERE id = $1`, id, at); err != nil {
		t.Fatal(err)
	}
	ds, err := store.RecordEvent(ctx, e, []uuid.UUID{hook})
	if err != nil || len(ds) != 1 {
		t.Fatalf("recording %s: %v %v", id, ds, err)
	}
	d := ds[0]
	if !d.CreatedAt.Equal(at) || d.ID.Version() != 7 {
		t.Fatalf("delivery %s created %v (version %d), want its event's %v and a UUIDv7", d.ID, d.CreatedAt, d.ID.Version(), at)
	}
	tg, err := store.StartAttempt(ctx, db.AttemptStart{DeliveryID: d.ID, Series: 1, Number: 1, Test: true, StartedAt: time.Now()})
	if err != nil || tg.Try != 1 {
		t.Fatalf("starting an attempt of %s: try %d, %v", id, tg.Try, err)
	}
	if status != delivery.Pending {
		code := 500
		if _, err := store.FinishAttempt(ctx, db.Attempt{DeliveryID: d.ID, Series: 1, Number: 1, Try: 1, StartedAt: time.Now(),
			ResponseStatus: &code}, db.AttemptOutcome{Status: status}, db.HealthNone, db.ThrottleSignal{}); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// partitionNames lists parent's partitions, oldest first.
func partitionNames(t *testing.T, store *db.Store, parent string) []string {
	t.Helper()
	ps, err := store.Partitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		if p.Parent == parent {
			out = append(out, p.Name)
		}
	}
	return out
}

func count(t *testing.T, store *db.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := store.DB().Get(&n, query, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// Retention drops whole periods past the cutoff — an event with its
// deliveries and attempts, nothing left behind — and keeps a period with
// a delivery in progress until hold has passed too.
func TestDropExpiredPartitions(t *testing.T) {
	store, acct, hook := logAccount(t)
	ctx := context.Background()
	addPeriod(t, store, week(-8), week(-7))
	addPeriod(t, store, week(-6), week(-5))
	addPeriod(t, store, week(-5), week(-4))
	storedAt(t, store, acct, hook, "a-done", week(-8).Add(time.Hour), delivery.Succeeded)
	aRunning := storedAt(t, store, acct, hook, "a-running", week(-8).Add(2*time.Hour), delivery.Pending)
	storedAt(t, store, acct, hook, "c-failed", week(-6).Add(time.Hour), delivery.Failed)
	storedAt(t, store, acct, hook, "b-running", week(-5).Add(time.Hour), delivery.Pending)
	storedAt(t, store, acct, hook, "now-done", time.Now(), delivery.Succeeded)
	// A waiter of a delivery that goes with its period goes too.
	if _, err := store.DB().Exec(`INSERT INTO webhook_waiters (webhook_id, delivery_id, series, workflow_id)
		VALUES ($1, $2, 1, 'wf')`, hook, aRunning.ID); err != nil {
		t.Fatal(err)
	}

	r, err := store.DropExpiredPartitions(ctx, week(-4), 14*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := func(w int) string { return "events_p" + week(w).Format("20060102") }
	if !slices.Equal(r.Dropped, []string{p(-8), p(-6)}) || !slices.Equal(r.Held, []string{p(-5)}) {
		t.Fatalf("dropped %v, held %v; want %v and %v", r.Dropped, r.Held, []string{p(-8), p(-6)}, []string{p(-5)})
	}
	for _, parent := range []string{"events", "deliveries", "attempts"} {
		var old []string // the template may hold a later week or two too
		for _, name := range partitionNames(t, store, parent) {
			if name < parent+"_p"+week(-3).Format("20060102") {
				old = append(old, name)
			}
		}
		if want := []string{parent + "_p" + week(-5).Format("20060102")}; !slices.Equal(old, want) {
			t.Errorf("%s partitions before 3 weeks ago %v, want %v", parent, old, want)
		}
	}
	var ids []string
	if err := store.DB().Select(&ids, `SELECT event_id FROM deliveries ORDER BY event_id`); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"b-running", "now-done"}) {
		t.Fatalf("deliveries left %v", ids)
	}
	if n := count(t, store, `SELECT count(*) FROM events`); n != 2 {
		t.Fatalf("%d events left, want 2", n)
	}
	if n := count(t, store, `SELECT count(*) FROM attempts a WHERE NOT EXISTS (
		SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id AND d.created_at = a.delivery_created_at)`); n != 0 {
		t.Fatalf("%d attempts without their delivery", n)
	}
	if n := count(t, store, `SELECT count(*) FROM webhook_waiters`); n != 0 {
		t.Fatalf("%d waiters of dropped deliveries left", n)
	}
	if n := count(t, store, `SELECT count(*) FROM pg_class WHERE relname LIKE '%_p`+week(-8).Format("20060102")+`'`); n != 0 {
		t.Fatalf("%d tables of the dropped period left", n)
	}
}

// A period left half-detached (a crash between its detaches) is dropped
// whole by the next run, whatever its age.
func TestDropFinishesAnInterruptedPeriod(t *testing.T) {
	store, acct, hook := logAccount(t)
	ctx := context.Background()
	addPeriod(t, store, week(-8), week(-7))
	storedAt(t, store, acct, hook, "a", week(-8).Add(time.Hour), delivery.Succeeded)
	suffix := "_p" + week(-8).Format("20060102")
	if _, err := store.DB().Exec(`ALTER TABLE attempts DETACH PARTITION attempts` + suffix); err != nil {
		t.Fatal(err)
	}
	r, err := store.DropExpiredPartitions(ctx, week(-9), 0)
	if err != nil || len(r.Dropped) != 0 {
		t.Fatalf("dropped %v (%v), want no expired period", r.Dropped, err)
	}
	if n := count(t, store, `SELECT count(*) FROM pg_class WHERE relname LIKE '%`+suffix+`'`); n != 0 {
		t.Fatalf("%d tables of the interrupted period left", n)
	}
	if n := count(t, store, `SELECT count(*) FROM events`); n != 0 {
		t.Fatalf("%d events of the interrupted period left", n)
	}
}

// EnsurePartitions continues in the unit asked; without a partition for now
// (the upkeep did not run), storing an event adds it rather than fail.
func TestEnsurePartitions(t *testing.T) {
	store, acct, hook := logAccount(t)
	ctx := context.Background()
	n, err := store.EnsurePartitions(ctx, db.PartitionWeek)
	if err != nil || n != 0 {
		t.Fatalf("added %d (%v), want none: this week's and the next exist", n, err)
	}
	// Every period from last week on is missing. Last week's exists when
	// the template database was made before this week began (a run across
	// Monday 00:00 UTC); it would overlap the day added below.
	for _, suffix := range []string{week(-1).Format("20060102"), week(0).Format("20060102"), week(1).Format("20060102")} {
		for _, tbl := range []string{"attempts", "deliveries", "events"} {
			if _, err := store.DB().Exec(`DROP TABLE IF EXISTS ` + tbl + `_p` + suffix); err != nil {
				t.Fatal(err)
			}
		}
	}
	addPeriod(t, store, week(-1).AddDate(0, 0, 6), week(0)) // a day: the unit to continue in
	d := storedAt(t, store, acct, hook, "now", time.Now(), delivery.Succeeded)
	if got, err := store.Delivery(ctx, acct, d.ID); err != nil || got.Status != delivery.Succeeded {
		t.Fatalf("delivery %+v, %v", got, err)
	}
	ps := periods(t, store, week(-1).AddDate(0, 0, 6))
	for i, p := range ps {
		if p.Upper.Sub(p.Lower) != 24*time.Hour || i > 0 && !p.Lower.Equal(ps[i-1].Upper) {
			t.Fatalf("period %d of %v is not the day after the one before", i, ps)
		}
	}
	if last := ps[len(ps)-1].Upper; last.Before(time.Now().Add(47 * time.Hour)) {
		t.Fatalf("days up to %v, want 2 days ahead", last)
	}
	if _, err := store.EnsurePartitions(ctx, db.PartitionWeek); err != nil {
		t.Fatal(err)
	}
	ps = periods(t, store, week(-1).AddDate(0, 0, 6))
	last := ps[len(ps)-1]
	if last.Upper.Weekday() != time.Monday || last.Upper.Before(time.Now().Add(7*24*time.Hour)) ||
		!last.Lower.Equal(ps[len(ps)-2].Upper) {
		t.Fatalf("periods %v: want the days, then up to a Monday, a week ahead", ps)
	}
}

// periods lists the events partitions from from on.
func periods(t *testing.T, store *db.Store, from time.Time) []db.Partition {
	t.Helper()
	ps, err := store.Partitions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []db.Partition
	for _, p := range ps {
		if p.Parent == "events" && !p.Lower.Before(from) {
			out = append(out, p)
		}
	}
	return out
}

// A delivery id older than the partitions (UUIDv4, from before migration
// 00015) is still found: its lookups read every partition.
func TestLookupOfAnOldDeliveryID(t *testing.T) {
	store, acct, hook := logAccount(t)
	ctx := context.Background()
	d := storedAt(t, store, acct, hook, "e1", time.Now(), delivery.Pending)
	old := uuid.New()
	for _, q := range []string{`UPDATE attempts SET delivery_id = $2 WHERE delivery_id = $1`,
		`UPDATE deliveries SET id = $2 WHERE id = $1`} {
		if _, err := store.DB().Exec(q, d.ID, old); err != nil {
			t.Fatal(err)
		}
	}
	got, err := store.Delivery(ctx, acct, old)
	if err != nil || got.EventID != "e1" {
		t.Fatalf("delivery %+v, %v", got, err)
	}
	tg, err := store.StartAttempt(ctx, db.AttemptStart{DeliveryID: old, Series: 1, Number: 1, Test: true, StartedAt: time.Now()})
	if err != nil || tg.Try != 2 || tg.Event.ID != "e1" {
		t.Fatalf("attempt of the old id: try %d event %q, %v", tg.Try, tg.Event.ID, err)
	}
	code := 200
	if _, err := store.FinishAttempt(ctx, db.Attempt{DeliveryID: old, Series: 1, Number: 1, Try: 2, StartedAt: time.Now(),
		ResponseStatus: &code}, db.AttemptOutcome{Status: delivery.Succeeded}, db.HealthNone, db.ThrottleSignal{}); err != nil {
		t.Fatal(err)
	}
	as, err := store.Attempts(ctx, old)
	if got, _ := store.Delivery(ctx, acct, old); err != nil || len(as) != 2 || got.Status != delivery.Succeeded || got.AttemptCount != 2 {
		t.Fatalf("attempts %d (%v), delivery %+v", len(as), err, got)
	}
}

// The hot path names a delivery's period's partitions; a period dropped
// since (by another process: this one's cache still has it) makes its
// statements fall back to the partitioned tables, which find nothing,
// rather than fail on a missing table.
func TestPeriodDroppedUnderTheCache(t *testing.T) {
	store, acct, hook := logAccount(t)
	ctx := context.Background()
	addPeriod(t, store, week(-8), week(-7))
	old := storedAt(t, store, acct, hook, "old", week(-8).Add(time.Hour), delivery.Pending)
	// storedAt's attempt cached the periods; now the period goes.
	suffix := "_p" + week(-8).Format("20060102")
	for _, tbl := range []string{"attempts", "deliveries", "events"} {
		if _, err := store.DB().Exec(`ALTER TABLE ` + tbl + ` DETACH PARTITION ` + tbl + suffix); err != nil {
			t.Fatal(err)
		}
		if _, err := store.DB().Exec(`DROP TABLE ` + tbl + suffix); err != nil {
			t.Fatal(err)
		}
	}
	_, err := store.StartAttempt(ctx, db.AttemptStart{DeliveryID: old.ID, Series: 1, Number: 2, Test: true, StartedAt: time.Now()})
	if !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("an attempt of a dropped delivery: %v, want not found", err)
	}
	// A delivery of this week still names its own partitions.
	now := storedAt(t, store, acct, hook, "now", time.Now(), delivery.Succeeded)
	if got, err := store.Delivery(ctx, acct, now.ID); err != nil || got.Status != delivery.Succeeded {
		t.Fatalf("this week's delivery: %+v, %v", got, err)
	}
}
