package e2e_test

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
)

// The tracing test runs webhookd serve exporting to the real OpenTelemetry
// Collector that make test starts (scripts/stack.sh start_otelcol,
// OTELCOL_ENDPOINT) and reads the spans the collector wrote to its file
// (OTELCOL_FILE): one published event is one connected trace.

// otlpSpan is a span as the collector's file exporter writes it (OTLP JSON).
type otlpSpan struct {
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Kind         int    `json:"kind"`
	Start        string `json:"startTimeUnixNano"` // uint64 as a JSON string
	Attributes   []struct {
		Key   string `json:"key"`
		Value struct {
			String *string `json:"stringValue"`
			Int    *string `json:"intValue"` // int64 as a JSON string
			Bool   *bool   `json:"boolValue"`
		} `json:"value"`
	} `json:"attributes"`
	service string
}

// attr is the span's attribute key as text ("" when absent).
func (s otlpSpan) attr(key string) string {
	for _, a := range s.Attributes {
		if a.Key != key {
			continue
		}
		switch v := a.Value; {
		case v.String != nil:
			return *v.String
		case v.Int != nil:
			return *v.Int
		case v.Bool != nil:
			if *v.Bool {
				return "true"
			}
			return "false"
		}
	}
	return ""
}

// collectorSpans reads the spans of trace traceID from the collector's file.
func collectorSpans(t *testing.T, file, traceID string) []otlpSpan {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []otlpSpan
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var line struct {
			ResourceSpans []struct {
				Resource struct {
					Attributes []struct {
						Key   string `json:"key"`
						Value struct {
							String string `json:"stringValue"`
						} `json:"value"`
					} `json:"attributes"`
				} `json:"resource"`
				ScopeSpans []struct {
					Spans []otlpSpan `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			continue // a line the exporter is still writing
		}
		for _, rs := range line.ResourceSpans {
			service := ""
			for _, a := range rs.Resource.Attributes {
				if a.Key == "service.name" {
					service = a.Value.String
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					if s.TraceID == traceID {
						s.service = service
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}

// traceParent splits a W3C traceparent into its trace and span ids.
func traceParent(t *testing.T, h string) (traceID, spanID string) {
	t.Helper()
	parts := strings.Split(h, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 {
		t.Fatalf("traceparent %q is not a W3C traceparent", h)
	}
	return parts[1], parts[2]
}

func TestTraceFollowsAnEventAcrossEveryHop(t *testing.T) {
	endpoint, file := os.Getenv("OTELCOL_ENDPOINT"), os.Getenv("OTELCOL_FILE")
	if endpoint == "" || file == "" {
		t.Skip("OTELCOL_ENDPOINT and OTELCOL_FILE are not set: make test starts the collector")
	}
	t.Parallel()
	// The in-process API only creates the webhooks; webhookd serve (API and
	// worker in one process, tracing on) takes the event.
	e := e2etest.New(t, e2etest.Options{NoWorker: true})
	_, key := e.Account("professional")
	traced := e2etest.NewReceiver(t, e2etest.Sequence(e2etest.Status(503), e2etest.Status(200)))
	plain := e2etest.NewReceiver(t, nil)
	tracedHook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: traced.At("/hook"), TraceContext: true})
	plainHook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: plain.At("/hook")})
	if r := e.Do("GET", "/v1/webhooks/"+tracedHook, key, nil).Want(t, http.StatusOK); !strings.Contains(string(r.Raw), `"traceContext":true`) {
		t.Fatalf("the webhook does not show traceContext: %s", r.Raw)
	}
	service := "webhookd-e2e-" + uuid.NewString()[:8]
	startServing(t, e, "serve", "OTEL_EXPORTER_OTLP_ENDPOINT="+endpoint, "OTEL_SERVICE_NAME="+service,
		"OTEL_BSP_SCHEDULE_DELAY=100", "DELIVERY_RETRY_SCHEDULE=200ms", "THROTTLE_BACKOFF_BASE=100ms")

	p := e.Publish(key, e2etest.Event{})
	res := e.Result(p.WorkflowID)
	if len(res.Deliveries) != 2 {
		t.Fatalf("result %+v", res)
	}
	reqs := traced.WaitCount(t, 2)
	plain.WaitCount(t, 1)
	if h := plain.Requests()[0].Header; h.Get("traceparent") != "" || h.Get("tracestate") != "" {
		t.Fatalf("a webhook without traceContext got trace headers: %v", h)
	}
	traceID, firstSpan := traceParent(t, reqs[0].Header.Get("traceparent"))
	traceID2, secondSpan := traceParent(t, reqs[1].Header.Get("traceparent"))
	if traceID2 != traceID || secondSpan == firstSpan {
		t.Fatalf("the attempts' traceparents %q and %q are not two spans of one trace",
			reqs[0].Header.Get("traceparent"), reqs[1].Header.Get("traceparent"))
	}

	// Every span of the workflow is exported once it ends; the workflow's
	// own ends last.
	var spans []otlpSpan
	e2etest.Eventually(t, "the collector has the whole trace", func() bool {
		spans = collectorSpans(t, file, traceID)
		return hasSpan(spans, "RunWorkflow:DeliverEvent") && hasSpan(spans, "POST /v1/events") &&
			len(requestSpans(spans, tracedHook)) == 2
	})
	byID := map[string]otlpSpan{}
	for _, s := range spans {
		byID[s.SpanID] = s
		if s.service != service {
			t.Errorf("span %s of service %q, want %q", s.Name, s.service, service)
		}
	}
	for _, name := range []string{"POST /v1/events", "db InsertEvent", "outbox start", "StartWorkflow:DeliverEvent",
		"RunWorkflow:DeliverEvent", "db ResolveEvent", "db StartAttempt", "db FinishAttempt"} {
		if !hasSpan(spans, name) {
			t.Errorf("no span %q in the trace; it has %s", name, spanNames(spans))
		}
	}
	// One connected trace: a single root, the API's server span, and every
	// other span's parent in it.
	for _, s := range spans {
		if s.ParentSpanID == "" {
			if s.Name != "POST /v1/events" || s.Kind != 2 {
				t.Errorf("root span %q (kind %d), want the API's server span", s.Name, s.Kind)
			}
			continue
		}
		if _, ok := byID[s.ParentSpanID]; !ok {
			t.Errorf("span %q has a parent outside the trace", s.Name)
		}
	}
	// The two attempts to the traced webhook: each its own Deliver activity
	// with an HTTP client span (503, then 200) whose id the receiver got.
	attempts := requestSpans(spans, tracedHook)
	wantIDs, wantStatus := []string{firstSpan, secondSpan}, []string{"503", "200"}
	for i, s := range attempts {
		if s.SpanID != wantIDs[i] || s.attr("http.response.status_code") != wantStatus[i] || s.Kind != 3 {
			t.Errorf("attempt %d: span %s %q status %s kind %d, want span %s status %s (the receiver's traceparent)",
				i+1, s.SpanID, s.Name, s.attr("http.response.status_code"), s.Kind, wantIDs[i], wantStatus[i])
		}
		if parent := byID[s.ParentSpanID]; parent.Name != "RunActivity:Deliver" {
			t.Errorf("attempt %d's request span's parent is %q, want RunActivity:Deliver", i+1, parent.Name)
		}
		for _, a := range s.Attributes {
			if v := s.attr(a.Key); strings.Contains(v, "/hook") {
				t.Errorf("attempt %d's span holds the URL's path in %s: %q", i+1, a.Key, v)
			}
		}
	}
	if n := len(requestSpans(spans, plainHook)); n != 1 {
		t.Errorf("%d request spans to the webhook without traceContext, want 1", n)
	}
}

func hasSpan(spans []otlpSpan, name string) bool {
	for _, s := range spans {
		if s.Name == name {
			return true
		}
	}
	return false
}

// requestSpans are the HTTP client spans of requests to the webhook, in
// the order they were sent.
func requestSpans(spans []otlpSpan, webhookID string) []otlpSpan {
	var out []otlpSpan
	for _, s := range spans {
		if s.Kind == 3 && strings.HasPrefix(s.Name, "POST ") && s.attr("webhook.id") == webhookID {
			out = append(out, s)
		}
	}
	// The exporter's order is not the requests'.
	slices.SortFunc(out, func(a, b otlpSpan) int {
		x, _ := strconv.ParseUint(a.Start, 10, 64)
		y, _ := strconv.ParseUint(b.Start, 10, 64)
		return cmp.Compare(x, y)
	})
	return out
}

func spanNames(spans []otlpSpan) string {
	names := make([]string, len(spans))
	for i, s := range spans {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
