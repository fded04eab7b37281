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
    -- The worker process that queued it (webhook_workers; '' none): its
    -- workflow is cached there, and a signal reaches it there first. A
    -- slot is never handed to a waiter of a dead worker (it would come
    -- only after Temporal's sticky timeout); the sweep signals such a
    -- waiter once (poked) so that it queues again from a live worker,
    -- keeping its place.
    worker      text NOT NULL DEFAULT '',
    poked       boolean NOT NULL DEFAULT false,
    queued_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_waiters_queue ON webhook_waiters (webhook_id, seq);

-- Worker processes and when each was last seen (its sweep, every second).
CREATE TABLE webhook_workers (
    id      text PRIMARY KEY,
    seen_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE webhook_workers;
DROP TABLE webhook_waiters;
