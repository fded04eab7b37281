package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/harness/proc"
)

// The tests in this file run the production topology: one `webhookd api`
// and two `webhookd worker` processes (the real binary) on one task queue.
// They need a real Temporal cluster and run under `make test-cluster`
// (E2E_CLUSTER=1, TEMPORAL_ADDRESS and TEMPORAL_TLS_* set by
// scripts/cluster-test.sh); elsewhere they are skipped.

func clusterOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("E2E_CLUSTER") != "1" {
		t.Skip("E2E_CLUSTER=1 is not set: run `make test-cluster`")
	}
}

// startAPI runs `webhookd api` on a free loopback port, waits until it is
// ready and points the Env's requests (e.Do) at it instead of the
// in-process API.
func startAPI(t *testing.T, e *e2etest.Env, extra ...string) *e2etest.Process {
	t.Helper()
	return startServing(t, e, "api", extra...)
}

// startServing is startAPI for role api or serve (API and worker in one
// process).
func startServing(t *testing.T, e *e2etest.Env, role string, extra ...string) *e2etest.Process {
	t.Helper()
	addr := freeLoopback(t)
	p := e.StartProcess(role, append([]string{"HTTP_ADDR=" + addr, "RATE_LIMIT_REQUESTS_PER_SECOND=0"}, extra...)...)
	url := "http://" + addr
	e2etest.Eventually(t, "webhookd "+role+" ready at "+url, func() bool {
		res, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	e.API.URL = url
	return p
}

// workflowTaskWorkers returns the identities of the workers that started
// the workflow's tasks, in order, and whether a workflow task timed out.
func workflowTaskWorkers(t *testing.T, e *e2etest.Env, workflowID string) (ids []string, timedOut bool) {
	t.Helper()
	for _, ev := range e.History(workflowID) {
		if a := ev.GetWorkflowTaskStartedEventAttributes(); a != nil {
			ids = append(ids, a.GetIdentity())
		}
		if ev.GetWorkflowTaskTimedOutEventAttributes() != nil {
			timedOut = true
		}
	}
	return ids, timedOut
}

// firstTaskEager reports whether the workflow's first task went straight
// to the worker that started it (eager start: the task is started in the
// start request, under the starting client's identity, and carries no
// history size, which a polled task always does), and that worker's pid.
func firstTaskEager(t *testing.T, e *e2etest.Env, workflowID string) (pid int, eager bool) {
	t.Helper()
	for _, ev := range e.History(workflowID) {
		if a := ev.GetWorkflowTaskStartedEventAttributes(); a != nil {
			return pidOf(a.GetIdentity()), ev.GetEventId() == 3 && a.GetHistorySizeBytes() == 0
		}
	}
	t.Fatalf("%s: no workflow task", workflowID)
	return 0, false
}

// freeLoopback is a free 127.0.0.1 address.
func freeLoopback(t *testing.T) string {
	t.Helper()
	addr, err := proc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// metricValue reads an unlabelled metric from a Prometheus text page (-1
// when absent or unreachable).
func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	if v, ok := proc.MetricValue(http.DefaultClient, url, name); ok {
		return v
	}
	return -1
}

// pidOf is the process id the SDK puts first in a worker identity.
func pidOf(identity string) int {
	pid, _ := strconv.Atoi(strings.SplitN(identity, "@", 2)[0])
	return pid
}

// TestClusterDeliveryRetryCancelResend: delivery, retry, cancel and resend
// through `webhookd api`, delivered by two `webhookd worker` processes that
// share the task queue; both take part.
func TestClusterDeliveryRetryCancelResend(t *testing.T) {
	clusterOnly(t)
	t.Parallel()
	e := e2etest.New(t, e2etest.Options{NoWorker: true})
	workerEnv := []string{"DELIVERY_TIMEOUT=2s", "DELIVERY_RETRY_SCHEDULE=200ms,400ms,1m"}
	w1, w2 := e.StartProcess("worker", workerEnv...), e.StartProcess("worker", workerEnv...)
	metricsAddr := freeLoopback(t)
	startAPI(t, e, "METRICS_ADDR="+metricsAddr)
	_, key := e.Account("professional")
	// The workers start stored events (OUTBOX_DISPATCH=workers, the
	// default): once the api process sees both, it leaves starts to them.
	e2etest.Eventually(t, "the api process to see both workers' dispatchers", func() bool {
		return metricValue(t, "http://"+metricsAddr+"/metrics", "webhookd_outbox_dispatchers") == 2
	})

	// Delivery: 20 events, each delivered once, each workflow started
	// eagerly by a worker.
	ok := e2etest.NewReceiver(t, nil)
	e.CreateWebhook(key, e2etest.Webhook{URL: ok.At("/ok"), EventTypes: []string{"ENVELOPE_START"}})
	var pubs []e2etest.Published
	for i := range 20 {
		pubs = append(pubs, e.Publish(key, e2etest.Event{ID: fmt.Sprintf("ok-%d", i)}))
	}
	pids, starters := map[int]int{}, map[int]int{}
	for _, p := range pubs {
		if id, status := only(t, e, p.WorkflowID); status != "succeeded" {
			t.Fatalf("%s: delivery %s %s", p.WorkflowID, id, status)
		}
		ids, _ := workflowTaskWorkers(t, e, p.WorkflowID)
		for _, id := range ids {
			pids[pidOf(id)]++
		}
		pid, eager := firstTaskEager(t, e, p.WorkflowID)
		if !eager || (pid != w1.Process.Pid && pid != w2.Process.Pid) {
			t.Fatalf("%s: first workflow task eager=%v, started by pid %d; want eager, by a worker (%d, %d)",
				p.WorkflowID, eager, pid, w1.Process.Pid, w2.Process.Pid)
		}
		starters[pid]++
	}
	t.Logf("workflows started eagerly, by worker pid: %v", starters)
	if n := ok.Count(); n != 20 {
		t.Fatalf("receiver got %d requests, want 20", n)
	}
	if pids[w1.Process.Pid] == 0 || pids[w2.Process.Pid] == 0 {
		t.Fatalf("workflow tasks by worker pid %v; want both workers (%d, %d)", pids, w1.Process.Pid, w2.Process.Pid)
	}
	t.Logf("workflow tasks by worker pid: %v", pids)

	// Retry: 503, 503, then 200.
	flaky := e2etest.NewReceiver(t, e2etest.Sequence(e2etest.Status(503), e2etest.Status(503), e2etest.Status(200)))
	e.CreateWebhook(key, e2etest.Webhook{URL: flaky.At("/flaky"), EventTypes: []string{"ENVELOPE_SIGNER_SIGNED"}})
	p := e.Publish(key, e2etest.Event{Type: "ENVELOPE_SIGNER_SIGNED", Data: json.RawMessage(
		`{"envelopeId":"env-1","envelopeStatus":1,"signerInfo":{"userEmail":"ann@example.com","signerStatus":2}}`)})
	id, status := only(t, e, p.WorkflowID)
	if d := e.Delivery(key, id); status != "succeeded" || len(d.Attempts) != 3 || flaky.Count() != 3 {
		t.Fatalf("retry: %s, delivery %+v, %d requests", status, d, flaky.Count())
	}

	// Cancel: failing, disabled during its one-minute wait.
	var mu sync.Mutex
	healthy := false
	failing := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply {
		mu.Lock()
		defer mu.Unlock()
		if healthy {
			return e2etest.Status(200)
		}
		return e2etest.Status(500)
	})
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: failing.At("/failing"), EventTypes: []string{"ENVELOPE_FINISH"}})
	p = e.Publish(key, e2etest.Event{Type: "ENVELOPE_FINISH"})
	var did string
	e2etest.Eventually(t, "the delivery to wait a minute", func() bool {
		d, found := e.EventDeliveries(key, p.EventID)[hook]
		did = d.ID
		return found && d.Status == "retrying" && d.AttemptCount == 3
	})
	e.Do("POST", "/v1/webhooks/"+hook+"/disable", key, nil).Want(t, http.StatusOK)
	if r := e.Result(p.WorkflowID).Deliveries[0]; r.Status != "cancelled" || r.Attempts != 3 {
		t.Fatalf("cancel: result %+v", r)
	}

	// Resend: the receiver recovered; enable and resend (series 2).
	mu.Lock()
	healthy = true
	mu.Unlock()
	e.Do("POST", "/v1/webhooks/"+hook+"/enable", key, nil).Want(t, http.StatusOK)
	e.Do("POST", "/v1/deliveries/"+did+"/resend", key, nil).Want(t, http.StatusAccepted)
	d := e.WaitDelivery(key, did, "series 2 succeeded", func(d e2etest.Delivery) bool { return d.Series == 2 && d.Status == "succeeded" })
	if len(d.Attempts) != 4 || failing.Count() != 4 {
		t.Fatalf("resend: delivery %+v, %d requests", d, failing.Count())
	}
}

// TestClusterWorkerTakeover: worker A holds deliveries in flight and
// deliveries waiting on their retry timer; worker B joins; A is killed
// (SIGKILL). B finishes all of them, nothing is lost and nothing is sent
// more than the one lost attempt again. It logs how long the takeover took:
// from the kill to B's POST for an attempt A had in flight, and from a
// retry's due time to B's POST for a delivery A had waiting.
func TestClusterWorkerTakeover(t *testing.T) {
	clusterOnly(t)
	t.Parallel()
	// wait outlasts worker B's start and first poll, so the retries are
	// still waiting when A is killed: 8 s did not on a loaded CI machine
	// (B polled after A had already made them).
	const inflight, waiting, wait = 4, 4, 20 * time.Second
	e := e2etest.New(t, e2etest.Options{NoWorker: true})
	workerEnv := []string{"DELIVERY_TIMEOUT=30s", "DELIVERY_RETRY_SCHEDULE=" + wait.String()}
	startAPI(t, e)
	_, key := e.Account("professional")

	var mu sync.Mutex
	arrivals := map[string][]time.Time{} // by webhook-id
	release := make(chan struct{})
	arrived := func(r e2etest.Request) int {
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get("webhook-id")
		arrivals[id] = append(arrivals[id], time.Now())
		return len(arrivals[id])
	}
	// First POST of each message held until A is dead, then 200.
	held := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		if arrived(r) == 1 {
			return e2etest.Reply{Status: 200, Block: release}
		}
		return e2etest.Status(200)
	})
	// First POST of each message refused (a retry in `wait`), then 200.
	refused := e2etest.NewReceiver(t, func(r e2etest.Request) e2etest.Reply {
		if arrived(r) == 1 {
			return e2etest.Status(503)
		}
		return e2etest.Status(200)
	})
	e.CreateWebhook(key, e2etest.Webhook{URL: held.At("/held"), EventTypes: []string{"ENVELOPE_START"}})
	e.CreateWebhook(key, e2etest.Webhook{URL: refused.At("/refused"), EventTypes: []string{"ENVELOPE_FINISH"}})

	a := e.StartProcess("worker", workerEnv...)
	var heldWF, waitWF []string
	for i := range inflight {
		heldWF = append(heldWF, e.Publish(key, e2etest.Event{ID: fmt.Sprintf("held-%d", i)}).WorkflowID)
	}
	for i := range waiting {
		waitWF = append(waitWF, e.Publish(key, e2etest.Event{ID: fmt.Sprintf("wait-%d", i), Type: "ENVELOPE_FINISH"}).WorkflowID)
	}
	held.WaitCount(t, inflight)
	refused.WaitCount(t, waiting)

	b := e.StartProcess("worker", workerEnv...)
	e2etest.Eventually(t, "worker B polling", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := e.TC.DescribeTaskQueue(ctx, e.Queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err != nil {
			return false
		}
		for _, p := range res.GetPollers() {
			if pidOf(p.GetIdentity()) == b.Process.Pid {
				return true
			}
		}
		return false
	})
	killed := time.Now()
	a.Kill(t)
	close(release)

	for _, wf := range append(slices.Clone(heldWF), waitWF...) {
		res := e.Result(wf)
		if len(res.Deliveries) != 1 || res.Deliveries[0].Status != "succeeded" {
			t.Fatalf("%s: result %+v", wf, res)
		}
		d := e.Delivery(key, res.Deliveries[0].DeliveryID)
		if len(d.Attempts) != 2 {
			t.Fatalf("%s: delivery %+v, want 2 attempts", wf, d)
		}
		ids, timedOut := workflowTaskWorkers(t, e, wf)
		if last := ids[len(ids)-1]; pidOf(last) != b.Process.Pid {
			t.Fatalf("%s: last workflow task on %s, want worker B (pid %d); all: %v", wf, last, b.Process.Pid, ids)
		}
		if pidOf(ids[0]) != a.Process.Pid {
			t.Fatalf("%s: first workflow task on %s, want worker A (pid %d)", wf, ids[0], a.Process.Pid)
		}
		if slices.Contains(heldWF, wf) && (!timedOut || d.Attempts[0].Outcome != "unknown" || d.Attempts[1].Try != 2) {
			t.Fatalf("%s: the attempt A had in flight: timed out %v, attempts %+v", wf, timedOut, d.Attempts)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != inflight+waiting {
		t.Fatalf("%d messages arrived, want %d", len(arrivals), inflight+waiting)
	}
	var fromKill, fromDue []time.Duration
	earliestDue := time.Time{}
	for _, id := range messageIDs(held) {
		ts := arrivals[id]
		if len(ts) != 2 {
			t.Fatalf("held message %s got %d POSTs, want 2", id, len(ts))
		}
		fromKill = append(fromKill, ts[1].Sub(killed))
	}
	for _, id := range messageIDs(refused) {
		ts := arrivals[id]
		if len(ts) != 2 {
			t.Fatalf("refused message %s got %d POSTs, want 2", id, len(ts))
		}
		due := ts[0].Add(wait)
		if earliestDue.IsZero() || due.Before(earliestDue) {
			earliestDue = due
		}
		fromDue = append(fromDue, ts[1].Sub(later(due, killed)))
	}
	slices.Sort(fromKill)
	slices.Sort(fromDue)
	t.Logf("takeover: attempts A had in flight were sent again by worker B %v after the kill (max %v)",
		round(fromKill), fromKill[len(fromKill)-1].Round(time.Millisecond))
	t.Logf("takeover: retries A had waiting (killed %v before the first was due) were sent by worker B %v after they were due (max %v)",
		earliestDue.Sub(killed).Round(time.Millisecond), round(fromDue), fromDue[len(fromDue)-1].Round(time.Millisecond))
}

// messageIDs are the distinct webhook-ids a receiver got.
func messageIDs(r *e2etest.Receiver) []string {
	var ids []string
	for _, req := range r.Requests() {
		if id := req.Header.Get("webhook-id"); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func round(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}
