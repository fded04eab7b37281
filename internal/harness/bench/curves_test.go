package bench

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// TestCurves: the curves take their points from the phases that ran, in
// order, and the picture is well-formed SVG naming every point's figures.
func TestCurves(t *testing.T) {
	m := func(name string, perS, cpu, p50, p99 float64) measurement {
		return measurement{Name: name, DeliveriesPerS: perS, Complete: true, LatencyMS: pct{P50: p50, P99: p99},
			CPUMsPerDelivery: map[string]float64{"total": cpu}}
	}
	r := &results{Settings: settings{CurveRates: "10,50,100"}, GitCommit: "abc1234", NumCPU: 2, Temporal: "dev server",
		Measurements: []measurement{
			m("s1-saturation", 120, 11.1, 900, 2000),
			m("s1-rate10", 10, 30.5, 9, 20),
			m("s1-rate50", 50, 14.2, 11, 40),
			m("floor-fanout10", 300, 4, 1, 2),
			m("s2-fanout10", 600, 2.5, 1000, 3000),
			m("s2-fanout1000", 700, 1.9, 5000, 9000),
		}}
	c := buildCurves(r)
	if c == nil || len(c.Fanout) != 3 || len(c.Rate) != 2 {
		t.Fatalf("curves %+v", c)
	}
	if c.Fanout[0].X != 1 || c.Fanout[1].X != 10 || c.Fanout[2].X != 1000 || c.Fanout[2].CPUMsPerDelivery != 1.9 {
		t.Errorf("fan-out points %+v", c.Fanout)
	}
	if c.Rate[0].X != 10 || c.Rate[1].P99MS != 40 {
		t.Errorf("rate points %+v", c.Rate)
	}
	pic := c.svg(svgTitle(r))
	d := xml.NewDecoder(strings.NewReader(pic))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, pic)
		}
	}
	for _, want := range []string{"1.90 ms, 700/s", "p99 40 ms", "p50 9 ms, 30.5 CPU ms", "abc1234"} {
		if !strings.Contains(pic, want) {
			t.Errorf("the picture lacks %q", want)
		}
	}
	if buildCurves(&results{Settings: settings{CurveRates: "10"}, Measurements: []measurement{m("s1-saturation", 1, 1, 1, 1)}}) != nil {
		t.Error("one point is not a curve")
	}
}
