package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Rows is the table of a report: what and how many, in order.
func (rep *Report) Rows() [][2]string {
	if rep.Throttle != nil {
		return rep.Throttle.Rows()
	}
	r := rep.Result
	conv := "no (not within the bound)"
	if rep.Converged {
		conv = fmt.Sprintf("%.1f s", rep.ConvergeAfterS)
	}
	rows := [][2]string{
		{"events accepted (2xx)", fmt.Sprintf("%d", rep.EventsAccepted)},
		{"events never accepted (gave up retrying)", fmt.Sprintf("%d", rep.Publish.NeverAccept)},
		{"deliveries expected", fmt.Sprintf("%d", r.Expected)},
		{"delivered once", fmt.Sprintf("%d", r.DeliveredOnce)},
		{"duplicated (2xx twice, same webhook-id)", fmt.Sprintf("%d", r.Duplicated)},
		{"duplicated with a different webhook-id", fmt.Sprintf("%d", r.DuplicatedOtherID)},
		{"failed visibly in the log", fmt.Sprintf("%d", r.VisibleFailures)},
		{"lost", fmt.Sprintf("%d", r.Lost)},
		{"log disagrees with the receiver", fmt.Sprintf("%d", r.Disagreeing)},
		{"not converged (pending/retrying)", fmt.Sprintf("%d", r.NotConverged)},
		{"time to converge after the last fault", conv},
	}
	if o := rep.Order; o != nil {
		rows = append(rows, o.Rows()...)
	}
	if v := rep.Receivers; v != nil {
		rows = append(rows, v.Rows()...)
	}
	if v := rep.Notices; v != nil {
		rows = append(rows, v.Rows()...)
	}
	if sk := rep.Soak; sk != nil {
		rows = append(rows,
			[2]string{"soak: requests (hostile) in s", fmt.Sprintf("%d (%d) in %.0f s, %d keys at %g/s", sk.Requests, sk.Hostile, sk.DurationS, sk.Keys, sk.PerKeyPerS)},
			[2]string{"soak: 5xx / 4xx not JSON", fmt.Sprintf("%d / %d", sk.ServerErrors, sk.NotJSON)},
			[2]string{"soak: API RSS start / peak / after", fmt.Sprintf("%.0f / %.0f / %.0f MB", sk.RSSStartMB, sk.RSSPeakMB, sk.RSSEndMB)},
			[2]string{"soak: API goroutines start / peak / after", fmt.Sprintf("%d / %d / %d", sk.GoroutinesStart, sk.GoroutinesPeak, sk.GoroutinesEnd)},
			[2]string{"soak: slow-loris connections held / closed by the server", fmt.Sprintf("%d / %d", sk.SlowHeld, sk.SlowClosed)})
	}
	return rows
}

// Print writes the table, the disagreements by kind and the timeline.
func (rep *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\nFault suite: %s (%.0f s)\n\n", rep.Scenario, rep.DurationS)
	fmt.Fprintln(w, "| measure | value |")
	fmt.Fprintln(w, "|---|---|")
	for _, row := range rep.Rows() {
		fmt.Fprintf(w, "| %s | %s |\n", row[0], row[1])
	}
	if rep.Throttle != nil {
		rep.printEnd(w)
		return
	}
	r := rep.Result
	fmt.Fprintf(w, "\nreceiver POSTs %d; attempt rows %d (reached %d, maybe reached %d, unfinished %d, re-sent try>1 %d); publish retries %d; signature failures %d; attempts schema: try=%v finished_at=%v; synchronous_commit=%s\n",
		r.Posts, r.AttemptRows, r.AttemptsReached, r.AttemptsMaybe, r.AttemptsUnfinshed, r.AttemptsResent,
		rep.Publish.Retries, rep.SignatureFailures, rep.Schema.Try, rep.Schema.FinishedAt, rep.Settings.SynchronousCommit)
	if sk := rep.Soak; sk != nil {
		keys := make([]string, 0, len(sk.ByAnswer))
		for k := range sk.ByAnswer {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprint(w, "soak answers:")
		for _, k := range keys {
			fmt.Fprintf(w, " %s=%d", k, sk.ByAnswer[k])
		}
		fmt.Fprintln(w)
	}
	if len(rep.Webhooks) > 0 {
		names := make([]string, 0, len(rep.Webhooks))
		for n := range rep.Webhooks {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprint(w, "webhooks:")
		for _, n := range names {
			fmt.Fprintf(w, " %s=%s", n, rep.Webhooks[n])
		}
		fmt.Fprintln(w)
	}
	if len(r.Kinds) > 0 {
		fmt.Fprintln(w, "\ndisagreements by kind:")
		kinds := make([]string, 0, len(r.Kinds))
		for k := range r.Kinds {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(w, "  %4d  %s\n", r.Kinds[k].Count, k)
			for _, ex := range r.Kinds[k].Examples {
				fmt.Fprintf(w, "          e.g. %s\n", ex)
			}
		}
	}
	if rep.Order != nil {
		rep.Order.print(w)
	}
	if rep.Receivers != nil {
		rep.Receivers.print(w)
	}
	if rep.Notices != nil {
		rep.Notices.print(w)
	}
	for _, l := range []struct {
		name string
		ex   []string
	}{{"lost", r.LostExamples}, {"not converged", r.NotConvergedExamples}, {"duplicated", r.DuplicatedExamples}} {
		if len(l.ex) > 0 {
			fmt.Fprintf(w, "%s, e.g.: %s\n", l.name, strings.Join(l.ex, "; "))
		}
	}
	if len(rep.Timeline) > 0 {
		fmt.Fprintln(w, "\nfaults (seconds since start):")
		for _, m := range rep.Timeline {
			e := ""
			if m.Error != "" {
				e = "  ERROR " + short(m.Error, 200)
			}
			fmt.Fprintf(w, "  %6.1f–%6.1f  %s%s\n", m.At, m.Until, m.Step, e)
		}
	}
	rep.printEnd(w)
}

// printEnd writes the errors and the verdict.
func (rep *Report) printEnd(w io.Writer) {
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "error: %s\n", short(e, 400))
	}
	verdict := "PASS"
	if rep.Failed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "\n%s\n", verdict)
}

// Write stores the report as dir/latest.json and dir/<UTC time>.json.
func (rep *Report) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return "", err
	}
	b := buf.Bytes()
	suffix := "" // the throttle, ordered, receivers and notices scenarios' results are kept apart
	switch {
	case rep.Throttle != nil:
		suffix = "-throttle"
	case rep.Order != nil:
		suffix = "-ordered"
	case rep.Receivers != nil:
		suffix = "-receivers"
	case rep.Notices != nil:
		suffix = "-notices"
	}
	stamped := filepath.Join(dir, rep.StartedAt.UTC().Format("20060102T150405Z")+suffix+".json")
	if err := os.WriteFile(stamped, b, 0o644); err != nil {
		return "", err
	}
	return stamped, os.WriteFile(filepath.Join(dir, "latest"+suffix+".json"), b, 0o644)
}

// Rows is the throttle scenario's table.
func (t *ThrottleResult) Rows() [][2]string {
	f := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	return [][2]string{
		{"webhook", fmt.Sprintf("max %d in flight, answers after %d ms: at most %.1f POSTs/s", t.MaxConcurrency, t.DelayMS, t.IdealPerS)},
		{"events per run", fmt.Sprintf("%d", t.Events)},
		{"no fault: run time (s), POSTs/s", f(t.NoFault.DurationS) + ", " + f(t.NoFault.PostsPerS)},
		{"worker kill: run time (s), POSTs/s", f(t.Kill.DurationS) + ", " + f(t.Kill.PostsPerS)},
		{"run time ratio (kill / no fault)", f(t.RunTimeRatio)},
		{"kill at (s after the first POST); requests in flight then", fmt.Sprintf("%.2f; %d", t.KillAtS, t.KilledInFlight)},
		{"POSTs/s before the kill", f(t.PerSBeforeKill)},
		{"POSTs/s in the 5 s after the kill", f(t.PerSFirst5s)},
		{"POSTs/s from the kill to the end", f(t.PerSAfterKill)},
		{"slowest 2 s window after the kill (POSTs/s)", f(t.MinWindowPerS)},
		{"time back to ≥ 90 % of the rate before the kill (s after the kill)", f(t.RecoverS)},
		{"time back to ≥ 90 % of the ideal rate (s after the kill; -1 never)", f(t.RecoverIdealS)},
		{"max in flight at the receiver", fmt.Sprintf("%d", t.MaxInFlight)},
		{"extra POSTs caused by the crash", fmt.Sprintf("%d", t.ExtraPosts)},
		{"attempt rows (unfinished, re-sent try>1)", fmt.Sprintf("%d (%d, %d)", t.AttemptRows, t.UnfinishedRows, t.ResentRows)},
		{"every delivery arrived and succeeded", fmt.Sprintf("%v", t.AllDelivered)},
	}
}
