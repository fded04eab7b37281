package workflows_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/workflows"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// Regenerate the histories (after an intended, versioned change only) with
//
//	DATABASE_URL=... TEMPORAL_ADDRESS=... go test ./workflows/ -run TestRecordHistories -record-history
var recordHistory = flag.Bool("record-history", false, "record workflows/testdata/*.json from a real run")

var histories = []string{"testdata/deliver_event.json", "testdata/resend_delivery.json", "testdata/queued_wake.json",
	"testdata/ordered_turn.json"}

func replayer(t *testing.T) worker.WorkflowReplayer {
	t.Helper()
	r := worker.NewWorkflowReplayer()
	workflows.Register(r)
	return r
}

// TestReplayHistories replays real recorded histories against today's code:
// a change that is not deterministic (new, removed or reordered commands)
// fails here instead of breaking workflows in flight after a deploy.
func TestReplayHistories(t *testing.T) {
	for _, file := range histories {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if err := replayer(t).ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
				t.Fatalf("replaying %s: %v", file, err)
			}
		})
	}
}

// TestReplayDetectsNonDeterminism proves the replay test has teeth: a
// DeliverEvent that no longer runs the RecordEvent local activity first
// does not replay.
func TestReplayDetectsNonDeterminism(t *testing.T) {
	changed := func(ctx workflow.Context, in flow.DeliverEventInput) (flow.Result, error) {
		_ = workflow.Sleep(ctx, time.Second)
		return workflows.DeliverEvent(ctx, in)
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: flow.DeliverEventWorkflow})
	err := r.ReplayWorkflowHistoryFromJSONFile(quiet{}, histories[0])
	// TMPRL1100 is the SDK's code for a nondeterminism error.
	if err == nil || !strings.Contains(err.Error(), "TMPRL1100") {
		t.Fatalf("replay of a changed workflow: %v, want a nondeterminism error", err)
	}
}

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}

// TestRecordHistories runs real workflows against the dev server and saves
// their histories; it runs only with -record-history.
func TestRecordHistories(t *testing.T) {
	if !*recordHistory {
		t.Skip("run with -record-history to regenerate testdata")
	}
	e := e2etest.New(t, e2etest.Options{Settings: &activities.Settings{
		AttemptTimeout: 2 * time.Second, Retries: []time.Duration{200 * time.Millisecond, 10 * time.Minute},
		RetryAfterMax: time.Second, ResponseMaxBytes: 64, UserAgent: "esign-webhooks/test",
	}})
	_, key := e.Account("professional")
	// w1 fails once then succeeds; w2 keeps failing and is disabled during
	// its long wait: a history with a local activity, activities, timers, a
	// signal, a cancelled timer and CancelDelivery.
	ok := e2etest.NewReceiver(t, e2etest.Sequence(e2etest.Status(500), e2etest.Status(200)))
	bad := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply { return e2etest.Status(503) })
	e.CreateWebhook(key, e2etest.Webhook{URL: ok.At("/ok")})
	w2, _ := e.CreateWebhook(key, e2etest.Webhook{URL: bad.At("/bad")})
	p := e.Publish(key, e2etest.Event{ID: "replay-event"})
	var badDelivery string
	e2etest.Eventually(t, "w2 waiting on its long retry", func() bool {
		d := e.EventDeliveries(key, p.EventID)[w2]
		badDelivery = d.ID
		return d.Status == "retrying" && d.AttemptCount == 2
	})
	e.Do("POST", "/v1/webhooks/"+w2+"/disable", key, nil).Want(t, 200)
	res := e.Result(p.WorkflowID)
	t.Logf("DeliverEvent result %+v", res)
	save(t, e, p.WorkflowID, histories[0])

	e.Do("POST", "/v1/webhooks/"+w2+"/enable", key, nil).Want(t, 200)
	var resent e2etest.Delivery
	e.Do("POST", "/v1/deliveries/"+badDelivery+"/resend", key, nil).Want(t, 202).Decode(t, &resent)
	e2etest.Eventually(t, "w2 waiting again", func() bool {
		d := e.Delivery(key, badDelivery)
		return d.Status == "retrying" && d.AttemptCount >= 4
	})
	e.Do("POST", "/v1/webhooks/"+w2+"/disable", key, nil).Want(t, 200)
	t.Logf("ResendDelivery result %+v", e.Result(resent.WorkflowID))
	save(t, e, resent.WorkflowID, histories[1])
}

// TestRecordQueuedHistory records a delivery queued at a full webhook and
// woken by the slot-free signal (versionWake); it runs only with
// -record-history, on its own (-run TestRecordQueuedHistory), so the older
// histories stay as their code recorded them.
func TestRecordQueuedHistory(t *testing.T) {
	if !*recordHistory {
		t.Skip("run with -record-history to regenerate testdata")
	}
	e := e2etest.New(t, e2etest.Options{})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, func(e2etest.Request) e2etest.Reply {
		time.Sleep(500 * time.Millisecond) // within the attempt timeout (1 s)
		return e2etest.Status(200)
	})
	one := 1
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/one-at-a-time"), MaxConcurrency: &one})
	first := e.Publish(key, e2etest.Event{ID: "replay-first"})
	rcv.WaitCount(t, 1)
	queued := e.Publish(key, e2etest.Event{ID: "replay-queued"})
	t.Logf("results %+v %+v", e.Result(first.WorkflowID), e.Result(queued.WorkflowID))
	save(t, e, queued.WorkflowID, histories[2])
}

// TestRecordOrderedHistory records a delivery to an ordered webhook that
// waits for its turn behind the key's earlier event, is woken by
// SignalTurn when that one succeeds, and passes its own turn on; it runs
// only with -record-history, on its own (-run TestRecordOrderedHistory).
func TestRecordOrderedHistory(t *testing.T) {
	if !*recordHistory {
		t.Skip("run with -record-history to regenerate testdata")
	}
	s := e2etest.FastSettings()
	s.Retries = []time.Duration{time.Second}
	e := e2etest.New(t, e2etest.Options{Settings: &s})
	_, key := e.Account("professional")
	rcv := e2etest.NewReceiver(t, e2etest.Sequence(e2etest.Status(500), e2etest.Status(200)))
	e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/ordered"), Ordered: true})
	first := e.Publish(key, e2etest.Event{ID: "replay-turn-1", OrderingKey: "envelope-1"})
	rcv.WaitCount(t, 1)
	second := e.Publish(key, e2etest.Event{ID: "replay-turn-2", OrderingKey: "envelope-1"})
	t.Logf("results %+v %+v", e.Result(first.WorkflowID), e.Result(second.WorkflowID))
	save(t, e, second.WorkflowID, histories[3])
}

func save(t *testing.T, e *e2etest.Env, workflowID, file string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := &historypb.History{}
	it := e.TC.GetWorkflowHistory(ctx, workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatal("history is not JSON")
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d events", file, len(h.Events))
}
