-- +goose Up
-- A webhook's own delivery timing and payload form (docs/delivery.md,
-- "A webhook's own timeout, schedule and payload"). NULL timing is the
-- global one (DELIVERY_TIMEOUT, DELIVERY_RETRY_SCHEDULE), so existing
-- webhooks keep delivering exactly as before.
ALTER TABLE webhooks ADD COLUMN timeout_seconds integer
    CHECK (timeout_seconds IS NULL OR timeout_seconds BETWEEN 1 AND 30);
-- A named preset (package schedule) or a list of waits in seconds, never
-- both. The preset is stored by name, so the API shows it as chosen; its
-- bounds and names are the service's to check (a name a worker does not
-- know falls back to the global schedule).
ALTER TABLE webhooks ADD COLUMN retry_preset text;
ALTER TABLE webhooks ADD COLUMN retry_waits integer[]
    CHECK (retry_waits IS NULL OR cardinality(retry_waits) BETWEEN 1 AND 30);
ALTER TABLE webhooks ADD CONSTRAINT webhooks_retry_schedule_one
    CHECK (retry_preset IS NULL OR retry_waits IS NULL);
-- full: the event's data in eventPayload; thin: its resource ids only.
ALTER TABLE webhooks ADD COLUMN payload text NOT NULL DEFAULT 'full'
    CHECK (payload IN ('full', 'thin'));

-- A read-only API key: fetches one event by id (what a thin payload's
-- receiver needs), nothing else.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check
    CHECK (role IN ('admin', 'member', 'publisher', 'reader'));

-- +goose Down
DELETE FROM api_keys WHERE role = 'reader';
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check
    CHECK (role IN ('admin', 'member', 'publisher'));
ALTER TABLE webhooks DROP COLUMN payload;
ALTER TABLE webhooks DROP CONSTRAINT webhooks_retry_schedule_one;
ALTER TABLE webhooks DROP COLUMN retry_waits;
ALTER TABLE webhooks DROP COLUMN retry_preset;
ALTER TABLE webhooks DROP COLUMN timeout_seconds;
