package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
)

// after answers reply once d has passed: a receiver taking that long.
func after(d time.Duration, reply e2etest.Reply) e2etest.Reply {
	done := make(chan struct{})
	time.AfterFunc(d, func() { close(done) })
	reply.Block = done
	return reply
}

// TestStatsFromRealDeliveries: a real receiver answers 6 events with a
// 200 after 150 ms, 3 first with an immediate 500 and then with a 200
// after 150 ms, and 2 with a 503 after 400 ms until the worker gives up
// (4 attempts). Once the worker has folded them, the webhook's statistics
// say 11 deliveries, 9 succeeded, 20 attempts (11 failed), latencies from
// 20 answers with p50 among the 150 ms ones and p95 among the 400 ms ones,
// in agreement with the delivery log; the account's say the same, and
// another account's say nothing of it.
func TestStatsFromRealDeliveries(t *testing.T) {
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	_, otherKey := e.Account("professional")
	var mu sync.Mutex
	seen := map[string]int{}
	rcv := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		var p struct {
			EventID string `json:"eventId"`
		}
		_ = json.Unmarshal(r.Body, &p)
		mu.Lock()
		seen[p.EventID]++
		n := seen[p.EventID]
		mu.Unlock()
		switch {
		case strings.HasPrefix(p.EventID, "down-"):
			return after(400*time.Millisecond, e2etest.Status(http.StatusServiceUnavailable))
		case strings.HasPrefix(p.EventID, "flaky-") && n == 1:
			return e2etest.Status(http.StatusInternalServerError)
		}
		return after(150*time.Millisecond, e2etest.Status(http.StatusOK))
	})
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/hook")})

	var workflows []string
	for kind, n := range map[string]int{"ok": 6, "flaky": 3, "down": 2} {
		for i := range n {
			workflows = append(workflows, e.Publish(key, e2etest.Event{ID: fmt.Sprintf("%s-%d", kind, i)}).WorkflowID)
		}
	}
	for _, wf := range workflows {
		e.Result(wf)
	}

	var s resource.Stats
	e2etest.Eventually(t, "the fold to count 11 deliveries", func() bool {
		e.Do("GET", "/v1/webhooks/"+hook+"/stats", key, nil).Want(t, http.StatusOK).Decode(t, &s)
		return s.Totals.Deliveries >= 11
	})
	tot := s.Totals
	if tot.Deliveries != 11 || tot.Succeeded != 9 || tot.Failed != 2 || *tot.SuccessRate != 0.8182 ||
		tot.Attempts != 20 || tot.FailedAttempts != 11 || tot.LatencyMS.Answered != 20 {
		t.Fatalf("totals %+v", tot)
	}
	// Latencies: 3 immediate, 12 of 150 ms or more, 5… 8 of 400 ms or more.
	// The estimates lie in the buckets of the exact values: p50 in one of
	// 150 ms or more (bucket [128, 152) at least), p95 in one of 400 ms or
	// more ([362, 431) at least).
	p50, p95 := *tot.LatencyMS.P50, *tot.LatencyMS.P95
	if p50 < 128 || p95 < 362 || p50 >= p95 {
		t.Fatalf("latency p50 %v ms, p95 %v ms", p50, p95)
	}
	t.Logf("totals: %d deliveries, %d attempts, latency p50 %v ms, p95 %v ms", tot.Deliveries, tot.Attempts, p50, p95)
	var inSeries int64
	for _, p := range s.Series {
		inSeries += p.Attempts
	}
	if inSeries != tot.Attempts {
		t.Fatalf("the hours hold %d attempts, the totals %d", inSeries, tot.Attempts)
	}

	// The delivery log agrees: its attempt counts add up to the same.
	var log struct {
		Data []resource.Delivery `json:"data"`
	}
	e.Do("GET", "/v1/deliveries?limit=100&webhookId="+hook, key, nil).Want(t, http.StatusOK).Decode(t, &log)
	var attempts, failed int
	for _, d := range log.Data {
		attempts += d.AttemptCount
		if d.Status == "failed" {
			failed++
		}
	}
	if len(log.Data) != 11 || int64(attempts) != tot.Attempts || int64(failed) != tot.Failed {
		t.Fatalf("the log: %d deliveries, %d attempts, %d failed", len(log.Data), attempts, failed)
	}

	var all resource.Stats
	e.Do("GET", "/v1/stats?window=30d&by=webhook", key, nil).Want(t, http.StatusOK).Decode(t, &all)
	if all.Totals.Attempts != 20 || len(all.Webhooks) != 1 || all.Webhooks[0].WebhookID != hook ||
		all.Webhooks[0].Deliveries != 11 || *all.Webhooks[0].LatencyMS.P95 != p95 {
		t.Fatalf("account-wide: %+v", all)
	}
	var other resource.Stats
	e.Do("GET", "/v1/stats?by=webhook", otherKey, nil).Want(t, http.StatusOK).Decode(t, &other)
	if other.Totals.Attempts != 0 || len(other.Webhooks) != 0 {
		t.Fatalf("another account sees %+v", other)
	}
	e.Do("GET", "/v1/webhooks/"+hook+"/stats", otherKey, nil).Want(t, http.StatusNotFound)
}
