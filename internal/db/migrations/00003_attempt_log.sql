-- +goose Up
-- Every HTTP request that left a worker is its own attempt row. The row is
-- written before the request is sent and completed after the answer, so a
-- worker that dies in between leaves a row with finished_at NULL (the
-- receiver may or may not have it), and the same attempt number sent again
-- gets the next try instead of overwriting the first.
ALTER TABLE attempts ADD COLUMN try integer NOT NULL DEFAULT 1;
ALTER TABLE attempts ADD COLUMN finished_at timestamptz;
UPDATE attempts SET finished_at = started_at + make_interval(secs => duration_ms / 1000.0);
ALTER TABLE attempts DROP CONSTRAINT attempts_pkey;
ALTER TABLE attempts ADD PRIMARY KEY (delivery_id, series, number, try);
-- Whatever a receiver answers is kept byte for byte (NUL and invalid UTF-8
-- included); the API shows it as text when it is valid UTF-8.
ALTER TABLE attempts ALTER COLUMN response_body DROP DEFAULT;
ALTER TABLE attempts ALTER COLUMN response_body TYPE bytea USING convert_to(response_body, 'UTF8');
ALTER TABLE attempts ALTER COLUMN response_body SET DEFAULT '';

-- The sweep backs off an event it cannot start, on its own schedule, and
-- says why, so one bad event never delays another.
ALTER TABLE events ADD COLUMN dispatch_tries integer NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN dispatch_next_at timestamptz;
ALTER TABLE events ADD COLUMN dispatch_error text NOT NULL DEFAULT '';

-- Reconciliation looks for deliveries left unfinished past their schedule.
CREATE INDEX deliveries_unfinished_idx ON deliveries (updated_at) WHERE status IN ('pending', 'retrying');

-- +goose Down
DROP INDEX deliveries_unfinished_idx;
ALTER TABLE events DROP COLUMN dispatch_error;
ALTER TABLE events DROP COLUMN dispatch_next_at;
ALTER TABLE events DROP COLUMN dispatch_tries;
ALTER TABLE attempts ALTER COLUMN response_body DROP DEFAULT;
ALTER TABLE attempts ALTER COLUMN response_body TYPE text USING encode(response_body, 'escape');
ALTER TABLE attempts ALTER COLUMN response_body SET DEFAULT '';
DELETE FROM attempts WHERE try > 1;
ALTER TABLE attempts DROP CONSTRAINT attempts_pkey;
ALTER TABLE attempts ADD PRIMARY KEY (delivery_id, series, number);
ALTER TABLE attempts DROP COLUMN finished_at;
ALTER TABLE attempts DROP COLUMN try;
