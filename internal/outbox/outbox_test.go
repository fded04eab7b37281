package outbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"go.temporal.io/sdk/client"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/internal/outbox"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

// No worker polls the test's task queue: the workflows stay running, which is
// all these tests look at (was it started, and only once).
func setup(t *testing.T) (*db.Store, client.Client, *outbox.Outbox, uuid.UUID) {
	t.Helper()
	store := dbtest.NewStore(t)
	addr := os.Getenv("TEMPORAL_ADDRESS")
	if addr == "" {
		t.Skip("TEMPORAL_ADDRESS is not set: run `make test`")
	}
	tc, err := client.Dial(client.Options{HostPort: addr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	acct, err := store.CreateAccount(context.Background(), "Acme", db.PlanProfessional, db.NewAPIKey{Hash: []byte(uuid.NewString()), Prefix: "x"})
	if err != nil {
		t.Fatal(err)
	}
	pub := workflowclient.New(&publish.Publisher{Client: tc, TaskQueue: "dispatch-test-" + uuid.NewString()})
	d := outbox.New(store, pub, slog.New(slog.NewTextHandler(io.Discard, nil)), outbox.Options{StaleAfter: time.Minute, SweepEvery: 50 * time.Millisecond})
	return store, tc, d, acct.ID
}

func storeEvent(t *testing.T, store *db.Store, acct uuid.UUID) db.Event {
	t.Helper()
	id := "ev-" + uuid.NewString()
	e, created, err := store.InsertEvent(context.Background(), db.Event{
		AccountID: acct, WorkflowID: flow.EventWorkflowID(acct.String(), id), Event: events.Event{ID: id,
			Type: events.EnvelopeStart, TriggerSource: events.SourceSaaSPage, OccurredAt: time.Now(), Data: []byte(`{}`)},
	})
	if err != nil || !created || e.DispatchedAt != nil {
		t.Fatalf("insert: %v created=%v %+v", err, created, e)
	}
	return e
}

func runID(t *testing.T, tc client.Client, workflowID string) string {
	t.Helper()
	desc, err := tc.DescribeWorkflow(context.Background(), workflowID, "")
	if err != nil {
		t.Fatalf("workflow %s was not started: %v", workflowID, err)
	}
	t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), workflowID, "", "test cleanup") })
	return desc.RawResponse.WorkflowExecutionInfo.Execution.RunId
}

// An event the API stored but never started (a crash between the two) is
// started by the sweep once it is stale, exactly once, and no longer once its
// workflow has recorded it.
func TestSweepStartsStaleEventsOnce(t *testing.T) {
	store, tc, d, acct := setup(t)
	e := storeEvent(t, store, acct)
	fresh := storeEvent(t, store, acct)
	if _, err := store.DB().Exec(`UPDATE events SET created_at = now() - interval '1 hour' WHERE id = $1`, e.ID); err != nil {
		t.Fatal(err)
	}

	n, err := d.Sweep(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("sweep started %d (%v), want the one stale event", n, err)
	}
	first := runID(t, tc, e.WorkflowID)
	if _, err := tc.DescribeWorkflow(context.Background(), fresh.WorkflowID, ""); err == nil {
		t.Fatal("the sweep started an event that is not stale yet")
	}

	// The sweep backs off an event it started: not again at once.
	if n, err := d.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("second sweep at once: %d %v", n, err)
	}
	if _, err := store.DB().Exec(`UPDATE events SET dispatch_next_at = now() WHERE id = $1`, e.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := d.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("second sweep: %d %v", n, err)
	}
	if again := runID(t, tc, e.WorkflowID); again != first {
		t.Fatalf("second sweep started a new run %s (first %s): the event would be delivered twice", again, first)
	}

	// What the workflow's RecordEvent does: the event leaves the outbox.
	if _, err := store.RecordEvent(context.Background(), e, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := d.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("sweep after the workflow recorded the event: %d %v", n, err)
	}
}

// The normal path: an enqueued event's workflow starts at once.
func TestEnqueueStarts(t *testing.T) {
	store, tc, d, acct := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	e := storeEvent(t, store, acct)
	d.Enqueue(e)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := tc.DescribeWorkflow(context.Background(), e.WorkflowID, ""); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("enqueued event's workflow never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	runID(t, tc, e.WorkflowID)
}

// One account's pile of stuck events never holds back another account's:
// the sweep takes at most 20 of each account per pass.
func TestSweepIsFairAcrossAccounts(t *testing.T) {
	store, tc, d, noisy := setup(t)
	pile := func(i int) string { return fmt.Sprintf("pile-%d", i) }
	var ids, workflowIDs []string
	for i := 1; i <= 505; i++ {
		ids = append(ids, pile(i))
		workflowIDs = append(workflowIDs, flow.EventWorkflowID(noisy.String(), pile(i)))
	}
	if _, err := store.DB().Exec(`
		INSERT INTO events (account_id, id, type, trigger_source, occurred_at, data, workflow_id, created_at)
		SELECT $1::uuid, p.id, 'ENVELOPE_START', 'saas_page', now(), '{}', p.workflow_id,
			now() - interval '2 hours' + p.i * interval '1 millisecond'
		FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS p(id, workflow_id, i)`,
		noisy, pq.Array(ids), pq.Array(workflowIDs)); err != nil {
		t.Fatal(err)
	}
	other, err := store.CreateAccount(context.Background(), "Other", db.PlanProfessional, db.NewAPIKey{Hash: []byte(uuid.NewString()), Prefix: "y"})
	if err != nil {
		t.Fatal(err)
	}
	e := storeEvent(t, store, other.ID)
	if _, err := store.DB().Exec(`UPDATE events SET created_at = now() - interval '1 hour' WHERE id = $1`, e.ID); err != nil {
		t.Fatal(err)
	}
	n, err := d.Sweep(context.Background())
	if err != nil || n != 21 {
		t.Fatalf("sweep started %d (%v), want 20 of the pile and the other account's one", n, err)
	}
	runID(t, tc, e.WorkflowID)
	for i := 1; i <= 20; i++ {
		runID(t, tc, workflowIDs[i-1])
	}
}

// An event that cannot be started backs off on its own schedule, says why,
// and is not tried again at the next pass.
func TestSweepBacksOffAnEventItCannotStart(t *testing.T) {
	store, _, _, acct := setup(t)
	tc, err := client.Dial(client.Options{HostPort: os.Getenv("TEMPORAL_ADDRESS"), Namespace: "no-such-namespace",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	d := outbox.New(store, workflowclient.New(&publish.Publisher{Client: tc}), slog.New(slog.NewTextHandler(io.Discard, nil)),
		outbox.Options{StaleAfter: time.Minute, SweepEvery: time.Minute})
	e := storeEvent(t, store, acct)
	if _, err := store.DB().Exec(`UPDATE events SET created_at = now() - interval '1 hour' WHERE id = $1`, e.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := d.Sweep(context.Background()); n != 0 || err == nil {
		t.Fatalf("sweep: %d %v, want a failure", n, err)
	}
	got, err := store.Event(context.Background(), acct, e.ID)
	if err != nil || got.DispatchTries != 1 || got.DispatchError == "" {
		t.Fatalf("event after a failed start: %+v (%v)", got, err)
	}
	if n, err := d.Sweep(context.Background()); n != 0 || err != nil {
		t.Fatalf("second pass retried at once: %d %v", n, err)
	}
}
