-- +goose Up
-- A webhook's payload filter (issue 20, docs/delivery.md "Payload
-- filters"): a CEL expression over the event, checked and compiled by the
-- service when saved; '' is no filter. The worker evaluates it when it
-- resolves the event's subscriptions (db.ResolveEvent). The bound is the
-- service's filter.MaxBytes.
ALTER TABLE webhooks ADD COLUMN filter text NOT NULL DEFAULT ''
    CHECK (octet_length(filter) <= 2048);

-- +goose Down
ALTER TABLE webhooks DROP COLUMN filter;
