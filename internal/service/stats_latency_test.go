package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/config"
	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
	"github.com/esign-webhooks/esign-webhooks/internal/service"
	"github.com/esign-webhooks/esign-webhooks/internal/stats"
)

// TestStatsQueryLatency measures the statistics answers on rollups of a
// realistic size: one account with 1,000 webhooks (the most an account
// may have), each with an hourly row for every hour of 30 days (720,000
// rows: 15 times what the 48 h hourly retention keeps) and a daily row
// for each of the 30 days, plus the account's own rows. Each kind of
// request runs STATS_QUERY_BENCH times (a random webhook each), through
// the service and into the API's JSON, and the plans of the store's
// queries are printed (EXPLAIN ANALYZE): each reads its rows by an index.
//
//	STATS_QUERY_BENCH=500 go test -run TestStatsQueryLatency -v ./internal/service
func TestStatsQueryLatency(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("STATS_QUERY_BENCH"))
	if runs <= 0 {
		t.Skip("STATS_QUERY_BENCH=<requests per kind> measures the statistics queries on a large rollup table")
	}
	ctx := context.Background()
	store := dbtest.NewStore(t)
	acct, err := store.CreateAccount(ctx, "Big", db.PlanProfessional, db.NewAPIKey{Hash: []byte("h"), Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	hooks := make([]uuid.UUID, 1000)
	for i := range hooks {
		hooks[i] = uuid.New()
		if _, err := store.CreateWebhook(ctx, hooks[i], acct.ID, db.WebhookFields{Name: fmt.Sprint("hook ", i),
			URL: "https://example.com", EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"saas_page"},
			MaxConcurrency: 1}, true, []byte{0}); err != nil {
			t.Fatal(err)
		}
	}
	seeded := time.Now()
	seedRollups(t, store, acct.ID)
	var size string
	if err := store.DB().Get(&size, `SELECT pg_size_pretty(pg_total_relation_size('webhook_stats'))`); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded 751,500 rollup rows in %s; webhook_stats with its indexes: %s", time.Since(seeded).Round(time.Second), size)

	cfg, err := config.LoadFrom(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(service.Deps{Config: cfg, Store: store})
	caller := service.Caller{AccountID: acct.ID, Role: db.RoleMember, Plan: db.PlanProfessional}
	r := rand.New(rand.NewPCG(5, 6))
	kinds := []struct {
		name string
		ask  func() (stats.Report, error)
	}{
		{"webhook, 24h", func() (stats.Report, error) {
			return svc.WebhookStats(ctx, caller, hooks[r.IntN(len(hooks))], service.StatsQuery{Window: "24h"})
		}},
		{"webhook, 30d", func() (stats.Report, error) {
			return svc.WebhookStats(ctx, caller, hooks[r.IntN(len(hooks))], service.StatsQuery{Window: "30d"})
		}},
		{"account, 24h", func() (stats.Report, error) {
			return svc.AccountStats(ctx, caller, service.StatsQuery{Window: "24h"})
		}},
		{"account, 30d", func() (stats.Report, error) {
			return svc.AccountStats(ctx, caller, service.StatsQuery{Window: "30d"})
		}},
		{"account, 24h, by webhook (1,000)", func() (stats.Report, error) {
			return svc.AccountStats(ctx, caller, service.StatsQuery{Window: "24h", By: "webhook"})
		}},
		{"account, 30d, by webhook (1,000)", func() (stats.Report, error) {
			return svc.AccountStats(ctx, caller, service.StatsQuery{Window: "30d", By: "webhook"})
		}},
	}
	var dataDir string
	if err := store.DB().Get(&dataDir, `SHOW data_directory`); err != nil {
		t.Fatal(err)
	}
	pm := proc.PostmasterPID(dataDir)
	var out strings.Builder
	fmt.Fprintf(&out, "\n%d requests each (service + JSON), one at a time; CPU per request: this process / PostgreSQL\n"+
		"| request | p50 ms | p99 ms | max ms | CPU ms: Go / PostgreSQL |\n|---|---|---|---|---|\n", runs)
	for _, k := range kinds {
		took := make([]time.Duration, runs)
		goCPU, pgCPU := processCPU(), proc.PostgresTicks(pm)
		for i := range took {
			start := time.Now()
			rep, err := k.ask()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := json.Marshal(resource.FromStats(rep)); err != nil {
				t.Fatal(err)
			}
			took[i] = time.Since(start)
			if rep.Totals.Attempts == 0 {
				t.Fatalf("%s: an empty report", k.name)
			}
		}
		goMS := float64(processCPU()-goCPU) / float64(time.Millisecond) / float64(runs)
		pgMS := float64(proc.PostgresTicks(pm)-pgCPU) * 1000 / proc.ClockTicks / float64(runs)
		slices.Sort(took)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		fmt.Fprintf(&out, "| %s | %.2f | %.2f | %.2f | %.2f / %.2f |\n", k.name, ms(took[len(took)/2]), ms(took[len(took)*99/100]),
			ms(took[len(took)-1]), goMS, pgMS)
	}
	t.Log(out.String())
	explainStats(t, store, acct.ID, hooks[0])
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// seedRollups writes 30 days of hourly and daily rows for every webhook of
// acct and for acct, with histograms of 45 buckets.
func seedRollups(t *testing.T, store *db.Store, acct uuid.UUID) {
	t.Helper()
	hist := `(SELECT array_agg(((v * 7 + b * 13) % 23)::integer ORDER BY b) FROM generate_series(1, 45) b)`
	for _, q := range []string{`
		INSERT INTO webhook_stats (webhook_id, period, start, account_id, succeeded, failed, attempts, failed_attempts, latency)
		SELECT w.id, 'hour', date_trunc('hour', now()) - make_interval(hours => h), w.account_id, 40 + h % 20, h % 3,
			50 + h % 20, 8 + h % 5, hs.latency
		FROM webhooks w CROSS JOIN generate_series(0, 719) h
		JOIN (SELECT v, ` + hist + ` AS latency FROM generate_series(0, 63) v) hs ON hs.v = (h + (hashtext(w.id::text) & 63)) % 64
		WHERE w.account_id = $1`, `
		INSERT INTO webhook_stats (webhook_id, period, start, account_id, succeeded, failed, attempts, failed_attempts, latency)
		SELECT webhook_id, 'day', date_trunc('day', start, 'UTC'), account_id, sum(succeeded), sum(failed), sum(attempts),
			sum(failed_attempts), (SELECT array_agg(x * 24) FROM unnest(min(latency)) x)
		FROM webhook_stats WHERE account_id = $1 AND period = 'hour' GROUP BY 1, 3, 4`, `
		INSERT INTO account_stats (account_id, period, start, succeeded, failed, attempts, failed_attempts, latency)
		SELECT account_id, period, start, sum(succeeded), sum(failed), sum(attempts), sum(failed_attempts),
			(SELECT array_agg(x * 1000) FROM unnest(min(latency)) x)
		FROM webhook_stats WHERE account_id = $1 GROUP BY 1, 2, 3`,
	} {
		if _, err := store.DB().Exec(q, acct); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.DB().Exec(`VACUUM ANALYZE webhook_stats, account_stats`); err != nil {
		t.Fatal(err)
	}
}

// explainStats prints the plans of the statistics queries.
func explainStats(t *testing.T, store *db.Store, acct, hook uuid.UUID) {
	t.Helper()
	since := time.Now().UTC().Truncate(time.Hour).Add(-23 * time.Hour).Format(time.RFC3339)
	for _, q := range []string{
		`SELECT * FROM webhook_stats WHERE webhook_id = '` + hook.String() + `' AND account_id = '` + acct.String() +
			`' AND period = 'hour' AND start >= '` + since + `' ORDER BY start`,
		`SELECT * FROM account_stats WHERE account_id = '` + acct.String() + `' AND period = 'day' AND start >= '` + since + `' ORDER BY start`,
		`SELECT * FROM webhook_stats WHERE account_id = '` + acct.String() + `' AND period = 'hour' AND start >= '` + since + `'`,
		`DELETE FROM webhook_stats WHERE (period = 'hour' AND start < now() - interval '48 hours') OR (period = 'day' AND start < now() - interval '400 days')`,
	} {
		var plan []string
		explain := `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ` + q
		if strings.HasPrefix(q, "DELETE") {
			// Measured, not done: the rows stay for a second run.
			tx, err := store.DB().Beginx()
			if err != nil {
				t.Fatal(err)
			}
			err = tx.Select(&plan, explain)
			_ = tx.Rollback()
			if err != nil {
				t.Fatal(err)
			}
		} else if err := store.DB().Select(&plan, explain); err != nil {
			t.Fatal(err)
		}
		t.Logf("\n%s\n  %s", q, strings.Join(plan, "\n  "))
	}
}
