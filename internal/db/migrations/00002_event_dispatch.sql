-- +goose Up
-- The events table doubles as the outbox of the API: an event is stored
-- before 202 is answered, and dispatched_at is set by its workflow when it
-- records the event. Rows still NULL after a while are started again.
ALTER TABLE events ADD COLUMN dispatched_at timestamptz;
UPDATE events SET dispatched_at = created_at;
CREATE INDEX events_undispatched_idx ON events (created_at) WHERE dispatched_at IS NULL;

-- +goose Down
DROP INDEX events_undispatched_idx;
ALTER TABLE events DROP COLUMN dispatched_at;
