// Package benchlog measures the delivery log at a year's scale (make
// bench-log): it fills a database with a log of Spec's size through the
// store's own schema (generate_series, one day at a time), then measures
// each search's latency and plan, the tables' sizes, and retention: a
// period's partitions dropped against a day's rows deleted.
// scripts/bench-log.sh runs it on a PostgreSQL of its own; its test runs a
// small one.
package benchlog

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
)

// Spec is the log to generate.
type Spec struct {
	Attempts int `json:"attempts"` // about this many attempts in all
	Days     int `json:"days"`     // spread evenly over the last Days days
	// EndDaysAgo ends the log that many days before now (0: now): the
	// fault suite writes a log past the retention period.
	EndDaysAgo int     `json:"endDaysAgo,omitempty"`
	Accounts   int     `json:"accounts"`
	Seed       float64 `json:"seed"` // PostgreSQL's setseed, -1 to 1
}

// The shape of the generated traffic. An envelope has 5 events (started,
// viewed, signed, all signed, finished; a few declined, cancelled or
// expired), half of them under an ordering key (the envelope id). An event
// goes to 1 (60 %), 2 (30 %) or 3 (10 %) of its account's webhooks. A
// delivery succeeds at once (90 %), after 2-3 attempts (7 %), fails for
// good after 6-11 (1.5 %), is still retrying (1 %), was cancelled (0.3 %)
// or skipped while its webhook was disabled (0.2 %). Accounts are skewed:
// account k of n gets a share like (k/n)^(1/3) - ((k-1)/n)^(1/3), so the
// largest has 10 % of the traffic and the top 10 about a fifth, as with a
// SaaS's biggest customers.
const (
	eventsPerEnvelope   = 5
	deliveriesPerEvent  = 1.5
	attemptsPerDelivery = 1.2255
	webhooksPerAccount  = 3
)

// envelopes is how many envelopes a day makes for s.
func (s Spec) envelopesPerDay() int {
	n := float64(s.Attempts) / attemptsPerDelivery / deliveriesPerEvent / eventsPerEnvelope / float64(s.Days)
	return max(1, int(n))
}

// Generate fills the database with s's log ending now: accounts named
// "benchlog <n>" with their webhooks, and the log's partitions for the
// past days, then one day at a time events, deliveries and attempts. It
// returns the time the log ends at.
func Generate(ctx context.Context, db *sqlx.DB, s Spec, logf func(string, ...any)) (time.Time, error) {
	conn, err := db.Connx(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer conn.Close()
	var end time.Time
	if err := conn.GetContext(ctx, &end, `SELECT date_trunc('second', now())`); err != nil {
		return end, err
	}
	end = end.AddDate(0, 0, -s.EndDaysAgo)
	start := end.AddDate(0, 0, -s.Days)
	setup := []string{
		// One ordering of random() per seed: no parallel plans.
		`SET max_parallel_workers_per_gather = 0`,
		fmt.Sprintf(`SELECT setseed(%g)`, s.Seed),
		`INSERT INTO accounts (id, name, plan)
		 SELECT md5('benchlog account ' || a)::uuid, 'benchlog ' || lpad(a::text, 6, '0'), 'professional'
		 FROM generate_series(0, $1 - 1) a ON CONFLICT DO NOTHING`,
		`INSERT INTO webhooks (id, account_id, name, url, event_types, trigger_sources, secret_enc)
		 SELECT md5(a.id::text || w)::uuid, a.id, 'hook ' || w, 'https://hooks.example.com/' || a.id || '/' || w,
		     '{ENVELOPE_START,ENVELOPE_SIGNER_VIEWED,ENVELOPE_SIGNER_SIGNED,ENVELOPE_ALL_SIGNER_SIGNED,SIGNER_DECLINED,ENVELOPE_FINISH,ENVELOPE_CANCEL,ENVELOPE_EXPIRED}',
		     '{saas_page,third_party_app}', '\x00'
		 FROM accounts a, generate_series(0, ` + fmt.Sprint(webhooksPerAccount-1) + `) w
		 WHERE a.name LIKE 'benchlog %' ON CONFLICT DO NOTHING`,
	}
	for i, q := range setup {
		var args []any
		if i == 2 {
			args = []any{s.Accounts}
		}
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			return end, fmt.Errorf("generating the accounts: %w", err)
		}
	}
	// The weeks before the migration's partitions (this week's and the next).
	if _, err := conn.ExecContext(ctx, `
		SELECT log_partition_add(w, w + interval '1 week')
		FROM generate_series(date_trunc('week', $1::timestamptz, 'UTC'), date_trunc('week', now(), 'UTC') - interval '1 week',
		                     interval '1 week') w`, start); err != nil {
		return end, fmt.Errorf("adding past partitions: %w", err)
	}
	n := s.envelopesPerDay()
	for d := range s.Days {
		from := start.AddDate(0, 0, d)
		to := from.AddDate(0, 0, 1)
		if d == s.Days-1 {
			to = end.Add(time.Hour) // the last envelopes' later events
		}
		began := time.Now()
		for _, step := range []struct {
			what string
			q    string
			args []any
		}{
			{"events", genEvents, []any{from, n, s.Accounts, d}},
			{"deliveries", genDeliveries, []any{from, to}},
			{"attempts", genAttempts, []any{from, to}},
		} {
			if _, err := conn.ExecContext(ctx, step.q, step.args...); err != nil {
				return end, fmt.Errorf("generating day %d's %s: %w", d, step.what, err)
			}
		}
		logf("day %d/%d (%s): %d envelopes in %s", d+1, s.Days, from.Format("2006-01-02"), n, time.Since(began).Round(time.Millisecond))
	}
	if _, err := conn.ExecContext(ctx, `ANALYZE events, deliveries, attempts`); err != nil {
		return end, err
	}
	return end, nil
}

// genEvents makes a day's envelopes ($2 of them, from $1 on, over $3
// accounts; $4 the day's number) and their events.
const genEvents = `
	WITH acct AS (
		SELECT array_agg(id ORDER BY name) AS ids FROM accounts WHERE name LIKE 'benchlog %'
	), env AS MATERIALIZED (
		SELECT j, least(floor($3 * random() ^ 3)::int, $3 - 1) AS a, random() AS r, random() AS r_source,
			random() AS r_key, $1::timestamptz + (j::float8 / $2) * interval '1 day' AS t0
		FROM generate_series(0, $2 - 1) j
	), ev AS (
		SELECT acct.ids[env.a + 1] AS account_id, 'env_' || $4 || '_' || env.j AS envelope, env.r, env.r_source,
			env.r_key, k,
			env.t0 + k * interval '2 minutes' AS at,
			CASE WHEN k = 2 AND env.r < 0.04 THEN 'SIGNER_DECLINED'
			     WHEN k = 4 AND env.r < 0.07 THEN 'ENVELOPE_CANCEL'
			     WHEN k = 4 AND env.r < 0.1 THEN 'ENVELOPE_EXPIRED'
			     ELSE (ARRAY['ENVELOPE_START', 'ENVELOPE_SIGNER_VIEWED', 'ENVELOPE_SIGNER_SIGNED',
			                 'ENVELOPE_ALL_SIGNER_SIGNED', 'ENVELOPE_FINISH'])[k + 1] END AS type
		FROM env, acct, generate_series(0, 4) k
	)
	INSERT INTO events (account_id, id, type, trigger_source, app_id, occurred_at, data, workflow_id, created_at,
		dispatched_at, ordering_key, sequence, search_key)
	SELECT account_id, 'evt_' || envelope || '_' || k, type,
		CASE WHEN r_source < 0.1 THEN 'third_party_app' ELSE 'saas_page' END,
		CASE WHEN r_source < 0.1 THEN 'app-' || (r_source * 1000)::int % 7 ELSE '' END, at,
		jsonb_build_object('envelopeId', envelope, 'envelopeStatus', k, 'signerIds', jsonb_build_array('s-1', 's-2')),
		'event/' || account_id || '/evt_' || envelope || '_' || k, at, at + interval '40 milliseconds',
		CASE WHEN r_key < 0.5 THEN envelope ELSE '' END, CASE WHEN r_key < 0.5 THEN k + 1 ELSE 0 END,
		envelope
	FROM ev`

// genDeliveries makes the deliveries of the events stored in [$1, $2).
var genDeliveries = `
	WITH d AS MATERIALIZED (
		SELECT e.account_id, e.id, e.type, e.created_at, e.workflow_id, e.ordering_key, e.sequence, e.trigger_source,
			w, random() AS s
		FROM events e
		CROSS JOIN LATERAL generate_series(0, CASE WHEN random() < 0.6 THEN 0 WHEN random() < 0.75 THEN 1 ELSE 2 END) w
		WHERE e.created_at >= $1 AND e.created_at < $2
	), o AS (
		SELECT d.*,
			CASE WHEN s < 0.90 THEN 'succeeded' WHEN s < 0.97 THEN 'succeeded' WHEN s < 0.985 THEN 'failed'
			     WHEN s < 0.995 THEN 'retrying' WHEN s < 0.998 THEN 'cancelled' ELSE 'skipped_disabled' END AS status,
			CASE WHEN s < 0.90 THEN 1 WHEN s < 0.97 THEN 2 + (s * 1000)::int % 2 WHEN s < 0.985 THEN 6 + (s * 10000)::int % 6
			     WHEN s < 0.995 THEN 1 + (s * 10000)::int % 3 WHEN s < 0.998 THEN 1 ELSE 0 END AS n,
			CASE WHEN s < 0.97 THEN 200
			     WHEN s < 0.985 THEN (ARRAY[500, 503, 404, 410])[1 + (s * 100000)::int % 4]
			     WHEN s < 0.998 THEN 503 END AS code
		FROM d
	)
	INSERT INTO deliveries (id, account_id, event_id, webhook_id, event_type, message_id, status, status_reason,
		attempt_count, series, workflow_id, next_attempt_at, last_status_code, created_at, updated_at, ordering_key,
		sequence, ordered, trigger_source)
	SELECT v.id, o.account_id, o.id, md5(o.account_id::text || o.w)::uuid, o.type,
		'msg_' || replace(v.id::text, '-', ''), o.status,
		CASE o.status WHEN 'failed' THEN 'every attempt of the schedule failed' WHEN 'skipped_disabled'
			THEN 'the webhook was disabled (manual)' ELSE '' END,
		o.n, 1, o.workflow_id, CASE WHEN o.status = 'retrying' THEN o.created_at + interval '10 minutes' END, o.code,
		o.created_at, o.created_at + o.n * interval '30 seconds', o.ordering_key, o.sequence, false, o.trigger_source
	FROM o, LATERAL (SELECT ` + db.UUIDv7SQL("o.created_at") + ` AS id) v`

// genAttempts makes the attempts of the deliveries of [$1, $2).
const genAttempts = `
	INSERT INTO attempts (delivery_id, series, number, try, url, started_at, duration_ms, response_status,
		response_body, error, finished_at, auth_method, delivery_created_at)
	SELECT d.id, 1, k, 1, 'https://hooks.example.com/' || d.account_id || '/0',
		d.created_at + (k - 1) * interval '30 seconds', 20 + k * 7,
		CASE WHEN k = d.attempt_count THEN d.last_status_code ELSE 503 END,
		CASE WHEN k = d.attempt_count AND d.last_status_code = 200 THEN '{"ok":true}'::bytea
		     ELSE 'Service Unavailable'::bytea END, '',
		d.created_at + (k - 1) * interval '30 seconds' + (20 + k * 7) * interval '1 millisecond', 'none', d.created_at
	FROM deliveries d CROSS JOIN LATERAL generate_series(1, d.attempt_count) k
	WHERE d.created_at >= $1 AND d.created_at < $2`
