package db_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
	"github.com/esign-webhooks/esign-webhooks/internal/stats"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
)

// What keeping the statistics costs PostgreSQL per attempt, and what it
// does to a busy webhook's attempts, for the ways of keeping them:
//
//	none         FinishAttempt without statistics (the reference)
//	queue        the append to stats_queue (what ships), and the fold
//	             every second plus a final one, inside the measurement
//	upsert-hour  an upsert of the webhook's hourly row in the statement
//	             (design (a) at its cheapest: days and accounts would then
//	             be merged from hours at every request)
//	upsert-all   upserts of the webhook's and the account's hourly and
//	             daily rows in the statement (design (a) serving the same
//	             reads as the queue)
//
// Each run finishes n opened attempts (90 % 2xx) with W workers on H
// webhooks, then vacuums the statistics tables (autovacuum's work, inside
// the measurement), and measures PostgreSQL's CPU per attempt (postmaster
// and every process of the cluster, from /proc: run it on a cluster of its
// own) and the statement's latency. Rounds interleave the variants, so a
// busy machine's drift falls on all of them; the table gives medians.
// docs/statistics.md has the figures:
//
//	STATS_COST=5 go test -run TestStatsCost -v -timeout 60m ./internal/db
//
// (STATS_COST_ATTEMPTS: attempts a run, 3,000; STATS_COST_SHAPE: only the
// shapes whose name starts so.)
func TestStatsCost(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("STATS_COST"))
	if rounds <= 0 {
		t.Skip("STATS_COST=<rounds> measures what keeping the statistics costs per attempt")
	}
	n := 3000
	if v, err := strconv.Atoi(os.Getenv("STATS_COST_ATTEMPTS")); err == nil && v > 0 {
		n = v
	}
	hist := "'{" + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(stats.Bounds)), ","), "[]") + "}'::integer[]"
	variants := []struct{ name, cte string }{
		{"none", "queued AS (SELECT 1)"},
		{"queue", db.AttemptStatsCTE},
		{"upsert-hour", upsertCTE("queued", "webhook_stats", "webhook_id", "hour", hist)},
		{"upsert-all", strings.Join([]string{
			upsertCTE("queued", "webhook_stats", "webhook_id", "hour", hist),
			upsertCTE("wd", "webhook_stats", "webhook_id", "day", hist),
			upsertCTE("ah", "account_stats", "", "hour", hist),
			upsertCTE("ad", "account_stats", "", "day", hist)}, ", ")},
	}
	shapes := []costShape{{"1 webhook, 1 worker", 1, 1}, {"1 webhook, 16 workers", 1, 16}, {"100 webhooks, 16 workers", 100, 16}}
	if only := os.Getenv("STATS_COST_SHAPE"); only != "" { // e.g. "1 webhook, 16"
		shapes = slices.DeleteFunc(shapes, func(sh costShape) bool { return !strings.HasPrefix(sh.name, only) })
	}
	runs := map[string][]costRun{}
	for r := range rounds {
		for _, sh := range shapes {
			for i := range variants {
				v := variants[(i+r)%len(variants)] // a different variant first each round
				run := runStatsCost(t, v.name, v.cte, sh, n)
				t.Logf("round %d, %s, %s: %.3f ms CPU, %.0f/s, p50 %.2f ms, p99 %.2f ms", r+1, sh.name, v.name,
					run.cpuMS, run.perS, run.p50, run.p99)
				runs[sh.name+"|"+v.name] = append(runs[sh.name+"|"+v.name], run)
			}
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%d rounds of %d attempts; medians (PostgreSQL CPU: min–max)\n", rounds, n)
	fmt.Fprintf(&out, "| shape | variant | PostgreSQL CPU ms/attempt | attempts/s | statement p50 ms | p99 ms |\n|---|---|---|---|---|---|\n")
	for _, sh := range shapes {
		for _, v := range variants {
			rs := runs[sh.name+"|"+v.name]
			cpu := median(rs, func(r costRun) float64 { return r.cpuMS })
			lo, hi := extremes(rs, func(r costRun) float64 { return r.cpuMS })
			fmt.Fprintf(&out, "| %s | %s | %.3f (%.3f–%.3f) | %.0f | %.2f | %.2f |\n", sh.name, v.name, cpu, lo, hi,
				median(rs, func(r costRun) float64 { return r.perS }), median(rs, func(r costRun) float64 { return r.p50 }),
				median(rs, func(r costRun) float64 { return r.p99 }))
		}
	}
	t.Log(out.String())
}

// costShape is the load of a run: how many webhooks and workers.
type costShape struct {
	name           string
	hooks, workers int
}

// costRun is what one run measured.
type costRun struct{ cpuMS, perS, p50, p99 float64 }

func median(rs []costRun, f func(costRun) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func extremes(rs []costRun, f func(costRun) float64) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	return lo, hi
}

// upsertCTE is design (a): the statement that finishes an attempt upserts
// the rollup row of table (keyed by key, "" for the account's) for period.
func upsertCTE(name, table, key, period, hist string) string {
	cols, vals, conflict := "account_id", "d.account_id", "account_id"
	if key != "" {
		cols, vals, conflict = key+", account_id", "d."+key+", d.account_id", key
	}
	bucket := "width_bucket(@duration_ms::integer, " + hist + ")"
	return name + ` AS (
			INSERT INTO ` + table + ` AS s (` + cols + `, period, start, succeeded, failed, attempts, failed_attempts, latency)
			SELECT ` + vals + `, '` + period + `', date_trunc('` + period + `', @finished_at::timestamptz, 'UTC'),
				(@status = 'succeeded' AND d.status IN ('pending', 'retrying'))::integer,
				(@status = 'failed' AND d.status IN ('pending', 'retrying'))::integer,
				1, (@status <> 'succeeded')::integer, array_fill(0, ARRAY[` + bucket + `]) || 1
			FROM {deliveries} d WHERE d.id = @delivery_id AND d.created_at >= @lo AND d.created_at < @hi
			ON CONFLICT (` + conflict + `, period, start) DO UPDATE SET succeeded = s.succeeded + EXCLUDED.succeeded,
				failed = s.failed + EXCLUDED.failed, attempts = s.attempts + 1,
				failed_attempts = s.failed_attempts + EXCLUDED.failed_attempts,
				latency[` + bucket + ` + 1] = coalesce(s.latency[` + bucket + ` + 1], 0) + 1
		)`
}

func runStatsCost(t *testing.T, variant, cte string, sh costShape, n int) costRun {
	t.Helper()
	hooks, workers := sh.hooks, sh.workers
	// A connection per worker, so they never queue in the pool.
	store, err := db.Open(context.Background(), dbtest.NewDatabase(t), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	acct := dbtest.NewAccount(t, store)
	ids := make([]uuid.UUID, hooks)
	for i := range ids {
		ids[i] = uuid.New()
		if _, err := store.CreateWebhook(ctx, ids[i], acct.ID, db.WebhookFields{Name: fmt.Sprint("h", i), URL: "https://example.com",
			EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"saas_page"}, MaxConcurrency: 100}, true, []byte{0}); err != nil {
			t.Fatal(err)
		}
	}
	// n deliveries, each with its first attempt opened, and as many again
	// for the warm-up.
	warm := 4 * workers
	conn := store.DB()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO events (account_id, id, type, trigger_source, occurred_at, data, workflow_id, dispatched_at)
		  SELECT $1, 'e' || g, 'ENVELOPE_START', 'saas_page', now(), '{}', 'wf', now() FROM generate_series(1, $2) g`,
			[]any{acct.ID, n + warm}},
		{`INSERT INTO deliveries (id, account_id, event_id, webhook_id, event_type, message_id, status, workflow_id)
		  SELECT gen_random_uuid(), $1, 'e' || g, ($3::uuid[])[1 + g % $4], 'ENVELOPE_START', 'msg_' || g, 'pending', 'wf'
		  FROM generate_series(1, $2) g`, []any{acct.ID, n + warm, uuidArray(ids), hooks}},
		{`INSERT INTO attempts (delivery_id, series, number, try, url, started_at, duration_ms)
		  SELECT id, 1, 1, 1, 'https://example.com', now(), 0 FROM deliveries`, nil},
		{`VACUUM ANALYZE`, nil},
		// Nothing of the set-up left for the background writers to do.
		{`CHECKPOINT`, nil},
	} {
		if _, err := conn.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	var opened []uuid.UUID
	if err := conn.Select(&opened, `SELECT id FROM deliveries ORDER BY random()`); err != nil {
		t.Fatal(err)
	}
	var dataDir string
	if err := conn.Get(&dataDir, `SHOW data_directory`); err != nil {
		t.Fatal(err)
	}
	pm := proc.PostmasterPID(dataDir)
	if pm == 0 {
		t.Skip("PostgreSQL's data directory is not readable here: its CPU cannot be measured")
	}
	finish := store.FinisherWith(cte)
	// Warm up: every worker's connection open, the statement prepared on
	// it, its pages cached; the rollups of the run's hour exist.
	var wg sync.WaitGroup
	var warmed atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(warmed.Add(1)) - 1; i < warm; i = int(warmed.Add(1)) - 1 {
				var d time.Duration
				if err := finishOne(ctx, finish, opened[i], i, &d); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, err := store.FoldStats(ctx, 10000); err != nil {
		t.Fatal(err)
	}
	opened = opened[warm:]
	took := make([]time.Duration, len(opened))
	var next atomic.Int64
	stopFold := make(chan struct{})
	folded := make(chan error, 1)

	cpu0, t0 := proc.PostgresTicks(pm), time.Now()
	go func() {
		// The workers' fold, every second (5 s in production).
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopFold:
				folded <- nil
				return
			case <-t.C:
			}
			if variant != "queue" {
				continue
			}
			if _, err := store.FoldStats(ctx, 10000); err != nil {
				folded <- err
				return
			}
		}
	}()
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(opened) {
					return
				}
				if err := finishOne(ctx, finish, opened[i], i, &took[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stopFold)
	if err := <-folded; err != nil {
		t.Fatal(err)
	}
	for {
		n, err := store.FoldStats(ctx, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if _, err := conn.Exec(`VACUUM stats_queue, webhook_stats, account_stats`); err != nil {
		t.Fatal(err)
	}
	wall, cpu := time.Since(t0), proc.PostgresTicks(pm)-cpu0
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(took)
	checkCounted(t, store, variant, acct.ID, len(opened)+warm)
	return costRun{cpuMS: float64(cpu) * 1000 / proc.ClockTicks / float64(len(opened)), perS: float64(len(opened)) / wall.Seconds(),
		p50: float64(took[len(took)/2].Microseconds()) / 1000, p99: float64(took[len(took)*99/100].Microseconds()) / 1000}
}

// finishOne finishes attempt 1 of delivery id: a 2xx, or (one in ten) a
// 500 with a retry due.
func finishOne(ctx context.Context, finish db.Finisher, id uuid.UUID, i int, took *time.Duration) error {
	code, o, signal := 200, db.AttemptOutcome{Status: delivery.Succeeded}, db.HealthSuccess
	if i%10 == 9 {
		next := time.Now().Add(time.Minute)
		code, o, signal = 500, db.AttemptOutcome{Status: delivery.Retrying, NextAttemptAt: &next}, db.HealthFailure
	}
	now := time.Now()
	start := time.Now()
	_, err := finish(ctx, db.Attempt{DeliveryID: id, Series: 1, Number: 1, Try: 1, StartedAt: now,
		DurationMS: 20 + i%200, ResponseStatus: &code, FinishedAt: &now}, o, signal,
		db.ThrottleSignal{Base: time.Second, Max: time.Minute})
	*took = time.Since(start)
	return err
}

// checkCounted: whatever the variant, every attempt is in the rollups
// (none: nowhere), so the variants did the same work.
func checkCounted(t *testing.T, store *db.Store, variant string, acct uuid.UUID, n int) {
	var got int
	if err := store.DB().Get(&got, `SELECT coalesce(sum(attempts), 0) FROM webhook_stats WHERE account_id = $1 AND period = 'hour'`,
		acct); err != nil {
		t.Fatal(err)
	}
	want := n
	if variant == "none" {
		want = 0
	}
	if got != want {
		t.Fatalf("%s: the hourly rollups count %d attempts, want %d", variant, got, want)
	}
}

func uuidArray(ids []uuid.UUID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return "{" + strings.Join(s, ",") + "}"
}
