-- +goose Up
-- Until when a queued attempt waits for its slot inside its worker process
-- (WORKER_SLOT_WAIT): a slot handed to it before then reaches it by a
-- notification (webhookd_slots) rather than by a signal to its workflow.
-- NULL: it waits in its workflow.
ALTER TABLE webhook_waiters ADD COLUMN in_worker_until timestamptz;

-- +goose Down
ALTER TABLE webhook_waiters DROP COLUMN in_worker_until;
