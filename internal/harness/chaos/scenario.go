package chaos

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/restclient"
)

// ReceiverSpec describes one webhook and its receiver.
type ReceiverSpec struct {
	Name        string
	FailFirst   int           // answer 500 to the first FailFirst POSTs of each webhook-id
	FailPercent int           // answer 500 to this share of all POSTs (Receiver.chosen)
	Delay       time.Duration // answer this late (below the delivery timeout, unless meant to time out)
	SlowPercent int           // only this share of POSTs answers Delay late (0: all)
	// Ordered makes the webhook ordered, with OnFailure as its
	// orderedOnFailure ("" : the default, continue).
	Ordered   bool
	OnFailure string
	// Webhook holds the webhook's other settings (custom headers, auth,
	// TLS, its own timeout, schedule and payload); Execute fills in the
	// name, URL, event types and ordering.
	Webhook restclient.WebhookInput
	// TLS makes the receiver serve https with this configuration (its
	// certificate, a client certificate required…); its URL then names
	// localhost.
	TLS *tls.Config
	// Expect checks each POST the receiver gets (headers, credentials,
	// client certificate, body) and says what is wrong, "" for nothing.
	Expect func(r *http.Request, body []byte) string
	// Note says in the report what the webhook has besides the above.
	Note string
	// Refusing, while true, makes the receiver answer 500 to every POST
	// (a receiver that fails for a while, then recovers).
	Refusing *atomic.Bool
}

// describe is the spec as the report shows it.
func (s ReceiverSpec) describe() string {
	if s.Note != "" {
		return s.describeNoted()
	}
	d := fmt.Sprintf("%s (500 to the first %d POSTs of each webhook-id, answers after %s)", s.Name, s.FailFirst, s.Delay)
	if s.FailPercent > 0 || s.Ordered {
		d = fmt.Sprintf("%s (500 to %d %% of POSTs, answers after %s, ordered %v %s)", s.Name, s.FailPercent, s.Delay, s.Ordered, s.OnFailure)
	}
	return d
}

// describeNoted is the description of a spec with a Note: what it sets,
// then the note.
func (s ReceiverSpec) describeNoted() string {
	var parts []string
	if s.FailFirst > 0 {
		parts = append(parts, fmt.Sprintf("500 to the first %d POSTs of each webhook-id", s.FailFirst))
	}
	if s.FailPercent > 0 {
		parts = append(parts, fmt.Sprintf("500 to %d %% of POSTs", s.FailPercent))
	}
	switch {
	case s.Delay > 0 && s.SlowPercent > 0:
		parts = append(parts, fmt.Sprintf("%d %% answered after %s", s.SlowPercent, s.Delay))
	case s.Delay > 0:
		parts = append(parts, fmt.Sprintf("answers after %s", s.Delay))
	}
	return s.Name + " (" + strings.Join(append(parts, s.Note), "; ") + ")"
}

// Step is one fault of a scenario. Do injects it (and repairs it: a step
// ends with the system whole again); Settle is the pause after it.
type Step struct {
	Name   string
	Do     func(ctx context.Context, r *Run) error
	Settle time.Duration
}

// Config is a scenario: the stack it drives, the load and the faults.
type Config struct {
	Bin             string // webhookd binary
	DatabaseURL     string // a migrated (or empty) database of the suite's own
	TemporalAddress string
	TaskQueue       string
	APIAddr         string // HTTP_ADDR of webhookd (127.0.0.1:port)
	MetricsAddr     string // METRICS_ADDR of the process serving the API; optional
	// APIRequestsPerSecond is RATE_LIMIT_REQUESTS_PER_SECOND (0: the default).
	APIRequestsPerSecond float64
	LogDir               string
	RetrySchedule        string // DELIVERY_RETRY_SCHEDULE
	DeliveryTimeout      string // DELIVERY_TIMEOUT
	// Env is more webhookd settings (KEY=value), after the ones above.
	Env []string
	// Split starts `webhookd api` and `webhookd worker` instead of serve.
	Split bool

	Receivers []ReceiverSpec
	Seed      uint64        // of the receivers' FailPercent answers
	Rate      float64       // events per second, published throughout
	MaxEvents int           // bound on the events published
	GiveUp    time.Duration // per event: stop retrying its publish after this
	Warmup    time.Duration // publishing before the first fault
	Steps     []Step
	Tail      time.Duration // publishing after the last fault
	// Keys > 0 publishes envelopes instead (KeyedPublisher): PerKey events
	// of each of at most Keys ordering keys, at Rate events per second;
	// MaxEvents is then unused, and the report checks each key's order
	// (CheckOrder).
	Keys, PerKey int
	// EventData is the data of the i-th event (nil: Publisher's default).
	EventData func(i int) map[string]any
	// Verify, when set, runs after the delivery check, the processes still
	// up, with what the run knows; its result joins the report
	// (the receivers scenario: ReceiversResult).
	Verify func(ctx context.Context, r *Run, in Input, accepted []string) *ReceiversResult
	// Setup, when set, runs once the webhooks exist, before publishing
	// (the notices scenario creates its notification channels).
	Setup func(ctx context.Context, r *Run) error
	// VerifyNotices, when set, runs after the delivery check like Verify
	// (the notices scenario: NoticesResult).
	VerifyNotices func(ctx context.Context, r *Run) *NoticesResult

	ConvergeWithin time.Duration // bound on the wait for convergence
	Quiet          time.Duration // receivers quiet this long (and nothing open) = converged

	Logf func(format string, args ...any)
}

// Run is a scenario in progress: what steps act on.
type Run struct {
	Cfg       Config
	Webhookd  *Webhookd
	Receivers Receivers
	ByName    map[string]*Receiver
	Account   proc.Account
	DB        *sql.DB
	Timeline  []Mark
	Soak      *SoakStats // set by a Soak step
	start     time.Time
}

// Mark is one fault on the timeline, in seconds since the start.
type Mark struct {
	Step  string  `json:"step"`
	At    float64 `json:"atS"`
	Until float64 `json:"untilS"`
	Error string  `json:"error,omitempty"`
}

// Logf logs through the configuration.
func (r *Run) Logf(format string, args ...any) {
	if r.Cfg.Logf != nil {
		r.Cfg.Logf(format, args...)
	}
}

// Report is the outcome of a scenario.
type Report struct {
	Scenario          string            `json:"scenario"`
	StartedAt         time.Time         `json:"startedAt"`
	Publish           PublishStats      `json:"publish"`
	EventsAccepted    int               `json:"eventsAccepted"`
	Result            Result            `json:"result"`
	Converged         bool              `json:"converged"`
	ConvergeAfterS    float64           `json:"convergeAfterLastFaultS"`
	DurationS         float64           `json:"durationS"`
	Timeline          []Mark            `json:"timeline"`
	Schema            Schema            `json:"attemptsSchema"`
	SignatureFailures int               `json:"signatureFailures"`
	Soak              *SoakStats        `json:"soak,omitempty"`
	Settings          Settings          `json:"settings"`
	Webhooks          map[string]string `json:"webhooks"` // receiver name → webhook id
	Errors            []string          `json:"errors,omitempty"`
	Versions          map[string]string `json:"versions,omitempty"`
	// Throttle is the throttle scenario's result (ExecuteThrottle); the
	// fields above about deliveries and receivers are then unused.
	Throttle *ThrottleResult `json:"throttle,omitempty"`
	// Order is each webhook's order check, when the run published keys.
	Order *OrderResult `json:"order,omitempty"`
	// Receivers is the receivers scenario's own checks (Config.Verify).
	Receivers *ReceiversResult `json:"receivers,omitempty"`
	// Notices is the notices scenario's own checks (Config.VerifyNotices).
	Notices *NoticesResult `json:"notices,omitempty"`
}

// Settings records the knobs of a run.
type Settings struct {
	Rate            float64  `json:"ratePerS"`
	RetrySchedule   string   `json:"retrySchedule"`
	DeliveryTimeout string   `json:"deliveryTimeout"`
	Env             []string `json:"env,omitempty"`
	Receivers       []string `json:"receivers"`
	Seed            uint64   `json:"seed,omitempty"`
	// SynchronousCommit is PostgreSQL's setting for the suite's database.
	SynchronousCommit string `json:"synchronousCommit"`
}

// Failed says whether the run must fail.
func (rep *Report) Failed() bool {
	if t := rep.Throttle; t != nil {
		return !t.AllDelivered || t.MaxInFlight > t.MaxConcurrency || len(rep.Errors) > 0
	}
	return !rep.Converged || rep.Result.Failed() || len(rep.Errors) > 0 || (rep.Soak != nil && rep.Soak.Failed()) ||
		(rep.Order != nil && rep.Order.Failed()) || (rep.Receivers != nil && rep.Receivers.Failed()) ||
		(rep.Notices != nil && rep.Notices.Failed())
}

// Execute runs a scenario: webhookd serve, an account, the webhooks, steady
// publishing through every step, convergence, and the check. The caller
// owns the Temporal server and PostgreSQL; Execute stops what it started.
func Execute(ctx context.Context, cfg Config) (rep *Report, err error) {
	rep = &Report{StartedAt: time.Now().UTC(), Settings: Settings{Rate: cfg.Rate, RetrySchedule: cfg.RetrySchedule,
		DeliveryTimeout: cfg.DeliveryTimeout, Env: redacted(cfg.Env), Seed: cfg.Seed}}
	for _, s := range cfg.Receivers {
		rep.Settings.Receivers = append(rep.Settings.Receivers, s.describe())
	}
	run := &Run{Cfg: cfg, ByName: map[string]*Receiver{}, start: time.Now()}
	defer func() { rep.DurationS = round1(time.Since(run.start).Seconds()) }()
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return rep, err
	}
	for _, s := range cfg.Receivers {
		r, err := StartReceiver(s, cfg.Seed)
		if err != nil {
			return rep, err
		}
		run.Receivers = append(run.Receivers, r)
		run.ByName[s.Name] = r
	}
	defer run.Receivers.Close()

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := append(proc.BaseEnv(),
		"DATABASE_URL="+cfg.DatabaseURL, "TEMPORAL_ADDRESS="+cfg.TemporalAddress,
		"TEMPORAL_TASK_QUEUE="+cfg.TaskQueue, "HTTP_ADDR="+cfg.APIAddr,
		"SECRETS_KEY="+hex.EncodeToString(key), "WEBHOOK_ALLOW_HTTP=true", "EGRESS_ALLOW_CIDRS=127.0.0.0/8",
		"DELIVERY_TIMEOUT="+cfg.DeliveryTimeout, "DELIVERY_RETRY_SCHEDULE="+cfg.RetrySchedule,
		"DATABASE_MAX_CONNS=10", "LOG_LEVEL=warn",
		// Check overdue deliveries against their workflow within the run's
		// convergence wait (a lost commit, say), not after the default 5m.
		"RECONCILE_AFTER=20s")
	if cfg.APIRequestsPerSecond > 0 {
		rps := strconv.FormatFloat(cfg.APIRequestsPerSecond, 'f', -1, 64)
		env = append(env, "RATE_LIMIT_REQUESTS_PER_SECOND="+rps, "RATE_LIMIT_REQUESTS_BURST="+rps)
	}
	env = append(env, cfg.Env...)
	wd := &Webhookd{Bin: cfg.Bin, Env: env, APIURL: "http://" + cfg.APIAddr, LogDir: cfg.LogDir, APIMetrics: cfg.MetricsAddr}
	run.Webhookd = wd
	defer wd.StopAll()

	if _, err := proc.RunOnce(ctx, cfg.Bin, env, "migrate"); err != nil {
		return rep, err
	}
	if run.Account, err = proc.CreateAccount(ctx, cfg.Bin, env, "Chaos "+time.Now().Format("150405.000")); err != nil {
		return rep, err
	}
	if run.DB, err = sql.Open("postgres", cfg.DatabaseURL); err != nil {
		return rep, err
	}
	defer run.DB.Close()
	_ = run.DB.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&rep.Settings.SynchronousCommit)
	if err := wd.startAll(ctx, cfg.Split); err != nil {
		return rep, err
	}
	for i, r := range run.Receivers {
		spec := cfg.Receivers[i]
		in := spec.Webhook
		in.Name, in.URL, in.Ordered, in.OrderedOnFailure = "chaos "+r.Name, r.URL(), spec.Ordered, spec.OnFailure
		id, secret, err := CreateWebhook(ctx, wd.APIURL, run.Account.APIKey, in)
		if err != nil {
			return rep, err
		}
		if err := r.Bind(id, secret); err != nil {
			return rep, err
		}
	}
	if cfg.Setup != nil {
		if err := cfg.Setup(ctx, run); err != nil {
			return rep, err
		}
	}
	run.Logf("account %s, %d webhooks, webhookd %s, API %s; logs in %s",
		run.Account.AccountID, len(run.Receivers), wd.describe(), wd.APIURL, cfg.LogDir)

	// Publish throughout.
	base := &Publisher{APIURL: wd.APIURL, Key: run.Account.APIKey, Prefix: "chaos-" + time.Now().Format("150405") + "-",
		Rate: cfg.Rate, GiveUp: cfg.GiveUp, Max: cfg.MaxEvents, Data: cfg.EventData}
	var pub publisher = base
	if cfg.Keys > 0 {
		pub = &KeyedPublisher{Publisher: base, Keys: cfg.Keys, PerKey: cfg.PerKey}
	}
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() { pub.Run(ctx, stopPub); close(pubDone) }()
	defer func() {
		select {
		case <-pubDone:
		default:
			close(stopPub)
			<-pubDone
		}
	}()

	sleep(ctx, cfg.Warmup)
	var lastFault time.Time
	for _, st := range cfg.Steps {
		if ctx.Err() != nil {
			break
		}
		m := Mark{Step: st.Name, At: round1(time.Since(run.start).Seconds())}
		run.Logf("fault: %s", st.Name)
		if err := st.Do(ctx, run); err != nil {
			m.Error = err.Error()
			rep.Errors = append(rep.Errors, st.Name+": "+err.Error())
			run.Logf("fault %s: %v", st.Name, err)
		}
		lastFault = time.Now()
		m.Until = round1(time.Since(run.start).Seconds())
		run.Timeline = append(run.Timeline, m)
		sleep(ctx, st.Settle)
	}
	if lastFault.IsZero() {
		lastFault = time.Now()
	}
	sleep(ctx, cfg.Tail)
	close(stopPub)
	<-pubDone
	rep.Publish = pub.Stats()
	accepted := pub.Accepted()
	rep.EventsAccepted = len(accepted)
	run.Logf("published %d events (%d accepted, %d never accepted, %d publish retries); waiting for convergence (at most %s)",
		rep.Publish.Published, rep.Publish.Accepted, rep.Publish.NeverAccept, rep.Publish.Retries, cfg.ConvergeWithin)

	// Converge: nothing undispatched or open, receivers quiet.
	rep.Converged = run.converge(ctx, cfg.ConvergeWithin, cfg.Quiet, len(accepted))
	if rep.Converged {
		rep.ConvergeAfterS = round1(time.Since(lastFault).Seconds())
	}

	// Check.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	dels, schema, err := LoadDeliveries(cctx, run.DB, run.Account.AccountID)
	if err != nil {
		return rep, fmt.Errorf("reading the delivery log: %w", err)
	}
	rep.Schema = schema
	in := Input{Deliveries: dels, Posts: run.Receivers.Posts()}
	for _, ev := range accepted {
		for _, r := range run.Receivers {
			in.Expected = append(in.Expected, Pair{EventID: ev, WebhookID: r.WebhookID()})
		}
	}
	rep.Result = Check(in)
	if cfg.Keys > 0 {
		stored, err := LoadSequences(cctx, run.DB, run.Account.AccountID)
		if err != nil {
			return rep, fmt.Errorf("reading the events' sequences: %w", err)
		}
		rep.Order = CheckOrder(OrderInput{Stored: stored, Published: accepted, Deliveries: dels,
			Hooks: orderHooks(cfg.Receivers, run.Receivers)})
	}
	if cfg.Verify != nil {
		// Its own bound: it reads the API, logs and Temporal histories.
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
		rep.Receivers = cfg.Verify(vctx, run, in, accepted)
		cancel()
	}
	if cfg.VerifyNotices != nil {
		// Its own bound: it waits for the last digest window to end.
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		rep.Notices = cfg.VerifyNotices(vctx, run)
		cancel()
	}
	rep.Webhooks = map[string]string{}
	for _, r := range run.Receivers {
		rep.Webhooks[r.Name] = r.WebhookID()
	}
	rep.SignatureFailures = run.Receivers.SigFailures()
	rep.Soak = run.Soak
	rep.Timeline = run.Timeline
	return rep, nil
}

// converge waits until every accepted event is recorded, no delivery is
// pending or retrying, and the receivers have been quiet for quiet.
func (r *Run) converge(ctx context.Context, within, quiet time.Duration, accepted int) bool {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	lastLog := time.Now()
	for {
		p, err := ReadProgress(ctx, r.DB, r.Account.AccountID)
		if err == nil && p.Events >= accepted && p.Undispatched == 0 && p.Open == 0 && r.Receivers.Quiet() >= quiet {
			return true
		}
		if time.Since(lastLog) >= 15*time.Second {
			r.Logf("converging: %d events, %d undispatched, %d deliveries open, receivers quiet %s (err %v)",
				p.Events, p.Undispatched, p.Open, r.Receivers.Quiet().Round(time.Second), err)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

// Common steps.

// KillServe kill -9s `webhookd serve` and starts it again after pause.
func KillServe(pause time.Duration) Step {
	return Step{Name: "kill -9 webhookd serve, restart", Do: func(ctx context.Context, r *Run) error {
		if err := r.Webhookd.Serve.Kill9(); err != nil {
			return err
		}
		sleep(ctx, pause)
		return r.Webhookd.StartServe(ctx)
	}}
}

// SplitMode replaces `serve` by `api` + `worker`.
func SplitMode() Step {
	return Step{Name: "switch to split mode (api + worker)", Do: func(ctx context.Context, r *Run) error {
		return r.Webhookd.SwitchToSplit(ctx)
	}}
}

// KillWorker kill -9s `webhookd worker` and starts it again after pause.
func KillWorker(pause time.Duration) Step {
	return Step{Name: "kill -9 webhookd worker, restart", Do: func(ctx context.Context, r *Run) error {
		if err := r.Webhookd.Worker.Kill9(); err != nil {
			return err
		}
		sleep(ctx, pause)
		return r.Webhookd.StartWorker(ctx)
	}}
}

// KillAPI kill -9s `webhookd api` and starts it again after pause.
func KillAPI(pause time.Duration) Step {
	return Step{Name: "kill -9 webhookd api, restart", Do: func(ctx context.Context, r *Run) error {
		if err := r.Webhookd.API.Kill9(); err != nil {
			return err
		}
		sleep(ctx, pause)
		return r.Webhookd.StartAPI(ctx)
	}}
}

// ReceiverDown closes a receiver's listener for d, then reopens it on the
// same port.
func ReceiverDown(name string, d time.Duration) Step {
	return Step{Name: fmt.Sprintf("receiver %s down %s", name, d), Do: func(ctx context.Context, r *Run) error {
		rc := r.ByName[name]
		if rc == nil {
			return fmt.Errorf("no receiver %q", name)
		}
		return downFor(ctx, rc, d)
	}}
}

// urlPassword is the password of a URL's userinfo (DELIVERY_PROXY_URL's).
var urlPassword = regexp.MustCompile(`(://[^:/@\s]+:)[^@\s]+@`)

// redacted is env with URL passwords as ***, for the report.
func redacted(env []string) []string {
	out := make([]string, len(env))
	for i, kv := range env {
		out[i] = urlPassword.ReplaceAllString(kv, "${1}***@")
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// short strips a long error for the table.
func short(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
