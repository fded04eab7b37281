// Package stats is the arithmetic of the delivery statistics: a receiver
// latency histogram with fixed log-scale buckets, which rollup rows store
// and which merge by adding counts, so a day's or an account's percentiles
// come from its hours' or its webhooks' histograms (docs/statistics.md).
package stats

import (
	"slices"
	"sort"
)

// Bounds are the buckets' edges in milliseconds: bucket 0 holds latencies
// below Bounds[0], bucket i latencies from Bounds[i-1] up to (not
// including) Bounds[i], and the last bucket everything from the last bound
// on. Each edge is about 2^(1/4) times the one before (rounded to whole
// milliseconds), so above 16 ms a bucket spans about 19 % of its lower
// edge (a 2^(1/4) step, give or take the rounding's millisecond).
//
// Stored rows index these: never change or insert an edge; appending
// larger ones is the only safe change.
var Bounds = []int{
	1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 13, 16, 19, 23, 27, 32, 38, 45, 54, 64,
	76, 91, 108, 128, 152, 181, 215, 256, 304, 362, 431, 512, 609, 724, 861,
	1024, 1218, 1448, 1722, 2048, 2435, 2896, 3444, 4096, 4871, 5793, 6889,
	8192, 9742, 11585, 13777, 16384, 19484, 23170, 27554, 32768, 38968,
	46341, 55109,
}

// Buckets is the number of buckets.
var Buckets = len(Bounds) + 1

// Bucket is the bucket of a latency of ms milliseconds.
func Bucket(ms int) int {
	// The first edge above ms: its index is the bucket.
	return sort.SearchInts(Bounds, ms+1)
}

// Histogram counts latencies per bucket. Trailing empty buckets may be
// left out (stored rows are trimmed), so two histograms may differ in
// length; a nil Histogram is empty.
type Histogram []int64

// Add counts one latency of ms milliseconds.
func (h *Histogram) Add(ms int) {
	b := Bucket(ms)
	if len(*h) <= b {
		*h = append(*h, make(Histogram, b+1-len(*h))...)
	}
	(*h)[b]++
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o Histogram) {
	if len(*h) < len(o) {
		*h = append(*h, make(Histogram, len(o)-len(*h))...)
	}
	for i, n := range o {
		(*h)[i] += n
	}
}

// Count is how many latencies h holds.
func (h Histogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Trim is h without its trailing empty buckets.
func (h Histogram) Trim() Histogram {
	i := len(h)
	for i > 0 && h[i-1] == 0 {
		i--
	}
	return slices.Clip(h[:i])
}

// Quantile estimates the latency in milliseconds below which a fraction q
// (0 < q ≤ 1) of h's latencies fall, interpolating linearly inside the
// bucket where that rank lands; ok is false when h is empty. The estimate
// lies in the same bucket as the exact value, so it is off by less than
// the bucket's width: 1 ms below 16 ms, about 19 % of the value above.
func (h Histogram) Quantile(q float64) (ms float64, ok bool) {
	total := h.Count()
	if total == 0 {
		return 0, false
	}
	rank := q * float64(total)
	var below float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if below+float64(c) >= rank {
			lo, hi := edges(i)
			if hi < 0 { // the open-ended last bucket
				return lo, true
			}
			return lo + (hi-lo)*(rank-below)/float64(c), true
		}
		below += float64(c)
	}
	lo, _ := edges(len(h) - 1)
	return lo, true
}

// edges are bucket i's lower and upper edges; hi is -1 for the last one.
func edges(i int) (lo, hi float64) {
	if i > 0 {
		lo = float64(Bounds[i-1])
	}
	if i >= len(Bounds) {
		return lo, -1
	}
	return lo, float64(Bounds[i])
}
