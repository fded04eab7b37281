package benchlog

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// Settings are a run's sizes besides the log's.
type Settings struct {
	Queries   int    `json:"queriesPerSearch"`
	Explain   int    `json:"explainedPerSearch"`
	HotPath   int    `json:"hotPathDeliveries"`
	Partition string `json:"partition"`
	// Reuse measures the log a previous run left in the database instead
	// of generating one, and skips retention (it would drop a period of
	// it): a rerun of the searches on a quieter machine.
	Reuse bool `json:"reuse,omitempty"`
}

// Result is everything a run measured: the JSON file.
type Result struct {
	StartedAt       time.Time      `json:"startedAt"`
	GitCommit       string         `json:"gitCommit,omitempty"`
	NumCPU          int            `json:"numCpu"`
	PostgresVersion string         `json:"postgresVersion"`
	Spec            Spec           `json:"spec"`
	Settings        Settings       `json:"settings"`
	GenerateSeconds float64        `json:"generateSeconds"`
	Rows            Rows           `json:"rows"`
	Partitions      int            `json:"periods"`
	Sizes           []TableSize    `json:"sizes"`
	Searches        []SearchResult `json:"searches"`
	HotPath         HotPath        `json:"hotPath"`
	Retention       Retention      `json:"retention"`
	Projection      Projection     `json:"projection300M"`
	Notes           []string       `json:"notes,omitempty"`
}

// Run generates s's log in store's (fresh, migrated) database and measures
// it.
func Run(ctx context.Context, store *db.Store, s Spec, st Settings, logf func(string, ...any)) (*Result, error) {
	r := &Result{StartedAt: time.Now().UTC(), NumCPU: runtime.NumCPU(), Spec: s, Settings: st}
	if err := store.DB().GetContext(ctx, &r.PostgresVersion, `SHOW server_version`); err != nil {
		return nil, err
	}
	began := time.Now()
	var end time.Time
	var err error
	if st.Reuse {
		var last *time.Time
		err = store.DB().GetContext(ctx, &last, `SELECT max(created_at) FROM events WHERE workflow_id LIKE 'event/%/evt_env_%'`)
		if err == nil && last == nil {
			err = errors.New("-reuse: the database holds no generated log")
		}
		if last != nil {
			end = *last
		}
	} else {
		end, err = Generate(ctx, store.DB(), s, logf)
		r.GenerateSeconds = time.Since(began).Seconds()
	}
	if err != nil {
		return nil, err
	}
	if r.Rows, err = countRows(ctx, store, nil); err != nil {
		return nil, err
	}
	logf("generated %d events, %d deliveries, %d attempts in %.0f s", r.Rows.Events, r.Rows.Deliveries, r.Rows.Attempts,
		r.GenerateSeconds)
	parts, err := store.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	r.Partitions = len(parts) / 3
	if r.Sizes, err = sizes(ctx, store); err != nil {
		return nil, err
	}
	all, keyed, err := probes(ctx, store, max(st.Queries, st.Explain), r.Rows.Deliveries)
	if err != nil {
		return nil, err
	}
	if r.Searches, err = runSearches(ctx, store, all, keyed, end, st.Queries, st.Explain, logf); err != nil {
		return nil, err
	}
	acct, err := hotAccount(ctx, store)
	if err != nil {
		return nil, err
	}
	if r.HotPath, err = hotPath(ctx, store, st.HotPath, acct); err != nil {
		return nil, err
	}
	logf("hot path on the full log: %.2f ms per delivery (p99 %.2f ms)", r.HotPath.MeanMS, r.HotPath.P99MS)
	if st.Reuse {
		return r, nil
	}
	if r.Retention, err = retention(ctx, store, logf); err != nil {
		return nil, err
	}
	r.Projection = project(r)
	return r, nil
}

// hotAccount is an account with one webhook to every type: a 1:1 delivery.
func hotAccount(ctx context.Context, store *db.Store) (uuid.UUID, error) {
	acct, err := store.CreateAccount(ctx, "benchlog hot path", db.PlanProfessional,
		db.NewAPIKey{Hash: []byte(uuid.NewString()), Prefix: "hot"})
	if err != nil {
		return uuid.Nil, err
	}
	var types []string
	for _, t := range events.Catalogue {
		types = append(types, t.Name)
	}
	_, err = store.CreateWebhook(ctx, uuid.New(), acct.ID, db.WebhookFields{Name: "hot", URL: "https://hooks.example.com/hot",
		EventTypes: types, TriggerSources: []string{events.SourceSaaSPage}}, true, []byte{0})
	return acct.ID, err
}

// Projection is the arithmetic for a log of 300 million attempts (issue 20:
// 100 deliveries/s for 30 days is 260 million deliveries), from this run's
// sizes and timings, linearly.
type Projection struct {
	Attempts        int64   `json:"attempts"`
	BytesPerAttempt float64 `json:"bytesPerAttempt"` // the three tables and their indexes, per attempt
	TotalBytes      float64 `json:"totalBytes"`
	PeriodBytes     float64 `json:"bytesPerWeek"`
	DayAttempts     float64 `json:"attemptsPerDay"`
	// DropSeconds: dropping a period is a catalogue change and unlinking
	// its files: it does not grow with the rows (measured here with fewer).
	DropSeconds float64 `json:"dropSecondsMeasured"`
	// DeleteDaySeconds is a day's DELETE at the measured rate (plus its
	// VACUUM), as retention was before.
	DeleteDaySeconds float64 `json:"deleteDaySeconds"`
	VacuumSeconds    float64 `json:"vacuumDaySeconds"`
	DeleteWALBytes   float64 `json:"deleteDayWalBytes"`
}

func project(r *Result) Projection {
	p := Projection{Attempts: 300_000_000, DropSeconds: r.Retention.Drop.Seconds}
	var total int64
	for _, s := range r.Sizes {
		total += s.TotalBytes
	}
	if r.Rows.Attempts == 0 {
		return p
	}
	p.BytesPerAttempt = float64(total) / float64(r.Rows.Attempts)
	p.TotalBytes = p.BytesPerAttempt * float64(p.Attempts)
	p.DayAttempts = float64(p.Attempts) / float64(r.Spec.Days)
	p.PeriodBytes = p.BytesPerAttempt * p.DayAttempts * 7
	if d := r.Retention.Delete; d.Rows.Attempts > 0 {
		scale := p.DayAttempts / float64(d.Rows.Attempts)
		p.DeleteDaySeconds = d.Seconds * scale
		p.VacuumSeconds = d.VacuumSeconds * scale
		p.DeleteWALBytes = float64(d.WALBytes+d.VacuumWALBytes) * scale
	}
	return p
}

// Main is the command (make bench-log): flags, the run, the report.
func Main() {
	var s Spec
	var st Settings
	var url, out string
	flag.IntVar(&s.Attempts, "attempts", 10_000_000, "about this many attempts in the log")
	flag.IntVar(&s.Days, "days", 30, "over this many days, ending now")
	flag.IntVar(&s.Accounts, "accounts", 1000, "accounts (skewed: the largest has a tenth of the traffic)")
	flag.Float64Var(&s.Seed, "seed", 0.42, "random seed (PostgreSQL setseed, -1 to 1)")
	flag.IntVar(&st.Queries, "queries", 300, "queries timed per search")
	flag.IntVar(&st.Explain, "explain", 5, "queries explained per search (each checked against its indexes)")
	flag.IntVar(&st.HotPath, "hot-path", 2000, "1:1 deliveries through the store on the full log")
	flag.BoolVar(&st.Reuse, "reuse", false, "measure the log already in the database (no generation, no retention): scripts/bench-log.sh with BENCH_LOG_REUSE=1")
	flag.StringVar(&url, "database", os.Getenv("DATABASE_URL"), "a fresh database (it is migrated and filled)")
	flag.StringVar(&out, "out", "docs/results/bench-log", "directory of the JSON result")
	flag.Parse()
	st.Partition = string(db.PartitionWeek)
	ctx := context.Background()
	store, err := db.Open(ctx, url, 4)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx, nopLogger()); err != nil {
		log.Fatal(err)
	}
	logf := func(f string, args ...any) { log.Printf(f, args...) }
	r, err := Run(ctx, store, s, st, logf)
	if err != nil {
		log.Fatal(err)
	}
	if c, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		r.GitCommit = strings.TrimSpace(string(c))
	}
	path, err := Write(r, out)
	if err != nil {
		log.Fatal(err)
	}
	Print(os.Stdout, r)
	fmt.Println("\nwrote", path)
}

// Write writes r to dir as <started>.json and latest.json.
func Write(r *Result, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, r.StartedAt.Format("20060102T150405Z")+".json")
	for _, p := range []string{path, filepath.Join(dir, "latest.json")} {
		if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
			return "", err
		}
	}
	return path, nil
}
