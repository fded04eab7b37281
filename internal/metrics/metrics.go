// Package metrics holds webhookd's Prometheus collectors: what the API
// answered, what each delivery attempt did, and the dispatcher's queue.
// Served at /metrics on METRICS_ADDR.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one process's collectors, on a registry of its own (so tests
// can build as many as they like).
type Metrics struct {
	Registry *prometheus.Registry

	HTTPRequests *prometheus.CounterVec   // method, route, status
	HTTPDuration *prometheus.HistogramVec // method, route
	Attempts     *prometheus.CounterVec   // outcome: succeeded, retry, failed, cancelled
	AttemptTime  prometheus.Histogram     // seconds from send to answer
	Dispatched   *prometheus.CounterVec   // via: queue, notify, sweep; result: started, error
	// Dispatchers: the workers' dispatchers alive as the api process last
	// saw them (OUTBOX_DISPATCH=workers; 0 means it starts events itself).
	Dispatchers prometheus.Gauge
	Filters     *prometheus.CounterVec // result: match, no_match, error
	// SlotWaits: attempts queued at a full webhook, by what became of them
	// in the worker: handed (a slot), queued (the wait ran out: it waits
	// in its workflow), no_room (too many waited already).
	SlotWaits *prometheus.CounterVec
}

// New registers every collector, plus the Go runtime and process ones.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_http_requests_total", Help: "API requests by route and status.",
		}, []string{"method", "route", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "webhookd_http_request_duration_seconds", Help: "API request latency.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"method", "route"}),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_delivery_attempts_total", Help: "Delivery attempts by outcome.",
		}, []string{"outcome"}),
		AttemptTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "webhookd_delivery_attempt_duration_seconds", Help: "Time from sending a delivery to its answer.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		Dispatched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_dispatch_starts_total", Help: "Workflow starts of published events, by path and result.",
		}, []string{"via", "result"}),
		Dispatchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhookd_outbox_dispatchers",
			Help: "Worker processes starting stored events, as the api process last saw them (OUTBOX_DISPATCH=workers).",
		}),
		Filters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_filter_evaluations_total",
			Help: "Payload filters evaluated by the worker, by result: match, no_match, error (an error is no match).",
		}, []string{"result"}),
		SlotWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhookd_slot_waits_total",
			Help: "Attempts queued at a full webhook, by what became of them in the worker: handed (a slot), queued (the wait ran out), no_room (too many waited).",
		}, []string{"result"}),
	}
	m.Registry.MustRegister(m.HTTPRequests, m.HTTPDuration, m.Attempts, m.AttemptTime, m.Dispatched, m.Dispatchers, m.Filters, m.SlotWaits,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveAttempt records one delivery attempt; nil-safe so tests and tools
// may leave metrics out.
func (m *Metrics) ObserveAttempt(outcome delivery.Outcome, d time.Duration) {
	if m == nil {
		return
	}
	m.Attempts.WithLabelValues(string(outcome)).Inc()
	if outcome != delivery.OutcomeCancelled {
		m.AttemptTime.Observe(d.Seconds())
	}
}

// ObserveRequest records one API request under its route pattern.
func (m *Metrics) ObserveRequest(method, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.HTTPRequests.WithLabelValues(method, route, statusClass(status)).Inc()
	m.HTTPDuration.WithLabelValues(method, route).Observe(d.Seconds())
}

// ObserveDispatch records one workflow start attempt by the dispatcher.
func (m *Metrics) ObserveDispatch(via string, err error) {
	if m == nil {
		return
	}
	result := "started"
	if err != nil {
		result = "error"
	}
	m.Dispatched.WithLabelValues(via, result).Inc()
}

// ObserveFilter records one payload filter evaluation: match, no_match
// or error.
func (m *Metrics) ObserveFilter(result string) {
	if m == nil {
		return
	}
	m.Filters.WithLabelValues(result).Inc()
}

// ObserveSlotWait records what became of an attempt queued at a full
// webhook in its worker: handed (a slot), queued (its wait ran out) or
// no_room (too many waited already).
func (m *Metrics) ObserveSlotWait(result string) {
	if m == nil {
		return
	}
	m.SlotWaits.WithLabelValues(result).Inc()
}

// statusClass keeps the label set small: the exact code for errors that
// matter, else the class.
func statusClass(status int) string {
	switch {
	case status >= 500:
		return "5xx"
	case status >= 400:
		return strconv.Itoa(status)
	case status >= 300:
		return "3xx"
	default:
		return "2xx"
	}
}

// SetDispatchers records how many workers' dispatchers the api process
// sees alive.
func (m *Metrics) SetDispatchers(n int) {
	if m != nil {
		m.Dispatchers.Set(float64(n))
	}
}
