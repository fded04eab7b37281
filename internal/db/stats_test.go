package db_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/stats"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// statsFixture is two accounts, three webhooks and their deliveries.
type statsFixture struct {
	store    *db.Store
	accounts []uuid.UUID
	hooks    []uuid.UUID // hooks[0], hooks[1]: accounts[0]; hooks[2]: accounts[1]
	owner    map[uuid.UUID]uuid.UUID
}

func newStatsFixture(t *testing.T) *statsFixture {
	t.Helper()
	f := &statsFixture{store: dbtest.NewStore(t), owner: map[uuid.UUID]uuid.UUID{}}
	ctx := context.Background()
	for i := range 2 {
		acct, err := f.store.CreateAccount(ctx, fmt.Sprint("Acme ", i), db.PlanProfessional,
			db.NewAPIKey{Hash: []byte(fmt.Sprint("h", i)), Prefix: "p"})
		if err != nil {
			t.Fatal(err)
		}
		f.accounts = append(f.accounts, acct.ID)
	}
	for i, acct := range []uuid.UUID{f.accounts[0], f.accounts[0], f.accounts[1]} {
		hook := uuid.New()
		if _, err := f.store.CreateWebhook(ctx, hook, acct, db.WebhookFields{Name: fmt.Sprint("h", i), URL: "https://example.com",
			EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"saas_page"}, MaxConcurrency: 100}, true, []byte{0}); err != nil {
			t.Fatal(err)
		}
		f.hooks = append(f.hooks, hook)
		f.owner[hook] = acct
	}
	return f
}

// delivery records event id for hook and returns its delivery.
func (f *statsFixture) delivery(t *testing.T, hook uuid.UUID, id string) db.Delivery {
	t.Helper()
	ds, err := f.store.RecordEvent(context.Background(), db.Event{AccountID: f.owner[hook], WorkflowID: "wf",
		Event: events.Event{ID: id, Type: "ENVELOPE_START", TriggerSource: "saas_page", OccurredAt: time.Now(),
			Data: []byte(`{}`)}}, []uuid.UUID{hook})
	if err != nil || len(ds) != 1 {
		t.Fatalf("recording %s: %v", id, err)
	}
	return ds[0]
}

// attempt is one request of a scripted delivery: the receiver's status (0:
// no answer), its answer time, and when it finished.
type attempt struct {
	status     int
	latency    int
	finishedAt time.Time
}

// play makes d's attempts as the worker does (open the row, then finish it
// with the delivery's new state): it succeeds at the first 2xx, and gives
// up after the last attempt.
func play(ctx context.Context, s *db.Store, d db.Delivery, script []attempt) error {
	for i, a := range script {
		tg, err := s.StartAttempt(ctx, db.AttemptStart{DeliveryID: d.ID, Series: 1, Number: i + 1,
			StartedAt: a.finishedAt.Add(-time.Duration(a.latency) * time.Millisecond), Gate: db.GateInput{Lease: time.Minute}})
		if err != nil {
			return err
		}
		if tg.Gate != db.GateSend {
			return fmt.Errorf("attempt %d of %s not sent: %s", i+1, d.ID, tg.Gate)
		}
		row := db.Attempt{DeliveryID: d.ID, Series: 1, Number: i + 1, Try: tg.Try, StartedAt: a.finishedAt,
			DurationMS: a.latency, FinishedAt: &a.finishedAt}
		if a.status != 0 {
			row.ResponseStatus = &a.status
		} else {
			row.Error = "connection refused"
		}
		o, signal := db.AttemptOutcome{Status: delivery.Retrying}, db.HealthFailure
		switch {
		case a.status >= 200 && a.status < 300:
			o, signal = db.AttemptOutcome{Status: delivery.Succeeded}, db.HealthSuccess
		case i == len(script)-1:
			o, signal = db.AttemptOutcome{Status: delivery.Failed, Reason: "gave up"}, db.HealthExhausted
		default:
			next := time.Now().Add(time.Minute)
			o.NextAttemptAt = &next
		}
		if _, err := s.FinishAttempt(ctx, row, o, signal, db.ThrottleSignal{Base: time.Second, Max: time.Minute}); err != nil {
			return err
		}
	}
	return nil
}

// randomScript is 1-4 attempts ending in a 2xx or not, finished at random
// times over the last three days (in order), with latencies from 0 to 8 s.
func randomScript(r *rand.Rand, now time.Time) []attempt {
	n := 1 + r.IntN(4)
	at := now.Add(-time.Duration(r.Int64N(int64(72 * time.Hour))))
	out := make([]attempt, n)
	for i := range out {
		st := []int{500, 503, 404, 0, 429}[r.IntN(5)]
		if i == n-1 && r.IntN(3) > 0 {
			st = []int{200, 201, 204}[r.IntN(3)]
		}
		out[i] = attempt{status: st, latency: int(r.ExpFloat64() * 300), finishedAt: at}
		if r.IntN(20) == 0 {
			out[i].latency = r.IntN(8000)
		}
		at = at.Add(time.Duration(r.Int64N(int64(3 * time.Hour))))
		if at.After(now) {
			at = now
		}
	}
	return out
}

// fromLog computes every rollup row straight from the delivery log: each
// finished attempt in the hour and day of its finished_at, each delivery
// that ended succeeded or failed in the period of its last attempt (or of
// its last update, when it ended without one).
func fromLog(t *testing.T, s *db.Store) map[string]stats.Tally {
	t.Helper()
	var rows []struct {
		AccountID  uuid.UUID  `db:"account_id"`
		WebhookID  uuid.UUID  `db:"webhook_id"`
		Status     string     `db:"status"`
		UpdatedAt  time.Time  `db:"updated_at"`
		FinishedAt *time.Time `db:"finished_at"`
		Code       *int       `db:"response_status"`
		DurationMS *int       `db:"duration_ms"`
		Last       bool       `db:"last"`
	}
	err := s.DB().Select(&rows, `
		SELECT d.account_id, d.webhook_id, d.status, d.updated_at, a.finished_at, a.response_status, a.duration_ms,
			coalesce(row_number() OVER (PARTITION BY d.id ORDER BY a.number DESC, a.try DESC) = 1, true) AS last
		FROM deliveries d LEFT JOIN attempts a ON a.delivery_id = d.id AND a.finished_at IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]stats.Tally{}
	add := func(acct, hook uuid.UUID, at time.Time, tl stats.Tally) {
		for _, p := range []stats.Period{stats.Hour, stats.Day} {
			for _, k := range []string{statsKey(acct, hook, p, p.Start(at)), statsKey(acct, uuid.Nil, p, p.Start(at))} {
				sum := out[k]
				sum.Merge(tl)
				out[k] = sum
			}
		}
	}
	for _, r := range rows {
		var tl stats.Tally
		at := r.UpdatedAt
		if r.FinishedAt != nil {
			at = *r.FinishedAt
			tl.Attempts = 1
			if r.Code == nil || *r.Code < 200 || *r.Code > 299 {
				tl.FailedAttempts = 1
			}
			if r.Code != nil {
				tl.Latency.Add(*r.DurationMS)
			}
		}
		if r.Last && r.Status == string(delivery.Succeeded) {
			tl.Succeeded = 1
		}
		if r.Last && r.Status == string(delivery.Failed) {
			tl.Failed = 1
		}
		add(r.AccountID, r.WebhookID, at, tl)
	}
	return out
}

func statsKey(acct, hook uuid.UUID, p stats.Period, start time.Time) string {
	return fmt.Sprintf("%s/%s/%s/%s", acct, hook, p, start.UTC().Format(time.RFC3339))
}

// rolledUp reads every rollup row of the fixture's accounts and webhooks.
func (f *statsFixture) rolledUp(t *testing.T) map[string]stats.Tally {
	t.Helper()
	ctx := context.Background()
	out := map[string]stats.Tally{}
	since := time.Now().AddDate(0, 0, -10)
	for _, p := range []stats.Period{stats.Hour, stats.Day} {
		for _, acct := range f.accounts {
			rows, err := f.store.AccountStats(ctx, acct, p, since)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				out[statsKey(acct, uuid.Nil, p, r.Start)] = r.Tally
			}
		}
		for _, hook := range f.hooks {
			rows, err := f.store.WebhookStats(ctx, f.owner[hook], hook, p, since)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				out[statsKey(f.owner[hook], hook, p, r.Start)] = r.Tally
			}
		}
	}
	return out
}

func sameTallies(t *testing.T, got, want map[string]stats.Tally) {
	t.Helper()
	for k, w := range want {
		g := got[k]
		if g.Succeeded != w.Succeeded || g.Failed != w.Failed || g.Attempts != w.Attempts ||
			g.FailedAttempts != w.FailedAttempts || fmt.Sprint(g.Latency.Trim()) != fmt.Sprint(w.Latency.Trim()) {
			t.Errorf("%s: rollup %+v, log %+v", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: a rollup row the log has nothing for: %+v", k, got[k])
		}
	}
}

// foldAll folds until the queue is empty.
func foldAll(t *testing.T, s *db.Store) {
	t.Helper()
	for {
		n, err := s.FoldStats(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// TestStatsRollupsMatchTheLog: 300 deliveries with random attempts (2xx,
// 4xx/5xx, no answer; latencies up to 8 s; finished over three days),
// made by 6 concurrent "workers" while 3 folders fold as they go, plus
// deliveries ended without an attempt (failed or restored: counted;
// cancelled: not).
// Every hourly and daily rollup row of each webhook and account equals what
// the delivery log itself says, histograms included, and another
// account's rows never mix in.
func TestStatsRollupsMatchTheLog(t *testing.T) {
	f := newStatsFixture(t)
	ctx := context.Background()
	now := time.Now()
	r := rand.New(rand.NewPCG(1, 2))
	type job struct {
		d      db.Delivery
		script []attempt
	}
	var jobs []job
	for i := range 300 {
		hook := f.hooks[r.IntN(len(f.hooks))]
		jobs = append(jobs, job{f.delivery(t, hook, fmt.Sprint("e", i)), randomScript(r, now)})
	}
	work := make(chan job)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				if err := play(ctx, f.store, j.d, j.script); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var folders sync.WaitGroup
	for range 3 {
		folders.Add(1)
		go func() {
			defer folders.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := f.store.FoldStats(ctx, 7); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	// Ended without an attempt: a failed one counts, a cancelled one not.
	failed, cancelled := f.delivery(t, f.hooks[0], "no-attempt-failed"), f.delivery(t, f.hooks[2], "no-attempt-cancelled")
	if err := f.store.FinishDelivery(ctx, failed.ID, 1, delivery.Failed, "workflow gone"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.FinishDelivery(ctx, cancelled.ID, 1, delivery.Cancelled, "webhook disabled"); err != nil {
		t.Fatal(err)
	}
	// Restored from its workflow's result (PostgreSQL had lost its end):
	// it counts once, however often it is restored.
	restored := f.delivery(t, f.hooks[1], "restored")
	for range 2 {
		if _, err := f.store.RestoreOutcomes(ctx, f.accounts[0], "restored", "wf", []db.DeliveryOutcome{
			{ID: restored.ID, WebhookID: f.hooks[1], Status: delivery.Succeeded, Attempts: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	folders.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	foldAll(t, f.store)

	want := fromLog(t, f.store)
	sameTallies(t, f.rolledUp(t), want)
	var total stats.Tally
	for k, tl := range want {
		if strings.Contains(k, uuid.Nil.String()+"/day/") {
			total.Merge(tl)
		}
	}
	if total.Deliveries() < 300 || total.Failed == 0 || total.FailedAttempts == 0 || total.Latency.Count() == 0 {
		t.Fatalf("the log is too thin to test anything: %+v", total)
	}
	// An account asking for a webhook of another account gets nothing.
	rows, err := f.store.WebhookStats(ctx, f.accounts[1], f.hooks[0], stats.Day, now.AddDate(0, 0, -10))
	if err != nil || len(rows) != 0 {
		t.Fatalf("another account's webhook: %d rows, %v", len(rows), err)
	}
}

// TestStatsFoldSurvivesACrash: a folder whose connection dies after it has
// taken the queued rows (it waits on a rollup row another transaction
// holds, and its backend is terminated) folds nothing and loses nothing:
// the rows stay queued, and the next fold counts them once.
func TestStatsFoldSurvivesACrash(t *testing.T) {
	f := newStatsFixture(t)
	ctx := context.Background()
	now := time.Now()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20 {
		if err := play(ctx, f.store, f.delivery(t, f.hooks[i%2], fmt.Sprint("a", i)), randomScript(r, now)); err != nil {
			t.Fatal(err)
		}
	}
	foldAll(t, f.store)
	before := f.rolledUp(t)
	// More deliveries, now all in the current hour of hooks[0].
	for i := range 10 {
		if err := play(ctx, f.store, f.delivery(t, f.hooks[0], fmt.Sprint("b", i)),
			[]attempt{{status: 500, latency: 40, finishedAt: now}, {status: 200, latency: 90, finishedAt: now}}); err != nil {
			t.Fatal(err)
		}
	}
	queued := func() int {
		var n int
		if err := f.store.DB().Get(&n, `SELECT count(*) FROM stats_queue`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if queued() != 20 {
		t.Fatalf("%d rows queued, want 20 (10 deliveries × 2 attempts)", queued())
	}

	// Hold the current hour's row of the account, as a slow reader could.
	blocker, err := f.store.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback()
	if _, err := blocker.Exec(`SELECT 1 FROM account_stats WHERE account_id = $1 AND period = 'hour' AND start = $2 FOR UPDATE`,
		f.accounts[0], stats.Hour.Start(now)); err != nil {
		t.Fatal(err)
	}
	folded := make(chan error, 1)
	go func() {
		_, err := f.store.FoldStats(ctx, 100)
		folded <- err
	}()
	// The folder has deleted the queue rows in its transaction and waits
	// for the row lock: kill its backend, as a crash of its worker would.
	var pid int
	for pid == 0 {
		err := f.store.DB().Get(&pid, `
			SELECT coalesce(max(pid), 0) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO account_stats%'`)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := f.store.DB().Exec(`SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	if err := <-folded; err == nil {
		t.Fatal("the killed fold reported success")
	}
	if err := blocker.Rollback(); err != nil {
		t.Fatal(err)
	}
	if queued() != 20 {
		t.Fatalf("after the crash %d rows queued, want all 20 back", queued())
	}
	sameTallies(t, f.rolledUp(t), before)

	foldAll(t, f.store)
	if queued() != 0 {
		t.Fatalf("%d rows left after folding", queued())
	}
	sameTallies(t, f.rolledUp(t), fromLog(t, f.store))
}

// TestStatsRetention: pruning drops hourly rows before its hour cutoff and
// daily rows before its day cutoff, of webhooks and accounts alike.
func TestStatsRetention(t *testing.T) {
	f := newStatsFixture(t)
	ctx := context.Background()
	now := time.Now()
	for i, age := range []time.Duration{time.Hour, 3 * 24 * time.Hour, 40 * 24 * time.Hour} {
		if err := play(ctx, f.store, f.delivery(t, f.hooks[0], fmt.Sprint("r", i)),
			[]attempt{{status: 200, latency: 10, finishedAt: now.Add(-age)}}); err != nil {
			t.Fatal(err)
		}
	}
	foldAll(t, f.store)
	n, err := f.store.PruneStats(ctx, now.Add(-48*time.Hour), now.AddDate(0, 0, -30))
	if err != nil {
		t.Fatal(err)
	}
	// Hourly rows of 3 and 40 days ago, the daily row of 40 days ago;
	// each for the webhook and the account.
	if n != 6 {
		t.Fatalf("pruned %d rows, want 6", n)
	}
	for _, c := range []struct {
		p    stats.Period
		want int
	}{{stats.Hour, 1}, {stats.Day, 2}} {
		rows, err := f.store.WebhookStats(ctx, f.accounts[0], f.hooks[0], c.p, now.AddDate(0, 0, -400))
		if err != nil {
			t.Fatal(err)
		}
		acct, err := f.store.AccountStats(ctx, f.accounts[0], c.p, now.AddDate(0, 0, -400))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != c.want || len(acct) != c.want {
			t.Errorf("%s rows kept: webhook %d, account %d; want %d", c.p, len(rows), len(acct), c.want)
		}
	}
}
