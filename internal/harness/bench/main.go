// Package bench measures esign-webhooks' delivery engine end to end against
// a floor: the same Temporal server doing the least possible work for the
// same signed HTTP POST. scripts/bench.sh (make bench) brings up a throwaway
// stack and runs it; see -h for the sizes.
//
// It starts `webhookd api` and `webhookd worker` as subprocesses, creates
// accounts and webhooks through the public API and CLI, publishes events
// through POST /v1/events and times their arrival at receivers on 127.0.0.1
// that verify every signature with the Standard Webhooks library.
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
)

// settings are the sizes of every scenario.
type settings struct {
	Quick              bool          `json:"quick"`
	Split              bool          `json:"splitApiWorker"`
	Rate               float64       `json:"ratePerS"`
	RateDuration       time.Duration `json:"rateDuration"`
	SatEvents          int           `json:"saturationEvents"`
	Concurrency        int           `json:"concurrency"`
	Fanout10Events     int           `json:"fanout10Events"`
	Fanout100Events    int           `json:"fanout100Events"`
	Fanout1000Events   int           `json:"fanout1000Events"`
	CurveRates         string        `json:"curveRates"`
	FloorFanout        bool          `json:"floorFanout"`
	IsoWebhooks        int           `json:"isolationWebhooks"`
	IsoSlowPercent     int           `json:"isolationSlowPercent"`
	BacklogEvents      int           `json:"backlogEvents"`
	BacklogConcurrency int           `json:"backlogConcurrency"`
	BacklogWait        time.Duration `json:"backlogWait"`
	OrderedKeys        int           `json:"orderedKeys"`
	OrderedPerKey      int           `json:"orderedPerKey"`
	MgmtDuration       time.Duration `json:"managementDuration"`
	MgmtConcurrency    int           `json:"managementConcurrency"`
	Wait               time.Duration `json:"wait"`
	Stall              time.Duration `json:"stall"`
	Settle             time.Duration `json:"settle"`
	Warmup             int           `json:"warmupEvents"`
	Storm              bool          `json:"storm"`
	StormOnly          bool          `json:"stormOnly"`
	StormWebhooks      int           `json:"stormWebhooks"`
	StormRetryWait     time.Duration `json:"stormRetryWait"`
	StormTimeout       time.Duration `json:"stormTimeout"`
	MaxTotal           time.Duration `json:"maxTotal"`
	Out                string        `json:"out"`
	Phases             string        `json:"phases"`
	Floor              bool          `json:"floor"`
	LeanFloor          bool          `json:"leanFloor"`
	Idle               time.Duration `json:"idle"`
	Profile            string        `json:"profile,omitempty"`
	ProfileSeconds     int           `json:"profileSeconds,omitempty"`
}

// phaseNames are the phases -phases selects from, in the order they run.
var phaseNames = []string{"fixed", "saturation", "rates", "fanout10", "fanout100", "fanout1000", "isolation", "management", "backlog", "ordered", "storm"}

// want says whether -phases selects the phase.
func (s settings) want(phase string) bool {
	if s.Phases == "" || s.Phases == "all" {
		return phase != "storm" || s.Storm
	}
	for _, p := range strings.Split(s.Phases, ",") {
		if strings.TrimSpace(p) == phase {
			return true
		}
	}
	return false
}

func parseFlags(args []string) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&s.Quick, "quick", false, "tiny sizes (about a minute): a smoke test; explicit flags still win")
	fs.BoolVar(&s.Split, "split", false, "run `webhookd api` and `webhookd worker` as two processes (CPU split per role) instead of `webhookd serve` as make run does")
	fs.Float64Var(&s.Rate, "rate", 20, "scenarios 1 and 3: fixed offered rate, events/s")
	fs.DurationVar(&s.RateDuration, "rate-duration", 10*time.Second, "scenarios 1 and 3: how long the fixed rate lasts")
	fs.IntVar(&s.SatEvents, "sat-events", 600, "scenario 1 saturation: events published")
	fs.IntVar(&s.Concurrency, "concurrency", 16, "concurrent publishers for saturation and fan-out")
	fs.IntVar(&s.Fanout10Events, "fanout10-events", 150, "scenario 2: events with 10 webhooks each")
	fs.IntVar(&s.Fanout100Events, "fanout100-events", 20, "scenario 2: events with 100 webhooks each")
	fs.IntVar(&s.Fanout1000Events, "fanout1000-events", 4, "scenario 2: events with 1,000 webhooks each (ours only: no floor)")
	fs.StringVar(&s.CurveRates, "curve-rates", "10,50,100", "the fixed-rate curve (phase rates): 1:1 events/s, each for -rate-duration")
	fs.BoolVar(&s.FloorFanout, "floor-fanout", true, "measure the floor's fan-out too")
	fs.IntVar(&s.IsoWebhooks, "iso-webhooks", 10, "scenario 3: webhooks (one proc.Account each)")
	fs.IntVar(&s.IsoSlowPercent, "iso-slow-percent", 10, "scenario 3: percentage of webhooks that never answer in time")
	fs.IntVar(&s.BacklogEvents, "backlog-events", 3000, "scenario 4: events published as fast as the API takes them")
	fs.IntVar(&s.BacklogConcurrency, "backlog-concurrency", 32, "scenario 4: concurrent publishers")
	fs.DurationVar(&s.BacklogWait, "backlog-wait", 150*time.Second, "scenario 4: how long to wait for the deliveries after publishing")
	fs.IntVar(&s.OrderedKeys, "ordered-keys", 500, "scenario 6: envelopes (ordering keys), each published to an unordered webhook, then to an ordered one (0: skip)")
	fs.IntVar(&s.OrderedPerKey, "ordered-per-key", 4, "scenario 6: events per envelope, published back to back")
	fs.DurationVar(&s.MgmtDuration, "mgmt-duration", 3*time.Second, "scenario 5: duration of each operation")
	fs.IntVar(&s.MgmtConcurrency, "mgmt-concurrency", 8, "scenario 5: concurrent clients")
	fs.DurationVar(&s.Wait, "wait", 60*time.Second, "how long to wait for a phase's deliveries after publishing")
	fs.DurationVar(&s.Stall, "stall", 20*time.Second, "stop waiting for a phase's deliveries after this long without a new one")
	fs.DurationVar(&s.Settle, "settle", 2*time.Second, "pause between phases")
	fs.IntVar(&s.Warmup, "warmup", 20, "events delivered through each path before measuring")
	fs.BoolVar(&s.Storm, "storm", true, "storm phase, last: one event to -storm-webhooks failing webhooks with webhookd restarted on a short retry schedule (-storm=false skips it)")
	fs.BoolVar(&s.StormOnly, "storm-only", false, "run only the storm phase (no warm-up, no other phase)")
	fs.IntVar(&s.StormWebhooks, "storm-webhooks", 1000, "storm: webhooks of the one proc.Account (at most 1000, the per-proc.Account limit)")
	fs.DurationVar(&s.StormRetryWait, "storm-retry-wait", time.Second, "storm: each of the 16 waits of DELIVERY_RETRY_SCHEDULE")
	fs.DurationVar(&s.StormTimeout, "storm-timeout", 8*time.Minute, "storm: how long to wait for the event workflow to complete")
	fs.DurationVar(&s.MaxTotal, "max-total", 20*time.Minute, "hard bound on the whole run")
	fs.StringVar(&s.Out, "out", "docs/results/bench", "directory of the JSON results")
	fs.StringVar(&s.Phases, "phases", "all", "comma-separated phases to run (after the warm-up): "+strings.Join(phaseNames, ",")+"; all = every phase (storm unless -storm=false)")
	fs.BoolVar(&s.Floor, "floor", true, "measure the floor next to each phase that has one (-floor=false: ours only)")
	fs.BoolVar(&s.LeanFloor, "lean-floor", true, "with -floor, measure the lean floor (eager start, one local activity) next to 1:1 fixed rate and saturation too")
	fs.DurationVar(&s.Idle, "idle", 3*time.Second, "after the warm-up, measure the idle stack's CPU for this long (0: skip)")
	fs.StringVar(&s.Profile, "profile", "", "directory: profile the stack during 1:1 saturation (webhookd pprof CPU profile, perf record of the Temporal dev server, pg_stat_statements; scripts/bench.sh preloads pg_stat_statements when this flag is given) and count the history events of one workflow per phase")
	fs.IntVar(&s.ProfileSeconds, "profile-seconds", 20, "length of the -profile CPU profiles")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if s.Quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		quick("rate", func() { s.Rate = 10 })
		quick("rate-duration", func() { s.RateDuration = 4 * time.Second })
		quick("sat-events", func() { s.SatEvents = 150 })
		quick("fanout10-events", func() { s.Fanout10Events = 20 })
		quick("fanout100-events", func() { s.Fanout100Events = 3 })
		quick("fanout1000-events", func() { s.Fanout1000Events = 1 })
		quick("curve-rates", func() { s.CurveRates = "10,30" })
		quick("backlog-events", func() { s.BacklogEvents = 300 })
		quick("backlog-wait", func() { s.BacklogWait = 60 * time.Second })
		quick("ordered-keys", func() { s.OrderedKeys = 60 })
		quick("mgmt-duration", func() { s.MgmtDuration = time.Second })
		quick("wait", func() { s.Wait = 30 * time.Second })
		quick("warmup", func() { s.Warmup = 5 })
		quick("settle", func() { s.Settle = time.Second })
		quick("storm-webhooks", func() { s.StormWebhooks = 100 })
		quick("storm-timeout", func() { s.StormTimeout = 3 * time.Minute })
		quick("max-total", func() { s.MaxTotal = 8 * time.Minute })
	}
	if s.Rate <= 0 || s.SatEvents <= 0 || s.Concurrency <= 0 || s.BacklogConcurrency <= 0 || s.MgmtConcurrency <= 0 ||
		s.IsoWebhooks <= 0 || s.Warmup <= 0 || s.Fanout10Events < 0 || s.Fanout100Events < 0 || s.Fanout1000Events < 0 || s.BacklogEvents < 0 ||
		s.OrderedKeys < 0 || s.OrderedPerKey <= 0 {
		return s, errors.New("sizes must be positive")
	}
	if s.StormWebhooks <= 0 || s.StormWebhooks > maxStormHooks {
		return s, fmt.Errorf("-storm-webhooks must be 1 to %d (the per-proc.Account webhook limit)", maxStormHooks)
	}
	if s.StormRetryWait <= 0 || s.StormTimeout <= 0 {
		return s, errors.New("-storm-retry-wait and -storm-timeout must be positive")
	}
	if s.StormOnly {
		s.Storm, s.Phases = true, "storm"
	}
	for _, p := range strings.Split(s.Phases, ",") {
		if p = strings.TrimSpace(p); p != "all" && !slices.Contains(phaseNames, p) {
			return s, fmt.Errorf("-phases: unknown phase %q (known: %s)", p, strings.Join(phaseNames, ","))
		}
	}
	if _, err := parseRates(s.CurveRates); err != nil {
		return s, err
	}
	if s.Profile != "" && s.ProfileSeconds <= 0 {
		return s, errors.New("-profile-seconds must be positive")
	}
	return s, nil
}

func Main() {
	s, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, s.MaxTotal)
	defer cancel()
	if err := run(ctx, s); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "\033[1m[bench]\033[0m "+format+"\n", args...)
}

func run(ctx context.Context, s settings) error {
	dbURL, taddr := os.Getenv("DATABASE_URL"), os.Getenv("TEMPORAL_ADDRESS")
	if dbURL == "" || taddr == "" {
		return errors.New("DATABASE_URL and TEMPORAL_ADDRESS must be set (scripts/bench.sh sets them)")
	}
	if err := loopbackOnly(dbURL, taddr); err != nil {
		return err
	}
	bin := envOr("WEBHOOKD_BIN", ".bin/webhookd")
	logDir := envOr("BENCH_LOG_DIR", ".data/bench")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	res := newResults(s)

	rcv, err := startReceiver()
	if err != nil {
		return err
	}
	defer rcv.close()
	slow, err := startSlowReceiver(2 * time.Minute)
	if err != nil {
		return err
	}
	defer slow.close()

	apiAddr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	env := append(os.Environ(),
		"DATABASE_URL="+dbURL, "TEMPORAL_ADDRESS="+taddr, "HTTP_ADDR="+apiAddr,
		"SECRETS_KEY="+randomKey(), "WEBHOOK_ALLOW_HTTP=true", "EGRESS_ALLOW_CIDRS=127.0.0.0/8",
		// No limit is changed: the figures are what a publisher with the
		// default settings gets (publishing has its own limit, off).
		"TEMPORAL_TASK_QUEUE=bench", "LOG_LEVEL=warn")
	var pprofAddr string
	// Two webhookd processes cannot share one PPROF_ADDR: with -split the
	// profile has Temporal's and PostgreSQL's side only.
	if s.Profile != "" && !s.Split {
		if pprofAddr, err = proc.FreeAddr(); err != nil {
			return err
		}
		env = append(env, "PPROF_ADDR="+pprofAddr)
	}
	if _, err := proc.RunOnce(ctx, bin, env, "migrate"); err != nil {
		return err
	}
	wd := &webhookd{bin: bin, env: env, split: s.Split, logDir: logDir, addr: apiAddr}
	defer wd.stop()
	if err := wd.start(ctx, "", nil); err != nil {
		return err
	}
	apiURL := wd.url()

	fl, err := startFloor(ctx, taddr, rcv.url)
	if err != nil {
		return err
	}
	defer fl.stop()

	_, tport, _ := strings.Cut(taddr, ":")
	pgPID := proc.PostmasterPID(os.Getenv("BENCH_PGDATA"))
	tPID := temporalPID(tport)
	if pgPID == 0 || tPID == 0 {
		logf("warning: postgres pid %d, temporal pid %d: 0 means not measured (set BENCH_PGDATA, BENCH_TEMPORAL_PID)", pgPID, tPID)
	}
	comps := wd.components()
	cpuOrder = nil
	for _, c := range comps {
		cpuOrder = append(cpuOrder, c.Name)
	}
	cpuOrder = append(cpuOrder, "temporal", "postgres", "bench")
	mon := newMonitor(append(comps, []component{
		{Name: "temporal", PID: tPID},
		{Name: "postgres", PID: pgPID, Postgres: true},
		{Name: "bench", PID: os.Getpid()},
	}...))
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go mon.sample(sampleCtx, 500*time.Millisecond)

	b := &bench{
		s: s, bin: bin, env: env, apiURL: apiURL, wd: wd, hc: newHTTPClient(max(s.Concurrency, s.BacklogConcurrency, s.MgmtConcurrency)),
		rcv: rcv, slow: slow, fl: fl, mon: mon, res: res, logf: logf,
		runID:     fmt.Sprintf("r%x", time.Now().Unix()%0xffffff),
		pprofAddr: pprofAddr, tPID: tPID,
	}
	if err := runScenarios(ctx, b); err != nil {
		res.Errors = append(res.Errors, err.Error())
		logf("error: %v", err)
	}
	if ctx.Err() != nil {
		res.Errors = append(res.Errors, "run cut short: "+ctx.Err().Error())
	}
	res.PeakMemoryMB = mon.memory()
	res.VerificationFailures = rcv.verifyFailures.Load()
	if v, ok := rcv.lastFailure.Load().(string); ok {
		res.LastVerificationFailure = v
	}
	res.UnexpectedRequests = rcv.unknown.Load()
	res.FinishedAt = time.Now().UTC()
	res.evaluate()
	res.Curves = buildCurves(res)
	printReport(os.Stdout, res)
	path, err := res.write(s.Out)
	if err != nil {
		return err
	}
	logf("results written to %s and %s", filepath.Join(s.Out, "latest.json"), path)
	switch {
	case res.VerificationFailures > 0:
		return fmt.Errorf("%d signature verification failures", res.VerificationFailures)
	case len(res.Errors) > 0:
		return errors.New(strings.Join(res.Errors, "; "))
	}
	return nil
}

// runScenarios runs every scenario in order: the lightest first, the backlog
// (which leaves the most history behind) after them, then the ordered pair
// (new: after every phase older results compare with), the storm (which
// restarts webhookd with a short retry schedule) last.
func runScenarios(ctx context.Context, b *bench) error {
	s := b.s
	if s.StormOnly {
		total := b.mon.snapshot()
		defer func() { b.res.TotalCPUCores = b.mon.cpuSince(total) }()
		return b.storm(ctx)
	}
	s1, err := b.newAccount(ctx, "s1", 1, 0)
	if err != nil {
		return err
	}
	floorKeys, err := b.floorTargets("s1", 1)
	if err != nil {
		return err
	}
	leanKeys, err := b.floorTargets("s1-lean", 1)
	if err != nil {
		return err
	}
	if err := b.warmup(ctx, s1, floorKeys, leanKeys); err != nil {
		return err
	}
	b.idle(ctx)
	total := b.mon.snapshot()
	defer func() { b.res.TotalCPUCores = b.mon.cpuSince(total) }()
	b.oneToOne(ctx, s1, floorKeys, leanKeys)
	if s.want("rates") {
		b.rates(ctx, s1)
	}
	var errs []error
	if s.Fanout10Events > 0 && s.want("fanout10") {
		errs = append(errs, b.fanout(ctx, 10, s.Fanout10Events))
	}
	if s.Fanout100Events > 0 && s.want("fanout100") {
		errs = append(errs, b.fanout(ctx, 100, s.Fanout100Events))
	}
	if s.Fanout1000Events > 0 && s.want("fanout1000") {
		errs = append(errs, b.fanout(ctx, 1000, s.Fanout1000Events))
	}
	if s.want("isolation") {
		errs = append(errs, b.isolation(ctx))
	}
	if s.want("management") {
		errs = append(errs, b.management(ctx))
	}
	if s.BacklogEvents > 0 && s.want("backlog") {
		errs = append(errs, b.backlog(ctx))
	}
	if s.OrderedKeys > 0 && s.want("ordered") {
		errs = append(errs, b.ordered(ctx))
	}
	// Last: it restarts webhookd with a retry schedule no other phase wants.
	if s.want("storm") {
		errs = append(errs, b.storm(ctx))
	}
	return errors.Join(errs...)
}

// idle measures the CPU of the stack with no load for -idle: the share of
// every phase's CPU per delivery that is not the deliveries' own.
func (b *bench) idle(ctx context.Context) {
	if b.s.Idle <= 0 {
		return
	}
	b.logf("%-22s measuring the idle stack's CPU for %s", "idle", b.s.Idle)
	cpu := b.mon.snapshot()
	select {
	case <-ctx.Done():
		return
	case <-time.After(b.s.Idle):
	}
	ms := withWebhookd(b.mon.cpuMsSince(cpu))
	wall := time.Since(cpu.at).Seconds()
	b.res.IdleCPUCores = map[string]float64{}
	for k, v := range ms {
		b.res.IdleCPUCores[k] = round3(v / 1000 / wall)
	}
	b.res.IdleSeconds = round2(wall)
}

// loopbackOnly refuses to drive anything but this machine.
func loopbackOnly(dbURL, taddr string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	for _, host := range []string{u.Hostname(), strings.Split(taddr, ":")[0]} {
		if host != "127.0.0.1" && host != "localhost" {
			return fmt.Errorf("bench drives only 127.0.0.1, not %q", host)
		}
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// toolVersions fills the versions of what ran.
func toolVersions(r *results) {
	r.GoVersion = runtime.Version()
	r.NumCPU = runtime.NumCPU()
	r.GOMAXPROCS = runtime.GOMAXPROCS(0)
	r.Temporal = envOr("BENCH_TEMPORAL", "dev server")
	r.OutboxDispatch = envOr("OUTBOX_DISPATCH", "workers")
	if out, err := exec.Command(envOr("TEMPORAL_CLI", ".bin/temporal"), "--version").Output(); err == nil {
		r.TemporalCLI = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		r.GitCommit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		r.GitDirty = len(strings.TrimSpace(string(out))) > 0
	}
}

// webhookd runs the webhookd processes under test: one `webhookd serve`, as
// make run runs it (which lets the API start workflows eagerly on its own
// worker), or with -split `webhookd api` and `webhookd worker` as two
// processes so their CPU can be told apart. The API always listens on addr,
// so API clients made before a restart keep working.
type webhookd struct {
	bin, logDir, addr string
	env               []string
	split             bool
	api, worker       *proc.Proc
	// metrics is the worker process's /metrics (its slot waits).
	metrics string
}

func (w *webhookd) url() string { return "http://" + w.addr }

// start starts the processes with w.env plus extra (later values win); tag,
// when not empty, is added to the log file names. It returns once the API
// answers /readyz.
func (w *webhookd) start(ctx context.Context, tag string, extra []string) error {
	env := append(append([]string(nil), w.env...), extra...)
	logName := func(role string) string {
		if tag != "" {
			role += "-" + tag
		}
		return filepath.Join(w.logDir, role+".log")
	}
	maddr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	w.metrics = "http://" + maddr + "/metrics"
	workerEnv := append(env[:len(env):len(env)], "METRICS_ADDR="+maddr)
	if w.split {
		if w.api, err = proc.Start("webhookd api", w.bin, []string{"api"}, env, logName("api")); err != nil {
			return err
		}
		if w.worker, err = proc.Start("webhookd worker", w.bin, []string{"worker"}, workerEnv, logName("worker")); err != nil {
			return err
		}
	} else {
		if w.api, err = proc.Start("webhookd serve", w.bin, []string{"serve"}, workerEnv, logName("serve")); err != nil {
			return err
		}
		w.worker = w.api
	}
	if err := proc.WaitReady(ctx, w.url(), w.api, 60*time.Second); err != nil {
		return err
	}
	logf("webhookd api (pid %d) ready at %s; worker pid %d; logs in %s", w.api.PID(), w.url(), w.worker.PID(), w.logDir)
	return nil
}

// slotResults are the results of webhookd_slot_waits_total.
var slotResults = []string{"handed", "queued", "no_room"}

// slotWaits reads the worker's webhookd_slot_waits_total by result (0 for
// a result it has not counted, or when it cannot be read).
func (w *webhookd) slotWaits(hc *http.Client) map[string]int {
	out := map[string]int{}
	for _, r := range slotResults {
		// A result never observed has no line: 0.
		v, _ := proc.MetricValue(hc, w.metrics, `webhookd_slot_waits_total{result="`+r+`"}`)
		out[r] = int(v)
	}
	return out
}

// stop stops the processes (SIGTERM, then SIGKILL after 10 s).
func (w *webhookd) stop() {
	if w.worker != w.api {
		w.worker.Stop(10 * time.Second)
	}
	w.api.Stop(10 * time.Second)
}

// restart stops the processes and starts them again with extra settings.
func (w *webhookd) restart(ctx context.Context, tag string, extra []string) error {
	w.stop()
	return w.start(ctx, tag, extra)
}

// components are the processes as the CPU monitor names them.
func (w *webhookd) components() []component {
	if w.split {
		return []component{{Name: "api", PID: w.api.PID()}, {Name: "worker", PID: w.worker.PID()}}
	}
	return []component{{Name: "webhookd", PID: w.api.PID()}}
}
