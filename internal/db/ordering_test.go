package db_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// orderedAccount is an account with one ordered webhook (hold or continue).
func orderedAccount(t *testing.T, onFailure string) (*db.Store, uuid.UUID, uuid.UUID) {
	t.Helper()
	store := dbtest.NewStore(t)
	acct, err := store.CreateAccount(context.Background(), "Acme", db.PlanProfessional, db.NewAPIKey{Hash: []byte("h"), Prefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	hook, err := store.CreateWebhook(context.Background(), uuid.New(), acct.ID, db.WebhookFields{Name: "h", URL: "https://example.com",
		EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"saas_page"},
		Ordering: db.Ordering{Ordered: true, OnFailure: onFailure}}, true, []byte{0})
	if err != nil {
		t.Fatal(err)
	}
	return store, acct.ID, hook.ID
}

func keyed(acct uuid.UUID, id, key string) db.Event {
	return db.Event{AccountID: acct, WorkflowID: "wf-" + id, Event: events.Event{ID: id, Type: "ENVELOPE_START",
		TriggerSource: "saas_page", OccurredAt: time.Now(), Data: []byte(`{}`), OrderingKey: key}}
}

// Concurrent publishers of one key get 1..n, each number once; a publish
// of an id already stored takes no number; another key counts on its own.
func TestSequencesPerKey(t *testing.T) {
	store, acct, _ := orderedAccount(t, db.OnFailureContinue)
	ctx := context.Background()
	var wg sync.WaitGroup
	seqs := make(chan int64, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, _, err := store.InsertEvent(ctx, keyed(acct, fmt.Sprintf("e-%d", i), "env-1"))
			if err != nil {
				t.Error(err)
			}
			seqs <- e.Sequence
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[int64]bool{}
	for s := range seqs {
		seen[s] = true
	}
	for n := int64(1); n <= 40; n++ {
		if !seen[n] {
			t.Fatalf("sequences %v lack %d", seen, n)
		}
	}
	again, created, err := store.InsertEvent(ctx, keyed(acct, "e-7", "env-1"))
	if err != nil || created || again.Sequence == 0 {
		t.Fatalf("publishing e-7 again: %+v created=%v %v", again, created, err)
	}
	other, _, _ := store.InsertEvent(ctx, keyed(acct, "x-1", "env-2"))
	none, _, _ := store.InsertEvent(ctx, keyed(acct, "plain", ""))
	next, _, _ := store.InsertEvent(ctx, keyed(acct, "e-40", "env-1"))
	if other.Sequence != 1 || none.Sequence != 0 || next.Sequence != 41 {
		t.Fatalf("env-2 got %d, no key %d, env-1's next %d; want 1, 0, 41", other.Sequence, none.Sequence, next.Sequence)
	}
}

// A delivery waits for the nearest earlier event of its key not recorded
// yet, then for the nearest earlier unfinished delivery; a give-up lets
// the next go ("continue") or holds it until released ("hold").
func TestTakeTurn(t *testing.T) {
	for _, onFailure := range []string{db.OnFailureContinue, db.OnFailureHold} {
		t.Run(onFailure, func(t *testing.T) {
			store, acct, _ := orderedAccount(t, onFailure)
			ctx := context.Background()
			ids := make([]uuid.UUID, 4)
			for i := range ids {
				if _, _, err := store.InsertEvent(ctx, keyed(acct, fmt.Sprintf("e-%d", i+1), "env")); err != nil {
					t.Fatal(err)
				}
			}
			// Event 3 is recorded first: 2 is not, so 3 waits for it.
			record := func(n int) {
				t.Helper()
				e := keyed(acct, fmt.Sprintf("e-%d", n), "env")
				e.Data = nil // stored by the API
				r, err := store.ResolveEvent(ctx, e)
				if err != nil || len(r.Deliveries) != 1 || !r.Deliveries[0].Ordered || r.Deliveries[0].Sequence != int64(n) {
					t.Fatalf("recording e-%d: %+v %v", n, r, err)
				}
				ids[n-1] = r.Deliveries[0].ID
			}
			turn := func(n int) db.TurnState {
				t.Helper()
				s, err := store.TakeTurn(ctx, ids[n-1], 1, fmt.Sprintf("wf-%d", n))
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			record(3)
			if s := turn(3); s.Go || s.WaitingForEvent != "e-2" {
				t.Fatalf("e-3: %+v, want waiting for event e-2", s)
			}
			record(1)
			record(2)
			if s := turn(1); !s.Go {
				t.Fatalf("e-1: %+v, want go", s)
			}
			if s := turn(3); s.Go || s.WaitingForDelivery == nil || *s.WaitingForDelivery != ids[1] {
				t.Fatalf("e-3: %+v, want waiting for e-2's delivery %s", s, ids[1])
			}
			waiters, err := store.WaitersForDeliveries(ctx, []uuid.UUID{ids[1]})
			if err != nil || len(waiters) != 1 || waiters[0].DeliveryID != ids[2] || waiters[0].WorkflowID != "wf-3" {
				t.Fatalf("waiters of e-2: %+v %v", waiters, err)
			}
			if s := turn(2); s.Go || *s.WaitingForDelivery != ids[0] {
				t.Fatalf("e-2: %+v, want waiting for e-1", s)
			}
			finish := func(n int, st delivery.Status) {
				t.Helper()
				if err := store.FinishDelivery(ctx, ids[n-1], 1, st, ""); err != nil {
					t.Fatal(err)
				}
			}
			finish(1, delivery.Succeeded)
			if s := turn(2); !s.Go {
				t.Fatalf("e-2 after e-1 succeeded: %+v, want go", s)
			}
			finish(2, delivery.Failed)
			s := turn(3)
			if onFailure == db.OnFailureContinue {
				if !s.Go {
					t.Fatalf("e-3 after e-2 gave up (continue): %+v, want go", s)
				}
				return
			}
			if s.Go || *s.WaitingForDelivery != ids[1] {
				t.Fatalf("e-3 after e-2 gave up (hold): %+v, want waiting for e-2", s)
			}
			released, err := store.ReleaseKey(ctx, acct, waitersWebhook(t, store, ids[1]), "env", nil)
			if err != nil || len(released) != 1 || released[0] != ids[1] {
				t.Fatalf("released %v %v, want e-2's delivery", released, err)
			}
			if s := turn(3); !s.Go {
				t.Fatalf("e-3 after release: %+v, want go", s)
			}
		})
	}
}

func waitersWebhook(t *testing.T, store *db.Store, delivery uuid.UUID) uuid.UUID {
	t.Helper()
	var hook uuid.UUID
	if err := store.DB().Get(&hook, `SELECT webhook_id FROM deliveries WHERE id = $1`, delivery); err != nil {
		t.Fatal(err)
	}
	return hook
}

// The reconciler looks at a delivery waiting for its turn only when it has
// not checked its turn for longer than the waiting margin (it rechecks at
// least every ORDER_RECHECK_MAX), and at other pending ones after the
// usual margin.
func TestStaleWaitingDeliveries(t *testing.T) {
	store, acct, _ := orderedAccount(t, db.OnFailureContinue)
	ctx := context.Background()
	ids := make([]uuid.UUID, 2)
	for i := range ids {
		r, err := store.ResolveEvent(ctx, keyed(acct, fmt.Sprintf("s-%d", i+1), "env"))
		if err != nil || len(r.Deliveries) != 1 {
			t.Fatalf("recording: %+v %v", r, err)
		}
		ids[i] = r.Deliveries[0].ID
	}
	if s, err := store.TakeTurn(ctx, ids[1], 1, "wf-2"); err != nil || s.Go {
		t.Fatalf("second delivery: %+v %v, want waiting", s, err)
	}
	if _, err := store.DB().Exec(`UPDATE deliveries SET updated_at = now() - interval '10 minutes'`); err != nil {
		t.Fatal(err)
	}
	stale := func(waitingMargin time.Duration) []uuid.UUID {
		t.Helper()
		ds, err := store.StaleDeliveries(ctx, 5*time.Minute, waitingMargin, 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []uuid.UUID
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	if got := stale(time.Hour); len(got) != 1 || got[0] != ids[0] {
		t.Fatalf("stale with a 1h waiting margin: %v, want only the first (not waiting) %s", got, ids[0])
	}
	if got := stale(5 * time.Minute); len(got) != 2 {
		t.Fatalf("stale with a 5m waiting margin: %v, want both", got)
	}
}
