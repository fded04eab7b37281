package bench

// The storm phase, from the fan-out storm issue: ONE event for up to 1,000
// webhooks of one Professional proc.Account (the per-proc.Account webhook limit),
// every receiver answering 500 for the whole schedule, with the retry
// schedule shortened to 16 short waits. Every receiver should get exactly
// 17 POSTs (the first attempt and 16 retries), the event workflow should
// complete, and its history and those of its DeliverBatch children
// (<event workflow id>/batch-<k>, 25 deliveries each) should stay bounded.
//
// It needs webhookd started with DELIVERY_RETRY_SCHEDULE shortened, so it
// restarts webhookd with that setting and runs last.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

const (
	stormRetries   = 16 // waits in the shortened schedule
	stormEventType = "ENVELOPE_FINISH"
	maxStormHooks  = 1000 // the API's per-proc.Account webhook limit
)

// stormCounter counts the POSTs of the storm's receivers.
type stormCounter struct {
	mu          sync.Mutex
	byKey       map[string]int // receiver (one webhook each)
	byID        map[string]int // webhook-id header (one delivery each)
	posts       int
	first, last time.Time
}

func newStormCounter() *stormCounter {
	return &stormCounter{byKey: map[string]int{}, byID: map[string]int{}}
}

func (sc *stormCounter) record(key, msgID string, at time.Time) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.byKey[key]++
	sc.byID[msgID]++
	sc.posts++
	if sc.first.IsZero() || at.Before(sc.first) {
		sc.first = at
	}
	if at.After(sc.last) {
		sc.last = at
	}
}

// stormResult is the storm phase in the JSON file.
type stormResult struct {
	Webhooks      int     `json:"webhooks"`
	RetrySchedule string  `json:"retrySchedule"`
	EventID       string  `json:"eventId"`
	WorkflowID    string  `json:"workflowId"`
	SetupSeconds  float64 `json:"setupSeconds"` // restart, proc.Account and webhooks
	PhaseSeconds  float64 `json:"phaseSeconds"` // publish start → event workflow closed (or gave up)

	ExpectedPostsPerReceiver int            `json:"expectedPostsPerReceiver"`
	Posts                    int            `json:"posts"`
	ExpectedPosts            int            `json:"expectedPosts"`
	FirstPostSeconds         float64        `json:"firstPostSeconds"` // after publish start
	LastPostSeconds          float64        `json:"lastPostSeconds"`
	AttemptsPerS             float64        `json:"attemptsPerS"` // posts / (last POST - publish start)
	PostsPerReceiverMin      int            `json:"postsPerReceiverMin"`
	PostsPerReceiverMax      int            `json:"postsPerReceiverMax"`
	PostsPerReceiverCounts   map[string]int `json:"postsPerReceiverCounts"` // POSTs → receivers that got that many
	ReceiversWithoutPosts    int            `json:"receiversWithoutPosts"`
	Duplicates               int            `json:"duplicatePosts"` // POSTs beyond the expected 17, summed over receivers
	WebhookIDs               int            `json:"webhookIds"`
	WebhookIDsOtherCount     int            `json:"webhookIdsWithOtherCount"` // webhook-ids not POSTed exactly 17 times
	AsExpected               bool           `json:"asExpected"`

	EventCompleted   bool           `json:"eventCompleted"`
	EventStatus      string         `json:"eventStatus"`
	EventError       string         `json:"eventError,omitempty"`
	EventSeconds     float64        `json:"eventSeconds,omitempty"` // publish start → workflow completed
	ResultDeliveries int            `json:"resultDeliveries"`
	ResultStatuses   map[string]int `json:"resultStatuses"`
	ResultAttempts   map[string]int `json:"resultAttempts"` // attempts → deliveries, as the workflow result reports them

	HistoryEvent         int    `json:"historyEventsEventWorkflow"`
	BatchChildren        int    `json:"batchChildren"`
	HistoryLargestChild  int    `json:"historyEventsLargestChild"`
	HistoryChildrenTotal int    `json:"historyEventsChildrenTotal"`
	HistoryError         string `json:"historyError,omitempty"`

	CPUMs           map[string]float64 `json:"cpuMs"`           // over the phase
	CPUCores        map[string]float64 `json:"cpuCores"`        // CPU seconds per wall second of the phase
	CPUMsPerAttempt map[string]float64 `json:"cpuMsPerAttempt"` // cpuMs / posts
	// CPUMsPerDelivery is cpuMs / posts with the keys of every other phase
	// (webhookd, temporal, postgres, total, bench): a storm "delivery" is
	// one attempt (one POST).
	CPUMsPerDelivery map[string]float64 `json:"cpuMsPerDelivery"`
	Note             string             `json:"note"`
}

// storm runs the storm phase: restart webhookd with the short schedule,
// create the webhooks, publish one event, wait for its workflow to close,
// count.
func (b *bench) storm(ctx context.Context) error {
	s := b.s
	n := s.StormWebhooks
	sched := strings.TrimSuffix(strings.Repeat(s.StormRetryWait.String()+",", stormRetries), ",")
	r := &stormResult{
		Webhooks: n, RetrySchedule: sched, ExpectedPostsPerReceiver: stormRetries + 1, ExpectedPosts: n * (stormRetries + 1),
		Note: "POSTs counted at the receivers (signatures verified, every one answered 500); history events counted with the SDK's GetWorkflowHistory iterator",
	}
	b.res.Storm = r
	setup := time.Now()
	b.logf("%-22s restarting webhookd with DELIVERY_RETRY_SCHEDULE=%s×%d", "storm", s.StormRetryWait, stormRetries)
	var names []string
	for _, c := range b.wd.components() {
		names = append(names, c.Name)
	}
	b.mon.retire(names...)
	err := b.wd.restart(ctx, "storm", []string{"DELIVERY_RETRY_SCHEDULE=" + sched})
	b.mon.replace(b.wd.components())
	if err != nil {
		return fmt.Errorf("storm: restarting webhookd: %w", err)
	}

	acct, err := proc.CreateAccount(ctx, b.bin, b.env, "Bench storm")
	if err != nil {
		return fmt.Errorf("storm: %w", err)
	}
	api := &apiClient{base: b.apiURL, key: acct.APIKey, hc: b.hc}
	sc := newStormCounter()
	keys := make([]string, n)
	b.logf("%-22s creating %d webhooks (%s) in one account", "storm", n, stormEventType)
	if err := b.stormHooks(ctx, api, sc, keys); err != nil {
		return fmt.Errorf("storm: %w", err)
	}
	r.SetupSeconds = round2(time.Since(setup).Seconds())
	b.logf("  set up in %.1f s", r.SetupSeconds)
	b.settle(ctx)

	// The phase: one event, until its workflow closes.
	r.EventID = fmt.Sprintf("%s-storm-0", b.runID)
	b.logf("%-22s one %s event to %d webhooks answering 500; waiting up to %s", "storm", stormEventType, n, s.StormTimeout)
	cpu := b.mon.snapshot()
	start := time.Now()
	p, err := api.publishType(ctx, r.EventID, stormEventType, eventData(0))
	if err != nil {
		return fmt.Errorf("storm: publishing: %w", err)
	}
	r.WorkflowID = p.WorkflowID
	if r.WorkflowID == "" {
		r.WorkflowID = flow.EventWorkflowID(acct.AccountID, r.EventID)
	}
	b.stormWait(ctx, r, start)
	end := time.Now()
	wall := end.Sub(start).Seconds()
	r.PhaseSeconds = round2(wall)
	r.CPUMs, r.CPUCores, r.CPUMsPerAttempt = map[string]float64{}, map[string]float64{}, map[string]float64{}
	for name, v := range b.mon.cpuMsSince(cpu) {
		r.CPUMs[name] = round2(v)
		r.CPUCores[name] = round2(v / 1000 / wall)
	}

	stormCount(r, sc, keys, start)
	r.CPUMs = withWebhookd(r.CPUMs)
	for name, v := range r.CPUMs {
		if r.Posts > 0 {
			r.CPUMsPerAttempt[name] = round2(v / float64(r.Posts))
		}
	}
	r.CPUMsPerDelivery = perDelivery(r.CPUMs, r.Posts)
	b.stormHistories(ctx, r)
	b.logf("  -> %d POSTs (%d expected) in %.1f s: %.0f attempts/s; per receiver min %d max %d, %d duplicates; event %s after %.1f s",
		r.Posts, r.ExpectedPosts, r.LastPostSeconds, r.AttemptsPerS, r.PostsPerReceiverMin, r.PostsPerReceiverMax, r.Duplicates, r.EventStatus, r.EventSeconds)
	b.logf("  -> history events: event workflow %d; %d batch children, largest %d, total %d", r.HistoryEvent, r.BatchChildren, r.HistoryLargestChild, r.HistoryChildrenTotal)
	return nil
}

// stormHooks creates one webhook per key (8 at a time), each with its own
// receiver path that fails every POST into sc.
func (b *bench) stormHooks(ctx context.Context, api *apiClient, sc *stormCounter, keys []string) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				key := fmt.Sprintf("%s-storm-%d", b.runID, i)
				w, err := api.createWebhookFor(ctx, fmt.Sprintf("storm %d", i), b.rcv.url(key), stormEventType)
				if err == nil {
					err = b.rcv.register(key, w.Secret)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("webhook %d: %w", i, err))
					mu.Unlock()
					continue
				}
				b.rcv.failInto(sc, key)
				keys[i] = key
			}
		}()
	}
	for i := range keys {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("creating webhooks: %d failed, first: %w", len(errs), errs[0])
	}
	return ctx.Err()
}

// stormWait waits (at most StormTimeout) for the event workflow to close.
func (b *bench) stormWait(ctx context.Context, r *stormResult, start time.Time) {
	wctx, cancel := context.WithTimeout(ctx, b.s.StormTimeout)
	defer cancel()
	var res flow.Result
	for {
		err := b.fl.tc.GetWorkflow(wctx, r.WorkflowID, "").Get(wctx, &res)
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) && wctx.Err() == nil {
			// Not started yet (the dispatcher starts it from PostgreSQL).
			select {
			case <-wctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if err == nil {
			r.EventCompleted, r.EventStatus = true, "completed"
			r.EventSeconds = round2(time.Since(start).Seconds())
		} else {
			r.EventError = err.Error()
		}
		break
	}
	if !r.EventCompleted {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		if d, err := b.fl.tc.DescribeWorkflow(dctx, r.WorkflowID, ""); err == nil {
			r.EventStatus = strings.ToLower(strings.TrimPrefix(d.RawResponse.GetWorkflowExecutionInfo().GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))
		} else {
			r.EventStatus = "unknown: " + err.Error()
		}
	}
	r.ResultDeliveries = len(res.Deliveries)
	r.ResultStatuses, r.ResultAttempts = map[string]int{}, map[string]int{}
	for _, d := range res.Deliveries {
		r.ResultStatuses[string(d.Status)]++
		r.ResultAttempts[strconv.Itoa(d.Attempts)]++
	}
}

// stormCount fills the POST counts of r from sc.
func stormCount(r *stormResult, sc *stormCounter, keys []string, start time.Time) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	want := r.ExpectedPostsPerReceiver
	r.Posts = sc.posts
	r.PostsPerReceiverCounts = map[string]int{}
	r.PostsPerReceiverMin = -1
	for _, k := range keys {
		c := sc.byKey[k]
		if r.PostsPerReceiverMin < 0 || c < r.PostsPerReceiverMin {
			r.PostsPerReceiverMin = c
		}
		r.PostsPerReceiverMax = max(r.PostsPerReceiverMax, c)
		r.PostsPerReceiverCounts[strconv.Itoa(c)]++
		if c == 0 {
			r.ReceiversWithoutPosts++
		}
		r.Duplicates += max(0, c-want)
	}
	r.PostsPerReceiverMin = max(0, r.PostsPerReceiverMin)
	r.WebhookIDs = len(sc.byID)
	for _, c := range sc.byID {
		if c != want {
			r.WebhookIDsOtherCount++
		}
	}
	if !sc.first.IsZero() {
		r.FirstPostSeconds = round2(sc.first.Sub(start).Seconds())
		r.LastPostSeconds = round2(sc.last.Sub(start).Seconds())
		if el := sc.last.Sub(start).Seconds(); el > 0 {
			r.AttemptsPerS = round2(float64(sc.posts) / el)
		}
	}
	r.AsExpected = r.PostsPerReceiverMin == want && r.PostsPerReceiverMax == want &&
		r.WebhookIDs == r.Webhooks && r.WebhookIDsOtherCount == 0
}

// stormHistories counts the history events of the event workflow and of
// each of its batch children, <id>/batch-1, -2, ... until one is missing.
func (b *bench) stormHistories(ctx context.Context, r *stormResult) {
	hctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var err error
	if r.HistoryEvent, err = historyLength(hctx, b.fl.tc, r.WorkflowID); err != nil {
		r.HistoryError = err.Error()
		return
	}
	for k := 1; ; k++ {
		id := flow.BatchWorkflowID(r.WorkflowID, k)
		if _, err := b.fl.tc.DescribeWorkflow(hctx, id, ""); err != nil {
			var nf *serviceerror.NotFound
			if !errors.As(err, &nf) {
				r.HistoryError = fmt.Sprintf("describing %s: %v", id, err)
			}
			return
		}
		h, err := historyLength(hctx, b.fl.tc, id)
		if err != nil {
			r.HistoryError = err.Error()
			return
		}
		r.BatchChildren++
		r.HistoryLargestChild = max(r.HistoryLargestChild, h)
		r.HistoryChildrenTotal += h
	}
}

// historyLength counts the events of a workflow's (latest run's) history.
func historyLength(ctx context.Context, tc client.Client, workflowID string) (int, error) {
	it := tc.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			return n, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		n++
	}
	return n, nil
}

// printStorm prints the storm phase.
func printStorm(out io.Writer, r *stormResult) {
	if r == nil {
		return
	}
	fmt.Fprintf(out, "\nStorm: one %s event to %d webhooks of one proc.Account, every POST answered 500; retry schedule %d × %s\n",
		stormEventType, r.Webhooks, stormRetries, strings.SplitN(r.RetrySchedule, ",", 2)[0])
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	row := func(label, v string) { fmt.Fprintf(tw, "%s\t%s\t\n", label, v) }
	row("attempts POSTed / expected", fmt.Sprintf("%d / %d", r.Posts, r.ExpectedPosts))
	row("attempts/s (publish → last POST)", fmt.Sprintf("%.1f (last POST after %.1f s)", r.AttemptsPerS, r.LastPostSeconds))
	row("POSTs per receiver min / max (want 17)", fmt.Sprintf("%d / %d", r.PostsPerReceiverMin, r.PostsPerReceiverMax))
	row("duplicate POSTs (beyond 17)", strconv.Itoa(r.Duplicates))
	row("webhook-ids seen / with a count other than 17", fmt.Sprintf("%d / %d", r.WebhookIDs, r.WebhookIDsOtherCount))
	row("as expected", map[bool]string{true: "yes", false: "NO"}[r.AsExpected])
	ev := r.EventStatus
	if r.EventCompleted {
		ev = fmt.Sprintf("completed after %.1f s", r.EventSeconds)
	} else if r.EventError != "" {
		ev += ": " + r.EventError
	}
	row("event workflow", ev)
	row("history events: event workflow", strconv.Itoa(r.HistoryEvent))
	row("history events: batch children / largest / total", fmt.Sprintf("%d / %d / %d", r.BatchChildren, r.HistoryLargestChild, r.HistoryChildrenTotal))
	if r.HistoryError != "" {
		row("history error", r.HistoryError)
	}
	names := make([]string, 0, len(r.CPUMsPerAttempt))
	for k := range r.CPUMsPerAttempt {
		names = append(names, k)
	}
	sort.Strings(names)
	var cells []string
	for _, k := range names {
		cells = append(cells, fmt.Sprintf("%s %.2f", k, r.CPUMsPerAttempt[k]))
	}
	row("CPU ms per attempt", strings.Join(cells, ", "))
	tw.Flush()
}
