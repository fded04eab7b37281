// Package tracing is webhookd's OpenTelemetry tracing (docs/tracing.md):
// the process's tracer provider, exporting over OTLP/HTTP when configured,
// and the few helpers the api, the store, the outbox and the worker share.
// Off (the default), the global provider stays OpenTelemetry's no-op one:
// a span costs a function call and no allocation.
package tracing

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/esign-webhooks/esign-webhooks/internal/config"
)

// Name is the instrumentation scope of webhookd's own spans.
const Name = "github.com/esign-webhooks/esign-webhooks"

// Provider is the global tracer provider (no-op until Setup installs one).
func Provider() trace.TracerProvider { return otel.GetTracerProvider() }

// Tracer is webhookd's tracer from the global provider (no-op until Setup
// installs one).
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Propagator is the W3C trace context, the one format webhookd reads and
// writes (traceparent/tracestate); baggage is not carried.
var Propagator = propagation.TraceContext{}

// Setup installs the global tracer provider and propagator when cfg asks
// for traces (config.Tracing) and returns what flushes and stops it; when
// off it installs nothing and shutdown does nothing.
func Setup(ctx context.Context, cfg config.Config, version string) (shutdown func(context.Context) error, err error) {
	if !cfg.Tracing() {
		return func(context.Context) error { return nil }, nil
	}
	tp, err := NewProvider(ctx, cfg, version)
	if err != nil {
		return nil, err
	}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator)
	enabled.Store(true)
	return tp.Shutdown, nil
}

// enabled is set once Setup installed a provider.
var enabled atomic.Bool

// Enabled reports whether this process exports traces: spans whose
// attributes cost something to compute (a URL to parse, ids to format)
// check it first, so tracing off costs an atomic load.
func Enabled() bool { return enabled.Load() }

// Enable marks tracing on in a test that installed its own provider.
func Enable(on bool) { enabled.Store(on) }

// NewProvider builds a tracer provider exporting to cfg's OTLP endpoint
// in batches.
func NewProvider(ctx context.Context, cfg config.Config, version string) (*sdktrace.TracerProvider, error) {
	headers, err := cfg.OTelTracesHeaderMap()
	if err != nil {
		return nil, err
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(cfg.OTelTracesExportURL()),
		otlptracehttp.WithTimeout(time.Duration(cfg.OTelTimeout) * time.Millisecond),
	}
	if len(headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(headers))
	}
	if cfg.OTelCompression == "gzip" {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	// OTEL_RESOURCE_ATTRIBUTES is read from the environment by WithFromEnv;
	// the service name and version from the configuration win.
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithHost(),
		resource.WithAttributes(semconv.ServiceName(cfg.OTelServiceName), semconv.ServiceVersion(version)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	sampler, err := Sampler(cfg)
	if err != nil {
		return nil, err
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler)), nil
}

// Sampler is OTEL_TRACES_SAMPLER's sampler (the parentbased_ forms keep an
// upstream service's decision).
func Sampler(cfg config.Config) (sdktrace.Sampler, error) {
	ratio, err := cfg.OTelSamplerRatio()
	if err != nil {
		return nil, err
	}
	switch cfg.OTelTracesSampler {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
}

// TraceParent is the W3C traceparent of ctx's span, "" when it has none
// (tracing off, or not sampled and not recording): what an event row keeps
// so its workflow, started later, continues the request's trace.
func TraceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	Propagator.Inject(ctx, carrier)
	return carrier["traceparent"]
}

// FromTraceParent returns ctx with tp (a stored traceparent) as its remote
// parent; ctx as it is when tp is empty or malformed.
func FromTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return Propagator.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}
