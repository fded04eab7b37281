-- +goose Up
-- Throttling that protects receivers (see db.StartAttempt): per webhook a
-- maximum of requests in flight, an optional rate, and a shared back-off
-- after 429/502/503/504 or a Retry-After.
ALTER TABLE webhooks ADD COLUMN max_concurrency integer NOT NULL DEFAULT 10
    CHECK (max_concurrency BETWEEN 1 AND 100);
ALTER TABLE webhooks ADD COLUMN rate_limit_per_second double precision
    CHECK (rate_limit_per_second IS NULL OR rate_limit_per_second BETWEEN 0.1 AND 1000);
-- No request is sent before throttled_until; throttle_step is how many
-- throttling answers in a row (the back-off doubles with each).
ALTER TABLE webhooks ADD COLUMN throttled_until timestamptz;
ALTER TABLE webhooks ADD COLUMN throttle_step integer NOT NULL DEFAULT 0;
-- The next free send time under rate_limit_per_second: each request (or
-- reservation) takes greatest(now, rate_next_at) and moves it 1/rate on.
ALTER TABLE webhooks ADD COLUMN rate_next_at timestamptz;

-- One row per concurrency slot of a webhook (slots 1..max_concurrency).
-- A request takes a free slot (FOR UPDATE SKIP LOCKED) and names itself in
-- it until it is answered; a worker lost mid-request leaves the slot taken
-- until expires_at (the attempt timeout plus a margin), then it frees
-- itself. Fixed rows rather than one row per request: taking a slot locks
-- only that row, and a slot taken by a transaction that committed after
-- this statement's snapshot is seen (re-checked on lock), so two workers
-- can never both take the last one.
CREATE TABLE webhook_leases (
    webhook_id  uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    slot        integer NOT NULL,
    delivery_id uuid,
    series      integer,
    number      integer,
    try         integer,
    expires_at  timestamptz,
    PRIMARY KEY (webhook_id, slot)
);

-- The slots exist for every webhook, whoever creates it or raises its
-- maximum (an older binary too).
-- +goose StatementBegin
CREATE FUNCTION webhook_leases_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_leases (webhook_id, slot)
    SELECT NEW.id, g FROM generate_series(1, NEW.max_concurrency) g
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER webhook_leases_fill AFTER INSERT OR UPDATE OF max_concurrency ON webhooks
    FOR EACH ROW EXECUTE FUNCTION webhook_leases_fill();
INSERT INTO webhook_leases (webhook_id, slot)
SELECT w.id, g FROM webhooks w, generate_series(1, w.max_concurrency) g;

-- +goose Down
DROP TRIGGER webhook_leases_fill ON webhooks;
DROP FUNCTION webhook_leases_fill();
DROP TABLE webhook_leases;
ALTER TABLE webhooks DROP COLUMN rate_next_at;
ALTER TABLE webhooks DROP COLUMN throttle_step;
ALTER TABLE webhooks DROP COLUMN throttled_until;
ALTER TABLE webhooks DROP COLUMN rate_limit_per_second;
ALTER TABLE webhooks DROP COLUMN max_concurrency;
