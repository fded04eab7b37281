package console

import (
	"strings"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/api/resource"
)

func TestChartGeometry(t *testing.T) {
	ms := func(v float64) *float64 { return &v }
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := resource.Stats{Window: "24h", Interval: "hour", Series: make([]resource.StatsPoint, 24)}
	for i := range s.Series {
		s.Series[i].Start = start.Add(time.Duration(i) * time.Hour)
	}
	// Hour 2: 8 deliveries (6 succeeded), p95 400 ms; hour 3: none;
	// hours 5 and 6: 1 delivery each, p95 100 and 200 ms.
	s.Series[2].StatsTally = resource.StatsTally{Deliveries: 8, Succeeded: 6, Failed: 2, LatencyMS: resource.Latency{P95: ms(400)}}
	s.Series[5].StatsTally = resource.StatsTally{Deliveries: 1, Succeeded: 1, LatencyMS: resource.Latency{P95: ms(100)}}
	s.Series[6].StatsTally = resource.StatsTally{Deliveries: 1, Failed: 1, LatencyMS: resource.Latency{P95: ms(200)}}
	c := newChart(s, func(p resource.StatsPoint) string { return p.Start.Format("15:04") })

	if len(c.Bars) != 24 {
		t.Fatalf("%d bars", len(c.Bars))
	}
	// The deliveries axis tops at 10: 8 deliveries reach 80 % of the plot.
	h := plotB - plotT
	b := c.Bars[2]
	if b.OKH != round1(h*0.6) || b.FailH != round1(h*0.2) || b.FailY+b.FailH != b.OKY || b.OKY+b.OKH != plotB {
		t.Fatalf("bar of hour 2: %+v", b)
	}
	if c.Bars[3].OKH != 0 || c.Bars[3].FailH != 0 {
		t.Fatalf("an empty hour has a bar: %+v", c.Bars[3])
	}
	// The latency line: a point at hour 2, a gap, then hours 5 and 6 joined.
	if strings.Count(c.P95, "M") != 2 || strings.Count(c.P95, "L") != 1 || len(c.Dots) != 3 {
		t.Fatalf("p95 path %q, dots %v", c.P95, c.Dots)
	}
	// 400 ms is the top of its axis (500 ms): 80 % up.
	if c.Dots[0].Y != round1(plotB-h*0.8) {
		t.Fatalf("p95 dot of hour 2 at y %v", c.Dots[0].Y)
	}
	if got := []string{c.Left[2].Text, c.Right[1].Text, c.Right[2].Text}; got[0] != "10" || got[1] != "250ms" || got[2] != "500ms" {
		t.Fatalf("axis tops %v", got)
	}
	// Hours are labelled every 3, counted back from the hour in progress
	// (23:00); every other one is minor.
	var labels []string
	for _, b := range c.Bottom {
		if !b.Minor {
			labels = append(labels, b.Text)
		}
	}
	if len(c.Bottom) != 8 || strings.Join(labels, " ") != "05:00 11:00 17:00 23:00" {
		t.Fatalf("labels %+v", c.Bottom)
	}
}

func TestNiceCeil(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 1: 1, 3: 5, 7: 10, 10: 10, 11: 20, 180: 200, 4100: 5000, 0.4: 1} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
	if count(1500) != "1.5k" || count(2e6) != "2M" || millis(1500) != "1.5s" || millis(250) != "250ms" {
		t.Error("axis labels")
	}
}
