package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
)

// ThrottleConfig is the throttle scenario: a webhook limited to
// MaxConcurrency requests in flight whose receiver answers after Delay
// gets Events events with no fault, then (a webhook of another account)
// Events events while one of the two worker processes is SIGKILLed once
// KillAfter of them arrived. It measures how fast the deliveries waiting
// for a slot resume, and what the crash costs.
type ThrottleConfig struct {
	Bin             string
	DatabaseURL     string
	TemporalAddress string
	TaskQueue       string
	APIAddr         string
	LogDir          string
	DeliveryTimeout string

	Events         int
	MaxConcurrency int
	Delay          time.Duration
	KillAfter      int           // deliveries arrived before the kill
	Within         time.Duration // bound on each run

	Logf func(format string, args ...any)
}

// ThrottleResult is what the throttle scenario measured. Rates are POSTs
// per second at the receiver; windows are 2 s long.
type ThrottleResult struct {
	Events         int     `json:"events"`
	MaxConcurrency int     `json:"maxConcurrency"`
	DelayMS        int64   `json:"answerDelayMs"`
	IdealPerS      float64 `json:"idealPostsPerS"` // MaxConcurrency / Delay

	NoFault ThrottleRun `json:"noFault"`
	Kill    ThrottleRun `json:"workerKill"`

	KillAtS        float64 `json:"killAtS"` // since the kill run's first POST
	PerSBeforeKill float64 `json:"postsPerSBeforeKill"`
	PerSFirst5s    float64 `json:"postsPerSFirst5sAfterKill"`
	PerSAfterKill  float64 `json:"postsPerSAfterKill"` // kill to the run's last POST
	MinWindowPerS  float64 `json:"minWindowPostsPerSAfterKill"`
	// Kill to the end of the first window after the trough back at ≥ 90 %
	// of the rate before the kill, and of IdealPerS (-1: never).
	RecoverS       float64 `json:"recoverS"`
	RecoverIdealS  float64 `json:"recoverIdealS"`
	RunTimeRatio   float64 `json:"runTimeRatio"`
	MaxInFlight    int     `json:"maxInFlight"`
	ExtraPosts     int     `json:"extraPostsFromCrash"`
	AttemptRows    int     `json:"attemptRows"`
	UnfinishedRows int     `json:"unfinishedAttemptRows"`
	ResentRows     int     `json:"resentAttemptRows"` // try > 1
	AllDelivered   bool    `json:"allDelivered"`
	KilledInFlight int     `json:"inFlightAtKill"`
}

// ThrottleRun is one run of Events events.
type ThrottleRun struct {
	DurationS   float64 `json:"durationS"` // first publish to every delivery succeeded
	PostsPerS   float64 `json:"postsPerS"` // first to last POST
	Posts       int     `json:"posts"`
	Delivered   int     `json:"delivered"` // distinct webhook-ids
	Succeeded   int     `json:"succeeded"` // in the delivery log
	MaxInFlight int     `json:"maxInFlight"`
	PerSecond   []int   `json:"postsPerSecond"` // from the first POST
}

// ExecuteThrottle runs the throttle scenario on a migrated (or empty)
// database: `webhookd api` and two `webhookd worker` processes. The caller
// owns Temporal and PostgreSQL.
func ExecuteThrottle(ctx context.Context, cfg ThrottleConfig) (rep *Report, err error) {
	res := &ThrottleResult{Events: cfg.Events, MaxConcurrency: cfg.MaxConcurrency, DelayMS: cfg.Delay.Milliseconds(),
		IdealPerS: float64(cfg.MaxConcurrency) / cfg.Delay.Seconds()}
	rep = &Report{StartedAt: time.Now().UTC(), Throttle: res,
		Settings: Settings{DeliveryTimeout: cfg.DeliveryTimeout}}
	start := time.Now()
	defer func() { rep.DurationS = round1(time.Since(start).Seconds()) }()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := append(proc.BaseEnv(),
		"DATABASE_URL="+cfg.DatabaseURL, "TEMPORAL_ADDRESS="+cfg.TemporalAddress,
		"TEMPORAL_TASK_QUEUE="+cfg.TaskQueue, "HTTP_ADDR="+cfg.APIAddr,
		"SECRETS_KEY="+hex.EncodeToString(key), "WEBHOOK_ALLOW_HTTP=true", "EGRESS_ALLOW_CIDRS=127.0.0.0/8",
		"DELIVERY_TIMEOUT="+cfg.DeliveryTimeout, "DATABASE_MAX_CONNS=10", "LOG_LEVEL=warn")
	wd := &Webhookd{Bin: cfg.Bin, Env: env, APIURL: "http://" + cfg.APIAddr, LogDir: cfg.LogDir}
	defer wd.StopAll()
	if _, err := proc.RunOnce(ctx, cfg.Bin, env, "migrate"); err != nil {
		return rep, err
	}
	db, err := sql.Open("postgres", cfg.DatabaseURL)
	if err != nil {
		return rep, err
	}
	defer db.Close()
	if err := wd.StartAPI(ctx); err != nil {
		return rep, err
	}
	if err := wd.StartWorker(ctx); err != nil {
		return rep, err
	}
	second, err := proc.Start("webhookd worker 2", cfg.Bin, []string{"worker"}, env, cfg.LogDir+"/webhookd-worker-2.log")
	if err != nil {
		return rep, err
	}
	defer second.Stop(15 * time.Second)

	tr := &throttleRun{cfg: cfg, db: db, wd: wd}
	// Warm up both workers (no limit, a few events), so the first run
	// measures the throttle, not fresh processes.
	warm := tr.cfg
	warm.Events, warm.MaxConcurrency, warm.Delay = 20, 100, 0
	if _, err := (&throttleRun{cfg: warm, db: db, wd: wd}).run(ctx, "warm-up", nil); err != nil {
		return rep, err
	}
	cfg.Logf("throttle: %d events, no fault", cfg.Events)
	base, err := tr.run(ctx, "nofault", nil)
	res.NoFault = base.summary()
	if err != nil {
		return rep, err
	}
	cfg.Logf("throttle: %d events, one of two workers SIGKILLed after %d arrived", cfg.Events, cfg.KillAfter)
	var inFlightAtKill int
	kill, err := tr.run(ctx, "kill", func(rc *timedReceiver) error {
		inFlightAtKill = rc.inFlightNow()
		return wd.Worker.Kill9()
	})
	res.Kill = kill.summary()
	res.KilledInFlight = inFlightAtKill
	if err != nil {
		return rep, err
	}
	res.measure(base, kill)
	res.AttemptRows, res.UnfinishedRows, res.ResentRows, err = attemptRows(ctx, db, kill.webhookID)
	return rep, err
}

// throttleRun makes the runs of the scenario.
type throttleRun struct {
	cfg ThrottleConfig
	db  *sql.DB
	wd  *Webhookd
}

// runOutcome is what one run recorded.
type runOutcome struct {
	webhookID string
	started   time.Time // first publish
	finished  time.Time // every delivery succeeded
	arrivals  []time.Time
	killAt    time.Time
	posts     int
	distinct  int
	succeeded int
	maxIn     int
}

// run publishes Events events to a new webhook (of a new account, so runs
// never share events), calls fault once KillAfter deliveries arrived (if
// fault is not nil), and waits until every delivery succeeded.
func (tr *throttleRun) run(ctx context.Context, name string, fault func(*timedReceiver) error) (runOutcome, error) {
	cfg := tr.cfg
	out := runOutcome{}
	acct, err := proc.CreateAccount(ctx, cfg.Bin, tr.wd.Env, "Throttle "+name+" "+time.Now().Format("150405.000"))
	if err != nil {
		return out, err
	}
	rc, err := startTimedReceiver(cfg.Delay)
	if err != nil {
		return out, err
	}
	defer rc.close()
	out.webhookID, err = createLimitedWebhook(ctx, tr.wd.APIURL, acct.APIKey, "throttle "+name, rc.url(), cfg.MaxConcurrency)
	if err != nil {
		return out, err
	}
	pub := &Publisher{APIURL: tr.wd.APIURL, Key: acct.APIKey, Prefix: "throttle-" + name + "-" + time.Now().Format("150405") + "-",
		Rate: 100, GiveUp: time.Minute, Max: cfg.Events}
	out.started = time.Now()
	go pub.Run(ctx, make(chan struct{}))

	ctx, cancel := context.WithTimeout(ctx, cfg.Within)
	defer cancel()
	for {
		if fault != nil && out.killAt.IsZero() && rc.distinct() >= cfg.KillAfter {
			out.killAt = time.Now()
			if err := fault(rc); err != nil {
				return out, err
			}
		}
		if out.succeeded, err = succeeded(ctx, tr.db, out.webhookID); err == nil && out.succeeded >= cfg.Events {
			out.finished = time.Now()
			break
		}
		select {
		case <-ctx.Done():
			out.arrivals, out.posts, out.distinct, out.maxIn = rc.stats()
			return out, fmt.Errorf("throttle run %s: %d of %d deliveries succeeded within %s", name, out.succeeded, cfg.Events, cfg.Within)
		case <-time.After(100 * time.Millisecond):
		}
	}
	sleep(ctx, 3*time.Second) // a late re-sent POST would show now
	out.arrivals, out.posts, out.distinct, out.maxIn = rc.stats()
	return out, nil
}

func (o runOutcome) summary() ThrottleRun {
	r := ThrottleRun{Posts: o.posts, Delivered: o.distinct, Succeeded: o.succeeded, MaxInFlight: o.maxIn}
	if !o.finished.IsZero() {
		r.DurationS = round2(o.finished.Sub(o.started).Seconds())
	}
	if n := len(o.arrivals); n > 1 {
		r.PostsPerS = round2(float64(n-1) / o.arrivals[n-1].Sub(o.arrivals[0]).Seconds())
		r.PerSecond = make([]int, int(o.arrivals[n-1].Sub(o.arrivals[0])/time.Second)+1)
		for _, t := range o.arrivals {
			r.PerSecond[int(t.Sub(o.arrivals[0])/time.Second)]++
		}
	}
	return r
}

// window is the length of the sliding windows rates are measured over.
const window = 2 * time.Second

// measure fills in the comparison of the kill run with the no-fault run.
func (res *ThrottleResult) measure(base, kill runOutcome) {
	res.MaxInFlight = max(base.maxIn, kill.maxIn)
	res.ExtraPosts = kill.posts - kill.distinct
	res.AllDelivered = base.succeeded == res.Events && kill.succeeded == res.Events && kill.distinct == res.Events
	if base.finished.IsZero() || kill.finished.IsZero() || len(kill.arrivals) < 2 || kill.killAt.IsZero() {
		return
	}
	res.RunTimeRatio = round2(kill.finished.Sub(kill.started).Seconds() / base.finished.Sub(base.started).Seconds())
	at, k := kill.arrivals, kill.killAt
	first, last := at[0], at[len(at)-1]
	res.KillAtS = round2(k.Sub(first).Seconds())
	res.PerSBeforeKill = round2(float64(count(at, first, k)) / k.Sub(first).Seconds())
	res.PerSFirst5s = round2(float64(count(at, k, k.Add(5*time.Second))) / 5)
	res.PerSAfterKill = round2(float64(count(at, k, last.Add(time.Nanosecond))) / last.Sub(k).Seconds())
	// The trough: the slowest window of the 15 s after the kill (while
	// the queue is still long); back: the end of the first window after
	// it at ≥ 90 % of the rate before the kill (and of the ideal rate).
	rate := func(t time.Time) float64 { return float64(count(at, t, t.Add(window))) / window.Seconds() }
	end := k.Add(15 * time.Second)
	if end.After(last.Add(-window)) {
		end = last.Add(-window)
	}
	minAt, minRate := k, rate(k)
	for t := k; !t.After(end); t = t.Add(100 * time.Millisecond) {
		if r := rate(t); r < minRate {
			minAt, minRate = t, r
		}
	}
	res.MinWindowPerS = round2(minRate)
	back := func(target float64) float64 {
		if minRate >= target {
			return 0 // no trough
		}
		for t := minAt; !t.After(last.Add(-window)); t = t.Add(100 * time.Millisecond) {
			if rate(t) >= target {
				return round2(t.Add(window).Sub(k).Seconds())
			}
		}
		return -1
	}
	res.RecoverS, res.RecoverIdealS = back(0.9*res.PerSBeforeKill), back(0.9*res.IdealPerS)
}

// count is how many of at fall in [from, to).
func count(at []time.Time, from, to time.Time) int {
	n := 0
	for _, t := range at {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// succeeded counts the webhook's succeeded deliveries.
func succeeded(ctx context.Context, db *sql.DB, webhookID string) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE webhook_id = $1 AND status = 'succeeded'`, webhookID).Scan(&n)
	return n, err
}

// attemptRows counts the webhook's attempt rows: all, unfinished (the
// worker died before recording the answer) and re-sent (try > 1).
func attemptRows(ctx context.Context, db *sql.DB, webhookID string) (all, unfinished, resent int, err error) {
	err = db.QueryRowContext(ctx, `
		SELECT count(*), count(*) FILTER (WHERE a.finished_at IS NULL), count(*) FILTER (WHERE a.try > 1)
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE d.webhook_id = $1`, webhookID).Scan(&all, &unfinished, &resent)
	return all, unfinished, resent, err
}

// createLimitedWebhook creates a webhook limited to maxConcurrency
// requests in flight and returns its id.
func createLimitedWebhook(ctx context.Context, apiURL, key, name, url string, maxConcurrency int) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"name": name, "url": url, "eventTypes": []string{EventType}, "triggerSources": []string{TriggerSource},
		"maxConcurrency": maxConcurrency,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+"/v1/webhooks", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var w struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST /v1/webhooks: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&w); err != nil || w.ID == "" {
		return "", fmt.Errorf("POST /v1/webhooks: no id (%v)", err)
	}
	return w.ID, nil
}

// timedReceiver answers every POST 200 after a delay, and records when
// each arrived, how many were in flight at most, and each webhook-id.
type timedReceiver struct {
	delay time.Duration
	srv   *http.Server
	addr  string

	mu       sync.Mutex
	at       []time.Time
	ids      map[string]int
	inFlight int
	maxIn    int
}

func startTimedReceiver(delay time.Duration) (*timedReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &timedReceiver{delay: delay, ids: map[string]int{}, addr: ln.Addr().String()}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *timedReceiver) url() string { return "http://" + r.addr + "/hook" }

func (r *timedReceiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.at = append(r.at, time.Now())
	r.ids[req.Header.Get("webhook-id")]++
	r.inFlight++
	r.maxIn = max(r.maxIn, r.inFlight)
	r.mu.Unlock()
	time.Sleep(r.delay)
	r.mu.Lock()
	r.inFlight--
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *timedReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func (r *timedReceiver) inFlightNow() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inFlight
}

func (r *timedReceiver) stats() (at []time.Time, posts, distinct, maxIn int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at = slices.Clone(r.at)
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	return at, len(r.at), len(r.ids), r.maxIn
}

func (r *timedReceiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}
