package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// storm is one event for n webhooks whose receivers fail: the scenario of
// the fan-out storm issue, with the schedule shortened to 16 short waits.
type storm struct {
	e     *e2etest.Env
	mu    sync.Mutex
	posts map[string]int // POSTs per webhook-id
	// recoverAfter: a webhook whose path ends in /ok answers 200 from this
	// POST on; every other POST is answered 500.
	recoverAfter int
}

const stormRetries = 16

func newStorm(t *testing.T, recoverAfter int) *storm {
	s := &storm{posts: map[string]int{}, recoverAfter: recoverAfter}
	s.e = e2etest.New(t, e2etest.Options{NoWorker: true})
	// The worker is the real binary, as shipped (no race detector): a
	// thousand deliveries × 17 attempts is a load test as much as a test.
	sched := strings.TrimSuffix(strings.Repeat("500ms,", stormRetries), ",")
	s.e.StartProcess("worker", "DELIVERY_TIMEOUT=5s", "DELIVERY_RETRY_SCHEDULE="+sched)
	return s
}

func (s *storm) reply(r e2etest.Request) e2etest.Reply {
	id := r.Header.Get("webhook-id")
	s.mu.Lock()
	s.posts[id]++
	n := s.posts[id]
	s.mu.Unlock()
	if strings.HasSuffix(r.Path, "/ok") && s.recoverAfter > 0 && n >= s.recoverAfter {
		return e2etest.Status(http.StatusOK)
	}
	return e2etest.Status(http.StatusInternalServerError)
}

// stormSize is the fan-out: 1,000 (the per-account webhook limit) unless
// STORM_WEBHOOKS says otherwise.
func stormSize(t *testing.T) int {
	if v := os.Getenv("STORM_WEBHOOKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 1000
}

// TestFanOutStormEveryReceiverFails: one event for 1,000 webhooks whose
// receivers answer 500 for the whole schedule. Every receiver gets exactly
// one POST per scheduled attempt (17), the log has exactly those, the event
// completes, and every history stays far below Temporal's limits.
func TestFanOutStormEveryReceiverFails(t *testing.T) {
	runStorm(t, stormSize(t), 0)
}

// TestFanOutStormHalfRecover: the same at a fifth of the size (the scale is
// the test above's; this one is about the split), but half of the
// receivers answer 200 from their 9th POST on: those get exactly 9, the
// others 17.
func TestFanOutStormHalfRecover(t *testing.T) {
	runStorm(t, max(stormSize(t)/5, 2), 9)
}

func runStorm(t *testing.T, n, recoverAfter int) {
	s := newStorm(t, recoverAfter)
	rcv := e2etest.NewReceiver(t, s.reply)
	_, key := s.e.Account("professional")
	hooks := map[string]bool{} // webhook id -> recovers
	for i := range n {
		path := fmt.Sprintf("/h/%d", i)
		recovers := recoverAfter > 0 && i%2 == 0
		if recovers {
			path += "/ok"
		}
		id, _ := s.e.CreateWebhook(key, e2etest.Webhook{Name: fmt.Sprintf("storm %d", i), URL: rcv.At(path),
			EventTypes: []string{"ENVELOPE_FINISH"}})
		hooks[id] = recovers
	}
	started := time.Now()
	p := s.e.Publish(key, e2etest.Event{Type: "ENVELOPE_FINISH"})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var res flow.Result
	// The dispatcher starts the workflow just after the 202.
	e2etest.Eventually(t, "the event's workflow to start", func() bool {
		_, err := s.e.TC.DescribeWorkflow(ctx, p.WorkflowID, "")
		return err == nil
	})
	if err := s.e.TC.GetWorkflow(ctx, p.WorkflowID, "").Get(ctx, &res); err != nil {
		t.Fatalf("event workflow: %v", err)
	}
	took := time.Since(started)

	if len(res.Deliveries) != n {
		t.Fatalf("result lists %d deliveries, want %d", len(res.Deliveries), n)
	}
	s.mu.Lock()
	posts := s.posts
	s.mu.Unlock()
	total, wrong := 0, 0
	for _, d := range res.Deliveries {
		want, status := stormRetries+1, delivery.Failed
		if hooks[d.WebhookID] {
			want, status = recoverAfter, delivery.Succeeded
		}
		got := posts["msg_"+strings.ReplaceAll(d.DeliveryID, "-", "")]
		total += got
		if got != want || d.Status != status || d.Attempts != want {
			if wrong < 5 {
				t.Errorf("delivery %s: %d POSTs, result %s after %d attempts; want %d POSTs, %s",
					d.DeliveryID, got, d.Status, d.Attempts, want, status)
			}
			wrong++
		}
	}
	// The log agrees with the receivers, row for row.
	var rows, unfinished int
	if err := s.e.Store.DB().QueryRow(`SELECT count(*), count(*) FILTER (WHERE finished_at IS NULL) FROM attempts`).Scan(&rows, &unfinished); err != nil {
		t.Fatal(err)
	}
	if rows != total || unfinished != 0 || wrong > 0 {
		t.Fatalf("%d deliveries wrong; %d attempt rows (%d unfinished) for %d POSTs", wrong, rows, unfinished, total)
	}
	var pending int
	if err := s.e.Store.DB().QueryRow(`SELECT count(*) FROM deliveries WHERE status IN ('pending', 'retrying')`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%d deliveries still pending (%v)", pending, err)
	}

	// Histories: the event's own, and each batch child's.
	parent := len(s.e.History(p.WorkflowID))
	largest, children := 0, 0
	for k := 1; ; k++ {
		id := flow.BatchWorkflowID(p.WorkflowID, k)
		if _, err := s.e.TC.DescribeWorkflow(ctx, id, ""); err != nil {
			break
		}
		children++
		largest = max(largest, len(s.e.History(id)))
	}
	t.Logf("%d webhooks: %d POSTs in %s; history events: event workflow %d, %d batch children, largest %d",
		n, total, took.Round(time.Second), parent, children, largest)
	if parent > 2000 || largest > 5000 {
		t.Fatalf("histories too large: event %d, largest batch %d", parent, largest)
	}
}
