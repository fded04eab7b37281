-- +goose Up
-- The deliveries waiting for a concurrency slot of their webhook (gate
-- "full", see db.StartAttempt), in order: a finished request hands its
-- slot to the oldest waiter (db.FinishAttempt) and the worker signals that
-- delivery's workflow, instead of every waiter polling the webhook. Slots
-- freed by an expired lease (a lost worker) are handed out by the workers'
-- sweep (db.HandFreedSlots). A slot handed over names the waiter's delivery
-- with try NULL until the waiter takes it, or its short hand-off lease
-- expires (the waiter was lost too) and the sweep hands it on.
CREATE TABLE webhook_waiters (
    seq         bigserial PRIMARY KEY,
    webhook_id  uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id uuid NOT NULL UNIQUE REFERENCES deliveries (id) ON DELETE CASCADE,
    series      integer NOT NULL,
    -- The workflow making the delivery (a DeliverBatch child's own id), to
    -- signal when a slot is handed to it.
    workflow_id text NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_waiters_queue ON webhook_waiters (webhook_id, seq);

-- +goose Down
DROP TABLE webhook_waiters;
