package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMetricsAreServed(t *testing.T) {
	m := New()
	m.ObserveAttempt("succeeded", 20*time.Millisecond)
	m.ObserveAttempt("retry", time.Second)
	m.ObserveRequest("POST", "/v1/events", 202, time.Millisecond)
	m.ObserveRequest("POST", "/v1/events", 422, time.Millisecond)
	m.ObserveDispatch("queue", nil)
	m.ObserveDispatch("sweep", errors.New("down"))
	m.ObserveSlotWait("handed")
	var nilM *Metrics
	nilM.ObserveAttempt("failed", 0) // nil-safe

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`webhookd_delivery_attempts_total{outcome="succeeded"} 1`,
		`webhookd_delivery_attempts_total{outcome="retry"} 1`,
		`webhookd_delivery_attempt_duration_seconds_count 2`,
		`webhookd_http_requests_total{method="POST",route="/v1/events",status="2xx"} 1`,
		`webhookd_http_requests_total{method="POST",route="/v1/events",status="422"} 1`,
		`webhookd_dispatch_starts_total{result="error",via="sweep"} 1`,
		`webhookd_slot_waits_total{result="handed"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestWebhookHealthGauges(t *testing.T) {
	m := New()
	fail := false
	m.CollectHealth(func(context.Context) ([]WebhookHealth, error) {
		if fail {
			return nil, errors.New("db down")
		}
		return []WebhookHealth{{WebhookID: "w1", AccountID: "a1", ConsecutiveFailures: 7, OldestUndelivered: 90 * time.Second}}, nil
	})
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	body := scrape()
	for _, want := range []string{
		`webhookd_webhook_consecutive_failures{account_id="a1",webhook_id="w1"} 7`,
		`webhookd_webhook_oldest_undelivered_seconds{account_id="a1",webhook_id="w1"} 90`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	fail = true
	if body := scrape(); !strings.Contains(body, "webhookd_webhook_health_scrape_errors_total 1") {
		t.Errorf("failed scrape not counted:\n%s", body)
	}
}
