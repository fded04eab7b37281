package activities

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/tracing"
)

// discard is an exporter that drops every batch: the benchmark measures
// webhookd's side of a span (creation, attributes, batching), not the
// network.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkRequestSpan is the cost of an attempt's HTTP client span
// (docs/performance.md): off (the no-op provider, the default) and on (the
// SDK with the batching processor, sampled).
func BenchmarkRequestSpan(b *testing.B) {
	t := db.DeliveryTarget{Delivery: db.Delivery{ID: uuid.New(), WebhookID: uuid.New()}, Try: 1}
	t.URL = "https://erp.example.com/hooks/esign?token=secret"
	ans := answer{status: 503}
	run := func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			_, span := startRequestSpan(ctx, t)
			endRequestSpan(span, ans)
		}
	}
	b.Run("off", func(b *testing.B) {
		otel.SetTracerProvider(noop.NewTracerProvider())
		tracing.Enable(false)
		run(b)
	})
	b.Run("on", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}))
		otel.SetTracerProvider(tp)
		tracing.Enable(true)
		defer func() {
			_ = tp.Shutdown(context.Background())
			otel.SetTracerProvider(noop.NewTracerProvider())
			tracing.Enable(false)
		}()
		run(b)
	})
}
