package stats

import (
	"time"

	"github.com/google/uuid"
)

// Report is a window of a webhook's or an account's statistics, as the API
// and the console show it.
type Report struct {
	Window Window
	// From is the start of the first period, To the end of the last (the
	// one in progress).
	From, To time.Time
	Totals   Tally
	// Series holds every period of the window, oldest first, empty ones
	// included.
	Series []Point
	// Webhooks are each webhook's totals (account-wide reports, when
	// asked), the most deliveries first.
	Webhooks []WebhookTotals
}

// Point is one period of a window.
type Point struct {
	Start time.Time
	Tally
}

// WebhookTotals is one webhook's totals over a window; Name is "" for a
// deleted webhook.
type WebhookTotals struct {
	WebhookID uuid.UUID
	Name      string
	Tally
}

// NewReport lays points (any order; those outside the window are left
// out) over the window's periods at now.
func NewReport(w Window, now time.Time, points []Point) Report {
	starts := w.Starts(now)
	out := Report{Window: w, From: starts[0], To: w.Period.Next(starts[len(starts)-1]), Series: make([]Point, len(starts))}
	at := make(map[time.Time]int, len(starts))
	for i, t := range starts {
		out.Series[i].Start = t
		at[t] = i
	}
	for _, p := range points {
		if i, ok := at[p.Start.UTC()]; ok {
			out.Series[i].Merge(p.Tally)
			out.Totals.Merge(p.Tally)
		}
	}
	return out
}
