package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WebhookHealth is one webhook's health as the store reports it.
type WebhookHealth struct {
	WebhookID           string
	AccountID           string
	ConsecutiveFailures int
	// OldestUndelivered is the age of its oldest delivery still pending or
	// retrying (0 when none).
	OldestUndelivered time.Duration
}

// HealthSource lists the webhooks that are failing or have deliveries
// waiting: only those get series, so healthy webhooks cost nothing.
type HealthSource func(ctx context.Context) ([]WebhookHealth, error)

var (
	failuresDesc = prometheus.NewDesc("webhookd_webhook_consecutive_failures",
		"Failed attempts in a row of a failing webhook.", []string{"webhook_id", "account_id"}, nil)
	oldestDesc = prometheus.NewDesc("webhookd_webhook_oldest_undelivered_seconds",
		"Age of a webhook's oldest delivery still pending or retrying.", []string{"webhook_id", "account_id"}, nil)
)

// healthCollector asks the store at each scrape (bounded by a timeout).
type healthCollector struct {
	source HealthSource
	errors prometheus.Counter
}

// CollectHealth adds per-webhook health gauges read from source at scrape
// time (the api process registers it: one process is enough).
func (m *Metrics) CollectHealth(source HealthSource) {
	c := &healthCollector{source: source, errors: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "webhookd_webhook_health_scrape_errors_total", Help: "Scrapes whose webhook health query failed.",
	})}
	m.Registry.MustRegister(c)
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- failuresDesc
	ch <- oldestDesc
	c.errors.Describe(ch)
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := c.source(ctx)
	if err != nil {
		c.errors.Inc()
	}
	ch <- c.errors
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.GaugeValue, float64(r.ConsecutiveFailures), r.WebhookID, r.AccountID)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, r.OldestUndelivered.Seconds(), r.WebhookID, r.AccountID)
	}
}
