package bench

// -profile: where the CPU of a phase goes. During 1:1 saturation it takes a
// CPU profile of webhookd (PPROF_ADDR), records the Temporal dev server with
// perf (the CLI's dev server has no pprof listener), and reads
// pg_stat_statements (scripts/bench.sh preloads it when -profile is given)
// reset at the start of the phase. For every phase of ours it also counts the
// history events and visibility writes of one sample workflow.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
	_ "github.com/lib/pq"
)

// profileResult is what -profile found for one phase (also written as
// text files into the -profile directory).
type profileResult struct {
	Phase      string        `json:"phase"`
	Seconds    int           `json:"seconds"`
	Deliveries int           `json:"deliveries"`
	Files      []string      `json:"files"`
	Statements []pgStatement `json:"pgStatements,omitempty"`
	// PgCallsPerDelivery is the statements' calls (all of them) / deliveries.
	PgCallsPerDelivery  float64 `json:"pgCallsPerDelivery,omitempty"`
	PgExecMsPerDelivery float64 `json:"pgExecMsPerDelivery,omitempty"`
	PgPlanMsPerDelivery float64 `json:"pgPlanMsPerDelivery,omitempty"`
	// Databases sums the statements per database: with TEMPORAL=cluster,
	// what Temporal's persistence costs per delivery beside ours.
	Databases []pgDatabase `json:"pgDatabases,omitempty"`
	Errors    []string     `json:"errors,omitempty"`
}

// pgDatabase is one database's share of pg_stat_statements.
type pgDatabase struct {
	Name              string  `json:"name"`
	Statements        int     `json:"statements"`
	Calls             int64   `json:"calls"`
	CallsPerDelivery  float64 `json:"callsPerDelivery"`
	ExecMs            float64 `json:"execMs"`
	ExecMsPerDelivery float64 `json:"execMsPerDelivery"`
	PlanMs            float64 `json:"planMs"`
	WalBytes          int64   `json:"walBytes"`
}

// byDatabase is the entry of database name, added when new.
func (r *profileResult) byDatabase(name string) *pgDatabase {
	for i := range r.Databases {
		if r.Databases[i].Name == name {
			return &r.Databases[i]
		}
	}
	r.Databases = append(r.Databases, pgDatabase{Name: name})
	return &r.Databases[len(r.Databases)-1]
}

type pgStatement struct {
	// Database: webhooks' own, or (TEMPORAL=cluster) Temporal's
	// persistence and visibility databases on the same PostgreSQL.
	Database        string  `json:"database"`
	Query           string  `json:"query"`
	Calls           int64   `json:"calls"`
	CallsPerDeliv   float64 `json:"callsPerDelivery"`
	MeanMs          float64 `json:"meanMs"`
	TotalMs         float64 `json:"totalMs"`
	MeanPlanMs      float64 `json:"meanPlanMs"` // with pg_stat_statements.track_planning (bench.sh -profile sets it)
	Rows            int64   `json:"rows"`
	SharedBlksDirty int64   `json:"sharedBlksDirtied"`
	WalBytes        int64   `json:"walBytes"`
}

// profiler runs the profiles of one phase.
type profiler struct {
	b      *bench
	phase  string
	dir    string
	secs   int
	db     *sql.DB
	wg     sync.WaitGroup
	mu     sync.Mutex
	res    profileResult
	cancel context.CancelFunc
}

func (p *profiler) fail(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	p.res.Errors = append(p.res.Errors, msg)
	p.b.logf("  profile: %s", msg)
}

func (p *profiler) file(name string) string {
	p.mu.Lock()
	p.res.Files = append(p.res.Files, name)
	p.mu.Unlock()
	return filepath.Join(p.dir, name)
}

// startProfile resets pg_stat_statements and starts the CPU profiles of
// webhookd and Temporal in the background; finish collects them.
func (b *bench) startProfile(ctx context.Context, phase string) *profiler {
	p := &profiler{b: b, phase: phase, dir: b.s.Profile, secs: b.s.ProfileSeconds}
	p.res = profileResult{Phase: phase, Seconds: p.secs}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		p.fail("%v", err)
		return p
	}
	pctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	b.logf("  profile: %d s CPU profiles of webhookd and temporal, pg_stat_statements reset; files in %s", p.secs, p.dir)

	// PostgreSQL: reset the statement statistics of the whole cluster.
	if db, err := sql.Open("postgres", os.Getenv("DATABASE_URL")); err != nil {
		p.fail("postgres: %v", err)
	} else {
		p.db = db
		if _, err := db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
			p.fail("postgres: %v", err)
		} else if _, err := db.ExecContext(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
			p.fail("postgres: pg_stat_statements_reset: %v (is it in shared_preload_libraries? scripts/bench.sh -profile sets it)", err)
		}
	}

	// webhookd: net/http/pprof's CPU profile.
	if b.pprofAddr != "" {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.pprofAddr, p.secs)
			req, _ := http.NewRequestWithContext(pctx, http.MethodGet, url, nil)
			resp, err := (&http.Client{Timeout: time.Duration(p.secs+30) * time.Second}).Do(req)
			if err != nil {
				p.fail("webhookd pprof: %v", err)
				return
			}
			defer resp.Body.Close()
			path := p.file("webhookd-" + phase + ".pprof")
			f, err := os.Create(path)
			if err != nil {
				p.fail("%v", err)
				return
			}
			_, err = io.Copy(f, resp.Body)
			f.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				p.fail("webhookd pprof: HTTP %d: %v", resp.StatusCode, err)
				return
			}
			top, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=60", path).CombinedOutput()
			if err != nil {
				p.fail("go tool pprof: %v: %s", err, top)
				return
			}
			_ = os.WriteFile(p.file("webhookd-"+phase+".top-cum.txt"), top, 0o644)
		}()
	} else {
		p.fail("webhookd: no PPROF_ADDR")
	}

	// Temporal: perf, with frame pointers (Go keeps them).
	if b.tPID > 0 {
		if perf, err := exec.LookPath("perf"); err != nil {
			p.fail("temporal: perf not installed (apt-get install -y linux-perf)")
		} else {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				data := p.file("temporal-" + phase + ".perf.data")
				cmd := exec.CommandContext(pctx, perf, "record", "-F", "499", "-g", "-p", fmt.Sprint(b.tPID), "-o", data, "--", "sleep", fmt.Sprint(p.secs))
				if out, err := cmd.CombinedOutput(); err != nil {
					p.fail("perf record: %v: %s", err, out)
				}
			}()
		}
	}
	return p
}

// finish waits for the profiles, reads pg_stat_statements and reports.
func (p *profiler) finish(ctx context.Context, delivered int) *profileResult {
	p.wg.Wait()
	if p.cancel != nil {
		p.cancel()
	}
	p.res.Deliveries = delivered
	if p.db != nil {
		p.pgStatements(ctx, delivered)
		p.db.Close()
	}
	// perf report reads the Temporal binary's symbols: do it after the phase.
	if data := filepath.Join(p.dir, "temporal-"+p.phase+".perf.data"); fileExists(data) {
		for _, v := range []struct{ name, children string }{{"children", "--children"}, {"self", "--no-children"}} {
			out, err := exec.CommandContext(ctx, "perf", "report", "-i", data, "--stdio", v.children, "--sort", "symbol",
				"--percent-limit", "0.5", "-g", "none").Output()
			if err != nil {
				p.fail("perf report: %v", err)
				continue
			}
			_ = os.WriteFile(p.file("temporal-"+p.phase+".perf-"+v.name+".txt"), out, 0o644)
		}
	}
	return &p.res
}

func (p *profiler) pgStatements(ctx context.Context, delivered int) {
	rows, err := p.db.QueryContext(ctx, `
		SELECT coalesce(d.datname, ''), query, calls, mean_exec_time, total_exec_time, mean_plan_time, total_plan_time, rows,
			shared_blks_dirtied, wal_bytes
		FROM pg_stat_statements s LEFT JOIN pg_database d ON d.oid = s.dbid
		ORDER BY total_exec_time + total_plan_time DESC`)
	if err != nil {
		p.fail("pg_stat_statements: %v", err)
		return
	}
	defer rows.Close()
	var all []pgStatement
	var calls int64
	var total, plan float64
	for rows.Next() {
		var s pgStatement
		var wal sql.NullFloat64
		var totalPlan float64
		if err := rows.Scan(&s.Database, &s.Query, &s.Calls, &s.MeanMs, &s.TotalMs, &s.MeanPlanMs, &totalPlan, &s.Rows, &s.SharedBlksDirty, &wal); err != nil {
			p.fail("pg_stat_statements: %v", err)
			return
		}
		if strings.Contains(s.Query, "pg_stat_statements") {
			continue
		}
		s.WalBytes = int64(wal.Float64)
		s.MeanMs, s.TotalMs, s.MeanPlanMs = round3(s.MeanMs), round2(s.TotalMs), round3(s.MeanPlanMs)
		plan += totalPlan
		if delivered > 0 {
			s.CallsPerDeliv = round3(float64(s.Calls) / float64(delivered))
		}
		s.Query = strings.Join(strings.Fields(s.Query), " ")
		calls += s.Calls
		total += s.TotalMs
		all = append(all, s)
		db := p.res.byDatabase(s.Database)
		db.Statements++
		db.Calls += s.Calls
		db.ExecMs += s.TotalMs
		db.PlanMs += totalPlan
		db.WalBytes += s.WalBytes
	}
	for i := range p.res.Databases {
		d := &p.res.Databases[i]
		d.ExecMs, d.PlanMs = round2(d.ExecMs), round2(d.PlanMs)
		if delivered > 0 {
			d.CallsPerDelivery = round3(float64(d.Calls) / float64(delivered))
			d.ExecMsPerDelivery = round3(d.ExecMs / float64(delivered))
		}
	}
	if delivered > 0 {
		p.res.PgCallsPerDelivery = round3(float64(calls) / float64(delivered))
		p.res.PgExecMsPerDelivery = round3(total / float64(delivered))
		p.res.PgPlanMsPerDelivery = round3(plan / float64(delivered))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "pg_stat_statements over %s (%d deliveries): %d calls (%.2f per delivery), %.1f ms executing (%.3f ms per delivery), %.1f ms planning (%.3f ms per delivery)\n\n",
		p.phase, delivered, calls, p.res.PgCallsPerDelivery, total, p.res.PgExecMsPerDelivery, plan, p.res.PgPlanMsPerDelivery)
	for _, d := range p.res.Databases {
		fmt.Fprintf(&sb, "database %-20s %4d statements, %8d calls (%.2f per delivery), %.1f ms executing (%.3f ms per delivery), %d kB WAL\n",
			d.Name, d.Statements, d.Calls, d.CallsPerDelivery, d.ExecMs, d.ExecMsPerDelivery, d.WalBytes/1024)
	}
	fmt.Fprintf(&sb, "\n%-20s %8s %9s %9s %9s %10s %9s %8s  %s\n", "database", "calls", "/deliv", "mean ms", "plan ms", "total ms", "rows", "WAL kB", "query")
	for _, s := range all {
		q := s.Query
		if len(q) > 400 {
			q = q[:400] + "..."
		}
		fmt.Fprintf(&sb, "%-20s %8d %9.3f %9.3f %9.3f %10.1f %9d %8d  %s\n", s.Database, s.Calls, s.CallsPerDeliv, s.MeanMs, s.MeanPlanMs, s.TotalMs, s.Rows, s.WalBytes/1024, q)
	}
	_ = os.WriteFile(p.file("postgres-"+p.phase+".pg_stat_statements.txt"), []byte(sb.String()), 0o644)
	if len(all) > 15 {
		all = all[:15]
	}
	for i := range all {
		if len(all[i].Query) > 300 {
			all[i].Query = all[i].Query[:300] + "..."
		}
	}
	p.res.Statements = all
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// historySample is the history of one workflow of a phase (its DeliverBatch
// children included), as Temporal stored it.
type historySample struct {
	EventID    string         `json:"eventId"`
	WorkflowID string         `json:"workflowId"`
	Fanout     int            `json:"fanout"`
	Events     int            `json:"historyEvents"`
	ByType     map[string]int `json:"byType"`
	Children   int            `json:"batchChildren,omitempty"`
	ChildEvts  int            `json:"childHistoryEvents,omitempty"`
	// Visibility writes: started + closed + each search attribute upsert or
	// properties change not made by the closing workflow task, over the
	// workflow and its children (upserts of the closing task ride on the
	// close record).
	VisibilityWrites  int     `json:"visibilityWrites"`
	EventsPerDelivery float64 `json:"historyEventsPerDelivery"`
	VisWritesPerDeliv float64 `json:"visibilityWritesPerDelivery"`
	WorkflowTasks     int     `json:"workflowTasksCompleted"`
	Error             string  `json:"error,omitempty"`
}

// sampleHistory counts the history of the workflow of event id (published
// through api).
func (b *bench) sampleHistory(ctx context.Context, api *apiClient, id string, fanout int) *historySample {
	h := &historySample{EventID: id, Fanout: fanout, ByType: map[string]int{}}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var ev struct {
		WorkflowID string `json:"workflowId"`
	}
	if err := api.call(ctx, http.MethodGet, "/v1/events/"+id, nil, &ev); err != nil {
		h.Error = err.Error()
		return h
	}
	h.WorkflowID = ev.WorkflowID
	count := func(wid string) (int, error) {
		it := b.fl.tc.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		n := 0
		// Upserts made by the workflow task that closes the workflow do
		// not get visibility tasks of their own (the close record carries
		// them; the -profile perf of the server shows no upsert task for a
		// 1:1 event): count them only when a later task follows.
		pending := 0
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return n, err
			}
			n++
			t := strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")
			h.ByType[t]++
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				h.VisibilityWrites++
			case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
				pending++
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, enumspb.EVENT_TYPE_TIMER_STARTED,
				enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				// The upserts' workflow task did not close the workflow.
				h.VisibilityWrites += pending
				pending = 0
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
				enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
				enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
				enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
				h.VisibilityWrites++
				pending = 0
			}
			if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
				h.WorkflowTasks++
			}
		}
		h.VisibilityWrites += pending
		return n, nil
	}
	var err error
	if h.Events, err = count(h.WorkflowID); err != nil {
		h.Error = err.Error()
		return h
	}
	for k := 1; ; k++ {
		id := flow.BatchWorkflowID(h.WorkflowID, k)
		if _, err := b.fl.tc.DescribeWorkflow(ctx, id, ""); err != nil {
			var nf *serviceerror.NotFound
			if !errors.As(err, &nf) {
				h.Error = err.Error()
			}
			break
		}
		n, err := count(id)
		if err != nil {
			h.Error = err.Error()
			break
		}
		h.Children++
		h.ChildEvts += n
	}
	if fanout > 0 {
		h.EventsPerDelivery = round2(float64(h.Events+h.ChildEvts) / float64(fanout))
		h.VisWritesPerDeliv = round2(float64(h.VisibilityWrites) / float64(fanout))
	}
	return h
}

// historyLine describes a sample for the log.
func (h *historySample) line() string {
	if h.Error != "" {
		return "history: " + h.Error
	}
	types := make([]string, 0, len(h.ByType))
	for t, n := range h.ByType {
		types = append(types, fmt.Sprintf("%s %d", t, n))
	}
	sort.Strings(types)
	return fmt.Sprintf("history of %s: %d events (+%d in %d children), %d visibility writes, %d workflow tasks: %s",
		h.WorkflowID, h.Events, h.ChildEvts, h.Children, h.VisibilityWrites, h.WorkflowTasks, strings.Join(types, ", "))
}
