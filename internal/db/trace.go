package db

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/esign-webhooks/esign-webhooks/internal/tracing"
)

// Spans of the store calls that matter to a delivery's story (docs/tracing.md):
// storing the event, resolving its webhooks, opening and finishing each
// attempt. Not every query: the rest would bury these. With tracing off the
// tracer is the no-op one.
var dbAttrs = []attribute.KeyValue{attribute.String("db.system.name", "postgresql")}

// traced runs fn in a client span "db <op>", its error recorded.
func traced[T any](ctx context.Context, op string, fn func(context.Context) (T, error)) (T, error) {
	if !tracing.Enabled() {
		return fn(ctx)
	}
	ctx, span := tracing.Tracer().Start(ctx, "db "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(dbAttrs...), trace.WithAttributes(attribute.String("db.operation.name", op)))
	defer span.End()
	v, err := fn(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "")
	}
	return v, err
}
