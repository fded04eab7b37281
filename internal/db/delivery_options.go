package db

import (
	"context"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// DeliveryOptions are a webhook's own delivery timing and payload form
// (migration 00009). Nil timing is the global one: DELIVERY_TIMEOUT and
// DELIVERY_RETRY_SCHEDULE.
type DeliveryOptions struct {
	TimeoutSeconds *int `db:"timeout_seconds"`
	// A retry schedule is a named preset (package schedule) or its own
	// waits in seconds, never both.
	RetryPreset *string       `db:"retry_preset"`
	RetryWaits  pq.Int64Array `db:"retry_waits"`
	// Payload is PayloadFull or PayloadThin ("" when the webhook was deleted).
	Payload string `db:"payload"`
	// TraceContext sends each attempt's W3C traceparent/tracestate to the
	// receiver (migration 00019; docs/tracing.md).
	TraceContext bool `db:"trace_context"`
}

// Payload forms: the event's data, or its resource ids only.
const (
	PayloadFull = "full"
	PayloadThin = "thin"
)

// deliveryOptionColumns lists DeliveryOptions' columns, part of
// webhookColumns.
const deliveryOptionColumns = `timeout_seconds, retry_preset, retry_waits, payload, trace_context`

// setDeliveryOptions writes a webhook's delivery options in tx, after
// the statement that created or updated its other fields, and returns
// the webhook as it now is. Its own statement: the options are one block
// of the webhook, written and read apart from the rest.
func setDeliveryOptions(ctx context.Context, tx *sqlx.Tx, id uuid.UUID, o DeliveryOptions) (Webhook, error) {
	var w Webhook
	payload := o.Payload
	if payload == "" {
		payload = PayloadFull
	}
	var waits any // NULL, not an empty array, when there are none
	if len(o.RetryWaits) > 0 {
		waits = o.RetryWaits
	}
	err := tx.GetContext(ctx, &w, `
		UPDATE webhooks SET timeout_seconds = $2, retry_preset = $3, retry_waits = $4, payload = $5, trace_context = $6
		WHERE id = $1 RETURNING `+webhookColumns, id, o.TimeoutSeconds, o.RetryPreset, waits, payload, o.TraceContext)
	return w, translate(err)
}
