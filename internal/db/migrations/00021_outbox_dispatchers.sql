-- +goose Up
-- The worker processes that start the workflows of stored events when
-- `webhookd api` and `webhookd worker` run apart (OUTBOX_DISPATCH, the
-- outbox's "workers" mode): each writes its row every few seconds, and
-- an event belongs to one of the live ones by rendezvous hashing, so
-- exactly one worker starts it, eagerly, without a write per event.
-- Unlogged: the rows are rewritten within seconds after a crash empties
-- the table, and a heartbeat needs no WAL.
CREATE UNLOGGED TABLE outbox_dispatchers (
    id      uuid PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE outbox_dispatchers;
