package activities

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/tracing"
)

// startRequestSpan opens the HTTP client span of an attempt's request
// (docs/tracing.md): "POST <host>", with the receiver's host and port,
// never its URL (a query string may hold a token). A throttled attempt
// sends nothing and opens none. With tracing off the span is the no-op
// one.
func startRequestSpan(ctx context.Context, t db.DeliveryTarget) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return ctx, trace.SpanFromContext(context.Background()) // the no-op span
	}
	host, port, scheme := receiverAddr(t.URL)
	return tracing.Tracer().Start(ctx, http.MethodPost+" "+host, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", http.MethodPost),
			attribute.String("server.address", host),
			attribute.Int("server.port", port),
			attribute.String("url.scheme", scheme),
			attribute.String("webhook.id", t.WebhookID.String()),
			attribute.String("webhook.delivery.id", t.ID.String()),
			attribute.Int("webhook.attempt.try", t.Try),
		))
}

// endRequestSpan records the receiver's answer and ends the span: its
// status code, or the error when there was none; 4xx and 5xx are errors
// (the OpenTelemetry HTTP client convention).
func endRequestSpan(span trace.Span, ans answer) {
	defer span.End()
	if !span.IsRecording() {
		return
	}
	if ans.status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", ans.status))
	}
	switch {
	case ans.status >= 400:
		span.SetAttributes(attribute.String("error.type", strconv.Itoa(ans.status)))
		span.SetStatus(codes.Error, "")
	case ans.err != nil:
		span.SetAttributes(attribute.String("error.type", errorType(ans.err)))
		span.SetStatus(codes.Error, describe(ans.err))
	}
}

// injectTraceContext sets traceparent (and tracestate) of ctx's span on a
// request to a webhook that opted in (db.DeliveryOptions.TraceContext).
// Nothing when ctx has no valid span (tracing off).
func injectTraceContext(ctx context.Context, h http.Header) {
	tracing.Propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// receiverAddr is the receiver URL's host, port and scheme.
func receiverAddr(raw string) (string, int, string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0, ""
	}
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		port = 80
		if u.Scheme == "https" {
			port = 443
		}
	}
	return u.Hostname(), port, u.Scheme
}

// errorType names a failed request's cause for error.type.
func errorType(err error) string {
	var opErr *net.OpError
	switch {
	case isTimeout(err):
		return "timeout"
	case errors.As(err, &opErr):
		return "connection"
	}
	return "request"
}
