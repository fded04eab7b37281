-- +goose Up
-- Ordered delivery per key (docs/delivery.md, "Ordered delivery").
--
-- A published event may name an ordering key (for e-sign, the envelope id);
-- the events of one account and key get increasing sequence numbers in the
-- order they were stored: the key's row of ordering_sequences is locked by
-- the statement that stores the event until it commits, so concurrent
-- publishers of one key take their numbers one after another. '' and 0:
-- no key.
CREATE TABLE ordering_sequences (
    account_id uuid NOT NULL,
    key        text NOT NULL,
    last       bigint NOT NULL,
    PRIMARY KEY (account_id, key)
);
ALTER TABLE events ADD COLUMN ordering_key text NOT NULL DEFAULT '',
                   ADD COLUMN sequence bigint NOT NULL DEFAULT 0;
-- An earlier event of a key that its workflow has not recorded yet holds
-- the later ones back: its deliveries are not known yet.
CREATE INDEX events_ordering_unrecorded ON events (account_id, ordering_key, sequence)
    WHERE ordering_key <> '' AND dispatched_at IS NULL;

-- A webhook that wants each key's events in order: event n of a key is not
-- sent before every earlier event of the key that matched it is finished
-- for it. After a give-up, "continue" lets the next one go; "hold" keeps
-- them waiting until the failed one is resent and succeeds, or is released.
ALTER TABLE webhooks ADD COLUMN ordered boolean NOT NULL DEFAULT false,
                     ADD COLUMN ordered_on_failure text NOT NULL DEFAULT 'continue'
                         CHECK (ordered_on_failure IN ('continue', 'hold'));

-- A delivery carries its event's key and sequence, and whether it takes
-- turns (its webhook was ordered when it was created or last resent), so a
-- turn is one index range scan. While it waits for its turn (status
-- pending), waiting_for_* name what it waits for and waiting_workflow_id
-- the workflow to wake when that finishes. order_released: a failed
-- delivery an admin released, which no longer holds its key ("hold").
ALTER TABLE deliveries ADD COLUMN ordering_key text NOT NULL DEFAULT '',
                       ADD COLUMN sequence bigint NOT NULL DEFAULT 0,
                       ADD COLUMN ordered boolean NOT NULL DEFAULT false,
                       ADD COLUMN waiting_for_event text,
                       ADD COLUMN waiting_for_delivery uuid,
                       ADD COLUMN waiting_workflow_id text NOT NULL DEFAULT '',
                       ADD COLUMN order_released boolean NOT NULL DEFAULT false;
CREATE INDEX deliveries_ordering ON deliveries (webhook_id, ordering_key, sequence) WHERE ordered;
CREATE INDEX deliveries_waiting_for_delivery ON deliveries (waiting_for_delivery) WHERE waiting_for_delivery IS NOT NULL;
CREATE INDEX deliveries_waiting_for_event ON deliveries (account_id, waiting_for_event) WHERE waiting_for_event IS NOT NULL;

-- +goose Down
DROP INDEX deliveries_waiting_for_event;
DROP INDEX deliveries_waiting_for_delivery;
DROP INDEX deliveries_ordering;
ALTER TABLE deliveries DROP COLUMN ordering_key, DROP COLUMN sequence, DROP COLUMN ordered,
    DROP COLUMN waiting_for_event, DROP COLUMN waiting_for_delivery, DROP COLUMN waiting_workflow_id,
    DROP COLUMN order_released;
ALTER TABLE webhooks DROP COLUMN ordered, DROP COLUMN ordered_on_failure;
DROP INDEX events_ordering_unrecorded;
ALTER TABLE events DROP COLUMN ordering_key, DROP COLUMN sequence;
DROP TABLE ordering_sequences;
