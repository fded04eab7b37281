package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/esign-webhooks/esign-webhooks/internal/tracing"
)

// traceRequests opens a server span per request (docs/tracing.md), named
// by its route ("POST /v1/events"), continuing the caller's trace when the
// request carries a traceparent. The path is recorded, never the query.
// Installed only when traces are exported.
func (h *Handler) traceRequests(next echo.HandlerFunc) echo.HandlerFunc {
	tracer := tracing.Tracer()
	return func(c echo.Context) error {
		req := c.Request()
		if untraced[c.Path()] {
			return next(c)
		}
		ctx := tracing.Propagator.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		ctx, span := tracer.Start(ctx, req.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", req.Method),
				attribute.String("http.route", route),
				attribute.String("url.path", req.URL.Path),
				attribute.String("url.scheme", scheme(req)),
			))
		defer span.End()
		c.SetRequest(req.WithContext(ctx))
		err := next(c)
		if err != nil {
			// Let the error handler write the answer now, so its status
			// is the span's (accessLog, after this, sees it written).
			c.Error(err)
		}
		status := c.Response().Status
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= http.StatusInternalServerError {
			span.SetStatus(otelcodes.Error, http.StatusText(status))
		}
		return nil
	}
}

// untraced are the probes' routes: polled every few seconds, they would
// bury the traces that matter.
var untraced = map[string]bool{"/healthz": true, "/readyz": true}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
