-- +goose Up
-- Endpoint health: each webhook tracks how long and how often it has been
-- failing, and is disabled with a reason once past the threshold (or at
-- once on 410 Gone). See activities/health.go.
ALTER TABLE webhooks ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN exhausted_streak integer NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN failing_since timestamptz;
ALTER TABLE webhooks ADD COLUMN last_success_at timestamptz;
-- The highest warning (percent of the threshold) already sent since the
-- webhook began failing: 0, 50, 75 or 90.
ALTER TABLE webhooks ADD COLUMN health_warned integer NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN disabled_reason text NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN disabled_message text NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN disabled_at timestamptz;
UPDATE webhooks SET disabled_reason = 'manual', disabled_at = updated_at WHERE NOT enabled;

-- An event that matches a disabled webhook is recorded for it, never sent,
-- so it can be replayed once the webhook is enabled again.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed', 'cancelled', 'skipped_disabled'));
CREATE INDEX deliveries_webhook_skipped_idx ON deliveries (webhook_id, created_at) WHERE status = 'skipped_disabled';

-- +goose Down
DROP INDEX deliveries_webhook_skipped_idx;
DELETE FROM deliveries WHERE status = 'skipped_disabled';
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed', 'cancelled'));
ALTER TABLE webhooks DROP COLUMN disabled_at;
ALTER TABLE webhooks DROP COLUMN disabled_message;
ALTER TABLE webhooks DROP COLUMN disabled_reason;
ALTER TABLE webhooks DROP COLUMN health_warned;
ALTER TABLE webhooks DROP COLUMN last_success_at;
ALTER TABLE webhooks DROP COLUMN failing_since;
ALTER TABLE webhooks DROP COLUMN exhausted_streak;
ALTER TABLE webhooks DROP COLUMN consecutive_failures;
