-- +goose Up
-- Delivery statistics (db/stats.go, docs/statistics.md). The statement that
-- finishes an attempt (or ends a delivery without one) appends what it adds
-- to the statistics to stats_queue; a worker folds the queue into the hourly
-- and daily rollups every few seconds, in one transaction that deletes what
-- it folded, so each row counts exactly once whatever crashes. Nothing reads
-- the delivery log to answer a statistics request.
--
-- No index and no foreign key: a row is appended once and read once, whole,
-- and the attempt's statement pays for nothing more than the append.
CREATE TABLE stats_queue (
    account_id  uuid NOT NULL,
    webhook_id  uuid NOT NULL,
    -- When the attempt (or the delivery) finished: the period it counts in.
    finished_at timestamptz NOT NULL,
    -- The delivery's outcome when this ended it ('succeeded', 'failed'),
    -- else ''.
    outcome     text NOT NULL,
    -- The attempt: did it get a 2xx (NULL: a delivery ended without an
    -- attempt), and the receiver's answer time (NULL: no HTTP answer).
    attempt_ok  boolean,
    latency_ms  integer
);

-- The rollups: one row per webhook (and per account) and hour or UTC day.
-- latency holds the counts of the latency histogram's buckets
-- (internal/stats: fixed log-scale edges), trailing empty buckets left out;
-- histograms merge by adding, so a day's and an account's percentiles come
-- from these rows alone.
CREATE TABLE webhook_stats (
    webhook_id      uuid NOT NULL,
    period          text NOT NULL CHECK (period IN ('hour', 'day')),
    start           timestamptz NOT NULL,
    -- No foreign key to the webhook: like the log, its statistics outlive it.
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    succeeded       integer NOT NULL DEFAULT 0,
    failed          integer NOT NULL DEFAULT 0,
    attempts        integer NOT NULL DEFAULT 0,
    failed_attempts integer NOT NULL DEFAULT 0,
    latency         integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (webhook_id, period, start)
);
-- An account's webhooks side by side (GET /v1/stats?by=webhook), and retention.
CREATE INDEX webhook_stats_account_idx ON webhook_stats (account_id, period, start);
CREATE INDEX webhook_stats_start_idx ON webhook_stats (period, start);

CREATE TABLE account_stats (
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    period          text NOT NULL CHECK (period IN ('hour', 'day')),
    start           timestamptz NOT NULL,
    succeeded       integer NOT NULL DEFAULT 0,
    failed          integer NOT NULL DEFAULT 0,
    attempts        integer NOT NULL DEFAULT 0,
    failed_attempts integer NOT NULL DEFAULT 0,
    latency         integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, period, start)
);
CREATE INDEX account_stats_start_idx ON account_stats (period, start);

-- Adds two histograms bucket by bucket (the shorter one padded with zeros).
-- +goose StatementBegin
CREATE FUNCTION stats_histogram_add(a integer[], b integer[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i), '{}')
    FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION stats_histogram_add(integer[], integer[]);
DROP TABLE account_stats;
DROP TABLE webhook_stats;
DROP TABLE stats_queue;
