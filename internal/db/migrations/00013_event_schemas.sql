-- +goose Up
-- Event schemas (issue 20, docs/events.md). schema_version: the version of
-- its type's JSON Schema the event's data was checked against when it was
-- accepted (NULL: accepted before there were schemas). test: a test send or
-- a "send example" to one webhook, on the event and its delivery, so the
-- log tells it from real traffic (deliveries of WEBHOOK_TEST made before
-- this column are told by their type). Both are metadata-only changes: no
-- table is rewritten.
ALTER TABLE events ADD COLUMN schema_version integer,
                   ADD COLUMN test boolean NOT NULL DEFAULT false;
ALTER TABLE deliveries ADD COLUMN test boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN test;
ALTER TABLE events DROP COLUMN test,
                   DROP COLUMN schema_version;
