package stats

import (
	"fmt"
	"time"
)

// Tally is what a webhook's (or an account's) deliveries add up to over a
// period; tallies of periods or webhooks merge by adding.
//
// Succeeded and Failed count delivery series that ended in the period
// (the first 2xx, or given up on); Attempts counts every request whose
// answer or failure was recorded, retries included, and FailedAttempts
// those without a 2xx; Latency holds the answer times of the attempts
// that got an HTTP answer. Each counts in the period it finished in.
type Tally struct {
	Succeeded      int64
	Failed         int64
	Attempts       int64
	FailedAttempts int64
	Latency        Histogram
}

// Merge adds o to t.
func (t *Tally) Merge(o Tally) {
	t.Succeeded += o.Succeeded
	t.Failed += o.Failed
	t.Attempts += o.Attempts
	t.FailedAttempts += o.FailedAttempts
	t.Latency.Merge(o.Latency)
}

// Deliveries is how many deliveries ended: succeeded or failed.
func (t Tally) Deliveries() int64 { return t.Succeeded + t.Failed }

// SuccessRate is the fraction of the deliveries that ended that
// succeeded; ok is false when none ended.
func (t Tally) SuccessRate() (rate float64, ok bool) {
	if t.Deliveries() == 0 {
		return 0, false
	}
	return float64(t.Succeeded) / float64(t.Deliveries()), true
}

// Period is the length of a rollup row: an hour or a (UTC) day.
type Period string

// Periods of the rollups.
const (
	Hour Period = "hour"
	Day  Period = "day"
)

// Start is the start of the period holding t, in UTC.
func (p Period) Start(t time.Time) time.Time {
	t = t.UTC()
	if p == Day {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return t.Truncate(time.Hour)
}

// Next is the start of the period after the one starting at start.
func (p Period) Next(start time.Time) time.Time {
	if p == Day {
		return start.AddDate(0, 0, 1)
	}
	return start.Add(time.Hour)
}

// Window is what a statistics request covers: Points periods up to and
// including the one in progress.
type Window struct {
	Name   string
	Period Period
	Points int
}

// Windows are the windows the API offers, by name.
var Windows = []Window{
	{Name: "24h", Period: Hour, Points: 24},
	{Name: "30d", Period: Day, Points: 30},
}

// DefaultWindow is the window of a request that names none.
const DefaultWindow = "24h"

// WindowNamed is the window called name.
func WindowNamed(name string) (Window, error) {
	for _, w := range Windows {
		if w.Name == name {
			return w, nil
		}
	}
	return Window{}, fmt.Errorf("must be 24h (by hour) or 30d (by day)")
}

// Starts are the starts of the window's periods at now, oldest first; the
// last is the period in progress.
func (w Window) Starts(now time.Time) []time.Time {
	out := make([]time.Time, w.Points)
	t := w.Period.Start(now)
	for i := w.Points - 1; i >= 0; i-- {
		out[i] = t
		if w.Period == Day {
			t = t.AddDate(0, 0, -1)
		} else {
			t = t.Add(-time.Hour)
		}
	}
	return out
}
