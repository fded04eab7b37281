package benchlog

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
)

func nopLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// gb is n bytes in GB.
func gb(n float64) string { return fmt.Sprintf("%.2f GB", n/1e9) }

// Print writes r as tables.
func Print(w io.Writer, r *Result) {
	fmt.Fprintf(w, "\nesign-webhooks bench-log  commit %s  %d CPUs  PostgreSQL %s\n", r.GitCommit, r.NumCPU, r.PostgresVersion)
	fmt.Fprintf(w, "log: %d events, %d deliveries, %d attempts over %d days, %d accounts, %d weekly periods; generated in %.0f s\n\n",
		r.Rows.Events, r.Rows.Deliveries, r.Rows.Attempts, r.Spec.Days, r.Spec.Accounts, r.Partitions, r.GenerateSeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "search\tp50 ms\tp99 ms\tmax ms\trows\tindexes\tperiods read\tproblems")
	for _, s := range r.Searches {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%d of %d\t%s\n", s.Name, s.P50MS, s.P99MS, s.MaxMS, s.MeanRows,
			strings.Join(s.Indexes, " + "), s.Partitions, s.PartitionsAll, strings.Join(s.Problems, "; "))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "table\theap\tindexes\ttotal")
	for _, s := range r.Sizes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Table, gb(float64(s.HeapBytes)), gb(float64(s.IndexBytes)), gb(float64(s.TotalBytes)))
	}
	tw.Flush()
	d, x := r.Retention.Drop, r.Retention.Delete
	fmt.Fprintf(w, "\nhot path on the full log (InsertEvent, ResolveEvent, StartAttempt, FinishAttempt): mean %.2f ms, p99 %.2f ms per delivery\n",
		r.HotPath.MeanMS, r.HotPath.P99MS)
	if r.Settings.Reuse {
		fmt.Fprintln(w, "retention: not measured (-reuse: the log of an earlier run)")
		return
	}
	fmt.Fprintf(w, "retention: drop %s (%d attempts): %.3f s, %d B of WAL\n", d.Period, d.Rows.Attempts, d.Seconds, d.WALBytes)
	fmt.Fprintf(w, "           DELETE one day (%d attempts): %.1f s, %s of WAL; then VACUUM %.1f s, %s of WAL\n",
		x.Rows.Attempts, x.Seconds, gb(float64(x.WALBytes)), x.VacuumSeconds, gb(float64(x.VacuumWALBytes)))
	p := r.Projection
	fmt.Fprintf(w, "300 million attempts: %.0f B per attempt -> %s (%s a week); a day's DELETE %.0f s + VACUUM %.0f s (%s of WAL) against a drop of %.3f s\n",
		p.BytesPerAttempt, gb(p.TotalBytes), gb(p.PeriodBytes), p.DeleteDaySeconds, p.VacuumSeconds, gb(p.DeleteWALBytes), p.DropSeconds)
}
