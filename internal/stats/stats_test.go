package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBounds(t *testing.T) {
	for i := 1; i < len(Bounds); i++ {
		if Bounds[i] <= Bounds[i-1] {
			t.Fatalf("edge %d (%d) not above the one before (%d)", i, Bounds[i], Bounds[i-1])
		}
		// Above 16 ms a bucket is at most 19 % wide: the error bound the
		// docs promise.
		if Bounds[i-1] >= 16 && float64(Bounds[i]) > 1.19*float64(Bounds[i-1])+1 {
			t.Errorf("bucket [%d, %d) wider than 19 %%", Bounds[i-1], Bounds[i])
		}
	}
	if Bounds[len(Bounds)-1] <= 30000 {
		t.Error("the last edge must lie above the longest attempt timeout (30 s)")
	}
	for _, c := range []struct{ ms, bucket int }{{0, 0}, {1, 1}, {2, 2}, {9, 8}, {10, 9}, {55108, len(Bounds) - 1},
		{55109, len(Bounds)}, {1 << 30, len(Bounds)}} {
		if got := Bucket(c.ms); got != c.bucket {
			t.Errorf("Bucket(%d) = %d, want %d", c.ms, got, c.bucket)
		}
	}
}

// exact is the nearest-rank percentile of sorted samples.
func exact(sorted []int, q float64) int {
	return sorted[max(0, int(math.Ceil(q*float64(len(sorted))))-1)]
}

// TestQuantileWithinItsBucket: on random latency mixes, p50 and p95 from
// the histogram lie in the bucket of the exact percentile, and so within
// the documented error; merging halves gives the same histogram as
// counting all.
func TestQuantileWithinItsBucket(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for round := range 200 {
		n := 1 + r.IntN(2000)
		samples := make([]int, n)
		var all, a, b Histogram
		for i := range samples {
			ms := int(r.ExpFloat64() * float64(5+r.IntN(800)))
			if r.IntN(10) == 0 {
				ms = r.IntN(30000)
			}
			samples[i] = ms
			all.Add(ms)
			if i%2 == 0 {
				a.Add(ms)
			} else {
				b.Add(ms)
			}
		}
		a.Merge(b)
		if !slices.Equal(a.Trim(), all.Trim()) {
			t.Fatalf("round %d: merged halves %v, all %v", round, a, all)
		}
		slices.Sort(samples)
		for _, q := range []float64{0.5, 0.95} {
			got, ok := all.Quantile(q)
			want := exact(samples, q)
			lo, hi := edges(Bucket(want))
			if !ok || got < lo || (hi >= 0 && got > hi) {
				t.Fatalf("round %d: p%v = %.1f, exact %d (bucket [%v, %v))", round, q*100, got, want, lo, hi)
			}
		}
	}
	if _, ok := Histogram(nil).Quantile(0.5); ok {
		t.Error("an empty histogram has a quantile")
	}
	var one Histogram
	one.Add(100000)
	if got, _ := one.Quantile(0.95); got != float64(Bounds[len(Bounds)-1]) {
		t.Errorf("open-ended bucket: %v", got)
	}
}

func TestTally(t *testing.T) {
	var sum Tally
	sum.Merge(Tally{Succeeded: 3, Attempts: 5, FailedAttempts: 2})
	sum.Merge(Tally{Failed: 1, Attempts: 4, FailedAttempts: 4})
	if rate, ok := sum.SuccessRate(); !ok || rate != 0.75 || sum.Deliveries() != 4 {
		t.Fatalf("%+v: rate %v", sum, rate)
	}
	if _, ok := (Tally{Attempts: 3}).SuccessRate(); ok {
		t.Error("a success rate without deliveries")
	}
}

func TestWindows(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 42, 5, 0, time.FixedZone("CST", 8*3600)) // 02:42 UTC
	day, err := WindowNamed("30d")
	if err != nil {
		t.Fatal(err)
	}
	starts := day.Starts(now)
	if len(starts) != 30 || !starts[29].Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) ||
		!starts[0].Equal(time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("30d: %v … %v", starts[0], starts[29])
	}
	hour, _ := WindowNamed("24h")
	starts = hour.Starts(now)
	if len(starts) != 24 || !starts[23].Equal(time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)) ||
		!starts[0].Equal(time.Date(2026, 2, 28, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("24h: %v … %v", starts[0], starts[23])
	}
	if _, err := WindowNamed("7d"); err == nil {
		t.Error("7d accepted")
	}
}
