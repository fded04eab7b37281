package console

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
)

// The statistics chart, drawn on the server as inline SVG (no script):
// a bar per hour or day (deliveries that ended, the failed part stacked
// on the succeeded one, on the left axis) and the p95 latency as a line
// on the right axis. It scales with its box (viewBox, width 100%); the
// stylesheet enlarges its text and drops the minor labels on a narrow
// screen. The table beside it says the same in words.

// Geometry of the chart, in viewBox units.
const (
	chartW, chartH = 600.0, 280.0
	plotL, plotR   = 58.0, 522.0 // the axes' labels sit outside
	plotT, plotB   = 14.0, 236.0
)

// chart is what the template draws.
type chart struct {
	ViewBox string
	Bars    []chartBar
	// P95 is the latency line's path ("" without any answer); Dots mark
	// each point of it (a lone hour between empty ones is a dot).
	P95                        string
	Dots                       []chartDot
	Left                       []chartTick // deliveries
	Right                      []chartTick // p95 latency
	Bottom                     []chartTick // periods
	Grid                       []float64   // y of the horizontal grid lines
	PlotL, PlotR, PlotT, PlotB float64
}

// chartBar is one period's bar: the succeeded part from the axis up, the
// failed part on top; Period and Point say it in words (its SVG title).
type chartBar struct {
	X, W         float64
	OKY, OKH     float64
	FailY, FailH float64
	Period       string
	Point        resource.StatsPoint
}

type chartDot struct{ X, Y float64 }

// chartTick is an axis label at a position; Minor ones are left out on a
// narrow screen.
type chartTick struct {
	X, Y  float64
	Text  string
	Minor bool
}

// newChart draws a report's series; label names a period (its start, as
// the axis and the bars' titles show it).
func newChart(s resource.Stats, label func(resource.StatsPoint) string) chart {
	c := chart{ViewBox: fmt.Sprintf("0 0 %g %g", chartW, chartH), PlotL: plotL, PlotR: plotR}
	n := len(s.Series)
	if n == 0 {
		return c
	}
	var maxD int64
	var maxL float64
	for _, p := range s.Series {
		maxD = max(maxD, p.Deliveries)
		if p.LatencyMS.P95 != nil {
			maxL = max(maxL, *p.LatencyMS.P95)
		}
	}
	topD, topL := niceCeil(float64(maxD)), niceCeil(maxL)
	slot := (plotR - plotL) / float64(n)
	y := func(v, top float64) float64 { return plotB - (plotB-plotT)*v/top }
	var path strings.Builder
	gap := true
	for i, p := range s.Series {
		x := plotL + slot*float64(i)
		b := chartBar{X: round1(x + slot*0.15), W: round1(slot * 0.7), Period: label(p), Point: p}
		okTop := y(float64(p.Succeeded), topD)
		failTop := y(float64(p.Deliveries), topD)
		b.OKY, b.OKH = round1(okTop), round1(plotB-okTop)
		b.FailY, b.FailH = round1(failTop), round1(okTop-failTop)
		c.Bars = append(c.Bars, b)
		if p.LatencyMS.P95 == nil {
			gap = true
		} else {
			d := chartDot{X: round1(x + slot/2), Y: round1(y(*p.LatencyMS.P95, topL))}
			verb := "L"
			if gap {
				verb = "M"
			}
			fmt.Fprintf(&path, "%s%g %g ", verb, d.X, d.Y)
			c.Dots = append(c.Dots, d)
			gap = false
		}
		if t, ok := bottomTick(s.Interval, i, n); ok {
			c.Bottom = append(c.Bottom, chartTick{X: round1(x + slot/2), Y: plotB + 20, Text: b.Period, Minor: t})
		}
	}
	c.P95 = strings.TrimSpace(path.String())
	for _, f := range []float64{0, 0.5, 1} {
		ty := round1(y(f*topD, topD))
		c.Grid = append(c.Grid, ty)
		c.Left = append(c.Left, chartTick{X: plotL - 8, Y: ty + 4, Text: count(f * topD)})
		if c.P95 != "" {
			c.Right = append(c.Right, chartTick{X: plotR + 8, Y: ty + 4, Text: millis(f * topL)})
		}
	}
	return c
}

// bottomTick says whether period i of n gets a label, and whether it is a
// minor one: hours every 3 (every 6 on a phone), days every 5 (every 10).
func bottomTick(interval string, i, n int) (minor, ok bool) {
	every := 3
	if interval == "day" {
		every = 5
	}
	// Counted from the last (current) period, so it is always labelled.
	k := n - 1 - i
	if k%every != 0 {
		return false, false
	}
	return k%(2*every) != 0, true
}

// niceCeil is the smallest 1, 2 or 5 × 10^k at least v (1 for v ≤ 0),
// the top of an axis.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// count writes an axis count compactly: 800, 1.5k, 20k, 3M.
func count(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(v/1e6) + "M"
	case v >= 1e3:
		return trimZero(v/1e3) + "k"
	}
	return trimZero(v)
}

// millis writes a latency compactly: 250ms, 1.5s.
func millis(ms float64) string {
	if ms >= 1000 {
		return trimZero(ms/1000) + "s"
	}
	return trimZero(ms) + "ms"
}

func trimZero(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

func round1(v float64) float64 { return math.Round(v*10) / 10 }
