package bench

// The report: the table on stdout and the JSON files.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Peer reference from our guide: the best open-source peer.
const (
	peerOneToOnePerS = 200.0
	peerFanout10PerS = 500.0
	peerMedianMS     = 1600.0
)

// results is everything the JSON file holds.
type results struct {
	StartedAt   time.Time `json:"startedAt"`
	FinishedAt  time.Time `json:"finishedAt"`
	GitCommit   string    `json:"gitCommit"`
	GitDirty    bool      `json:"gitDirty"`
	GoVersion   string    `json:"goVersion"`
	TemporalCLI string    `json:"temporalCli"`
	Temporal    string    `json:"temporal"` // "dev server" or "cluster" (TEMPORAL=cluster)
	// OutboxDispatch is OUTBOX_DISPATCH as the processes got it (it
	// matters with -split: workers or api).
	OutboxDispatch          string             `json:"outboxDispatch"`
	NumCPU                  int                `json:"numCpu"`
	GOMAXPROCS              int                `json:"gomaxprocs"`
	Settings                settings           `json:"settings"`
	EventDataBytes          int                `json:"eventDataBytes"`
	Measurements            []measurement      `json:"measurements"`
	Management              []mgmtResult       `json:"management"`
	Storm                   *stormResult       `json:"storm,omitempty"`
	Curves                  *curves            `json:"curves,omitempty"`
	Profiles                []profileResult    `json:"profiles,omitempty"`
	IsolationSlowWebhooks   int                `json:"isolationSlowWebhooks"`
	IsolationSlowHits       int64              `json:"isolationSlowReceiverHits"`
	VerificationFailures    int64              `json:"verificationFailures"`
	LastVerificationFailure string             `json:"lastVerificationFailure,omitempty"`
	UnexpectedRequests      int64              `json:"unexpectedRequests"`
	PeakMemoryMB            map[string]float64 `json:"peakMemoryMb"`
	TotalCPUCores           map[string]float64 `json:"totalCpuCores"`
	IdleCPUCores            map[string]float64 `json:"idleCpuCores,omitempty"` // the stack with no load, after the warm-up
	IdleSeconds             float64            `json:"idleSeconds,omitempty"`
	Targets                 []target           `json:"targets"`
	Peer                    []peerRow          `json:"peerReference"`
	Errors                  []string           `json:"errors,omitempty"`
	Notes                   []string           `json:"notes"`
}

type target struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Goal   string  `json:"goal"`
	Met    bool    `json:"met"`
	Reason string  `json:"reason,omitempty"` // why it could not be judged
}

type peerRow struct {
	Name string  `json:"name"`
	Ours float64 `json:"ours"`
	Peer float64 `json:"peer"`
	Unit string  `json:"unit"`
}

func newResults(s settings) *results {
	r := &results{StartedAt: time.Now().UTC(), Settings: s, EventDataBytes: len(eventData(0))}
	toolVersions(r)
	r.Notes = []string{
		"latency: publish call start to the receiver having verified the message (Standard Webhooks library)",
		"deliveries/s: deliveries / (last receive - first publish start)",
		"cpuCores: CPU seconds per wall second of the phase, from /proc utime+stime (postgres: postmaster, its children and reaped children)",
		"cpuMsPerDelivery: CPU ms of each process from the first publish to the end of the settle pause after the last delivery, divided by the deliveries; keys webhookd, temporal, postgres, total (= webhookd + temporal + postgres) and bench (publishers, receivers, floor worker; not in total). Storm: per attempt (POST). Floor phases: the floor's worker runs in the bench process. Includes the stack's idle cost over the window (idleCpuCores)",
		"peakMemoryMb: VmHWM for single processes; postgres is the peak of the sampled sum of PSS (proportional set size) of the postmaster and its children, so shared buffers count once",
		"floor: one workflow per event started with client.ExecuteWorkflow on task queue bench-floor, one activity per target making the same signed POST; worker in the bench process with webhookd's worker options",
	}
	return r
}

// MarshalJSON writes durations as text.
func (s settings) MarshalJSON() ([]byte, error) {
	type plain settings
	return json.Marshal(struct {
		plain
		RateDuration string `json:"rateDuration"`
		BacklogWait  string `json:"backlogWait"`
		MgmtDuration string `json:"managementDuration"`
		Wait         string `json:"wait"`
		Stall        string `json:"stall"`
		Settle       string `json:"settle"`
		StormWait    string `json:"stormRetryWait"`
		StormTimeout string `json:"stormTimeout"`
		MaxTotal     string `json:"maxTotal"`
	}{plain(s), s.RateDuration.String(), s.BacklogWait.String(), s.MgmtDuration.String(), s.Wait.String(), s.Stall.String(), s.Settle.String(),
		s.StormRetryWait.String(), s.StormTimeout.String(), s.MaxTotal.String()})
}

func (r *results) find(name string) (measurement, bool) {
	for _, m := range r.Measurements {
		if m.Name == name {
			return m, true
		}
	}
	return measurement{}, false
}

// evaluate judges the targets (goals, not assertions) and the peer reference.
func (r *results) evaluate() {
	s1f, okF := r.find("s1-fixed")
	s1s, okS := r.find("s1-saturation")
	fls, okFS := r.find("floor-saturation")
	f10, ok10 := r.find("s2-fanout10")
	iso, okI := r.find("s3-isolation")
	bl, okB := r.find("s4-backlog")
	add := func(name, goal string, ok bool, value float64, met func() bool) {
		t := target{Name: name, Goal: goal, Value: round2(value)}
		if !ok {
			t.Reason = "not measured"
		} else {
			t.Met = met()
		}
		r.Targets = append(r.Targets, t)
	}
	add("1:1 saturation deliveries/s vs floor", ">= 0.80x floor", okS && okFS && fls.DeliveriesPerS > 0,
		ratio(s1s.DeliveriesPerS, fls.DeliveriesPerS), func() bool { return s1s.Complete && s1s.DeliveriesPerS >= 0.8*fls.DeliveriesPerS })
	add("fan-out 10 deliveries/s vs 1:1 saturation", ">= 3x", ok10 && okS && s1s.DeliveriesPerS > 0,
		ratio(f10.DeliveriesPerS, s1s.DeliveriesPerS), func() bool { return f10.Complete && f10.DeliveriesPerS >= 3*s1s.DeliveriesPerS })
	add("isolation healthy p99 vs 1:1 fixed-rate p99", "<= 1.5x", okI && okF && s1f.LatencyMS.P99 > 0,
		ratio(iso.LatencyMS.P99, s1f.LatencyMS.P99), func() bool { return iso.Complete && iso.LatencyMS.P99 <= 1.5*s1f.LatencyMS.P99 })
	add("backlog publish p99 (ms)", "< 50 ms", okB, bl.PublishLatencyMS.P99, func() bool { return bl.PublishLatencyMS.P99 < 50 })
	if st := r.Storm; st != nil && st.Posts > 0 {
		add("storm duplicate POSTs", "0, every receiver exactly 17 POSTs, event completed", true, float64(st.Duplicates),
			func() bool { return st.AsExpected && st.EventCompleted })
	}
	r.Peer = []peerRow{
		{"one-to-one deliveries/s (saturation)", s1s.DeliveriesPerS, peerOneToOnePerS, "/s"},
		{"fan-out 10 deliveries/s", f10.DeliveriesPerS, peerFanout10PerS, "/s"},
		{"median latency (1:1 fixed rate)", s1f.LatencyMS.P50, peerMedianMS, "ms"},
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// write stores latest.json and a timestamped copy, each via a .tmp rename.
func (r *results) write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	b = append(b, '\n')
	stamp := r.StartedAt.Format("20060102T150405Z")
	stamped := filepath.Join(dir, stamp+".json")
	files := map[string][]byte{stamped: b, filepath.Join(dir, "latest.json"): b}
	if r.Curves != nil {
		pic := []byte(r.Curves.svg(svgTitle(r)))
		files[filepath.Join(dir, stamp+"-curves.svg")] = pic
		files[filepath.Join(dir, "curves.svg")] = pic
	}
	for p, data := range files {
		if err := os.WriteFile(p+".tmp", data, 0o644); err != nil {
			return "", err
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			return "", err
		}
	}
	return stamped, nil
}

// ---- the table ----

func printReport(out io.Writer, r *results) {
	s := r.Settings
	fmt.Fprintf(out, "\nesign-webhooks bench  commit %s%s  %s  %s  %d CPUs\n", r.GitCommit, map[bool]string{true: " (dirty)"}[r.GitDirty],
		r.GoVersion, firstLine(r.TemporalCLI), r.NumCPU)
	fmt.Fprintf(out, "event data %d B; fixed rate %.0f/s for %s; saturation %d events x %d publishers; backlog %d x %d; keyed %d envelopes x %d events\n\n",
		r.EventDataBytes, s.Rate, s.RateDuration, s.SatEvents, s.Concurrency, s.BacklogEvents, s.BacklogConcurrency, s.OrderedKeys, s.OrderedPerKey)

	if s.StormOnly {
		printStorm(out, r.Storm)
		printCPU(out, r)
		printCPUPerDelivery(out, r)
		printFooter(out, r)
		return
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "measurement\tours\tfloor/ref\tratio\ttarget\tmet\t")
	row := func(label, ours, ref, ratio, target, met string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", label, ours, ref, ratio, target, met)
	}
	m := func(name string) (measurement, bool) { return r.find(name) }
	cell := func(v float64, x measurement, ok bool) string {
		if !ok {
			return "-"
		}
		c := fmt.Sprintf("%.1f", v)
		if !x.Complete {
			c += fmt.Sprintf(" (incomplete %d/%d)", x.Delivered, x.Expected)
		}
		return c
	}
	rat := func(a, b float64, ok bool) string {
		if !ok || b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	tgt := func(name string) (string, string) {
		for _, t := range r.Targets {
			if t.Name == name {
				if t.Reason != "" {
					return t.Goal, t.Reason
				}
				return t.Goal, map[bool]string{true: "yes", false: "NO"}[t.Met]
			}
		}
		return "", ""
	}
	pair := func(label string, ours, ref string, get func(measurement) float64, tname string) {
		o, okO := m(ours)
		f, okF := m(ref)
		goal, met := tgt(tname)
		row(label, cell(get(o), o, okO), cell(get(f), f, okF), rat(get(o), get(f), okO && okF), goal, met)
	}
	dps := func(x measurement) float64 { return x.DeliveriesPerS }
	p50 := func(x measurement) float64 { return x.LatencyMS.P50 }
	p95 := func(x measurement) float64 { return x.LatencyMS.P95 }
	p99 := func(x measurement) float64 { return x.LatencyMS.P99 }

	rate := fmt.Sprintf("@%.0f/s", s.Rate)
	pair("1:1 "+rate+" deliveries/s", "s1-fixed", "floor-fixed", dps, "")
	pair("1:1 "+rate+" latency p50 ms", "s1-fixed", "floor-fixed", p50, "")
	pair("1:1 "+rate+" latency p95 ms", "s1-fixed", "floor-fixed", p95, "")
	pair("1:1 "+rate+" latency p99 ms", "s1-fixed", "floor-fixed", p99, "")
	pair("1:1 "+rate+" latency p50 ms (ref lean floor)", "s1-fixed", "lean-floor-fixed", p50, "")
	pair("1:1 "+rate+" latency p99 ms (ref lean floor)", "s1-fixed", "lean-floor-fixed", p99, "")
	pair("1:1 saturation deliveries/s", "s1-saturation", "floor-saturation", dps, "1:1 saturation deliveries/s vs floor")
	pair("1:1 saturation deliveries/s (ref lean floor)", "s1-saturation", "lean-floor-saturation", dps, "")
	pair("1:1 saturation latency p50 ms", "s1-saturation", "floor-saturation", p50, "")
	pair("1:1 saturation latency p99 ms", "s1-saturation", "floor-saturation", p99, "")
	pair("fan-out 10 deliveries/s", "s2-fanout10", "floor-fanout10", dps, "")
	pair("fan-out 10 vs 1:1 saturation", "s2-fanout10", "s1-saturation", dps, "fan-out 10 deliveries/s vs 1:1 saturation")
	pair("fan-out 10 latency p99 ms", "s2-fanout10", "floor-fanout10", p99, "")
	pair("fan-out 100 deliveries/s", "s2-fanout100", "floor-fanout100", dps, "")
	pair("fan-out 100 latency p99 ms", "s2-fanout100", "floor-fanout100", p99, "")
	pair("isolation healthy p50 ms (ref 1:1 "+rate+")", "s3-isolation", "s1-fixed", p50, "")
	pair("isolation healthy p99 ms (ref 1:1 "+rate+")", "s3-isolation", "s1-fixed", p99, "isolation healthy p99 vs 1:1 fixed-rate p99")
	if bl, ok := m("s4-backlog"); ok {
		goal, met := tgt("backlog publish p99 (ms)")
		row("backlog publish p50 ms", fmt.Sprintf("%.1f", bl.PublishLatencyMS.P50), "", "", "", "")
		row("backlog publish p99 ms", fmt.Sprintf("%.1f", bl.PublishLatencyMS.P99), "", "", goal, met)
		row("backlog publish rate /s", fmt.Sprintf("%.1f", bl.PublishRatePerS), "", "", "", "")
		row("backlog all delivered after s", cell(bl.ElapsedSeconds, bl, true), "", "", "", "")
		row("backlog deliveries/s", cell(bl.DeliveriesPerS, bl, true), "", "", "", "")
		row("backlog latency p50 / p99 s", fmt.Sprintf("%.1f / %.1f", bl.LatencyMS.P50/1000, bl.LatencyMS.P99/1000), "", "", "", "")
	}
	pair("keyed, ordered deliveries/s (ref unordered)", "s6-keyed-ordered", "s6-keyed-unordered", dps, "")
	pair("keyed, ordered latency p50 ms (ref unordered)", "s6-keyed-ordered", "s6-keyed-unordered", p50, "")
	pair("keyed, ordered latency p99 ms (ref unordered)", "s6-keyed-ordered", "s6-keyed-unordered", p99, "")
	for _, mg := range r.Management {
		limited := ""
		if mg.Limited > 0 {
			limited = fmt.Sprintf(" (%d refused: 429)", mg.Limited)
		}
		row("mgmt "+mg.Op+" req/s", fmt.Sprintf("%.0f%s", mg.RatePerS, limited), "", "", "", "")
		errs := ""
		if mg.Errors > 0 {
			errs = fmt.Sprintf(" (%d errors)", mg.Errors)
		}
		row("mgmt "+mg.Op+" p99 ms", fmt.Sprintf("%.1f%s", mg.LatencyMS.P99, errs), "", "", "", "")
	}
	tw.Flush()
	printStorm(out, r.Storm)

	fmt.Fprintf(out, "\nPeer reference (best open-source peer, from our guide)\n")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "\tours\tpeer\t")
	for _, p := range r.Peer {
		fmt.Fprintf(tw, "%s\t%.1f %s\t%.0f %s\t\n", p.Name, p.Ours, p.Unit, p.Peer, p.Unit)
	}
	tw.Flush()

	printCPU(out, r)
	printCPUPerDelivery(out, r)
	printFooter(out, r)
}

// printFooter prints peak memory, verification failures and errors.
func printFooter(out io.Writer, r *results) {
	fmt.Fprintf(out, "\nPeak memory (MB): ")
	names := sortedKeys(r.PeakMemoryMB)
	for i, n := range names {
		if i > 0 {
			fmt.Fprint(out, ", ")
		}
		fmt.Fprintf(out, "%s %.0f", n, r.PeakMemoryMB[n])
	}
	fmt.Fprintf(out, "\nSignature verification failures: %d", r.VerificationFailures)
	if r.LastVerificationFailure != "" {
		fmt.Fprintf(out, " (last: %s)", r.LastVerificationFailure)
	}
	fmt.Fprintf(out, "; unexpected requests: %d; slow receiver hits (isolation): %d\n", r.UnexpectedRequests, r.IsolationSlowHits)
	for _, e := range r.Errors {
		fmt.Fprintf(out, "ERROR: %s\n", e)
	}
}

// cpuOrder is the column order of the CPU table; main sets it from the
// processes it started.
var cpuOrder = []string{"api", "worker", "temporal", "postgres", "bench"}

// printCPU prints the CPU split of every phase, in cores, and the busiest.
func printCPU(out io.Writer, r *results) {
	fmt.Fprintf(out, "\nCPU split (cores used during the phase; %d CPUs)\n", r.NumCPU)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintf(tw, "phase\t%s\ttotal\tbusiest\t\n", strings.Join(cpuOrder, "\t"))
	line := func(name string, cpu map[string]float64) {
		var total, top float64
		busiest := ""
		cells := make([]string, len(cpuOrder))
		for i, c := range cpuOrder {
			v := cpu[c]
			cells[i] = fmt.Sprintf("%.2f", v)
			total += v
			if v > top {
				top, busiest = v, c
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t\n", name, strings.Join(cells, "\t"), total, busiest)
	}
	for _, m := range r.Measurements {
		line(m.Name, m.CPUCores)
	}
	for _, mg := range r.Management {
		line("mgmt "+mg.Op, mg.CPUCores)
	}
	if r.Storm != nil && r.Storm.CPUCores != nil {
		line("storm", r.Storm.CPUCores)
	}
	if r.TotalCPUCores != nil {
		line("whole run", r.TotalCPUCores)
	}
	tw.Flush()
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
