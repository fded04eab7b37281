package resource

import (
	"math"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/stats"
)

// Stats are delivery statistics over a window (GET /v1/webhooks/{id}/stats,
// GET /v1/stats); docs/statistics.md says what each number counts.
type Stats struct {
	Window string `json:"window"` // 24h or 30d
	// Interval is the length of each point: hour or day (UTC).
	Interval string       `json:"interval"`
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to"`
	Totals   StatsTally   `json:"totals"`
	Series   []StatsPoint `json:"series"`
	// Webhooks (GET /v1/stats?by=webhook) are each webhook's totals, the
	// most deliveries first.
	Webhooks []WebhookStats `json:"webhooks,omitempty"`
}

// StatsTally is what the deliveries of a period (or a window) add up to.
type StatsTally struct {
	// Deliveries ended in the period: Succeeded (a 2xx) + Failed (given
	// up on). SuccessRate is Succeeded / Deliveries, null without any.
	Deliveries  int64    `json:"deliveries"`
	Succeeded   int64    `json:"succeeded"`
	Failed      int64    `json:"failed"`
	SuccessRate *float64 `json:"successRate"`
	// Attempts are every request made (retries included); FailedAttempts
	// those without a 2xx.
	Attempts       int64 `json:"attempts"`
	FailedAttempts int64 `json:"failedAttempts"`
	// LatencyMS is the receivers' answer time over the attempts answered.
	LatencyMS Latency `json:"latencyMs"`
}

// Latency is the receivers' answer time in milliseconds, estimated from a
// histogram (within one bucket: ±1 ms below 16 ms, about 19 % above);
// null without an answered attempt.
type Latency struct {
	P50      *float64 `json:"p50"`
	P95      *float64 `json:"p95"`
	Answered int64    `json:"answered"`
}

// StatsPoint is one hour or day of a window.
type StatsPoint struct {
	Start time.Time `json:"start"`
	StatsTally
}

// WebhookStats is one webhook's totals over the window; Name is null for a
// deleted webhook.
type WebhookStats struct {
	WebhookID string  `json:"webhookId"`
	Name      *string `json:"name"`
	StatsTally
}

// FromStats shows a report.
func FromStats(r stats.Report) Stats {
	out := Stats{Window: r.Window.Name, Interval: string(r.Window.Period), From: r.From.UTC(), To: r.To.UTC(),
		Totals: FromTally(r.Totals), Series: make([]StatsPoint, len(r.Series))}
	for i, p := range r.Series {
		out.Series[i] = StatsPoint{Start: p.Start.UTC(), StatsTally: FromTally(p.Tally)}
	}
	for _, w := range r.Webhooks {
		ws := WebhookStats{WebhookID: w.WebhookID.String(), StatsTally: FromTally(w.Tally)}
		if w.Name != "" {
			name := w.Name
			ws.Name = &name
		}
		out.Webhooks = append(out.Webhooks, ws)
	}
	return out
}

// FromTally shows a tally: the rate to 4 decimals, latencies to 0.1 ms.
func FromTally(t stats.Tally) StatsTally {
	out := StatsTally{Deliveries: t.Deliveries(), Succeeded: t.Succeeded, Failed: t.Failed, Attempts: t.Attempts,
		FailedAttempts: t.FailedAttempts, LatencyMS: Latency{Answered: t.Latency.Count()}}
	if rate, ok := t.SuccessRate(); ok {
		out.SuccessRate = rounded(rate, 1e4)
	}
	if ms, ok := t.Latency.Quantile(0.5); ok {
		out.LatencyMS.P50 = rounded(ms, 10)
	}
	if ms, ok := t.Latency.Quantile(0.95); ok {
		out.LatencyMS.P95 = rounded(ms, 10)
	}
	return out
}

func rounded(v, scale float64) *float64 {
	r := math.Round(v*scale) / scale
	return &r
}
