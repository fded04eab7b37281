package db

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
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
// delivery @delivery_id's webhook for @signal (a HealthSignal) and the
// throttle (see ThrottleSignal) @retry_after (seconds, or -1: no
// throttling), @throttle_base and @throttle_max (seconds), the answer
// having come at @finished_at to a request sent @duration_ms before
// ({deliveries}: the delivery's period's, see periodTables). A healthy,
// unthrottled webhook that succeeds again is not written at all (its last
// success is refreshed once a minute at most), so a busy webhook's
// deliveries do not queue on its row.
//
// throttle (a CTE too) is the throttle this answer asks for, if any: a
// delivery that got it retries no sooner.
//
// The throttle's step grows only with an answer to a request sent after
// the webhook's last throttle ended: answers to requests that were in
// flight together count once, and extend the throttle only.
const healthUpdate = `
		was AS (
			SELECT w.id, w.failing_since, w.health_warned,
				CASE WHEN w.throttled_until IS NULL
				       OR w.throttled_until <= @finished_at::timestamptz - make_interval(secs => @duration_ms / 1000.0)
				     THEN w.throttle_step + 1
				     ELSE greatest(w.throttle_step, 1) END AS next_step
			FROM webhooks w
			WHERE w.id = (SELECT webhook_id FROM {deliveries}
			              WHERE id = @delivery_id AND created_at >= @lo AND created_at < @hi)
		), throttle AS (
			-- The throttle this answer asks for (none: no row).
			SELECT @finished_at::timestamptz + make_interval(secs => greatest(@retry_after::float8,
					least(@throttle_max::float8, @throttle_base::float8 * power(2, least(was.next_step, 30) - 1))))
				AS until
			FROM was WHERE @retry_after::float8 >= 0 AND @signal <> ''
		), health AS (
			UPDATE webhooks w SET
				consecutive_failures = CASE WHEN @signal = 'success' THEN 0 ELSE w.consecutive_failures + 1 END,
				failing_since = CASE WHEN @signal = 'success' THEN NULL
					ELSE coalesce(w.failing_since, @finished_at::timestamptz) END,
				last_success_at = CASE WHEN @signal = 'success' THEN @finished_at::timestamptz ELSE w.last_success_at END,
				exhausted_streak = CASE WHEN @signal = 'success' THEN 0
					WHEN @signal = 'exhausted' THEN w.exhausted_streak + 1 ELSE w.exhausted_streak END,
				health_warned = CASE WHEN @signal = 'success' THEN 0 ELSE w.health_warned END,
				throttle_step = CASE WHEN @signal = 'success' THEN 0 WHEN @retry_after::float8 >= 0 THEN was.next_step
					ELSE w.throttle_step END,
				throttled_until = CASE WHEN @signal = 'success' THEN NULL
					WHEN @retry_after::float8 >= 0 THEN greatest(w.throttled_until, (SELECT until FROM throttle))
					ELSE w.throttled_until END
			FROM was WHERE w.id = was.id AND @signal <> ''
			  AND NOT (@signal = 'success' AND w.consecutive_failures = 0 AND w.failing_since IS NULL
			           AND coalesce(w.last_success_at > @finished_at::timestamptz - interval '1 minute', false)
			           AND w.throttle_step = 0 AND w.throttled_until IS NULL)
			RETURNING w.id, w.account_id, w.name, w.url, w.enabled, w.consecutive_failures, w.exhausted_streak,
				w.failing_since, was.failing_since AS was_failing_since, was.health_warned AS was_warned,
				w.throttled_until
		)`

// SystemEvent is an operational event the engine publishes (see
// events.WebhookFailing): stored in the outbox like a published event.
type SystemEvent struct {
	AccountID uuid.UUID
	ID        string // deterministic, so a repeated notice is one event
	Type      string
	Data      any // marshalled to JSON
}

// insertSystemEvent is the INSERT of a system event into the outbox (its
// inputs are SystemEvent.args), done only when cond holds.
func insertSystemEvent(cond string) string {
	return `
		INSERT INTO events (account_id, id, type, trigger_source, occurred_at, data, workflow_id, search_key, schema_version)
		SELECT @account_id::uuid, @event_id, @event_type, @trigger_source, now(), @data::jsonb, @workflow_id,
			` + searchKey("@data::jsonb", "@search_field::text") + `, @schema_version
		WHERE ` + cond + `
		  AND NOT EXISTS (SELECT 1 FROM events WHERE account_id = @account_id::uuid AND id = @event_id)
		ON CONFLICT DO NOTHING
		RETURNING ` + eventColumns
}

// args are the inputs of insertSystemEvent, and room for more.
func (e SystemEvent) args() (map[string]any, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("encoding system event: %w", err)
	}
	// The workflow id comes from flow, the one place its rule lives.
	return map[string]any{"account_id": e.AccountID, "event_id": e.ID, "event_type": e.Type,
		"trigger_source": events.SourceSystem, "data": data, "search_field": searchKeyOf(e.Type),
		"workflow_id": flow.EventWorkflowID(e.AccountID.String(), e.ID),
		// The engine's data is its own (activities' notice): the tests hold
		// it to the type's schema, whose version is recorded here.
		"schema_version": events.SchemaVersion(e.Type)}, nil
}

var (
	publishSystemEvent = named(insertSystemEvent("true"))
	warnHealth         = named(`
		WITH warned AS (
			UPDATE webhooks SET health_warned = @level WHERE id = @webhook_id AND health_warned < @level AND enabled
			RETURNING id
		)` + insertSystemEvent("EXISTS (SELECT 1 FROM warned)"))
	autoDisable = named(`
		WITH disabled AS (
			UPDATE webhooks SET enabled = false, disabled_reason = @reason, disabled_message = @message,
				disabled_at = now(), updated_at = now()
			WHERE id = @webhook_id AND enabled RETURNING id
		)` + insertSystemEvent("EXISTS (SELECT 1 FROM disabled)"))
)

// insertEvent runs q, a statement ending in insertSystemEvent, for e with
// the other inputs in more; ok=false when it inserted nothing.
func (s *Store) insertEvent(ctx context.Context, q namedSQL, e SystemEvent, more map[string]any) (Event, bool, error) {
	values, err := e.args()
	if err != nil {
		return Event{}, false, err
	}
	maps.Copy(values, more)
	args, err := q.args(values)
	if err != nil {
		return Event{}, false, err
	}
	var out []Event
	if err := s.guardPartition(ctx, func() error { return s.db.SelectContext(ctx, &out, q.text, args...) }); err != nil {
		return Event{}, false, translate(err)
	}
	if len(out) == 0 {
		return Event{}, false, nil
	}
	return out[0], true, nil
}

// PublishSystemEvent stores a system event in the outbox. It returns the
// stored event, or ok=false when one with that id existed already.
func (s *Store) PublishSystemEvent(ctx context.Context, e SystemEvent) (Event, bool, error) {
	ev, ok, err := s.insertEvent(ctx, publishSystemEvent, e, nil)
	if err != nil {
		return Event{}, false, fmt.Errorf("publishing %s: %w", e.Type, err)
	}
	return ev, ok, nil
}

// WarnHealth records that the warning at level percent was sent and stores
// its event, both or neither; ok=false when that level (or a higher one)
// was recorded already, e.g. by another worker.
func (s *Store) WarnHealth(ctx context.Context, webhookID uuid.UUID, level int, e SystemEvent) (Event, bool, error) {
	ev, ok, err := s.insertEvent(ctx, warnHealth, e, map[string]any{"level": level, "webhook_id": webhookID})
	if err != nil {
		return Event{}, false, fmt.Errorf("recording a health warning: %w", err)
	}
	return ev, ok, nil
}

// AutoDisable disables an enabled webhook with a reason and stores the
// event telling its owner, both or neither; ok=false when it was not
// enabled (disabled meanwhile, by hand or by another worker).
func (s *Store) AutoDisable(ctx context.Context, webhookID uuid.UUID, reason, message string, e SystemEvent) (Event, bool, error) {
	ev, ok, err := s.insertEvent(ctx, autoDisable, e, map[string]any{"reason": reason, "message": message, "webhook_id": webhookID})
	if err != nil {
		return Event{}, false, fmt.Errorf("disabling webhook: %w", err)
	}
	return ev, ok, nil
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
