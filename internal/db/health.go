package db

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// HealthSignal is what an attempt says about its webhook's health.
type HealthSignal string

// Health signals of an attempt.
const (
	HealthNone      HealthSignal = ""          // a test, or nothing was sent
	HealthSuccess   HealthSignal = "success"   // answered 2xx
	HealthFailure   HealthSignal = "failure"   // failed; the delivery goes on
	HealthExhausted HealthSignal = "exhausted" // failed, and its delivery with it
)

// HealthChange is a webhook's health after an attempt, with what it was.
// The json tags are the column names: FinishAttempt reads it as JSON.
type HealthChange struct {
	WebhookID           uuid.UUID  `db:"id" json:"id"`
	AccountID           uuid.UUID  `db:"account_id" json:"account_id"`
	Name                string     `db:"name" json:"name"`
	URL                 string     `db:"url" json:"url"`
	Enabled             bool       `db:"enabled" json:"enabled"`
	ConsecutiveFailures int        `db:"consecutive_failures" json:"consecutive_failures"`
	ExhaustedStreak     int        `db:"exhausted_streak" json:"exhausted_streak"`
	FailingSince        *time.Time `db:"failing_since" json:"failing_since"`
	WasFailingSince     *time.Time `db:"was_failing_since" json:"was_failing_since"`
	WasWarned           int        `db:"was_warned" json:"was_warned"`
	// ThrottledUntil is the webhook's throttle after the attempt.
	ThrottledUntil *time.Time `db:"throttled_until" json:"throttled_until"`
}

// healthUpdate is the CTE that moves the health and the throttle of
// delivery $1's webhook for the signal at placeholder h, the time at
// placeholder t and the throttle (see ThrottleSignal) at placeholders r
// (Retry-After in seconds, or -1: no throttling), base and max (seconds);
// $9's attempt started at placeholder t's time minus its duration. A
// healthy, unthrottled webhook that succeeds again is not written at all
// (its last success is refreshed once a minute at most), so a busy
// webhook's deliveries do not queue on its row.
//
// throttle (a CTE too) is the throttle this answer asks for, if any: a
// delivery that got it retries no sooner.
//
// The throttle's step grows only with an answer to a request sent after
// the webhook's last throttle ended: answers to requests that were in
// flight together count once, and extend the throttle only.
func healthUpdate(h, t, r, base, max int) string {
	return strings.NewReplacer("$H", fmt.Sprintf("$%d", h), "$T", fmt.Sprintf("$%d::timestamptz", t),
		"$R", fmt.Sprintf("$%d::float8", r), "$BASE", fmt.Sprintf("$%d::float8", base), "$MAX", fmt.Sprintf("$%d::float8", max)).Replace(`
		was AS (
			SELECT w.id, w.failing_since, w.health_warned,
				CASE WHEN w.throttled_until IS NULL
				       OR w.throttled_until <= $T - make_interval(secs => $5 / 1000.0) THEN w.throttle_step + 1
				     ELSE greatest(w.throttle_step, 1) END AS next_step
			FROM webhooks w
			WHERE w.id = (SELECT webhook_id FROM deliveries WHERE id = $1)
		), throttle AS (
			-- The throttle this answer asks for (none: no row).
			SELECT $T + make_interval(secs => greatest($R, least($MAX, $BASE * power(2, least(was.next_step, 30) - 1))))
				AS until
			FROM was WHERE $R >= 0 AND $H <> ''
		), health AS (
			UPDATE webhooks w SET
				consecutive_failures = CASE WHEN $H = 'success' THEN 0 ELSE w.consecutive_failures + 1 END,
				failing_since = CASE WHEN $H = 'success' THEN NULL ELSE coalesce(w.failing_since, $T) END,
				last_success_at = CASE WHEN $H = 'success' THEN $T ELSE w.last_success_at END,
				exhausted_streak = CASE WHEN $H = 'success' THEN 0 WHEN $H = 'exhausted' THEN w.exhausted_streak + 1
					ELSE w.exhausted_streak END,
				health_warned = CASE WHEN $H = 'success' THEN 0 ELSE w.health_warned END,
				throttle_step = CASE WHEN $H = 'success' THEN 0 WHEN $R >= 0 THEN was.next_step ELSE w.throttle_step END,
				throttled_until = CASE WHEN $H = 'success' THEN NULL
					WHEN $R >= 0 THEN greatest(w.throttled_until, (SELECT until FROM throttle))
					ELSE w.throttled_until END
			FROM was WHERE w.id = was.id AND $H <> ''
			  AND NOT ($H = 'success' AND w.consecutive_failures = 0 AND w.failing_since IS NULL
			           AND coalesce(w.last_success_at > $T - interval '1 minute', false)
			           AND w.throttle_step = 0 AND w.throttled_until IS NULL)
			RETURNING w.id, w.account_id, w.name, w.url, w.enabled, w.consecutive_failures, w.exhausted_streak,
				w.failing_since, was.failing_since AS was_failing_since, was.health_warned AS was_warned,
				w.throttled_until
		)`)
}

// SystemEvent is an operational event the engine publishes (see
// events.WebhookFailing): stored in the outbox like a published event.
type SystemEvent struct {
	AccountID uuid.UUID
	ID        string // deterministic, so a repeated notice is one event
	Type      string
	Data      any // marshalled to JSON
}

// insertSystemEvent is the INSERT of a system event into the outbox, its
// account, id, type and data at placeholders first..first+3, done only
// when cond holds.
func insertSystemEvent(first int, cond string) string {
	a, id, typ, data := first, first+1, first+2, first+3
	return fmt.Sprintf(`
		INSERT INTO events (account_id, id, type, trigger_source, occurred_at, data, workflow_id)
		SELECT $%[1]d::uuid, $%[2]d, $%[3]d, 'system', now(), $%[4]d::jsonb, 'event/' || $%[1]d::uuid::text || '/' || $%[2]d
		WHERE %[5]s
		ON CONFLICT (account_id, id) DO NOTHING
		RETURNING `, a, id, typ, data, cond) + eventColumns
}

func (e SystemEvent) args() ([]any, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("encoding system event: %w", err)
	}
	return []any{e.AccountID, e.ID, e.Type, data}, nil
}

// PublishSystemEvent stores a system event in the outbox. It returns the
// stored event, or ok=false when one with that id existed already.
func (s *Store) PublishSystemEvent(ctx context.Context, e SystemEvent) (Event, bool, error) {
	args, err := e.args()
	if err != nil {
		return Event{}, false, err
	}
	var out []Event
	if err := s.db.SelectContext(ctx, &out, insertSystemEvent(1, "true"), args...); err != nil {
		return Event{}, false, fmt.Errorf("publishing %s: %w", e.Type, translate(err))
	}
	if len(out) == 0 {
		return Event{}, false, nil
	}
	return out[0], true, nil
}

// WarnHealth records that the warning at level percent was sent and stores
// its event, both or neither; ok=false when that level (or a higher one)
// was recorded already, e.g. by another worker.
func (s *Store) WarnHealth(ctx context.Context, webhookID uuid.UUID, level int, e SystemEvent) (Event, bool, error) {
	args, err := e.args()
	if err != nil {
		return Event{}, false, err
	}
	var out []Event
	q := `WITH warned AS (
			UPDATE webhooks SET health_warned = $5 WHERE id = $6 AND health_warned < $5 AND enabled RETURNING id
		)` + insertSystemEvent(1, "EXISTS (SELECT 1 FROM warned)")
	if err := s.db.SelectContext(ctx, &out, q, append(args, level, webhookID)...); err != nil {
		return Event{}, false, fmt.Errorf("recording a health warning: %w", translate(err))
	}
	if len(out) == 0 {
		return Event{}, false, nil
	}
	return out[0], true, nil
}

// AutoDisable disables an enabled webhook with a reason and stores the
// event telling its owner, both or neither; ok=false when it was not
// enabled (disabled meanwhile, by hand or by another worker).
func (s *Store) AutoDisable(ctx context.Context, webhookID uuid.UUID, reason, message string, e SystemEvent) (Event, bool, error) {
	args, err := e.args()
	if err != nil {
		return Event{}, false, err
	}
	var out []Event
	q := `WITH disabled AS (
			UPDATE webhooks SET enabled = false, disabled_reason = $5, disabled_message = $6, disabled_at = now(),
				updated_at = now()
			WHERE id = $7 AND enabled RETURNING id
		)` + insertSystemEvent(1, "EXISTS (SELECT 1 FROM disabled)")
	if err := s.db.SelectContext(ctx, &out, q, append(args, reason, message, webhookID)...); err != nil {
		return Event{}, false, fmt.Errorf("disabling webhook: %w", translate(err))
	}
	if len(out) == 0 {
		return Event{}, false, nil
	}
	return out[0], true, nil
}

// WebhookHealthRow is a failing webhook, or one with deliveries waiting.
type WebhookHealthRow struct {
	WebhookID           uuid.UUID `db:"id"`
	AccountID           uuid.UUID `db:"account_id"`
	ConsecutiveFailures int       `db:"consecutive_failures"`
	OldestSeconds       float64   `db:"oldest_seconds"`
}

// UnhealthyWebhooks lists webhooks that are failing or have unfinished
// deliveries, with the age of the oldest (for metrics).
func (s *Store) UnhealthyWebhooks(ctx context.Context) ([]WebhookHealthRow, error) {
	out := []WebhookHealthRow{}
	err := s.db.SelectContext(ctx, &out, `
		SELECT w.id, w.account_id, w.consecutive_failures,
			coalesce(extract(epoch FROM now() - (SELECT min(d.created_at) FROM deliveries d
				WHERE d.webhook_id = w.id AND d.status IN ('pending', 'retrying'))), 0) AS oldest_seconds
		FROM webhooks w
		WHERE w.consecutive_failures > 0
		   OR EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id AND d.status IN ('pending', 'retrying'))`)
	if err != nil {
		return nil, fmt.Errorf("listing unhealthy webhooks: %w", translate(err))
	}
	return out, nil
}
