-- +goose Up
-- The log at scale (issue 20, docs/operations.md "The log: partitions and
-- retention"): events, deliveries and attempts become tables partitioned
-- by time, in periods (ISO weeks by default, LOG_PARTITION=day for days),
-- and retention detaches and drops a past period's three partitions
-- instead of deleting rows (db.DropExpiredPartitions).
--
-- Integrity by construction instead of foreign keys among the three (a
-- key of a partitioned table must hold its partition key, so the old
-- ones cannot stay): a delivery carries its event's created_at as its
-- own created_at, an attempt its delivery's as delivery_created_at, so an
-- event, its deliveries and their attempts always share one period, and
-- the period's three partitions go together. A delivery id is a UUIDv7
-- whose time is that created_at (to the millisecond), so a lookup by id
-- names its period (db.periodOf) and PostgreSQL reads one partition; ids
-- from before this migration (v4) are looked up in every partition.
--
-- An event id is unique per partition (a unique index of each events
-- partition; publishing the same id concurrently conflicts there), and
-- across partitions by the store's check that no earlier partition holds
-- it (the id can no longer be a key of the whole table).
--
-- This migration rewrites the three tables once: the time it takes grows
-- with the log (docs/operations.md gives the rate measured).

-- The old tables, renamed, keep their rows until they are copied. The new
-- ones take their columns as they are (LIKE: a column another migration
-- added comes along), then the partition keys' and the search's.
ALTER TABLE webhook_waiters DROP CONSTRAINT webhook_waiters_delivery_id_fkey;
ALTER TABLE attempts RENAME TO attempts_pre15;
ALTER TABLE deliveries RENAME TO deliveries_pre15;
ALTER TABLE events RENAME TO events_pre15;
ALTER TABLE attempts_pre15 DROP CONSTRAINT attempts_delivery_id_fkey,
                           DROP CONSTRAINT attempts_pkey;
ALTER TABLE deliveries_pre15 DROP CONSTRAINT deliveries_account_id_event_id_fkey;
DROP INDEX deliveries_account_created_idx, deliveries_ordering, deliveries_unfinished_idx,
    deliveries_waiting_for_delivery, deliveries_waiting_for_event, deliveries_webhook_skipped_idx,
    deliveries_webhook_status_idx;
DROP INDEX events_account_created_idx, events_ordering_unrecorded, events_undispatched_idx;
-- Kept for the copy's joins: events_pkey, deliveries_pkey and the unique
-- (account, event, webhook) key, renamed out of the new tables' way.
ALTER INDEX events_pkey RENAME TO events_pre15_pkey;
ALTER INDEX deliveries_pkey RENAME TO deliveries_pre15_pkey;
ALTER INDEX deliveries_account_id_event_id_webhook_id_key RENAME TO deliveries_pre15_key;

CREATE TABLE events (
    LIKE events_pre15 INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    -- The value of the data member its type declares searchable
    -- (events.TypeInfo.SearchKey: data.envelopeId), '' without one.
    search_key text NOT NULL DEFAULT ''
) PARTITION BY RANGE (created_at);
ALTER TABLE events ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;

CREATE TABLE deliveries (
    LIKE deliveries_pre15 INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    -- Its event's, for the delivery log's search.
    trigger_source text NOT NULL DEFAULT ''
) PARTITION BY RANGE (created_at);
-- created_at is its event's created_at (the partition key; see above):
-- always given.
ALTER TABLE deliveries ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE deliveries ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;

CREATE TABLE attempts (
    LIKE attempts_pre15 INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    -- Its delivery's created_at (the partition key; see above).
    delivery_created_at timestamptz NOT NULL
) PARTITION BY RANGE (delivery_created_at);

-- The partitions of the three tables, with their bounds. Read in UTC, so
-- the bounds' text (written in the session's time zone) parses back the
-- same.
-- +goose StatementBegin
CREATE FUNCTION log_partitions()
RETURNS TABLE (parent text, partition text, lower timestamptz, upper timestamptz, detach_pending boolean)
LANGUAGE sql STABLE SET TimeZone = 'UTC' AS $$
    SELECT p.relname::text, c.relname::text, b[1]::timestamptz, b[2]::timestamptz, i.inhdetachpending
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent,
    LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS b
    WHERE i.inhparent IN ('events'::regclass, 'deliveries'::regclass, 'attempts'::regclass)
$$;
-- +goose StatementEnd

-- log_partition_add creates the partitions of period [p_from, p_to) of
-- the three tables, named <table>_pYYYYMMDD after its first day (UTC),
-- unless they exist. A partition is made apart and attached: ATTACH
-- locks the parent SHARE UPDATE EXCLUSIVE (inserts and reads go on),
-- where CREATE TABLE ... PARTITION OF would lock it ACCESS EXCLUSIVE.
-- +goose StatementBegin
CREATE FUNCTION log_partition_add(p_from timestamptz, p_to timestamptz) RETURNS void
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
END
$$;
-- +goose StatementEnd

-- log_partitions_ensure adds periods after the last one until p_until is
-- covered (the first starting at the current period when there is none),
-- each one p_unit long ('day' or 'week': UTC days, ISO weeks from
-- Monday); p_unit NULL continues in the last period's unit. It returns
-- how many periods it added.
-- +goose StatementBegin
CREATE FUNCTION log_partitions_ensure(p_until timestamptz, p_unit text) RETURNS integer
LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
    last_lower timestamptz;
    start timestamptz;
    stop timestamptz;
    unit text := p_unit;
    added integer := 0;
BEGIN
    SELECT lp.lower, lp.upper INTO last_lower, start FROM log_partitions() lp
    WHERE lp.parent = 'events' ORDER BY lp.upper DESC LIMIT 1;
    IF unit IS NULL THEN
        unit := CASE WHEN start - last_lower <= interval '1 day' THEN 'day' ELSE 'week' END;
    END IF;
    IF unit NOT IN ('day', 'week') THEN
        RAISE EXCEPTION 'log partition unit must be day or week, not %', unit;
    END IF;
    IF start IS NULL THEN
        start := date_trunc(unit, now());
    END IF;
    WHILE start < p_until LOOP
        stop := date_trunc(unit, start) + ('1 ' || unit)::interval;
        PERFORM log_partition_add(start, stop);
        start := stop;
        added := added + 1;
    END LOOP;
    RETURN added;
END
$$;
-- +goose StatementEnd

-- Partitions for the rows there are, by week: rows more than 8 weeks
-- older than this week share one partition (a log kept forever, RETENTION
-- 0, would otherwise make one per week of its past), then one per week
-- until next week's.
-- +goose StatementBegin
DO $$
DECLARE
    this_week timestamptz := date_trunc('week', now(), 'UTC');
    oldest timestamptz;
    newest timestamptz;
    start timestamptz;
BEGIN
    SELECT date_trunc('week', min(created_at), 'UTC'), max(created_at) INTO oldest, newest FROM events_pre15;
    start := least(coalesce(oldest, this_week), this_week);
    IF start < this_week - interval '8 weeks' THEN
        PERFORM log_partition_add(start, this_week - interval '8 weeks');
        start := this_week - interval '8 weeks';
    END IF;
    PERFORM log_partition_add(start, start + interval '1 week');
    PERFORM log_partitions_ensure(greatest(this_week + interval '1 week', newest) + interval '1 microsecond', 'week');
END
$$;
-- +goose StatementEnd

-- The rows, in the new shape: a delivery takes its event's created_at and
-- trigger source, an attempt its delivery's created_at. The searchable
-- data member is data.envelopeId for every envelope event type. Columns
-- are listed from the old tables, whichever migrations made them.
-- +goose StatementBegin
DO $$
DECLARE
    cols text;
    sel text;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute WHERE attrelid = 'events_pre15'::regclass AND attnum > 0 AND NOT attisdropped;
    EXECUTE format($q$
        INSERT INTO events (%s, search_key)
        SELECT %s, CASE WHEN type IN ('ENVELOPE_START', 'ENVELOPE_SIGNER_VIEWED', 'ENVELOPE_SIGNER_SIGNED',
                                     'ENVELOPE_ALL_SIGNER_SIGNED', 'SIGNER_DECLINED', 'ENVELOPE_FINISH',
                                     'ENVELOPE_CANCEL', 'ENVELOPE_EXPIRED')
                       THEN coalesce(left(data ->> 'envelopeId', 200), '') ELSE '' END
        FROM events_pre15$q$, cols, cols);

    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum),
           string_agg(CASE attname WHEN 'created_at' THEN 'e.created_at' ELSE 'd.' || quote_ident(attname) END, ', '
                      ORDER BY attnum)
    INTO cols, sel
    FROM pg_attribute WHERE attrelid = 'deliveries_pre15'::regclass AND attnum > 0 AND NOT attisdropped;
    EXECUTE format($q$
        INSERT INTO deliveries (%s, trigger_source)
        SELECT %s, e.trigger_source
        FROM deliveries_pre15 d JOIN events_pre15 e ON e.account_id = d.account_id AND e.id = d.event_id$q$, cols, sel);

    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum), string_agg('a.' || quote_ident(attname), ', ' ORDER BY attnum)
    INTO cols, sel
    FROM pg_attribute WHERE attrelid = 'attempts_pre15'::regclass AND attnum > 0 AND NOT attisdropped;
    EXECUTE format($q$
        INSERT INTO attempts (%s, delivery_created_at)
        SELECT %s, e.created_at
        FROM attempts_pre15 a
        JOIN deliveries_pre15 d ON d.id = a.delivery_id
        JOIN events_pre15 e ON e.account_id = d.account_id AND e.id = d.event_id$q$, cols, sel);
END
$$;
-- +goose StatementEnd

DROP TABLE attempts_pre15, deliveries_pre15, events_pre15;

-- The keys and indexes, built once over the copied rows. Every list and
-- search of the log reads one of these (db.ListDeliveries, db.ListEvents;
-- internal/db/search_test.go shows each plan).
ALTER TABLE deliveries ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id, created_at);
-- One delivery of an event per webhook: an event's deliveries all have
-- its created_at, so this is unique per (account, event, webhook).
ALTER TABLE deliveries ADD CONSTRAINT deliveries_event_webhook_key UNIQUE (account_id, event_id, webhook_id, created_at);
ALTER TABLE attempts ADD CONSTRAINT attempts_pkey PRIMARY KEY (delivery_id, series, number, try, delivery_created_at);
-- +goose StatementBegin
DO $$
DECLARE p text;
BEGIN
    FOR p IN SELECT partition FROM log_partitions() WHERE parent = 'events' LOOP
        EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %I (account_id, id)', p || '_id', p);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- Lists and searches: the account's rows newest first, alone or of one
-- value of a filter. A delivery's ordering key and search key are its
-- event's: the events of a key (few) are found first, then their
-- deliveries by event id (or by created_at, which they share). A
-- delivery's type and trigger source are kept on it: most values are
-- common, and a join's estimate (its event's id and created_at, taken for
-- independent) is too low to walk the newest first.
-- Where most rows share one value (a delivery succeeded with a 2xx, an
-- event came from saas_page) the index holds only the others: a search
-- for the common value reads the account's newest-first index and fills
-- its page at once, and the hot path writes no entry for it (a delivery
-- is updated on every attempt, so each entry is written twice).
CREATE INDEX events_account_created_idx ON events (account_id, created_at DESC, id DESC);
CREATE INDEX events_type_idx ON events (account_id, type, created_at DESC, id DESC);
CREATE INDEX events_source_idx ON events (account_id, trigger_source, created_at DESC, id DESC)
    WHERE trigger_source <> 'saas_page';
CREATE INDEX events_ordering_key_idx ON events (account_id, ordering_key, created_at DESC, id DESC)
    WHERE ordering_key <> '';
CREATE INDEX events_search_key_idx ON events (account_id, search_key, created_at DESC, id DESC)
    WHERE search_key <> '';
CREATE INDEX deliveries_account_created_idx ON deliveries (account_id, created_at DESC, id DESC);
CREATE INDEX deliveries_webhook_idx ON deliveries (account_id, webhook_id, created_at DESC, id DESC);
CREATE INDEX deliveries_status_idx ON deliveries (account_id, status, created_at DESC, id DESC)
    WHERE status <> 'succeeded';
CREATE INDEX deliveries_http_status_idx ON deliveries (account_id, last_status_code, created_at DESC, id DESC)
    WHERE last_status_code < 200 OR last_status_code >= 300;
CREATE INDEX deliveries_event_type_idx ON deliveries (account_id, event_type, created_at DESC, id DESC);
CREATE INDEX deliveries_source_idx ON deliveries (account_id, trigger_source, created_at DESC, id DESC)
    WHERE trigger_source <> 'saas_page';

-- The engine's own (as before 00015; a webhook's unfinished deliveries
-- now from a partial index instead of (webhook_id, status) over all).
CREATE INDEX events_undispatched_idx ON events (created_at) WHERE dispatched_at IS NULL;
CREATE INDEX events_ordering_unrecorded ON events (account_id, ordering_key, sequence)
    WHERE ordering_key <> '' AND dispatched_at IS NULL;
CREATE INDEX deliveries_unfinished_idx ON deliveries (updated_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_webhook_unfinished_idx ON deliveries (webhook_id) WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_webhook_skipped_idx ON deliveries (webhook_id, created_at) WHERE status = 'skipped_disabled';
CREATE INDEX deliveries_ordering ON deliveries (webhook_id, ordering_key, sequence) WHERE ordered;
CREATE INDEX deliveries_waiting_for_delivery ON deliveries (waiting_for_delivery) WHERE waiting_for_delivery IS NOT NULL;
CREATE INDEX deliveries_waiting_for_event ON deliveries (account_id, waiting_for_event) WHERE waiting_for_event IS NOT NULL;

ANALYZE events, deliveries, attempts;

-- +goose Down
-- Back to one table each (the rows kept; duplicate event ids across
-- partitions, which the old key forbids, make this fail).
ALTER TABLE attempts RENAME TO attempts_p15;
ALTER TABLE deliveries RENAME TO deliveries_p15;
ALTER TABLE events RENAME TO events_p15;
ALTER TABLE deliveries_p15 RENAME CONSTRAINT deliveries_pkey TO deliveries_p15_pkey;
ALTER TABLE attempts_p15 RENAME CONSTRAINT attempts_pkey TO attempts_p15_pkey;
DROP INDEX events_account_created_idx, events_undispatched_idx, events_ordering_unrecorded,
    deliveries_account_created_idx, deliveries_unfinished_idx, deliveries_webhook_skipped_idx, deliveries_ordering,
    deliveries_waiting_for_delivery, deliveries_waiting_for_event;

CREATE TABLE events (LIKE events_p15 INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE events DROP COLUMN search_key;
CREATE TABLE deliveries (LIKE deliveries_p15 INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE deliveries DROP COLUMN trigger_source, ALTER COLUMN created_at SET DEFAULT now();
CREATE TABLE attempts (LIKE attempts_p15 INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE attempts DROP COLUMN delivery_created_at;
-- +goose StatementBegin
DO $$
DECLARE
    t text;
    cols text;
BEGIN
    FOREACH t IN ARRAY ARRAY['events', 'deliveries', 'attempts'] LOOP
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
        FROM pg_attribute WHERE attrelid = t::regclass AND attnum > 0 AND NOT attisdropped;
        EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM %I', t, cols, cols, t || '_p15');
    END LOOP;
END
$$;
-- +goose StatementEnd
DROP TABLE attempts_p15, deliveries_p15, events_p15;
DROP FUNCTION log_partitions_ensure(timestamptz, text);
DROP FUNCTION log_partition_add(timestamptz, timestamptz);
DROP FUNCTION log_partitions();

ALTER TABLE events ADD PRIMARY KEY (account_id, id),
                   ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE deliveries ADD PRIMARY KEY (id),
                       ADD UNIQUE (account_id, event_id, webhook_id),
                       ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE,
                       ADD FOREIGN KEY (account_id, event_id) REFERENCES events (account_id, id) ON DELETE CASCADE;
ALTER TABLE attempts ADD PRIMARY KEY (delivery_id, series, number, try),
                     ADD FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE;
CREATE INDEX events_account_created_idx ON events (account_id, created_at DESC);
CREATE INDEX events_undispatched_idx ON events (created_at) WHERE dispatched_at IS NULL;
CREATE INDEX events_ordering_unrecorded ON events (account_id, ordering_key, sequence)
    WHERE ordering_key <> '' AND dispatched_at IS NULL;
CREATE INDEX deliveries_account_created_idx ON deliveries (account_id, created_at DESC, id DESC);
CREATE INDEX deliveries_webhook_status_idx ON deliveries (webhook_id, status);
CREATE INDEX deliveries_unfinished_idx ON deliveries (updated_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_webhook_skipped_idx ON deliveries (webhook_id, created_at) WHERE status = 'skipped_disabled';
CREATE INDEX deliveries_ordering ON deliveries (webhook_id, ordering_key, sequence) WHERE ordered;
CREATE INDEX deliveries_waiting_for_delivery ON deliveries (waiting_for_delivery) WHERE waiting_for_delivery IS NOT NULL;
CREATE INDEX deliveries_waiting_for_event ON deliveries (account_id, waiting_for_event) WHERE waiting_for_event IS NOT NULL;
DELETE FROM webhook_waiters q WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = q.delivery_id);
ALTER TABLE webhook_waiters ADD CONSTRAINT webhook_waiters_delivery_id_fkey
    FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE;
