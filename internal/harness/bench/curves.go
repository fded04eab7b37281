package bench

// How cost grows: the fan-out curve (1, 10, 100, 1,000 webhooks per event)
// and the fixed-rate curve (10, 50, 100 events/s), kept in the JSON and
// drawn as one SVG by the bench itself. The SVG is a few lines of text
// written here: a plotting library (gonum/plot) would pull fonts and image
// packages into the module for two line charts.

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// curves is the JSON of both curves; a point is missing when its phase did
// not run.
type curves struct {
	Fanout []curvePoint `json:"fanout,omitempty"`
	Rate   []curvePoint `json:"rate,omitempty"`
}

// curvePoint is one phase seen from its curve: webhooks per event (fan-out
// curve) or offered events/s (rate curve).
type curvePoint struct {
	Phase            string  `json:"phase"`
	X                float64 `json:"x"`
	DeliveriesPerS   float64 `json:"deliveriesPerS"`
	CPUMsPerDelivery float64 `json:"cpuMsPerDelivery"`
	P50MS            float64 `json:"latencyP50Ms"`
	P99MS            float64 `json:"latencyP99Ms"`
	Complete         bool    `json:"complete"`
}

// parseRates reads -curve-rates ("10,50,100").
func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("-curve-rates: %q is not a positive rate", f)
		}
		out = append(out, r)
	}
	return out, nil
}

// rateName is the phase name of one point of the rate curve.
func rateName(r float64) string { return "s1-rate" + strconv.FormatFloat(r, 'f', -1, 64) }

// rates is the fixed-rate curve: 1:1 events at each -curve-rates rate for
// -rate-duration, ours only.
func (b *bench) rates(ctx context.Context, hs *hookSet) {
	rates, _ := parseRates(b.s.CurveRates) // checked by parseFlags
	for _, r := range rates {
		b.run(ctx, load{name: rateName(r), system: "ours", fixed: true, rate: r, dur: b.s.RateDuration, fanout: 1, wait: b.s.Wait,
			keys: hs.keys, pub: b.oursPub(hs), inspect: inspectWith(func(int) *apiClient { return hs.api })})
	}
}

// buildCurves picks the curves' points out of the measurements.
func buildCurves(r *results) *curves {
	byName := map[string]measurement{}
	for _, m := range r.Measurements {
		byName[m.Name] = m
	}
	point := func(name string, x float64) (curvePoint, bool) {
		m, ok := byName[name]
		if !ok {
			return curvePoint{}, false
		}
		return curvePoint{Phase: name, X: x, DeliveriesPerS: m.DeliveriesPerS, CPUMsPerDelivery: m.CPUMsPerDelivery["total"],
			P50MS: m.LatencyMS.P50, P99MS: m.LatencyMS.P99, Complete: m.Complete}, true
	}
	c := &curves{}
	for _, k := range []int{1, 10, 100, 1000} {
		name := fmt.Sprintf("s2-fanout%d", k)
		if k == 1 {
			name = "s1-saturation"
		}
		if p, ok := point(name, float64(k)); ok {
			c.Fanout = append(c.Fanout, p)
		}
	}
	rates, _ := parseRates(r.Settings.CurveRates)
	for _, rate := range rates {
		if p, ok := point(rateName(rate), rate); ok {
			c.Rate = append(c.Rate, p)
		}
	}
	if len(c.Fanout) < 2 && len(c.Rate) < 2 {
		return nil
	}
	return c
}

// ---- the SVG ----

// series is one line of a chart.
type series struct {
	label  string
	color  string
	points [][2]float64
	// note labels each point (nil: none).
	note func(i int) string
}

// chart is one panel: x and y ranges, log scales where the data spans
// decades.
type chart struct {
	title, xLabel, yLabel string
	logX, logY            bool
	series                []series
}

const (
	svgPanelW, svgPanelH = 440, 300
	svgLeft, svgRight    = 60, 20
	svgTop, svgBottom    = 40, 50
)

// svg draws the curves side by side: cost against fan-out, latency against
// offered rate. Each point is labelled with its figures, so the picture
// needs no legend to be read.
func (c *curves) svg(title string) string {
	var panels []chart
	if len(c.Fanout) > 0 {
		panels = append(panels, chart{title: "CPU ms per delivery by fan-out", xLabel: "webhooks per event", yLabel: "CPU ms per delivery (all processes)",
			logX: true, logY: true, series: []series{{label: "CPU ms/delivery", color: "#1f77b4", points: xy(c.Fanout, func(p curvePoint) float64 { return p.CPUMsPerDelivery }),
				note: func(i int) string {
					p := c.Fanout[i]
					return fmt.Sprintf("%.2f ms, %.0f/s", p.CPUMsPerDelivery, p.DeliveriesPerS)
				}}}})
	}
	if len(c.Rate) > 0 {
		panels = append(panels, chart{title: "Latency by offered rate (1:1)", xLabel: "events per second offered", yLabel: "publish → receipt, ms",
			logY: true, series: []series{
				{label: "p50", color: "#2ca02c", points: xy(c.Rate, func(p curvePoint) float64 { return p.P50MS }),
					note: func(i int) string {
						return fmt.Sprintf("p50 %.0f ms, %.1f CPU ms", c.Rate[i].P50MS, c.Rate[i].CPUMsPerDelivery)
					}},
				{label: "p99", color: "#d62728", points: xy(c.Rate, func(p curvePoint) float64 { return p.P99MS }),
					note: func(i int) string { return fmt.Sprintf("p99 %.0f ms", c.Rate[i].P99MS) }},
			}})
	}
	var sb strings.Builder
	w := svgPanelW * len(panels)
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		w, svgPanelH+24, w, svgPanelH+24)
	fmt.Fprintf(&sb, `<rect width="100%%" height="100%%" fill="white"/><text x="8" y="16" font-size="12">%s</text>`+"\n", esc(title))
	for i, p := range panels {
		p.draw(&sb, float64(i*svgPanelW), 24)
	}
	sb.WriteString("</svg>\n")
	return sb.String()
}

func xy(ps []curvePoint, y func(curvePoint) float64) [][2]float64 {
	out := make([][2]float64, len(ps))
	for i, p := range ps {
		out[i] = [2]float64{p.X, y(p)}
	}
	return out
}

// axis maps a value range onto pixels, linearly or by decades.
type axis struct {
	lo, hi float64
	log    bool
	p0, p1 float64
}

func newAxis(vals []float64, log bool, p0, p1 float64) axis {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if log && v <= 0 {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	if log {
		lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
		if lo == hi {
			hi = lo * 10
		}
	} else {
		lo = 0
		hi = niceCeil(hi)
	}
	return axis{lo: lo, hi: hi, log: log, p0: p0, p1: p1}
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}

func (a axis) pos(v float64) float64 {
	f := (v - a.lo) / (a.hi - a.lo)
	if a.log {
		f = (math.Log10(math.Max(v, a.lo)) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	return a.p0 + f*(a.p1-a.p0)
}

// ticks are decades on a log axis, five steps on a linear one.
func (a axis) ticks() []float64 {
	var t []float64
	if a.log {
		for v := a.lo; v <= a.hi*1.0001; v *= 10 {
			t = append(t, v)
		}
		return t
	}
	for i := 0; i <= 5; i++ {
		t = append(t, a.lo+float64(i)*(a.hi-a.lo)/5)
	}
	return t
}

func (ch chart) draw(sb *strings.Builder, ox, oy float64) {
	var xs, ys []float64
	for _, s := range ch.series {
		for _, p := range s.points {
			xs, ys = append(xs, p[0]), append(ys, p[1])
		}
	}
	x0, x1 := ox+svgLeft, ox+svgPanelW-svgRight
	y0, y1 := oy+svgPanelH-svgBottom, oy+svgTop
	ax, ay := newAxis(xs, ch.logX, x0, x1), newAxis(ys, ch.logY, y0, y1)
	fmt.Fprintf(sb, `<text x="%.0f" y="%.0f" font-size="12" font-weight="bold">%s</text>`+"\n", x0, oy+18, esc(ch.title))
	fmt.Fprintf(sb, `<path d="M%.1f %.1fV%.1fH%.1f" stroke="#333" fill="none"/>`+"\n", x0, y1, y0, x1)
	for _, t := range ax.ticks() {
		fmt.Fprintf(sb, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", ax.pos(t), y0+14, num(t))
	}
	for _, t := range ay.ticks() {
		y := ay.pos(t)
		fmt.Fprintf(sb, `<path d="M%.1f %.1fH%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0, y, x1, x0-4, y+4, num(t))
	}
	fmt.Fprintf(sb, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", (x0+x1)/2, y0+32, esc(ch.xLabel))
	fmt.Fprintf(sb, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", ox+14, (y0+y1)/2, esc(ch.yLabel))
	for _, s := range ch.series {
		var d strings.Builder
		for i, p := range s.points {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f", cmd, ax.pos(p[0]), ay.pos(p[1]))
		}
		fmt.Fprintf(sb, `<path d="%s" stroke="%s" stroke-width="2" fill="none"/>`+"\n", d.String(), s.color)
		for i, p := range s.points {
			px, py := ax.pos(p[0]), ay.pos(p[1])
			fmt.Fprintf(sb, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px, py, s.color)
			if s.note != nil {
				anchor := "start"
				if px > x1-90 {
					anchor = "end"
				}
				fmt.Fprintf(sb, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="%s" stroke="white" stroke-width="3" paint-order="stroke">%s</text>`+"\n", px+4, py-6, anchor, s.color, esc(s.note(i)))
			}
		}
	}
}

func num(v float64) string {
	if v >= 1 || v == 0 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// svgTitle names the sitting on the picture: an absolute rate means
// nothing without the machine and the day.
func svgTitle(r *results) string {
	return fmt.Sprintf("esign-webhooks make bench, commit %s, %s, %d CPUs, Temporal %s", r.GitCommit, r.StartedAt.Format(time.DateOnly), r.NumCPU, r.Temporal)
}
