package bench

// CPU per delivery: the CPU time each process of the stack spent on a phase,
// divided by the deliveries it made. Steadier than deliveries/s on a shared
// machine, since another process's load does not show up in our /proc
// counters (only as waiting).

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// stackProcs are the processes whose CPU is the cost of a delivery, in the
// order of the table: webhookd (api + worker when -split), the Temporal dev
// server, and PostgreSQL (the postmaster and all backends of the bench's own
// cluster). "total" is their sum; the bench process (publishers, receivers,
// the floor's worker) is reported next to it but not in it.
var stackProcs = []string{"webhookd", "temporal", "postgres"}

// perDelivery turns CPU ms per component into CPU ms per delivery with the
// keys webhookd, temporal, postgres, total and bench (and api, worker when
// webhookd ran split). It returns nil when nothing was delivered.
func perDelivery(cpuMs map[string]float64, deliveries int) map[string]float64 {
	if deliveries <= 0 || cpuMs == nil {
		return nil
	}
	ms := withWebhookd(cpuMs)
	out := map[string]float64{}
	var total float64
	for _, p := range stackProcs {
		total += ms[p]
		out[p] = round3(ms[p] / float64(deliveries))
	}
	out["total"] = round3(total / float64(deliveries))
	for _, extra := range []string{"bench", "api", "worker"} {
		if v, ok := ms[extra]; ok {
			out[extra] = round3(v / float64(deliveries))
		}
	}
	return out
}

// withWebhookd adds a "webhookd" entry (api + worker) when webhookd ran as
// two processes, and a "total" of the stack processes.
func withWebhookd(cpuMs map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(cpuMs)+2)
	for k, v := range cpuMs {
		out[k] = round2(v)
	}
	if _, ok := cpuMs["webhookd"]; !ok {
		if a, okA := cpuMs["api"]; okA {
			out["webhookd"] = round2(a + cpuMs["worker"])
		}
	}
	var total float64
	for _, p := range stackProcs {
		total += out[p]
	}
	out["total"] = round2(total)
	return out
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// cpuRow is one line of the CPU-per-delivery table.
type cpuRow struct {
	phase, rateLabel string
	rate             float64
	deliveries       int
	per              map[string]float64
}

// printCPUPerDelivery prints CPU ms per delivery for every delivery phase.
func printCPUPerDelivery(out io.Writer, r *results) {
	var rows []cpuRow
	for _, m := range r.Measurements {
		rows = append(rows, cpuRow{m.Name, "deliveries/s", m.DeliveriesPerS, m.Delivered, m.CPUMsPerDelivery})
	}
	if st := r.Storm; st != nil && st.CPUMsPerDelivery != nil {
		rows = append(rows, cpuRow{"storm (per attempt)", "attempts/s", st.AttemptsPerS, st.Posts, st.CPUMsPerDelivery})
	}
	if len(rows) == 0 {
		return
	}
	cols := append(append([]string(nil), stackProcs...), "total", "bench")
	if r.Settings.Split {
		cols = append([]string{"api", "worker"}, cols...)
	}
	fmt.Fprintf(out, "\nCPU ms per delivery (phase and settle pause; total = %s; bench = load generator, receivers and the floor's worker, not in total)\n",
		strings.Join(stackProcs, " + "))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintf(tw, "phase\tdeliveries\tper s\t%s\t\n", strings.Join(cols, "\t"))
	for _, row := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			if v, ok := row.per[c]; ok {
				cells[i] = fmt.Sprintf("%.2f", v)
			} else {
				cells[i] = "-"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t\n", row.phase, row.deliveries, row.rate, strings.Join(cells, "\t"))
	}
	tw.Flush()
	if len(r.IdleCPUCores) > 0 {
		var cells []string
		for _, c := range append(append([]string(nil), cpuOrder...), "total") {
			if v, ok := r.IdleCPUCores[c]; ok {
				cells = append(cells, fmt.Sprintf("%s %.3f", c, v))
			}
		}
		fmt.Fprintf(out, "Idle stack (no load, %.0f s): cores %s\n", r.IdleSeconds, strings.Join(cells, ", "))
	}
}
