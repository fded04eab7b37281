-- +goose Up
-- OpenTelemetry traces (issue 22, docs/tracing.md).
-- events.trace_parent: the W3C traceparent of the request that stored the
-- event (NULL when traces are off), so the outbox starts its workflow in
-- the request's trace, even after a restart. 55 characters; bounded so a
-- bad value can never bloat the row.
ALTER TABLE events ADD COLUMN trace_parent text CHECK (length(trace_parent) <= 128);
-- webhooks.trace_context: the webhook's opt-in to receive the attempt's
-- traceparent/tracestate headers (off: they tell a receiver our trace ids).
ALTER TABLE webhooks ADD COLUMN trace_context boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE webhooks DROP COLUMN trace_context;
ALTER TABLE events DROP COLUMN trace_parent;
