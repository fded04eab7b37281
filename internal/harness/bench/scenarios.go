package bench

// The scenarios. Each uses accounts of its own, so no webhook of one
// scenario matches another's events; every event is an ENVELOPE_SIGNER_SIGNED
// from saas_page, so the work per event is the same everywhere.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/edge/signing"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/restclient"
)

// bench holds what the scenarios share.
type bench struct {
	s      settings
	bin    string
	env    []string
	apiURL string
	wd     *webhookd
	hc     *http.Client
	rcv    *receiver
	slow   *slowReceiver
	fl     *floor
	mon    *monitor
	runID  string
	res    *results
	logf   func(format string, args ...any)
	// pprofAddr is webhookd's PPROF_ADDR (-profile), tPID the Temporal dev
	// server's pid.
	pprofAddr string
	tPID      int
}

// hookSet is an proc.Account and its webhooks as the receivers know them.
type hookSet struct {
	api     *apiClient
	keys    []string // healthy hook keys (receiver paths)
	ids     []string // healthy webhook ids
	slowIDs []string
}

// newAccount creates an proc.Account with healthy webhooks to the receiver and
// slow ones to the slow receiver.
func (b *bench) newAccount(ctx context.Context, name string, healthy, slow int) (*hookSet, error) {
	return b.newAccountWith(ctx, name, healthy, slow, restclient.WebhookInput{})
}

// newAccountWith is newAccount with webhooks made from base (its name, URL,
// event types and trigger sources are the bench's).
func (b *bench) newAccountWith(ctx context.Context, name string, healthy, slow int, base restclient.WebhookInput) (*hookSet, error) {
	acct, err := proc.CreateAccount(ctx, b.bin, b.env, "Bench "+name)
	if err != nil {
		return nil, err
	}
	hs := &hookSet{api: &apiClient{base: b.apiURL, key: acct.APIKey, hc: b.hc}}
	for i := 0; i < healthy+slow; i++ {
		key := fmt.Sprintf("%s-%s-%d", b.runID, name, i)
		url := b.rcv.url(key)
		if i >= healthy {
			url = b.slow.url(key)
		}
		in := base
		in.Name, in.URL, in.EventTypes, in.TriggerSources = fmt.Sprintf("%s %d", name, i), url, []string{eventType}, []string{triggerSource}
		w, err := hs.api.createWebhookWith(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("creating webhook %d of %s: %w", i, name, err)
		}
		if i >= healthy {
			hs.slowIDs = append(hs.slowIDs, w.ID)
			continue
		}
		if err := b.rcv.register(key, w.Secret); err != nil {
			return nil, err
		}
		hs.keys, hs.ids = append(hs.keys, key), append(hs.ids, w.ID)
	}
	return hs, nil
}

// floorTargets registers n floor hook keys with fresh secrets.
func (b *bench) floorTargets(name string, n int) ([]string, error) {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-floor-%s-%d", b.runID, name, i)
		secret, err := signing.NewSecret()
		if err != nil {
			return nil, err
		}
		if err := b.rcv.register(keys[i], secret); err != nil {
			return nil, err
		}
		b.fl.acts.setSecret(keys[i], secret)
	}
	return keys, nil
}

// load describes one measured phase.
type load struct {
	name   string
	system string // "ours", "floor" or "lean-floor"
	fixed  bool   // fixed rate (rate, dur) or saturation (n, conc)
	rate   float64
	dur    time.Duration
	n      int
	conc   int
	fanout int
	wait   time.Duration
	keys   []string        // hook keys whose deliveries count
	pub    publishFunc     // publishes event i
	expect func(i int) int // healthy deliveries of event i; fanout when nil
	// inspect describes event i as webhookd sees it (ours only), for
	// diagnosing an incomplete phase.
	inspect func(ctx context.Context, i int, id string) string
	// api is the client that published event i (ours only): one event's
	// workflow history is counted after the phase.
	api func(i int) *apiClient
	// profile: -profile profiles this phase.
	profile bool
}

// run runs a phase: publish, wait for the deliveries (bounded), summarize.
func (b *bench) run(ctx context.Context, ld load) measurement {
	prefix := fmt.Sprintf("%s-%s-", b.runID, ld.name)
	col := newCollector(prefix)
	b.rcv.collect(col, ld.keys...)
	cpu := b.mon.snapshot()
	var waits0 map[string]int
	if ld.api != nil {
		waits0 = b.wd.slotWaits(b.hc)
	}
	var prof *profiler
	if ld.profile && b.s.Profile != "" {
		prof = b.startProfile(ctx, ld.name)
	}
	var l *loadResult
	m := measurement{Name: ld.name, System: ld.system, Fanout: ld.fanout}
	if ld.fixed {
		m.Mode, m.OfferedRate = "fixed-rate", ld.rate
		b.logf("%-22s %s: %.0f events/s for %s", ld.name, ld.system, ld.rate, ld.dur)
		l = fixedRate(ctx, prefix, ld.rate, ld.dur, 512, ld.pub)
	} else {
		m.Mode, m.Concurrency = "saturation", ld.conc
		b.logf("%-22s %s: %d events, %d concurrent publishers, fan-out %d", ld.name, ld.system, ld.n, ld.conc, ld.fanout)
		l = saturate(ctx, prefix, ld.n, ld.conc, ld.pub)
	}
	expect := ld.expect
	if expect == nil {
		expect = func(int) int { return ld.fanout }
	}
	total := 0
	for i := 0; i < l.n; i++ {
		if !l.failed[i] {
			total += expect(i)
		}
	}
	ds := col.wait(ctx, total, ld.wait, b.s.Stall)
	m.CPUCores = b.mon.cpuSince(cpu)
	dups, strays := col.counts()
	m = summarize(m, l, ds, expect, dups, strays)
	if s := m.incomplete(); s != "" {
		b.logf("  %s (gave up after at most %s, or %s without progress)", s, ld.wait, b.s.Stall)
		b.diagnose(ctx, ld, l, ds, expect)
	}
	if m.PublishErrors > 0 {
		b.logf("  %d publish errors, first: %s", m.PublishErrors, m.FirstPublishError)
	}
	b.settle(ctx)
	if waits0 != nil {
		m.SlotWaits = slotWaitsSince(waits0, b.wd.slotWaits(b.hc))
	}
	m.CPUMs = withWebhookd(b.mon.cpuMsSince(cpu))
	m.CPUWindowSeconds = round2(time.Since(cpu.at).Seconds())
	m.CPUMsPerDelivery = perDelivery(m.CPUMs, m.Delivered)
	pd := m.CPUMsPerDelivery
	b.logf("  -> %.1f deliveries/s, latency p50 %.0f ms p99 %.0f ms; CPU ms per delivery: webhookd %.2f, temporal %.2f, postgres %.2f, total %.2f",
		m.DeliveriesPerS, m.LatencyMS.P50, m.LatencyMS.P99, pd["webhookd"], pd["temporal"], pd["postgres"], pd["total"])
	if w := m.SlotWaits; w != nil {
		b.logf("  queued at a full webhook: %d handed a slot in the worker, %d went on to wait in the workflow, %d found no room to wait",
			w["handed"], w["queued"], w["no_room"])
	}
	if prof != nil {
		if el := m.ElapsedSeconds; el < float64(b.s.ProfileSeconds) {
			b.logf("  profile: the phase lasted %.1f s, less than the %d s profile (raise -sat-events)", el, b.s.ProfileSeconds)
		}
		pr := prof.finish(ctx, m.Delivered)
		b.res.Profiles = append(b.res.Profiles, *pr)
		b.logf("  profile: postgres %.2f statement calls, %.3f ms executing and %.3f ms planning per delivery; files %v",
			pr.PgCallsPerDelivery, pr.PgExecMsPerDelivery, pr.PgPlanMsPerDelivery, pr.Files)
	}
	if ld.api != nil {
		for i := l.n / 2; i < l.n; i++ {
			if !l.failed[i] && expect(i) > 0 {
				m.History = b.sampleHistory(ctx, ld.api(i), eventID(prefix, i), expect(i))
				b.logf("  %s", m.History.line())
				break
			}
		}
	}
	b.res.Measurements = append(b.res.Measurements, m)
	return m
}

// slotWaitsSince is the slot waits between two readings, or nil when none
// happened (or the worker restarted between them).
func slotWaitsSince(before, after map[string]int) map[string]int {
	d, some := map[string]int{}, false
	for _, r := range slotResults {
		n := after[r] - before[r]
		if n < 0 {
			return nil
		}
		d[r], some = n, some || n > 0
	}
	if !some {
		return nil
	}
	return d
}

// diagnose logs how webhookd sees the first event whose deliveries did not
// all arrive.
func (b *bench) diagnose(ctx context.Context, ld load, l *loadResult, ds []delivery, expect func(int) int) {
	if ld.inspect == nil {
		return
	}
	got := map[string]int{}
	for _, d := range ds {
		got[d.eventID]++
	}
	for i := 0; i < l.n; i++ {
		id := eventID(l.prefix, i)
		if !l.failed[i] && got[id] < expect(i) {
			b.logf("  first undelivered event %s: %s", id, ld.inspect(ctx, i, id))
			return
		}
	}
}

func inspectWith(api func(i int) *apiClient) func(ctx context.Context, i int, id string) string {
	return func(ctx context.Context, i int, id string) string {
		var ev struct {
			WorkflowID string          `json:"workflowId"`
			Deliveries json.RawMessage `json:"deliveries"`
		}
		if err := api(i).call(ctx, http.MethodGet, "/v1/events/"+id, nil, &ev); err != nil {
			return err.Error()
		}
		d := string(ev.Deliveries)
		if len(d) > 600 {
			d = d[:600] + "..."
		}
		return fmt.Sprintf("workflow %s, deliveries %s", ev.WorkflowID, d)
	}
}

// settle lets trailing work (workflow completions, history writes) finish
// before the next phase.
func (b *bench) settle(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(b.s.Settle):
	}
}

func (b *bench) oursPub(hs *hookSet) publishFunc {
	return func(ctx context.Context, i int, id string) error { return hs.api.publish(ctx, id, eventData(i)) }
}

func (b *bench) floorPub(targets []string) publishFunc {
	return func(ctx context.Context, i int, id string) error { return b.fl.start(ctx, id, eventData(i), targets) }
}

func (b *bench) leanFloorPub(targets []string) publishFunc {
	return func(ctx context.Context, i int, id string) error {
		return b.fl.startLean(ctx, id, eventData(i), targets)
	}
}

// warmup delivers a few events through both paths so that connections,
// pollers and caches are warm; it fails when nothing gets through.
func (b *bench) warmup(ctx context.Context, ours *hookSet, floorKeys, leanKeys []string) error {
	for _, ld := range []load{
		{name: "warmup-ours", system: "ours", n: b.s.Warmup, conc: 4, fanout: 1, wait: 90 * time.Second, keys: ours.keys, pub: b.oursPub(ours), inspect: inspectWith(func(int) *apiClient { return ours.api })},
		{name: "warmup-floor", system: "floor", n: b.s.Warmup, conc: 4, fanout: 1, wait: 60 * time.Second, keys: floorKeys, pub: b.floorPub(floorKeys)},
		{name: "warmup-lean-floor", system: "lean-floor", n: b.s.Warmup, conc: 4, fanout: 1, wait: 60 * time.Second, keys: leanKeys, pub: b.leanFloorPub(leanKeys)},
	} {
		m := b.run(ctx, ld)
		b.res.Measurements = b.res.Measurements[:len(b.res.Measurements)-1] // not a result
		if !m.Complete {
			return fmt.Errorf("%s: %s (first publish error: %s)", ld.name, m.incomplete(), m.FirstPublishError)
		}
	}
	return nil
}

// oneToOne is scenario 1 and its floors: fixed rate and saturation.
func (b *bench) oneToOne(ctx context.Context, hs *hookSet, floorKeys, leanKeys []string) {
	s := b.s
	lean := s.Floor && s.LeanFloor
	if s.want("fixed") {
		if s.Floor {
			b.run(ctx, load{name: "floor-fixed", system: "floor", fixed: true, rate: s.Rate, dur: s.RateDuration, fanout: 1, wait: s.Wait, keys: floorKeys, pub: b.floorPub(floorKeys)})
		}
		if lean {
			b.run(ctx, load{name: "lean-floor-fixed", system: "lean-floor", fixed: true, rate: s.Rate, dur: s.RateDuration, fanout: 1, wait: s.Wait, keys: leanKeys, pub: b.leanFloorPub(leanKeys)})
		}
		b.run(ctx, load{name: "s1-fixed", system: "ours", fixed: true, rate: s.Rate, dur: s.RateDuration, fanout: 1, wait: s.Wait, keys: hs.keys, pub: b.oursPub(hs), inspect: inspectWith(func(int) *apiClient { return hs.api }), api: func(int) *apiClient { return hs.api }})
	}
	if s.want("saturation") {
		if s.Floor {
			b.run(ctx, load{name: "floor-saturation", system: "floor", n: s.SatEvents, conc: s.Concurrency, fanout: 1, wait: s.Wait, keys: floorKeys, pub: b.floorPub(floorKeys)})
		}
		if lean {
			b.run(ctx, load{name: "lean-floor-saturation", system: "lean-floor", n: s.SatEvents, conc: s.Concurrency, fanout: 1, wait: s.Wait, keys: leanKeys, pub: b.leanFloorPub(leanKeys)})
		}
		b.run(ctx, load{name: "s1-saturation", system: "ours", n: s.SatEvents, conc: s.Concurrency, fanout: 1, wait: s.Wait, keys: hs.keys, pub: b.oursPub(hs), inspect: inspectWith(func(int) *apiClient { return hs.api }), api: func(int) *apiClient { return hs.api }, profile: true})
	}
}

// fanout is scenario 2: k matching webhooks per event, ours and floor.
func (b *bench) fanout(ctx context.Context, k, events int) error {
	name := fmt.Sprintf("fanout%d", k)
	hs, err := b.newAccount(ctx, name, k, 0)
	if err != nil {
		return err
	}
	fk, err := b.floorTargets(name, k)
	if err != nil {
		return err
	}
	s := b.s
	// The floor's 1,000-target workflow is not measured: the fan-out curve
	// is ours, and the floor's fan-out shape is known from 10 and 100.
	if s.FloorFanout && s.Floor && k <= 100 {
		b.run(ctx, load{name: "floor-" + name, system: "floor", n: events, conc: s.Concurrency, fanout: k, wait: s.Wait, keys: fk, pub: b.floorPub(fk)})
	}
	b.run(ctx, load{name: "s2-" + name, system: "ours", n: events, conc: s.Concurrency, fanout: k, wait: s.Wait, keys: hs.keys, pub: b.oursPub(hs), inspect: inspectWith(func(int) *apiClient { return hs.api }), api: func(int) *apiClient { return hs.api }})
	return nil
}

// isolation is scenario 3: IsoWebhooks accounts with one webhook each, a
// tenth of them pointing at the slow receiver; events go round-robin at
// scenario 1's fixed rate, so healthy webhooks see one-to-one traffic.
func (b *bench) isolation(ctx context.Context) error {
	s := b.s
	n := s.IsoWebhooks
	slow := max(1, n*s.IsoSlowPercent/100)
	sets := make([]*hookSet, n)
	var keys []string
	for i := range sets {
		healthy, sl := 1, 0
		if i < slow {
			healthy, sl = 0, 1
		}
		hs, err := b.newAccount(ctx, fmt.Sprintf("iso%d", i), healthy, sl)
		if err != nil {
			return err
		}
		sets[i] = hs
		keys = append(keys, hs.keys...)
	}
	hitsBefore := b.slow.hits.Load()
	b.run(ctx, load{
		name: "s3-isolation", system: "ours", fixed: true, rate: s.Rate, dur: s.RateDuration, fanout: 1, wait: s.Wait, keys: keys,
		pub: func(ctx context.Context, i int, id string) error {
			return sets[i%n].api.publish(ctx, id, eventData(i))
		},
		inspect: inspectWith(func(i int) *apiClient { return sets[i%n].api }),
		api:     func(i int) *apiClient { return sets[i%n].api },
		expect: func(i int) int {
			if i%n < slow {
				return 0
			}
			return 1
		},
	})
	b.res.IsolationSlowHits = b.slow.hits.Load() - hitsBefore
	b.res.IsolationSlowWebhooks = slow
	// Stop the slow webhooks' retries so they do not load later scenarios.
	for _, hs := range sets[:slow] {
		for _, id := range hs.slowIDs {
			if err := hs.api.disableWebhook(ctx, id); err != nil {
				b.logf("  disabling slow webhook: %v", err)
			}
		}
	}
	return nil
}

// backlog is scenario 4: many events as fast as the API takes them.
func (b *bench) backlog(ctx context.Context) error {
	hs, err := b.newAccount(ctx, "backlog", 1, 0)
	if err != nil {
		return err
	}
	s := b.s
	b.run(ctx, load{name: "s4-backlog", system: "ours", n: s.BacklogEvents, conc: s.BacklogConcurrency, fanout: 1, wait: s.BacklogWait, keys: hs.keys, pub: b.oursPub(hs), inspect: inspectWith(func(int) *apiClient { return hs.api }), api: func(int) *apiClient { return hs.api }})
	return nil
}

// ordered is scenario 6: OrderedKeys envelopes of OrderedPerKey events
// each, a key's events published back to back (so they are in flight
// together and the later ones wait their turn), first to a webhook that is
// not ordered, then (another account, the same events) to an ordered one:
// what taking turns costs a delivery.
func (b *bench) ordered(ctx context.Context) error {
	s := b.s
	for _, ordered := range []bool{false, true} {
		name := "s6-keyed-unordered"
		if ordered {
			name = "s6-keyed-ordered"
		}
		hs, err := b.newAccountWith(ctx, name, 1, 0, restclient.WebhookInput{Ordered: ordered})
		if err != nil {
			return err
		}
		per := s.OrderedPerKey
		b.run(ctx, load{name: name, system: "ours", n: s.OrderedKeys * per, conc: s.Concurrency, fanout: 1, wait: s.BacklogWait, keys: hs.keys,
			pub: func(ctx context.Context, i int, id string) error {
				return hs.api.publishKeyed(ctx, id, fmt.Sprintf("env_%06d", i/per), eventData(i))
			},
			inspect: inspectWith(func(int) *apiClient { return hs.api }), api: func(int) *apiClient { return hs.api }})
	}
	return nil
}

// mgmtResult is one management API operation under load.
type mgmtResult struct {
	Op          string `json:"op"`
	Concurrency int    `json:"concurrency"`
	Requests    int    `json:"requests"`
	Errors      int    `json:"errors"`
	FirstError  string `json:"firstError,omitempty"`
	// Limited counts 429s: the bench keeps the API's default per-key
	// request limit (RATE_LIMIT_REQUESTS_PER_SECOND), which caps one key.
	Limited   int                `json:"limited"`
	Seconds   float64            `json:"seconds"`
	RatePerS  float64            `json:"requestsPerS"`
	LatencyMS pct                `json:"latencyMs"`
	CPUCores  map[string]float64 `json:"cpuCores"`
}

// management is scenario 5: list, get and create webhooks.
func (b *bench) management(ctx context.Context) error {
	hs, err := b.newAccount(ctx, "mgmt", 25, 0)
	if err != nil {
		return err
	}
	var created sync.Mutex
	seq := 0
	ops := []struct {
		name string
		do   func(ctx context.Context, i int) error
	}{
		{"list webhooks", func(ctx context.Context, i int) error {
			return hs.api.callOnce(ctx, http.MethodGet, "/v1/webhooks?limit=20", nil, nil)
		}},
		{"get webhook", func(ctx context.Context, i int) error {
			return hs.api.callOnce(ctx, http.MethodGet, "/v1/webhooks/"+hs.ids[i%len(hs.ids)], nil, nil)
		}},
		{"create webhook", func(ctx context.Context, i int) error {
			created.Lock()
			seq++
			n := seq
			created.Unlock()
			return hs.api.callOnce(ctx, http.MethodPost, "/v1/webhooks", restclient.WebhookInput{
				Name: fmt.Sprintf("mgmt-created-%d", n), URL: b.rcv.url("mgmt-unused"),
				EventTypes: []string{eventType}, TriggerSources: []string{triggerSource},
			}, nil)
		}},
	}
	for _, op := range ops {
		b.logf("%-22s %s for %s, %d concurrent clients", "s5-management", op.name, b.s.MgmtDuration, b.s.MgmtConcurrency)
		r := b.hammer(ctx, op.name, op.do)
		b.logf("  -> %.0f requests/s, p99 %.1f ms, %d errors, %d refused by the per-key limit (429)", r.RatePerS, r.LatencyMS.P99, r.Errors, r.Limited)
		b.res.Management = append(b.res.Management, r)
	}
	return nil
}

// hammer runs do from MgmtConcurrency clients for MgmtDuration (and at most
// 200,000 requests). Requests in flight at the end complete and count.
func (b *bench) hammer(ctx context.Context, op string, do func(ctx context.Context, i int) error) mgmtResult {
	const maxRequests = 200_000
	var mu sync.Mutex
	var lat []time.Duration
	r := mgmtResult{Op: op, Concurrency: b.s.MgmtConcurrency}
	var wg sync.WaitGroup
	next := 0
	cpu := b.mon.snapshot()
	begin := time.Now()
	stopAt := begin.Add(b.s.MgmtDuration)
	for c := 0; c < b.s.MgmtConcurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(stopAt) {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= maxRequests {
					return
				}
				start := time.Now()
				err := do(ctx, i)
				d := time.Since(start)
				mu.Lock()
				if limitedFor(err) > 0 {
					r.Limited++
				} else if err != nil {
					r.Errors++
					if r.FirstError == "" {
						r.FirstError = err.Error()
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(begin).Seconds()
	r.CPUCores = b.mon.cpuSince(cpu)
	r.Requests = len(lat) + r.Errors + r.Limited
	r.Seconds = round2(wall)
	r.RatePerS = round2(float64(len(lat)) / wall)
	r.LatencyMS = percentiles(lat)
	return r
}
