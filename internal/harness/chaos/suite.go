package chaos

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
)

type options struct {
	bin, temporalCLI, pgData, dbURL, dataDir, out, apiAddr string
	temporalPort, temporalUIPort                           int
	rate                                                   float64
	maxEvents                                              int
	receiverDown, pgDown                                   time.Duration
	converge, maxTotal                                     time.Duration
	retry, timeout                                         string
	soak                                                   time.Duration
	soakKeys                                               int
	soakRate                                               float64
	retentionAttempts                                      int
	scenario                                               string
	throttleEvents                                         int
	ordered                                                orderedOptions
	receivers                                              receiversOptions
	notices                                                noticesOptions
}

// orderedOptions are the knobs of the ordered scenario.
type orderedOptions struct {
	keys, perKey, failPercent int
	rate                      float64
	seed                      uint64
	recheckMax                time.Duration
	retry                     string
}

// Main is the fault suite (make chaos): on a stack of its own it
// publishes events at a steady rate while it kill -9s webhookd (serve, then
// worker and api in split mode), kill -9s the Temporal dev server and
// restarts it on the same SQLite file, stops PostgreSQL immediately for 10 s,
// and takes a receiver down for 60 s; then it waits for convergence and
// checks every delivery against what the receivers got (Check).
//
// With -scenario throttle (or all, the default: the fault suite, then this)
// it runs the throttle scenario (ExecuteThrottle): a webhook limited
// to 2 in flight with 0.5 s answers gets 200 events with no fault, then
// 200 while one of two workers is SIGKILLed, and the recovery is measured.
//
// With -scenario ordered (all: after the throttle scenario) it runs the ordered scenario
// (ordered): envelopes of several events each, published to two ordered
// webhooks and an unordered control whose receivers refuse a share of
// attempts at random, while the worker and the API are SIGKILLed and
// PostgreSQL restarts; then the fault suite's check and the order check
// (CheckOrder).
//
// With -scenario receivers (all: last) it runs the receivers scenario
// (receivers.go): webhooks with custom headers, Basic, Bearer, OAuth 2.0
// client credentials, mutual TLS, their own schedule and timeout, a thin
// payload, all through tinyproxy, while the worker, the API, the token
// endpoint, tinyproxy and PostgreSQL fail in turn; then the fault suite's
// check and its own (ReceiversResult).
//
// With -scenario notices (all: last) it runs the notices scenario
// (notices.go): a webhook failing past the health thresholds until it is
// disabled, one failing then recovering, notification channels (e-mail
// through a real SMTP server in both languages, a signed DingTalk robot,
// Slack), while the worker, the API, PostgreSQL, the Temporal dev server
// and the SMTP server fail in turn; then the fault suite's check and its
// own (NoticesResult).
//
// scripts/chaos.sh starts PostgreSQL and passes its data directory; this
// program starts and restarts the Temporal dev server itself.
func Main() {
	var o options
	flag.StringVar(&o.bin, "webhookd", ".bin/webhookd", "webhookd binary")
	flag.StringVar(&o.temporalCLI, "temporal-cli", ".bin/temporal", "Temporal CLI (its dev server is started, killed and restarted)")
	flag.StringVar(&o.pgData, "pgdata", "", "data directory of the suite's PostgreSQL cluster (stopped and started with pg_ctl)")
	flag.StringVar(&o.dbURL, "database-url", "", "the suite's database (127.0.0.1 only)")
	flag.StringVar(&o.dataDir, "data", ".data/chaos", "logs and the Temporal SQLite file")
	flag.StringVar(&o.out, "out", "docs/results/chaos", "directory of the JSON results")
	flag.StringVar(&o.apiAddr, "api-addr", "127.0.0.1:7274", "webhookd HTTP_ADDR")
	flag.IntVar(&o.temporalPort, "temporal-port", 7272, "Temporal dev server port")
	flag.IntVar(&o.temporalUIPort, "temporal-ui-port", 7273, "Temporal dev server UI port")
	flag.Float64Var(&o.rate, "rate", 3, "events per second, published throughout")
	flag.IntVar(&o.maxEvents, "max-events", 5000, "bound on the events published")
	flag.DurationVar(&o.receiverDown, "receiver-down", 60*time.Second, "how long one receiver is down")
	flag.DurationVar(&o.pgDown, "pg-down", 10*time.Second, "how long PostgreSQL is stopped")
	flag.DurationVar(&o.converge, "converge", 5*time.Minute, "bound on the wait for convergence after the last fault")
	flag.DurationVar(&o.maxTotal, "max-total", 30*time.Minute, "hard bound on the whole run")
	flag.StringVar(&o.retry, "retry-schedule", "1s,2s,5s,10s,20s,30s,30s,30s", "DELIVERY_RETRY_SCHEDULE")
	flag.StringVar(&o.timeout, "delivery-timeout", "2s", "DELIVERY_TIMEOUT")
	flag.DurationVar(&o.soak, "soak", 10*time.Minute, "hostile soak: mixed valid and hostile requests, last step (0: none)")
	flag.IntVar(&o.soakKeys, "soak-keys", 4, "API keys of the soak, each at its rate limit")
	flag.IntVar(&o.retentionAttempts, "retention-attempts", 20000, "full suite: attempts of a log 50-64 days old written during the run, whose periods the API's upkeep must drop (RETENTION) while deliveries go on (0: skip)")
	flag.Float64Var(&o.soakRate, "soak-rate", 20, "RATE_LIMIT_REQUESTS_PER_SECOND of the suite's API, and each soak key's rate")
	flag.StringVar(&o.scenario, "scenario", "all", "full (crashes and outages under load), throttle (a worker kill at a webhook's concurrency limit), ordered (ordered delivery per key under crashes), receivers (auth, headers, mTLS, a proxy, a webhook's own schedule, thin payloads under crashes), notices (health notices to e-mail and chats under crashes), or all")
	flag.IntVar(&o.throttleEvents, "throttle-events", 200, "events per run of the throttle scenario")
	flag.IntVar(&o.ordered.keys, "ordered-keys", 200, "ordered scenario: envelopes (ordering keys)")
	flag.IntVar(&o.ordered.perKey, "ordered-per-key", 5, "ordered scenario: events per envelope")
	flag.Float64Var(&o.ordered.rate, "ordered-rate", 12, "ordered scenario: events per second (a key's events go back to back)")
	flag.IntVar(&o.ordered.failPercent, "ordered-fail-percent", 30, "ordered scenario: share of POSTs each receiver answers 500")
	flag.Uint64Var(&o.ordered.seed, "ordered-seed", 0, "ordered scenario: seed of the receivers' refusals (0: from the clock)")
	flag.DurationVar(&o.ordered.recheckMax, "order-recheck-max", 2*time.Second, "ordered scenario: ORDER_RECHECK_MAX (a waiting delivery's longest wait without a wake-up)")
	flag.StringVar(&o.ordered.retry, "ordered-retry-schedule", "200ms,500ms,1s,1s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s",
		"ordered scenario: DELIVERY_RETRY_SCHEDULE (long enough that no delivery gives up: 0.3^16)")
	flag.Float64Var(&o.receivers.rate, "receivers-rate", 2, "receivers scenario: events per second (each to 6 webhooks)")
	flag.DurationVar(&o.receivers.tokenTTL, "receivers-token-ttl", 6*time.Second, "receivers scenario: lifetime of the OAuth 2.0 tokens issued (the worker renews at half)")
	flag.DurationVar(&o.receivers.tokenDown, "receivers-token-down", 15*time.Second, "receivers scenario: how long the token endpoint is down")
	flag.DurationVar(&o.receivers.proxyDown, "receivers-proxy-down", 3*time.Second, "receivers scenario: how long tinyproxy stays dead after its kill -9")
	flag.IntVar(&o.receivers.proxyPort, "proxy-port", 7277, "receivers scenario: tinyproxy's port")
	flag.StringVar(&o.receivers.tinyproxy, "tinyproxy", "tinyproxy", "receivers scenario: tinyproxy binary (Debian's tinyproxy-bin)")
	flag.StringVar(&o.receivers.timeout, "receivers-delivery-timeout", "5s", "receivers scenario: DELIVERY_TIMEOUT (the schedule webhook's own is 1 s)")
	flag.IntVar(&o.receivers.histories, "receivers-histories", 12, "receivers scenario: Temporal histories searched for secrets")
	flag.Float64Var(&o.notices.rate, "notices-rate", 2, "notices scenario: events per second (each to 3 webhooks)")
	flag.IntVar(&o.notices.smtpPort, "smtp-port", 7278, "notices scenario: port of the SMTP server (Debian's aiosmtpd)")
	flag.StringVar(&o.notices.python, "python", "/usr/bin/python3", "notices scenario: the Python with aiosmtpd (Debian's python3-aiosmtpd)")
	flag.DurationVar(&o.notices.window, "notices-window", 20*time.Second, "notices scenario: NOTICE_DIGEST_WINDOW")
	flag.DurationVar(&o.notices.disableAfter, "notices-disable-after", 60*time.Second, "notices scenario: HEALTH_DISABLE_AFTER (warnings at 50/75/90 %)")
	flag.DurationVar(&o.notices.smtpDown, "notices-smtp-down", 15*time.Second, "notices scenario: how long the SMTP server is down")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.maxTotal)
	defer cancel()
	code, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "\033[1m[chaos]\033[0m %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(ctx context.Context, o options) (int, error) {
	if o.pgData == "" || o.dbURL == "" {
		return 2, errors.New("-pgdata and -database-url are required (scripts/chaos.sh sets them)")
	}
	if u, err := url.Parse(o.dbURL); err != nil || u.Hostname() != "127.0.0.1" {
		return 2, fmt.Errorf("the suite drives only 127.0.0.1, not %q", o.dbURL)
	}
	if err := os.MkdirAll(o.dataDir, 0o755); err != nil {
		return 1, err
	}
	tmp := &temporal{cli: o.temporalCLI, port: o.temporalPort, uiPort: o.temporalUIPort, dir: o.dataDir,
		db: filepath.Join(o.dataDir, "temporal-"+time.Now().UTC().Format("20060102T150405")+".db")}
	if tmp.healthy(ctx) {
		return 1, fmt.Errorf("a Temporal server already answers on 127.0.0.1:%d (a previous run?); stop it first", o.temporalPort)
	}
	if err := tmp.start(ctx); err != nil {
		return 1, err
	}
	defer tmp.stop()
	pg := &postgres{dir: o.pgData}
	switch o.scenario {
	case "full":
		return full(ctx, o, tmp, pg)
	case "throttle":
		return throttle(ctx, o)
	case "ordered":
		return ordered(ctx, o, pg)
	case "receivers":
		return receivers(ctx, o, pg)
	case "notices":
		return notices(ctx, o, tmp, pg)
	case "all":
		if code, err := full(ctx, o, tmp, pg); err != nil {
			return code, err
		}
		if code, err := throttle(ctx, o); err != nil {
			return code, err
		}
		if code, err := ordered(ctx, o, pg); err != nil {
			return code, err
		}
		if code, err := receivers(ctx, o, pg); err != nil {
			return code, err
		}
		return notices(ctx, o, tmp, pg)
	}
	return 2, fmt.Errorf("unknown -scenario %q", o.scenario)
}

// full is the fault suite.
func full(ctx context.Context, o options, tmp *temporal, pg *postgres) (int, error) {
	cfg := Config{
		Bin: o.bin, DatabaseURL: o.dbURL, TemporalAddress: fmt.Sprintf("127.0.0.1:%d", o.temporalPort),
		TaskQueue: "chaos", APIAddr: o.apiAddr, LogDir: o.dataDir, MetricsAddr: metricsAddr(o.apiAddr),
		APIRequestsPerSecond: o.soakRate,
		RetrySchedule:        o.retry, DeliveryTimeout: o.timeout,
		Receivers: []ReceiverSpec{
			{Name: "steady"},
			{Name: "flaky", FailFirst: 2},
			{Name: "slow", Delay: 400 * time.Millisecond},
			{Name: "downtime"},
		},
		Rate: o.rate, MaxEvents: o.maxEvents, GiveUp: 2 * time.Minute,
		Warmup: 10 * time.Second,
		Steps: []Step{
			settle(KillServe(2*time.Second), 15*time.Second),
			settle(SplitMode(), 10*time.Second),
			settle(KillWorker(2*time.Second), 15*time.Second),
			settle(KillAPI(2*time.Second), 15*time.Second),
			settle(tmp.restart(), 25*time.Second),
			settle(pg.down(o.pgDown), 15*time.Second),
		},
		Tail:           10 * time.Second,
		ConvergeWithin: o.converge,
		Quiet:          5 * time.Second,
		Logf:           logf,
	}
	if o.retentionAttempts > 0 {
		cfg.Steps = append(cfg.Steps, settle(RetentionDrop(RetentionSpec{Attempts: o.retentionAttempts, Within: 3 * time.Minute}), 5*time.Second))
	}
	cfg.Steps = append(cfg.Steps, ReceiverDown("downtime", o.receiverDown))
	if o.soak > 0 {
		cfg.Steps = append(cfg.Steps, Soak(SoakSpec{Duration: o.soak, Keys: o.soakKeys, PerKey: o.soakRate, Slow: 20, Cooldown: time.Minute}))
	}
	rep, err := Execute(ctx, cfg)
	rep.Scenario = "full (make chaos)"
	return report(rep, err, o, "lost, disagreeing or not converged deliveries (see the table)")
}

// throttle is the throttle scenario, on its own task queue and API port.
func throttle(ctx context.Context, o options) (int, error) {
	rep, err := ExecuteThrottle(ctx, ThrottleConfig{
		Bin: o.bin, DatabaseURL: o.dbURL, TemporalAddress: fmt.Sprintf("127.0.0.1:%d", o.temporalPort),
		TaskQueue: "chaos-throttle", APIAddr: o.apiAddr, LogDir: o.dataDir, DeliveryTimeout: o.timeout,
		Events: o.throttleEvents, MaxConcurrency: 2, Delay: 500 * time.Millisecond,
		KillAfter: o.throttleEvents / 4, Within: 4 * time.Minute, Logf: logf,
	})
	rep.Scenario = "throttle (a worker kill at a webhook's concurrency limit)"
	return report(rep, err, o, "a delivery missing or too many requests in flight (see the table)")
}

// ordered is the ordered scenario, on its own task queue: webhookd api and
// worker with a short ORDER_RECHECK_MAX, so a wake-up a kill loses costs
// seconds, not minutes.
func ordered(ctx context.Context, o options, pg *postgres) (int, error) {
	oo := o.ordered
	if oo.seed == 0 {
		oo.seed = uint64(time.Now().UnixNano())
	}
	fail := oo.failPercent
	rep, err := Execute(ctx, Config{
		Bin: o.bin, DatabaseURL: o.dbURL, TemporalAddress: fmt.Sprintf("127.0.0.1:%d", o.temporalPort),
		TaskQueue: "chaos-ordered", APIAddr: o.apiAddr, LogDir: o.dataDir,
		RetrySchedule: oo.retry, DeliveryTimeout: o.timeout,
		Env:   []string{"ORDER_RECHECK_MAX=" + oo.recheckMax.String()},
		Split: true,
		Receivers: []ReceiverSpec{
			{Name: "ordered", FailPercent: fail, Ordered: true},
			{Name: "ordered-hold-slow", FailPercent: fail, Delay: 150 * time.Millisecond, Ordered: true, OnFailure: "hold"},
			{Name: "unordered", FailPercent: fail},
		},
		Seed: oo.seed, Rate: oo.rate, Keys: oo.keys, PerKey: oo.perKey, GiveUp: 2 * time.Minute,
		Warmup: 10 * time.Second,
		Steps: []Step{
			settle(KillWorker(2*time.Second), 15*time.Second),
			settle(KillAPI(2*time.Second), 10*time.Second),
			settle(pg.down(o.pgDown), 15*time.Second),
			settle(KillWorker(2*time.Second), 10*time.Second),
		},
		Tail:           5 * time.Second,
		ConvergeWithin: o.converge,
		Quiet:          5 * time.Second,
		Logf:           logf,
	})
	rep.Scenario = "ordered (delivery in order per key under crashes)"
	return report(rep, err, o, "an ordered key out of order or incomplete, a delivery lost or not succeeded, or no reordering in the control (see the table)")
}

// report prints and stores rep.
func report(rep *Report, err error, o options, failed string) (int, error) {
	rep.Versions = versions(o)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	rep.Print(os.Stdout)
	path, werr := rep.Write(o.out)
	if werr != nil {
		return 1, werr
	}
	logf("results written to %s", path)
	if rep.Failed() {
		return 1, errors.New(failed)
	}
	return 0, nil
}

// metricsAddr is the API's metrics address: the API port plus 2.
func metricsAddr(apiAddr string) string {
	host, port, err := net.SplitHostPort(apiAddr)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(n+2))
}

func settle(s Step, d time.Duration) Step {
	s.Settle = d
	return s
}

// temporal is the suite's Temporal dev server on a persistent SQLite file.
type temporal struct {
	cli          string
	port, uiPort int
	dir, db      string
	proc         *proc.Proc
}

func (t *temporal) start(ctx context.Context) error {
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(t.port),
		"--ui-port", strconv.Itoa(t.uiPort), "--log-level", "warn",
		"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
		"--dynamic-config-value", "system.enableEagerWorkflowStart=true",
		"--db-filename", t.db}
	for _, sa := range []string{"WebhookAccountId=Keyword", "WebhookEventType=Keyword", "WebhookTriggerSource=Keyword",
		"WebhookIds=KeywordList", "WebhookDeliveryStatus=Keyword", "WebhookThrottled=KeywordList"} {
		args = append(args, "--search-attribute", sa)
	}
	p, err := proc.Start("temporal", t.cli, args, proc.BaseEnv(), filepath.Join(t.dir, "temporal.log"))
	if err != nil {
		return err
	}
	t.proc = p
	// For scripts/chaos.sh's trap, should this program die without cleaning up.
	_ = os.WriteFile(filepath.Join(t.dir, "temporal.pid"), []byte(strconv.Itoa(p.PID())), 0o644)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p.Exited() {
			return fmt.Errorf("temporal exited:\n%s", p.Tail())
		}
		if t.healthy(ctx) {
			logf("Temporal dev server pid %d on 127.0.0.1:%d (%s)", p.PID(), t.port, t.db)
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("temporal not healthy within 90 s:\n%s", p.Tail())
}

func (t *temporal) healthy(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, t.cli, "operator", "cluster", "health", "--address", fmt.Sprintf("127.0.0.1:%d", t.port)).Run() == nil
}

func (t *temporal) kill9() error { return t.proc.Kill9() }

// restart is the step that kill -9s the dev server and starts it again on
// the same SQLite file.
func (t *temporal) restart() Step {
	return Step{Name: "kill -9 Temporal dev server, restart on the same SQLite file", Do: func(ctx context.Context, r *Run) error {
		if err := t.kill9(); err != nil {
			return err
		}
		time.Sleep(3 * time.Second)
		return t.start(ctx)
	}}
}

func (t *temporal) stop() {
	if t.proc != nil {
		t.proc.Stop(15 * time.Second)
	}
	_ = os.Remove(filepath.Join(t.dir, "temporal.pid"))
}

// postgres controls the suite's cluster with pg_ctl (as the postgres user
// when running as root, as scripts/stack.sh does).
type postgres struct{ dir string }

// down is the step that stops the cluster (immediate: no checkpoint, no
// goodbye to clients) for d, then starts it again.
func (p *postgres) down(d time.Duration) Step {
	return Step{Name: fmt.Sprintf("PostgreSQL stopped (immediate) for %s", d), Do: func(ctx context.Context, r *Run) error {
		if err := p.ctl("-m", "immediate", "stop"); err != nil {
			return err
		}
		sleep(ctx, d)
		return p.ctl("-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "60", "start")
	}}
}

func (p *postgres) ctl(args ...string) error {
	args = append([]string{"-D", p.dir}, args...)
	var cmd *exec.Cmd
	if os.Getuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", "pg_ctl"}, args...)...)
	} else {
		cmd = exec.Command("pg_ctl", args...)
	}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func versions(o options) map[string]string {
	v := map[string]string{"go": runtime.Version(), "cpus": strconv.Itoa(runtime.NumCPU())}
	if out, err := exec.Command(o.temporalCLI, "--version").Output(); err == nil {
		v["temporal"] = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		v["commit"] = strings.TrimSpace(string(out))
	}
	// The suite's own results (latest.json, rewritten by each scenario of
	// -scenario all) do not make the tree under test dirty.
	if out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs/results").Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
		v["commit"] += "-dirty"
	}
	return v
}
