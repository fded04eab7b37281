// Package ratelimit holds token buckets (golang.org/x/time/rate) keyed by
// client address, API key or webhook, with bounded memory: idle keys are
// forgotten, and past a maximum number of keys new ones share one bucket.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiters is one token bucket per key. The zero value is not usable; a nil
// *Limiters allows everything (a limit switched off).
type Limiters struct {
	limit   rate.Limit
	burst   int
	idle    time.Duration
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	overflow  *rate.Limiter
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// DefaultMaxKeys bounds the buckets held at once.
const DefaultMaxKeys = 100_000

// New allows burst events at once per key, refilled at perSecond. A key
// unused for long enough to refill its bucket is forgotten: a new bucket is
// full too, so forgetting changes nothing. perSecond <= 0 returns nil: no
// limit.
func New(perSecond float64, burst, maxKeys int) *Limiters {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &Limiters{
		limit: rate.Limit(perSecond), burst: burst, maxKeys: maxKeys,
		idle: max(refill, time.Second), now: time.Now,
		buckets:  map[string]*bucket{},
		overflow: rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// Take spends one event of key. When none is left it spends nothing and
// returns false with the wait until one is.
func (l *Limiters) Take(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim := l.get(key, now)
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Check reports whether key has an event left, without spending it (e.g.
// before an attempt whose failure only is counted), and the wait until it
// has.
func (l *Limiters) Check(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	tokens := l.get(key, now).TokensAt(now)
	if tokens >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second))
}

// Len is the number of keys held (for tests).
func (l *Limiters) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// get returns key's bucket; l.mu is held.
func (l *Limiters) get(key string, now time.Time) *rate.Limiter {
	if b, ok := l.buckets[key]; ok {
		b.seen = now
		return b.lim
	}
	// At most one sweep per idle period, even when full: sweeping at every
	// newcomer would cost O(keys) each during a flood.
	if now.Sub(l.lastSweep) >= l.idle {
		l.sweep(now)
	}
	if len(l.buckets) >= l.maxKeys {
		// Too many active keys (e.g. a flood from many addresses): the
		// newcomers share one bucket until idle ones are forgotten.
		return l.overflow
	}
	b := &bucket{lim: rate.NewLimiter(l.limit, l.burst), seen: now}
	l.buckets[key] = b
	return b.lim
}

func (l *Limiters) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= l.idle {
			delete(l.buckets, k)
		}
	}
}

// RetryAfterSeconds rounds a wait up to whole seconds for a Retry-After
// header: at least 1.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
