package workflows_test

import (
	"path/filepath"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"github.com/esign-webhooks/esign-webhooks/internal/tracing"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/workflows"
)

// TestReplayHistoriesWithTracing replays the recorded histories through the
// worker as webhookd builds it with traces on (the SDK's OpenTelemetry
// interceptor, internal/app/temporal.go): the interceptor adds headers and
// spans, never commands, so switching tracing on or off never breaks a
// workflow in flight.
func TestReplayHistoriesWithTracing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ti, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: tp.Tracer("temporal-sdk-go"),
		TextMapPropagator: tracing.Propagator, DisableBaggage: true, DisableQueryTracing: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range histories {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
				Interceptors: []interceptor.WorkerInterceptor{ti}})
			if err != nil {
				t.Fatal(err)
			}
			workflows.Register(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
				t.Fatalf("replaying %s with the tracing interceptor: %v", file, err)
			}
		})
	}
}
