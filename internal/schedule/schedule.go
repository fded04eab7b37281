// Package schedule is a webhook's own delivery timing: its attempt timeout
// and its retry schedule, a named preset or a list of waits, within the
// bounds the API enforces. The service checks a webhook's timing with it;
// the worker turns a stored schedule into the waits between attempts.
package schedule

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bounds of a webhook's timing. A receiver's time to answer is short
// (a worker's slot and the receiver's concurrency slot are held for it);
// a schedule may retry for up to a week, the longest a delivery's
// workflow waits, with at most MaxWaits attempts after the first, so one
// delivery's history stays small (about a dozen events an attempt).
const (
	MinTimeout = time.Second
	MaxTimeout = 30 * time.Second
	MaxWaits   = 30
	MinWait    = time.Second
	MaxWait    = 24 * time.Hour
	MaxTotal   = 7 * 24 * time.Hour
)

// Names of the presets.
const (
	Standard = "standard"
	Fast     = "fast"
	Patient  = "patient"
)

// presets are the named schedules: standard is the product's schedule
// (DELIVERY_RETRY_SCHEDULE's default, 16 retries over 4h46m) whatever the
// operator configured; fast rides out a short outage (6 retries within
// about 9 minutes); patient spreads 13 retries over about 3 days for a
// receiver that is down for a weekend.
var presets = map[string][]time.Duration{
	Standard: {10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute,
		5 * time.Minute, 6 * time.Minute, 7 * time.Minute, 8 * time.Minute, 9 * time.Minute, 10 * time.Minute,
		20 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour},
	Fast: {5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute},
	Patient: {time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
		4 * time.Hour, 8 * time.Hour, 12 * time.Hour, 12 * time.Hour, 12 * time.Hour, 12 * time.Hour, 12 * time.Hour},
}

// PresetNames lists the presets in the order the API's messages and the
// console's select show them.
func PresetNames() []string { return []string{Standard, Fast, Patient} }

// Preset returns the waits of a named preset.
func Preset(name string) ([]time.Duration, bool) {
	w, ok := presets[name]
	return slices.Clone(w), ok
}

// Spec is a retry schedule as the API reads and shows it: exactly one of
// Preset ({"preset": "fast"}) or Waits ({"waits": ["10s", "5m"]}).
type Spec struct {
	Preset string   `json:"preset,omitempty"`
	Waits  []string `json:"waits,omitempty"`
}

// Check returns the field errors of s, keyed by their path under
// "retrySchedule", or nil; otherwise Waits parses (ParseWaits).
func (s Spec) Check() map[string]string {
	switch {
	case s.Preset == "" && s.Waits == nil:
		return map[string]string{"retrySchedule": specMessage}
	case s.Preset != "" && s.Waits != nil:
		return map[string]string{"retrySchedule": "must have either preset or waits, not both"}
	case s.Preset != "":
		if _, ok := presets[s.Preset]; !ok {
			return map[string]string{"retrySchedule.preset": "must be one of: " + strings.Join(PresetNames(), ", ")}
		}
	default:
		if _, err := ParseWaits(s.Waits); err != nil {
			return map[string]string{"retrySchedule.waits": err.Error()}
		}
	}
	return nil
}

const specMessage = `must be null (the global schedule), {"preset": "standard", "fast" or "patient"} or {"waits": ["10s", "5m", …]}`

// ParseWaits reads a list of waits ("10s", "5m", "1h30m": Go durations in
// whole seconds) and checks the bounds: 1 to MaxWaits waits, each from
// MinWait to MaxWait, MaxTotal in all. Its errors say which wait and why,
// in words an admin can act on.
func ParseWaits(waits []string) ([]time.Duration, error) {
	if len(waits) < 1 || len(waits) > MaxWaits {
		return nil, fmt.Errorf("must have from 1 to %d waits (one per retry); this has %d", MaxWaits, len(waits))
	}
	out := make([]time.Duration, len(waits))
	var total time.Duration
	for i, w := range waits {
		d, err := time.ParseDuration(strings.TrimSpace(w))
		switch {
		case err != nil:
			return nil, fmt.Errorf("wait %d (%q) is not a duration such as 30s, 5m or 2h", i+1, w)
		case d < MinWait || d > MaxWait:
			return nil, fmt.Errorf("wait %d (%s) must be from 1s to 24h", i+1, w)
		case d%time.Second != 0:
			return nil, fmt.Errorf("wait %d (%s) must be whole seconds", i+1, w)
		}
		out[i], total = d, total+d
	}
	if total > MaxTotal {
		return nil, fmt.Errorf("the waits add up to %s; at most 168h (7 days)", Format(total))
	}
	return out, nil
}

// Format writes a wait the way people write it: 10s, 5m, 1h30m (not
// time.Duration's 5m0s).
func Format(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// FormatAll formats each wait.
func FormatAll(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = Format(d)
	}
	return out
}

// Seconds are waits as stored (whole seconds: ParseWaits refuses others).
func Seconds(ds []time.Duration) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = int64(d / time.Second)
	}
	return out
}

// FromSeconds are stored waits as durations.
func FromSeconds(secs []int64) []time.Duration {
	out := make([]time.Duration, len(secs))
	for i, s := range secs {
		out[i] = time.Duration(s) * time.Second
	}
	return out
}

// Resolve is a stored schedule's waits: the preset's, or the stored
// waits; ok is false when the webhook has none (or a preset this binary
// does not know), and the global schedule applies.
func Resolve(preset *string, waitSeconds []int64) (waits []time.Duration, ok bool) {
	switch {
	case preset != nil:
		return Preset(*preset)
	case len(waitSeconds) > 0:
		return FromSeconds(waitSeconds), true
	}
	return nil, false
}
