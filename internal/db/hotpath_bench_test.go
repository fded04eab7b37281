package db_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// BenchmarkDeliveryPath is the store's work for one 1:1 delivery, as the
// API and the worker do it: the event published (InsertEvent), resolved by
// its workflow from the outbox (ResolveEvent), one attempt opened and
// finished (StartAttempt, FinishAttempt). It reports PostgreSQL's CPU per
// delivery (pg-cpu-us/op: every server process's, from /proc) beside the
// wall time; commits do not wait for the disk (synchronous_commit off), so
// both are the work, not the fsync. Compare a branch with its base:
// go test ./internal/db -run - -bench DeliveryPath -count 5.
func BenchmarkDeliveryPath(b *testing.B) {
	ctx := context.Background()
	url := dbtest.NewDatabase(b)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	store, err := db.Open(ctx, url+sep+"options=-c%20synchronous_commit%3Doff", 4)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	// A 30-day log has 4 weeks of partitions before this one (none before
	// migration 00015: this also runs on the branch before it).
	var partitioned bool
	if err := store.DB().Get(&partitioned, `SELECT to_regproc('log_partition_add') IS NOT NULL`); err != nil {
		b.Fatal(err)
	}
	if partitioned {
		if _, err := store.DB().Exec(`
			SELECT log_partition_add(w, w + interval '1 week')
			FROM generate_series(date_trunc('week', now(), 'UTC') - interval '4 weeks',
			                     date_trunc('week', now(), 'UTC') - interval '1 week', interval '1 week') w`); err != nil {
			b.Fatal(err)
		}
	}
	acct, err := store.CreateAccount(ctx, "Bench", db.PlanProfessional, db.NewAPIKey{Hash: []byte("h"), Prefix: "p"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.CreateWebhook(ctx, uuid.New(), acct.ID, db.WebhookFields{Name: "h", URL: "https://example.com",
		EventTypes: []string{events.EnvelopeSignerSigned}, TriggerSources: []string{events.SourceSaaSPage}}, true, []byte{0}); err != nil {
		b.Fatal(err)
	}
	prefill(b, store, partitioned)
	run := uuid.NewString()[:8]
	one := func(i int) {
		if err := deliverOnce(ctx, store, acct.ID, fmt.Sprintf("ev_%s_%d", run, i)); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 200 { // warm: connections open, statements prepared
		one(-1 - i)
	}
	cpu0 := serverCPU(b, store)
	b.ResetTimer()
	for i := range b.N {
		one(i)
	}
	b.StopTimer()
	b.ReportMetric(float64((serverCPU(b, store)-cpu0).Microseconds())/float64(b.N), "pg-cpu-us/op")
}

// prefill stores 20,000 deliveries of another account, with their events
// and attempts, and analyzes the tables: the plans are then those of a
// table in use, not of a new one (PostgreSQL scans a table of a few pages
// whole, and a generic plan made then is kept).
func prefill(b *testing.B, store *db.Store, partitioned bool) {
	created, attemptCol, attemptVal := "", "", ""
	if partitioned {
		created, attemptCol, attemptVal = ", created_at", ", delivery_created_at", ", d.created_at"
	}
	for _, q := range []string{
		`INSERT INTO accounts (id, name, plan) VALUES ('00000000-0000-4000-8000-000000000001', 'Filler', 'professional')`,
		`INSERT INTO events (account_id, id, type, trigger_source, occurred_at, data, workflow_id, dispatched_at)
		 SELECT '00000000-0000-4000-8000-000000000001', 'fill-' || i, 'ENVELOPE_START', 'saas_page', now(),
		     '{"envelopeId":"e"}', 'wf', now() FROM generate_series(1, 20000) i`,
		`INSERT INTO deliveries (id, account_id, event_id, webhook_id, event_type, message_id, status, workflow_id` + created + `)
		 SELECT gen_random_uuid(), e.account_id, e.id, gen_random_uuid(), e.type, 'msg', 'succeeded', 'wf'` +
			strings.ReplaceAll(created, "created_at", "e.created_at") + `
		 FROM events e WHERE e.account_id = '00000000-0000-4000-8000-000000000001'`,
		`INSERT INTO attempts (delivery_id, series, number, try, url, started_at, duration_ms` + attemptCol + `)
		 SELECT d.id, 1, 1, 1, 'https://example.com', now(), 3` + attemptVal + `
		 FROM deliveries d WHERE d.account_id = '00000000-0000-4000-8000-000000000001'`,
		`ANALYZE events, deliveries, attempts`,
	} {
		if _, err := store.DB().Exec(q); err != nil {
			b.Fatal(err)
		}
	}
}

func deliverOnce(ctx context.Context, store *db.Store, acct uuid.UUID, id string) error {
	ev := db.Event{AccountID: acct, WorkflowID: "event/" + acct.String() + "/" + id, Event: events.Event{ID: id,
		Type: events.EnvelopeSignerSigned, TriggerSource: events.SourceSaaSPage, OccurredAt: time.Now(),
		Data: []byte(`{"envelopeId":"env-42","envelopeStatus":2}`)}}
	stored, _, err := store.InsertEvent(ctx, ev)
	if err != nil {
		return err
	}
	// As the outbox's workflow has it: without its data, with when it was
	// stored (flow.DeliverEventInput.StoredAt; zero before it existed).
	ev.Data, ev.CreatedAt = nil, stored.CreatedAt
	res, err := store.ResolveEvent(ctx, ev)
	if err != nil || len(res.Deliveries) != 1 {
		return fmt.Errorf("resolving: %v %v", res, err)
	}
	d := res.Deliveries[0]
	started := time.Now()
	t, err := store.StartAttempt(ctx, db.AttemptStart{DeliveryID: d.ID, Series: 1, Number: 1, StartedAt: started,
		Gate: db.GateInput{Lease: time.Minute}})
	if err != nil || t.Gate != db.GateSend {
		return fmt.Errorf("starting: %q %v", t.Gate, err)
	}
	code := 200
	_, err = store.FinishAttempt(ctx, db.Attempt{DeliveryID: d.ID, Series: 1, Number: 1, Try: t.Try, StartedAt: started,
		DurationMS: 3, ResponseStatus: &code}, db.AttemptOutcome{Status: delivery.Succeeded}, db.HealthSuccess, db.ThrottleSignal{})
	return err
}

// serverCPU is the CPU time of every PostgreSQL process of the server
// (its backends and its own workers), from /proc.
func serverCPU(b *testing.B, store *db.Store) time.Duration {
	var pids []int
	if err := store.DB().Select(&pids, `SELECT pid FROM pg_stat_activity`); err != nil {
		b.Fatal(err)
	}
	var ticks int64
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // ended, or the server is elsewhere
		}
		// Fields after the command's closing parenthesis: utime is the
		// 14th field of the line, stime the 15th.
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}
