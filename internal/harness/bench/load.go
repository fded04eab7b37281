package bench

// Load generators (fixed offered rate, saturation) and the statistics of a
// measurement. Every loop is bounded in count and by its context.

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// publishFunc publishes event number i with the given id.
type publishFunc func(ctx context.Context, i int, eventID string) error

// loadResult is what a load generator did.
type loadResult struct {
	prefix   string
	n        int             // events attempted
	starts   []time.Time     // publish call start, by index
	lat      []time.Duration // publish call latency, by index
	failed   []bool
	errors   int
	firstErr string
	lagged   int // fixed rate: publishes that waited for a free in-flight slot
	begin    time.Time
	end      time.Time
}

func newLoad(prefix string, n int) *loadResult {
	return &loadResult{prefix: prefix, n: n, starts: make([]time.Time, n), lat: make([]time.Duration, n), failed: make([]bool, n)}
}

func eventID(prefix string, i int) string { return prefix + strconv.Itoa(i) }

// index parses the event number back out of an event id.
func (l *loadResult) index(id string) (int, bool) {
	s, ok := strings.CutPrefix(id, l.prefix)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && i < l.n
}

var errMu sync.Mutex

func (l *loadResult) one(ctx context.Context, i int, pub publishFunc) {
	start := time.Now()
	l.starts[i] = start
	err := pub(ctx, i, eventID(l.prefix, i))
	l.lat[i] = time.Since(start)
	if err != nil {
		errMu.Lock()
		l.failed[i] = true
		l.errors++
		if l.firstErr == "" {
			l.firstErr = err.Error()
		}
		errMu.Unlock()
	}
}

// fixedRate publishes rate events per second for dur (open loop: each
// publish on its own goroutine, at most maxInflight at once).
func fixedRate(ctx context.Context, prefix string, rate float64, dur time.Duration, maxInflight int, pub publishFunc) *loadResult {
	n := int(math.Round(rate * dur.Seconds()))
	l := newLoad(prefix, n)
	sem := make(chan struct{}, maxInflight)
	var wg sync.WaitGroup
	l.begin = time.Now()
	for i := 0; i < n; i++ {
		at := l.begin.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			l.n = i
			break
		}
		select {
		case sem <- struct{}{}:
		default:
			l.lagged++
			sem <- struct{}{}
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			l.one(ctx, i, pub)
		}(i)
	}
	wg.Wait()
	l.end = time.Now()
	return l
}

// saturate publishes n events from conc concurrent publishers as fast as
// they are accepted.
func saturate(ctx context.Context, prefix string, n, conc int, pub publishFunc) *loadResult {
	l := newLoad(prefix, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	l.begin = time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				l.one(ctx, i, pub)
			}
		}()
	}
	wg.Wait()
	l.end = time.Now()
	// Events never attempted (context ended) count as failed publishes.
	for i := 0; i < n; i++ {
		if l.starts[i].IsZero() {
			l.failed[i] = true
			l.errors++
			if l.firstErr == "" {
				l.firstErr = "not attempted: " + fmt.Sprint(ctx.Err())
			}
		}
	}
	return l
}

// pct is a latency distribution in milliseconds.
type pct struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func percentiles(ds []time.Duration) pct {
	if len(ds) == 0 {
		return pct{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) float64 {
		k := int(math.Ceil(q*float64(len(s)))) - 1
		k = max(0, min(k, len(s)-1))
		return ms(s[k])
	}
	return pct{N: len(s), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return round2(float64(d) / float64(time.Millisecond)) }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// measurement is one row of results: a load and the deliveries it caused.
type measurement struct {
	Name              string             `json:"name"`
	Mode              string             `json:"mode"` // fixed-rate or saturation
	System            string             `json:"system"`
	Fanout            int                `json:"fanout"`
	OfferedRate       float64            `json:"offeredRatePerS,omitempty"`
	Concurrency       int                `json:"concurrency,omitempty"`
	Published         int                `json:"published"`
	PublishErrors     int                `json:"publishErrors"`
	FirstPublishError string             `json:"firstPublishError,omitempty"`
	LaggedPublishes   int                `json:"laggedPublishes,omitempty"`
	Expected          int                `json:"expectedDeliveries"`
	Delivered         int                `json:"delivered"`
	Complete          bool               `json:"complete"`
	Duplicates        int                `json:"duplicateDeliveries"`
	Strays            int                `json:"strayDeliveries"`
	PublishSeconds    float64            `json:"publishSeconds"`
	ElapsedSeconds    float64            `json:"elapsedSeconds"` // first publish start → last receive
	DeliveriesPerS    float64            `json:"deliveriesPerS"`
	PublishRatePerS   float64            `json:"publishRatePerS"`
	LatencyMS         pct                `json:"latencyMs"`        // publish start → verified at receiver
	PublishLatencyMS  pct                `json:"publishLatencyMs"` // the publish call itself
	CPUCores          map[string]float64 `json:"cpuCores"`         // first publish → last delivery
	// CPU time of each process from the first publish to the end of the
	// settle pause after the last delivery (so trailing work, such as
	// workflow completion and visibility, counts): cpuMs per process, and
	// cpuMsPerDelivery = cpuMs / delivered with the keys webhookd, temporal,
	// postgres, total (their sum) and bench (not in total).
	// SlotWaits (ours): what became of the attempts queued at a full
	// webhook in the worker during the phase (webhookd_slot_waits_total:
	// handed, queued, no_room); absent when none queued.
	SlotWaits        map[string]int     `json:"slotWaits,omitempty"`
	CPUWindowSeconds float64            `json:"cpuWindowSeconds"`
	CPUMs            map[string]float64 `json:"cpuMs"`
	CPUMsPerDelivery map[string]float64 `json:"cpuMsPerDelivery"`
	// History of one event's workflow of the phase (ours only).
	History *historySample `json:"history,omitempty"`
}

func (m measurement) incomplete() string {
	if m.Complete {
		return ""
	}
	return fmt.Sprintf("incomplete: %d/%d delivered", m.Delivered, m.Expected)
}

// summarize turns a load and its deliveries into a measurement; fanout(i) is
// how many healthy deliveries event i should cause.
func summarize(m measurement, l *loadResult, ds []delivery, fanout func(i int) int, dups, strays int) measurement {
	m.Published = l.n - l.errors
	m.PublishErrors, m.FirstPublishError, m.LaggedPublishes = l.errors, l.firstErr, l.lagged
	m.Duplicates, m.Strays = dups, strays
	var pubLat []time.Duration
	for i := 0; i < l.n; i++ {
		if !l.failed[i] {
			m.Expected += fanout(i)
			pubLat = append(pubLat, l.lat[i])
		}
	}
	m.PublishLatencyMS = percentiles(pubLat)
	m.PublishSeconds = round2(l.end.Sub(l.begin).Seconds())
	if m.PublishSeconds > 0 {
		m.PublishRatePerS = round2(float64(m.Published) / l.end.Sub(l.begin).Seconds())
	}
	var lat []time.Duration
	var last time.Time
	for _, d := range ds {
		i, ok := l.index(d.eventID)
		if !ok || l.starts[i].IsZero() {
			m.Strays++
			continue
		}
		m.Delivered++
		lat = append(lat, d.at.Sub(l.starts[i]))
		if d.at.After(last) {
			last = d.at
		}
	}
	m.Complete = m.Expected > 0 && m.Delivered >= m.Expected
	m.LatencyMS = percentiles(lat)
	if !last.IsZero() {
		el := last.Sub(l.begin).Seconds()
		m.ElapsedSeconds = round2(el)
		if el > 0 {
			m.DeliveriesPerS = round2(float64(m.Delivered) / el)
		}
	}
	return m
}
