-- +goose Up
-- A webhook implies its account, but the planner multiplies the
-- selectivities of account_id and webhook_id as if they were independent:
-- on bench-log's log it estimated 18 of a webhook's 4,202 deliveries in a
-- period, so the webhookId search sorted all of them instead of reading
-- the periods' indexes newest first under the limit (p99 140 ms on a quiet
-- machine; docs/performance.md). Extended statistics on each deliveries
-- partition (the planner estimates a partition from its own) tell it the
-- dependency; log_partition_add creates them for every new period.
-- +goose StatementBegin
DO $$
DECLARE
    p text;
BEGIN
    FOR p IN SELECT partition FROM log_partitions() WHERE parent = 'deliveries' LOOP
        EXECUTE format('CREATE STATISTICS IF NOT EXISTS %I (dependencies, ndistinct) ON account_id, webhook_id FROM %I',
                       p || '_account_webhook', p);
        EXECUTE format('ANALYZE %I', p);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION log_partition_add(p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
    suffix text := '_p' || to_char(p_from, 'YYYYMMDD');
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['events', 'deliveries', 'attempts'] LOOP
        IF to_regclass(t || suffix) IS NULL THEN
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', t || suffix, t);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', t, t || suffix, p_from, p_to);
        END IF;
    END LOOP;
    -- An event id is unique in its partition (see the top of 00015).
    EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %I (account_id, id)', 'events' || suffix || '_id', 'events' || suffix);
    -- A webhook implies its account (see the top of 00020).
    EXECUTE format('CREATE STATISTICS IF NOT EXISTS %I (dependencies, ndistinct) ON account_id, webhook_id FROM %I',
                   'deliveries' || suffix || '_account_webhook', 'deliveries' || suffix);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION log_partition_add(p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
    suffix text := '_p' || to_char(p_from, 'YYYYMMDD');
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['events', 'deliveries', 'attempts'] LOOP
        IF to_regclass(t || suffix) IS NULL THEN
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', t || suffix, t);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', t, t || suffix, p_from, p_to);
        END IF;
    END LOOP;
    EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %I (account_id, id)', 'events' || suffix || '_id', 'events' || suffix);
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
DECLARE
    p text;
BEGIN
    FOR p IN SELECT partition FROM log_partitions() WHERE parent = 'deliveries' LOOP
        EXECUTE format('DROP STATISTICS IF EXISTS %I', p || '_account_webhook');
    END LOOP;
END
$$;
-- +goose StatementEnd
