package db

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/esign-webhooks/esign-webhooks/internal/stats"
)

// Delivery statistics (docs/statistics.md). The statement that finishes an
// attempt, or ends a delivery without one, appends a row to stats_queue
// (attemptStats, outcomeStats); FoldStats, run by every worker every few
// seconds, moves the queue into the hourly and daily rollups of each
// webhook and account in one transaction, under an advisory lock. The
// statistics routes read the rollups only.
//
// Why a queue and a fold rather than an upsert of the hourly row in the
// finishing statement: the upsert made every attempt of a busy webhook
// wait for the one before it to commit (one row per webhook and hour), and
// an account's rows would be hotter still; the append costs an attempt
// one unindexed heap row. Measured in docs/statistics.md.

// statsFoldLock is the advisory lock the fold holds: one folder at a time,
// so two workers never upsert the same rollup rows in opposite orders.
const statsFoldLock = 0x65736967_6e737473 // "esignsts"

// attemptStats is the CTE of FinishAttempt queueing what the attempt adds
// to the statistics: one attempt (a 2xx exactly when the delivery
// succeeds), its answer time when the receiver answered, and the
// delivery's outcome when this attempt ended it — the delivery, read in
// the statement's snapshot, before moved changes it, was still going on in
// this series, so an outcome is counted once.
const attemptStats = `
		queued AS (
			INSERT INTO stats_queue (account_id, webhook_id, finished_at, outcome, attempt_ok, latency_ms)
			SELECT d.account_id, d.webhook_id, @finished_at::timestamptz,
				CASE WHEN @status IN ('succeeded', 'failed') AND d.status IN ('pending', 'retrying') AND d.series = @series
					THEN @status ELSE '' END,
				@status = 'succeeded',
				CASE WHEN @response_status::integer IS NOT NULL THEN @duration_ms::integer END
			FROM {deliveries} d WHERE d.id = @delivery_id AND d.created_at >= @lo AND d.created_at < @hi
		)`

// outcomeStats queues the outcomes of deliveries ended without an attempt:
// the rows of the CTE named from (account_id, webhook_id, status) that
// ended succeeded or failed.
func outcomeStats(from string) string {
	return `
			INSERT INTO stats_queue (account_id, webhook_id, finished_at, outcome)
			SELECT account_id, webhook_id, now(), status FROM ` + from + `
			WHERE status IN ('succeeded', 'failed')`
}

// queuedStat is one row of stats_queue.
type queuedStat struct {
	AccountID  uuid.UUID `db:"account_id"`
	WebhookID  uuid.UUID `db:"webhook_id"`
	FinishedAt time.Time `db:"finished_at"`
	Outcome    string    `db:"outcome"`
	AttemptOK  *bool     `db:"attempt_ok"`
	LatencyMS  *int      `db:"latency_ms"`
}

// tally is what the row adds.
func (q queuedStat) tally() stats.Tally {
	var t stats.Tally
	switch q.Outcome {
	case "succeeded":
		t.Succeeded = 1
	case "failed":
		t.Failed = 1
	}
	if q.AttemptOK != nil {
		t.Attempts = 1
		if !*q.AttemptOK {
			t.FailedAttempts = 1
		}
	}
	if q.LatencyMS != nil {
		t.Latency.Add(*q.LatencyMS)
	}
	return t
}

// rollupKey names a rollup row: a webhook's (WebhookID set) or an
// account's (WebhookID uuid.Nil).
type rollupKey struct {
	AccountID uuid.UUID
	WebhookID uuid.UUID
	Period    stats.Period
	Start     time.Time
}

// rollupJSON is a rollup row as the fold's upsert reads it
// (jsonb_to_recordset).
type rollupJSON struct {
	AccountID      uuid.UUID    `json:"account_id"`
	WebhookID      *uuid.UUID   `json:"webhook_id,omitempty"`
	Period         stats.Period `json:"period"`
	Start          time.Time    `json:"start"`
	Succeeded      int64        `json:"succeeded"`
	Failed         int64        `json:"failed"`
	Attempts       int64        `json:"attempts"`
	FailedAttempts int64        `json:"failed_attempts"`
	Latency        []int64      `json:"latency"`
}

// rollups adds up queued rows per webhook and account, hour and day,
// sorted by key so concurrent upserts (there are none under the lock)
// would take row locks in one order.
func rollups(rows []queuedStat) (webhooks, accounts []rollupJSON) {
	sums := map[rollupKey]*stats.Tally{}
	add := func(k rollupKey, t stats.Tally) {
		s, ok := sums[k]
		if !ok {
			s = &stats.Tally{}
			sums[k] = s
		}
		s.Merge(t)
	}
	for _, r := range rows {
		t := r.tally()
		for _, p := range []stats.Period{stats.Hour, stats.Day} {
			start := p.Start(r.FinishedAt)
			add(rollupKey{r.AccountID, r.WebhookID, p, start}, t)
			add(rollupKey{r.AccountID, uuid.Nil, p, start}, t)
		}
	}
	for k, t := range sums {
		j := rollupJSON{AccountID: k.AccountID, Period: k.Period, Start: k.Start, Succeeded: t.Succeeded,
			Failed: t.Failed, Attempts: t.Attempts, FailedAttempts: t.FailedAttempts, Latency: t.Latency.Trim()}
		if j.Latency == nil {
			j.Latency = []int64{}
		}
		if k.WebhookID == uuid.Nil {
			accounts = append(accounts, j)
			continue
		}
		id := k.WebhookID
		j.WebhookID = &id
		webhooks = append(webhooks, j)
	}
	order := func(a, b rollupJSON) int {
		var wa, wb uuid.UUID
		if a.WebhookID != nil {
			wa, wb = *a.WebhookID, *b.WebhookID
		}
		return cmp.Or(bytes.Compare(a.AccountID[:], b.AccountID[:]), bytes.Compare(wa[:], wb[:]),
			cmp.Compare(a.Period, b.Period), a.Start.Compare(b.Start))
	}
	slices.SortFunc(webhooks, order)
	slices.SortFunc(accounts, order)
	return webhooks, accounts
}

// rollupRecordset reads the fold's rows; the rows of an account that
// no longer exists are dropped (its rollups went with it).
const rollupRecordset = `
		FROM jsonb_to_recordset($1::jsonb) AS r(account_id uuid, webhook_id uuid, period text, start timestamptz,
			succeeded integer, failed integer, attempts integer, failed_attempts integer, latency integer[])
		WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.id = r.account_id)`

const rollupSums = `succeeded = s.succeeded + EXCLUDED.succeeded, failed = s.failed + EXCLUDED.failed,
			attempts = s.attempts + EXCLUDED.attempts, failed_attempts = s.failed_attempts + EXCLUDED.failed_attempts,
			latency = stats_histogram_add(s.latency, EXCLUDED.latency)`

var (
	upsertWebhookStats = `
		INSERT INTO webhook_stats AS s (webhook_id, period, start, account_id, succeeded, failed, attempts,
			failed_attempts, latency)
		SELECT r.webhook_id, r.period, r.start, r.account_id, r.succeeded, r.failed, r.attempts, r.failed_attempts,
			r.latency` + rollupRecordset + `
		ON CONFLICT (webhook_id, period, start) DO UPDATE SET ` + rollupSums
	upsertAccountStats = `
		INSERT INTO account_stats AS s (account_id, period, start, succeeded, failed, attempts, failed_attempts, latency)
		SELECT r.account_id, r.period, r.start, r.succeeded, r.failed, r.attempts, r.failed_attempts, r.latency` +
		rollupRecordset + `
		ON CONFLICT (account_id, period, start) DO UPDATE SET ` + rollupSums
)

// FoldStats moves up to limit rows of the statistics queue into the
// rollups, in one transaction: a crash before it commits leaves the rows
// queued, its commit removes them with the counts they added, so each
// counts exactly once. It returns how many rows it folded: 0 when the
// queue is empty or another process holds the fold's lock (it folds
// then).
func (s *Store) FoldStats(ctx context.Context, limit int) (int, error) {
	var n int
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var mine bool
		if err := tx.GetContext(ctx, &mine, `SELECT pg_try_advisory_xact_lock($1)`, statsFoldLock); err != nil || !mine {
			return err
		}
		// By ctid: the queue has no key, and under the lock nothing else
		// deletes or moves its rows.
		var rows []queuedStat
		if err := tx.SelectContext(ctx, &rows, `
			DELETE FROM stats_queue WHERE ctid = ANY (ARRAY(SELECT ctid FROM stats_queue LIMIT $1))
			RETURNING account_id, webhook_id, finished_at, outcome, attempt_ok, latency_ms`, limit); err != nil {
			return err
		}
		n = len(rows)
		if n == 0 {
			return nil
		}
		webhooks, accounts := rollups(rows)
		for _, up := range []struct {
			q    string
			rows []rollupJSON
		}{{upsertWebhookStats, webhooks}, {upsertAccountStats, accounts}} {
			raw, err := json.Marshal(up.rows)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, up.q, raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("folding statistics: %w", translate(err))
	}
	return n, nil
}

// statsRow is a rollup row as scanned.
type statsRow struct {
	Start          time.Time       `db:"start"`
	Succeeded      int64           `db:"succeeded"`
	Failed         int64           `db:"failed"`
	Attempts       int64           `db:"attempts"`
	FailedAttempts int64           `db:"failed_attempts"`
	Latency        histogramColumn `db:"latency"`
}

// histogramColumn scans a histogram: an integer[] of counts in its text
// form, "{3,0,12}". lib/pq's generic array parser took 19 µs a row, most
// of the time of an account's breakdown by webhook.
type histogramColumn stats.Histogram

// Scan reads the array's text form.
func (h *histogramColumn) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("histogram: cannot scan %T", src)
	}
	var out stats.Histogram
	err := addCounts(&out, b)
	*h = histogramColumn(out)
	return err
}

// addCounts adds the counts of an integer[]'s text form, "{3,0,12}", to h
// bucket by bucket, without copying it.
func addCounts(h *stats.Histogram, b []byte) error {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return fmt.Errorf("histogram: not an array: %.40q", b)
	}
	b = b[1 : len(b)-1]
	if len(b) == 0 {
		return nil
	}
	bucket, n, digits := 0, int64(0), false
	for k := 0; k <= len(b); k++ {
		if k < len(b) && b[k] >= '0' && b[k] <= '9' {
			n, digits = n*10+int64(b[k]-'0'), true
			continue
		}
		if !digits || (k < len(b) && b[k] != ',') {
			return fmt.Errorf("histogram: not an array of counts: {%.40s}", b)
		}
		if len(*h) <= bucket {
			*h = append(*h, 0)
		}
		(*h)[bucket] += n
		bucket, n, digits = bucket+1, 0, false
	}
	return nil
}

const statsColumns = `start, succeeded, failed, attempts, failed_attempts, latency`

func (r statsRow) point() stats.Point {
	return stats.Point{Start: r.Start, Tally: stats.Tally{Succeeded: r.Succeeded, Failed: r.Failed, Attempts: r.Attempts,
		FailedAttempts: r.FailedAttempts, Latency: stats.Histogram(r.Latency)}}
}

// selectStats runs a rollup query and converts its rows.
func (s *Store) selectStats(ctx context.Context, what, q string, args ...any) ([]stats.Point, error) {
	var rows []statsRow
	if err := s.selectPrepared(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("reading %s statistics: %w", what, translate(err))
	}
	out := make([]stats.Point, len(rows))
	for i, r := range rows {
		out[i] = r.point()
	}
	return out, nil
}

// WebhookStats is a webhook's rollup rows of period p from since on,
// oldest first; none when the webhook is not the account's.
func (s *Store) WebhookStats(ctx context.Context, accountID, webhookID uuid.UUID, p stats.Period, since time.Time) ([]stats.Point, error) {
	return s.selectStats(ctx, "webhook", `
		SELECT `+statsColumns+` FROM webhook_stats
		WHERE webhook_id = $1 AND account_id = $2 AND period = $3 AND start >= $4 ORDER BY start`,
		webhookID, accountID, string(p), since)
}

// AccountStats is an account's rollup rows (all its webhooks, deleted ones
// included) of period p from since on, oldest first.
func (s *Store) AccountStats(ctx context.Context, accountID uuid.UUID, p stats.Period, since time.Time) ([]stats.Point, error) {
	return s.selectStats(ctx, "account", `
		SELECT `+statsColumns+` FROM account_stats
		WHERE account_id = $1 AND period = $2 AND start >= $3 ORDER BY start`, accountID, string(p), since)
}

// AccountWebhookTotals adds up each of an account's webhooks' rollup rows
// (deleted webhooks' included) of period p from since on, without the
// webhooks' names. The rows are added up as they are read: 24,000 for
// 1,000 webhooks over a day of hours.
func (s *Store) AccountWebhookTotals(ctx context.Context, accountID uuid.UUID, p stats.Period, since time.Time) ([]stats.WebhookTotals, error) {
	st, err := s.prepared(ctx, `
		SELECT webhook_id, succeeded, failed, attempts, failed_attempts, latency FROM webhook_stats
		WHERE account_id = $1 AND period = $2 AND start >= $3`)
	if err != nil {
		return nil, fmt.Errorf("reading account's webhook statistics: %w", translate(err))
	}
	rows, err := st.QueryContext(ctx, accountID, string(p), since)
	if err != nil {
		return nil, fmt.Errorf("reading account's webhook statistics: %w", translate(err))
	}
	defer rows.Close()
	sums := map[uuid.UUID]*stats.WebhookTotals{}
	for rows.Next() {
		var id uuid.UUID
		var t stats.Tally
		var latency sql.RawBytes
		if err := rows.Scan(&id, &t.Succeeded, &t.Failed, &t.Attempts, &t.FailedAttempts, &latency); err != nil {
			return nil, fmt.Errorf("reading account's webhook statistics: %w", err)
		}
		sum, ok := sums[id]
		if !ok {
			sum = &stats.WebhookTotals{WebhookID: id}
			sums[id] = sum
		}
		if err := addCounts(&sum.Latency, latency); err != nil {
			return nil, err
		}
		sum.Merge(t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading account's webhook statistics: %w", translate(err))
	}
	out := make([]stats.WebhookTotals, 0, len(sums))
	for _, r := range sums {
		out = append(out, *r)
	}
	return out, nil
}

// PruneStats deletes hourly rollup rows that started before hours and
// daily ones that started before days: the rollups' retention. It returns
// how many rows it deleted.
func (s *Store) PruneStats(ctx context.Context, hours, days time.Time) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		for _, table := range []string{"webhook_stats", "account_stats"} {
			res, err := tx.ExecContext(ctx, `
				DELETE FROM `+table+` WHERE (period = 'hour' AND start < $1) OR (period = 'day' AND start < $2)`,
				hours, days)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pruning statistics: %w", translate(err))
	}
	return n, nil
}

// WebhookNames maps the ids of an account's webhooks to their names.
func (s *Store) WebhookNames(ctx context.Context, accountID uuid.UUID) (map[uuid.UUID]string, error) {
	var rows []struct {
		ID   uuid.UUID `db:"id"`
		Name string    `db:"name"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT id, name FROM webhooks WHERE account_id = $1`, accountID); err != nil {
		return nil, fmt.Errorf("listing webhook names: %w", translate(err))
	}
	out := make(map[uuid.UUID]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, nil
}
