package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/db/dbtest"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// throttled stores a webhook with the given limits and n pending
// deliveries to it (one event each).
func throttled(t *testing.T, maxConcurrency int, rate *float64, n int) (*db.Store, uuid.UUID, []db.Delivery) {
	t.Helper()
	store := dbtest.NewStore(t)
	ctx := context.Background()
	acct := dbtest.NewAccount(t, store)
	hook := uuid.New()
	if _, err := store.CreateWebhook(ctx, hook, acct.ID, db.WebhookFields{Name: "h", URL: "https://example.com",
		EventTypes: []string{"ENVELOPE_START"}, TriggerSources: []string{"saas_page"},
		MaxConcurrency: maxConcurrency, RateLimitPerSecond: rate}, true, []byte{0}); err != nil {
		t.Fatal(err)
	}
	var out []db.Delivery
	for i := range n {
		ds, err := store.RecordEvent(ctx, db.Event{AccountID: acct.ID, WorkflowID: "wf", Event: events.Event{ID: fmt.Sprint("e", i),
			Type: "ENVELOPE_START", TriggerSource: "saas_page", OccurredAt: time.Now(), Data: []byte(`{}`)}}, []uuid.UUID{hook})
		if err != nil || len(ds) != 1 {
			t.Fatal(err)
		}
		out = append(out, ds[0])
	}
	return store, hook, out
}

func start(t *testing.T, s *db.Store, d db.Delivery, g db.GateInput) db.DeliveryTarget {
	t.Helper()
	if g.Lease == 0 {
		g.Lease = time.Minute
	}
	tg, err := s.StartAttempt(context.Background(), db.AttemptStart{DeliveryID: d.ID, Series: 1, Number: 1, StartedAt: time.Now(), Gate: g})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func finish(t *testing.T, s *db.Store, tg db.DeliveryTarget, status int, th db.ThrottleSignal) *db.HealthChange {
	t.Helper()
	return finished(t, s, tg, status, th).Change
}

func finished(t *testing.T, s *db.Store, tg db.DeliveryTarget, status int, th db.ThrottleSignal) db.Finished {
	t.Helper()
	o := db.AttemptOutcome{Status: delivery.Succeeded}
	signal := db.HealthSuccess
	if status >= 300 {
		next := time.Now().Add(time.Second)
		o, signal = db.AttemptOutcome{Status: delivery.Retrying, NextAttemptAt: &next}, db.HealthFailure
	}
	th.Base, th.Max = time.Second, time.Minute
	f, err := s.FinishAttempt(context.Background(), db.Attempt{DeliveryID: tg.ID, Series: 1, Number: 1, Try: tg.Try,
		StartedAt: time.Now(), ResponseStatus: &status}, o, signal, th)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Concurrency slots: the third request to a webhook allowing 2 waits; a
// finished request frees its slot, and so does an expired lease.
func TestStartAttemptConcurrency(t *testing.T) {
	s, _, ds := throttled(t, 2, nil, 4)
	a, b := start(t, s, ds[0], db.GateInput{}), start(t, s, ds[1], db.GateInput{})
	if a.Gate != db.GateSend || a.Try != 1 || b.Gate != db.GateSend || b.Try != 1 {
		t.Fatalf("first two: %s/%d, %s/%d", a.Gate, a.Try, b.Gate, b.Try)
	}
	if c := start(t, s, ds[2], db.GateInput{}); c.Gate != db.GateFull || c.Try != 0 {
		t.Fatalf("third: %s/%d, want full and no attempt row", c.Gate, c.Try)
	}
	finish(t, s, a, 200, db.ThrottleSignal{})
	if c := start(t, s, ds[2], db.GateInput{}); c.Gate != db.GateSend || c.Try != 1 {
		t.Fatalf("after one finished: %s/%d", c.Gate, c.Try)
	}
	if d := start(t, s, ds[3], db.GateInput{}); d.Gate != db.GateFull {
		t.Fatalf("fourth: %s, want full", d.Gate)
	}
	// b's lease expires: its worker is presumed lost, the slot is free.
	if _, err := s.DB().Exec(`UPDATE webhook_leases SET expires_at = now() WHERE delivery_id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	if d := start(t, s, ds[3], db.GateInput{}); d.Gate != db.GateSend {
		t.Fatalf("after a lease expired: %s", d.Gate)
	}
}

// The rate limit reserves slots 1/rate apart; a reservation brought back
// sends without taking another slot.
func TestStartAttemptRateReservation(t *testing.T) {
	rate := 2.0
	s, hook, ds := throttled(t, 10, &rate, 3)
	if a := start(t, s, ds[0], db.GateInput{}); a.Gate != db.GateSend {
		t.Fatalf("first: %s", a.Gate)
	}
	b := start(t, s, ds[1], db.GateInput{})
	if b.Gate != db.GateReserved || b.Try != 0 || b.ReservedFor == nil {
		t.Fatalf("second: %+v", b.Gate)
	}
	// 500ms after the first's slot, so at most 500ms ahead of this call's
	// clock (less by however long the machine took between the calls).
	if wait := b.ReservedFor.Sub(*b.GateNow); wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("second reserved %s ahead, want (0, 500ms]", wait)
	}
	c := start(t, s, ds[2], db.GateInput{})
	if c.Gate != db.GateReserved || c.ReservedFor.Sub(*b.ReservedFor) != 500*time.Millisecond {
		t.Fatalf("third: %s at %v (second at %v)", c.Gate, c.ReservedFor, b.ReservedFor)
	}
	// Back too early: wait again for the same slot, taking none.
	if again := start(t, s, ds[1], db.GateInput{Reservation: b.ReservedFor}); again.Gate != db.GateReserved ||
		!again.ReservedFor.Equal(*b.ReservedFor) {
		t.Fatalf("early return: %s at %v", again.Gate, again.ReservedFor)
	}
	time.Sleep(time.Until(*b.ReservedFor))
	if sent := start(t, s, ds[1], db.GateInput{Reservation: b.ReservedFor}); sent.Gate != db.GateSend || sent.Try != 1 {
		t.Fatalf("at its slot: %s/%d", sent.Gate, sent.Try)
	}
	var next time.Time
	if err := s.DB().Get(&next, `SELECT rate_next_at FROM webhooks WHERE id = $1`, hook); err != nil ||
		!next.Equal(c.ReservedFor.Add(500*time.Millisecond)) {
		t.Fatalf("rate_next_at %v (%v), want the third's slot + 500ms: a reservation takes no new slot", next, err)
	}
}

// A 503 throttles the webhook (every delivery waits), a Retry-After longer
// than the back-off wins, answers to requests in flight together count
// once, and a success clears it.
func TestThrottleAfterA503(t *testing.T) {
	s, hook, ds := throttled(t, 10, nil, 4)
	a, b := start(t, s, ds[0], db.GateInput{}), start(t, s, ds[1], db.GateInput{})
	c := finish(t, s, a, 503, db.ThrottleSignal{Throttle: true})
	if c == nil || c.ThrottledUntil == nil || time.Until(*c.ThrottledUntil) < 900*time.Millisecond {
		t.Fatalf("after a 503: %+v", c)
	}
	// b was in flight with a: its 503 (Retry-After 3s) extends, not escalates.
	c = finish(t, s, b, 503, db.ThrottleSignal{Throttle: true, RetryAfter: 3 * time.Second})
	w, _ := s.Webhook(context.Background(), c.AccountID, hook)
	if w.ThrottleStep != 1 || time.Until(*w.ThrottledUntil) < 2900*time.Millisecond {
		t.Fatalf("after the second 503: step %d until %v", w.ThrottleStep, w.ThrottledUntil)
	}
	held := start(t, s, ds[2], db.GateInput{})
	if held.Gate != db.GateThrottled || held.Try != 0 || !held.ThrottledUntil.Equal(*w.ThrottledUntil) {
		t.Fatalf("while throttled: %s/%d", held.Gate, held.Try)
	}
	// Over: a success clears it.
	if _, err := s.DB().Exec(`UPDATE webhooks SET throttled_until = now() WHERE id = $1`, hook); err != nil {
		t.Fatal(err)
	}
	ok := start(t, s, ds[3], db.GateInput{})
	if ok.Gate != db.GateSend {
		t.Fatalf("after the throttle: %s", ok.Gate)
	}
	finish(t, s, ok, 200, db.ThrottleSignal{})
	w, _ = s.Webhook(context.Background(), c.AccountID, hook)
	if w.ThrottleStep != 0 || w.ThrottledUntil != nil {
		t.Fatalf("after a success: step %d until %v", w.ThrottleStep, w.ThrottledUntil)
	}
}

// queue starts an attempt that joins the webhook's queue when it is full,
// as the workflow wf.
func queue(t *testing.T, s *db.Store, d db.Delivery, wf string) db.DeliveryTarget {
	t.Helper()
	return start(t, s, d, db.GateInput{Queue: wf})
}

func wantWaiters(t *testing.T, s *db.Store, hook uuid.UUID, want ...db.Delivery) {
	t.Helper()
	got, err := s.Waiters(context.Background(), hook)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uuid.UUID, len(want))
	for i, d := range want {
		ids[i] = d.ID
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("waiters %v, want %v", got, ids)
	}
}

func expire(t *testing.T, s *db.Store, d db.Delivery) {
	t.Helper()
	if _, err := s.DB().Exec(`UPDATE webhook_leases SET expires_at = now() - interval '1 second' WHERE delivery_id = $1`, d.ID); err != nil {
		t.Fatal(err)
	}
}

// A full webhook queues its attempts in arrival order (a waiter polling
// again keeps its place); a finished request hands its slot to the oldest
// waiter, which nobody else can take, and names it to be woken.
func TestQueueHandOff(t *testing.T) {
	s, hook, ds := throttled(t, 1, nil, 4)
	a := queue(t, s, ds[0], "wf-a")
	if a.Gate != db.GateSend || a.Slot != 1 {
		t.Fatalf("first: %s slot %d", a.Gate, a.Slot)
	}
	wantWaiters(t, s, hook)
	for i, d := range ds[1:] {
		if g := queue(t, s, d, fmt.Sprint("wf-", i+1)); g.Gate != db.GateFull || g.Try != 0 {
			t.Fatalf("waiter %d: %s/%d", i+1, g.Gate, g.Try)
		}
	}
	queue(t, s, ds[1], "wf-1") // polls again: keeps its place
	wantWaiters(t, s, hook, ds[1], ds[2], ds[3])

	f := finished(t, s, a, 200, db.ThrottleSignal{})
	if f.Woke == nil || f.Woke.DeliveryID != ds[1].ID || f.Woke.WorkflowID != "wf-1" || f.Woke.WebhookID != hook {
		t.Fatalf("woke %+v, want the oldest waiter", f.Woke)
	}
	wantWaiters(t, s, hook, ds[2], ds[3])
	// The slot is ds[1]'s: the next waiter (or a newcomer) finds it full.
	if g := queue(t, s, ds[2], "wf-2"); g.Gate != db.GateFull {
		t.Fatalf("another waiter took the handed slot: %s", g.Gate)
	}
	b := queue(t, s, ds[1], "wf-1")
	if b.Gate != db.GateSend || b.Try != 1 || b.Slot != 1 {
		t.Fatalf("woken waiter: %s/%d slot %d", b.Gate, b.Try, b.Slot)
	}
	wantWaiters(t, s, hook, ds[2], ds[3])
	// The last request, with nobody waiting, frees its slot.
	f = finished(t, s, b, 200, db.ThrottleSignal{})
	if f.Woke == nil || f.Woke.DeliveryID != ds[2].ID {
		t.Fatalf("woke %+v, want the next waiter", f.Woke)
	}
	c := queue(t, s, ds[2], "wf-2")
	if f = finished(t, s, c, 200, db.ThrottleSignal{}); f.Woke == nil || f.Woke.DeliveryID != ds[3].ID {
		t.Fatalf("woke %+v", f.Woke)
	}
	d := queue(t, s, ds[3], "wf-3")
	if f = finished(t, s, d, 200, db.ThrottleSignal{}); f.Woke != nil {
		t.Fatalf("woke %+v with nobody waiting", f.Woke)
	}
	var free int
	if err := s.DB().Get(&free, `SELECT count(*) FROM webhook_leases WHERE webhook_id = $1 AND delivery_id IS NULL`, hook); err != nil || free != 1 {
		t.Fatalf("%d free slots (%v), want 1", free, err)
	}
}

// A lost worker's slot (its lease expired) goes to the oldest waiter at the
// next sweep, and only that one; a slot handed to a waiter that never came
// for it goes on to the next one, and the late waiter queues again.
func TestExpiredLeaseToOldestWaiter(t *testing.T) {
	s, hook, ds := throttled(t, 2, nil, 5)
	a, b := queue(t, s, ds[0], "wf-a"), queue(t, s, ds[1], "wf-b")
	for i, d := range ds[2:] {
		if g := queue(t, s, d, fmt.Sprint("wf-", i)); g.Gate != db.GateFull {
			t.Fatalf("waiter: %s", g.Gate)
		}
	}
	ctx := context.Background()
	if w, err := s.HandFreedSlots(ctx, ""); err != nil || len(w) != 0 {
		t.Fatalf("sweep with every lease live: %v %v", w, err)
	}
	expire(t, s, ds[0]) // a's worker is lost
	w, err := s.HandFreedSlots(ctx, "")
	if err != nil || len(w) != 1 || w[0].DeliveryID != ds[2].ID || w[0].WorkflowID != "wf-0" {
		t.Fatalf("sweep: %+v %v, want the oldest waiter", w, err)
	}
	wantWaiters(t, s, hook, ds[3], ds[4])
	if w, _ := s.HandFreedSlots(ctx, ""); len(w) != 0 {
		t.Fatalf("second sweep handed %+v again", w)
	}
	// a's late answer frees nothing: the slot is no longer its own.
	if f := finished(t, s, a, 200, db.ThrottleSignal{}); f.Woke != nil {
		t.Fatalf("a lost attempt handed a slot: %+v", f.Woke)
	}
	// ds[2] never comes: its hand-off lease expires and the slot moves on.
	expire(t, s, ds[2])
	if w, _ := s.HandFreedSlots(ctx, ""); len(w) != 1 || w[0].DeliveryID != ds[3].ID {
		t.Fatalf("after the hand-off expired: %+v", w)
	}
	if late := queue(t, s, ds[2], "wf-0"); late.Gate != db.GateFull {
		t.Fatalf("the late waiter: %s", late.Gate)
	}
	wantWaiters(t, s, hook, ds[4], ds[2])
	if got := queue(t, s, ds[3], "wf-1"); got.Gate != db.GateSend {
		t.Fatalf("the waiter handed the slot: %s", got.Gate)
	}
	_ = b
}

// A lease renewed while its request runs is not taken, even when its
// first term has passed; a lease that expired and went to another is not
// renewed.
func TestRenewKeepsLiveLease(t *testing.T) {
	s, _, ds := throttled(t, 1, nil, 3)
	ctx := context.Background()
	a := start(t, s, ds[0], db.GateInput{Lease: 50 * time.Millisecond})
	lease := db.Lease{WebhookID: a.WebhookID, Slot: a.Slot, DeliveryID: a.ID, Series: 1, Number: 1, Try: a.Try}
	if ok, err := s.RenewLease(ctx, lease, time.Minute); err != nil || !ok {
		t.Fatalf("renew: %v %v", ok, err)
	}
	time.Sleep(100 * time.Millisecond) // past the first term
	if g := queue(t, s, ds[1], "wf-1"); g.Gate != db.GateFull {
		t.Fatalf("a renewed lease was taken: %s", g.Gate)
	}
	if w, _ := s.HandFreedSlots(ctx, ""); len(w) != 0 {
		t.Fatalf("sweep took a renewed lease: %+v", w)
	}
	expire(t, s, ds[0])
	if w, _ := s.HandFreedSlots(ctx, ""); len(w) != 1 || w[0].DeliveryID != ds[1].ID {
		t.Fatalf("sweep after expiry: %+v", w)
	}
	if ok, err := s.RenewLease(ctx, lease, time.Minute); err != nil || ok {
		t.Fatalf("renewed a lease handed to another: %v %v", ok, err)
	}
}

// A waiter queued by a dead worker (not seen for 3 s) is passed over: its
// workflow would run only after Temporal's sticky timeout. The sweep
// signals it once (poked), and it queues again from a live worker in its
// old place.
func TestDeadWorkersWaiterPassedOver(t *testing.T) {
	s, hook, ds := throttled(t, 1, nil, 4)
	ctx := context.Background()
	if _, err := s.HandFreedSlots(ctx, "live"); err != nil { // the live worker is seen
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`INSERT INTO webhook_workers (id, seen_at) VALUES ('dead', now() - interval '10 seconds')`); err != nil {
		t.Fatal(err)
	}
	a := start(t, s, ds[0], db.GateInput{Queue: "wf-a", Worker: "live"})
	start(t, s, ds[1], db.GateInput{Queue: "wf-dead", Worker: "dead"})
	start(t, s, ds[2], db.GateInput{Queue: "wf-live", Worker: "live"})
	wantWaiters(t, s, hook, ds[1], ds[2])

	f := finished(t, s, a, 200, db.ThrottleSignal{})
	if f.Woke == nil || f.Woke.DeliveryID != ds[2].ID {
		t.Fatalf("woke %+v, want the oldest waiter of a live worker", f.Woke)
	}
	w, err := s.HandFreedSlots(ctx, "live")
	if err != nil || len(w) != 1 || w[0].DeliveryID != ds[1].ID || w[0].WorkflowID != "wf-dead" {
		t.Fatalf("sweep: %+v %v, want the dead worker's waiter signalled", w, err)
	}
	if w, _ := s.HandFreedSlots(ctx, "live"); len(w) != 0 {
		t.Fatalf("signalled again: %+v", w)
	}
	// Its workflow runs on the live worker now: it keeps its place.
	if g := start(t, s, ds[1], db.GateInput{Queue: "wf-dead", Worker: "live"}); g.Gate != db.GateFull {
		t.Fatalf("requeued: %s", g.Gate)
	}
	start(t, s, ds[3], db.GateInput{Queue: "wf-3", Worker: "live"})
	wantWaiters(t, s, hook, ds[1], ds[3])
	b := start(t, s, ds[2], db.GateInput{Queue: "wf-live", Worker: "live"})
	if f := finished(t, s, b, 200, db.ThrottleSignal{}); f.Woke == nil || f.Woke.DeliveryID != ds[1].ID {
		t.Fatalf("woke %+v, want the requeued waiter first", f.Woke)
	}
}

// A throttled webhook keeps its queue: a freed slot is not handed to a
// waiter, who would only find the throttle; once it is over the sweep
// hands it on.
func TestThrottledWebhookKeepsItsQueue(t *testing.T) {
	s, hook, ds := throttled(t, 1, nil, 2)
	ctx := context.Background()
	a := queue(t, s, ds[0], "wf-a")
	queue(t, s, ds[1], "wf-b")
	if _, err := s.DB().Exec(`UPDATE webhooks SET throttled_until = now() + interval '1 minute' WHERE id = $1`, hook); err != nil {
		t.Fatal(err)
	}
	if f := finished(t, s, a, 200, db.ThrottleSignal{}); f.Woke != nil {
		t.Fatalf("woke %+v while throttled", f.Woke)
	}
	if _, err := s.DB().Exec(`UPDATE webhooks SET throttled_until = now() + interval '1 minute' WHERE id = $1`, hook); err != nil {
		t.Fatal(err) // the 200 cleared it
	}
	if w, _ := s.HandFreedSlots(ctx, ""); len(w) != 0 {
		t.Fatalf("sweep handed %+v while throttled", w)
	}
	if _, err := s.DB().Exec(`UPDATE webhooks SET throttled_until = now() WHERE id = $1`, hook); err != nil {
		t.Fatal(err)
	}
	if w, _ := s.HandFreedSlots(ctx, ""); len(w) != 1 || w[0].DeliveryID != ds[1].ID {
		t.Fatalf("sweep after the throttle: %+v", w)
	}
}

// A waiter that waits in its worker (GateInput.InWorker) is woken there,
// by a notification: the hand-off says so while its wait has 100 ms or
// more to run, and not once it has run out (it waits in its workflow then,
// and needs the signal).
func TestHandOffToAWaiterInItsWorker(t *testing.T) {
	s, _, ds := throttled(t, 1, nil, 3)
	a := queue(t, s, ds[0], "wf-a")
	start(t, s, ds[1], db.GateInput{Queue: "wf-1", InWorker: time.Minute})
	start(t, s, ds[2], db.GateInput{Queue: "wf-2", InWorker: 50 * time.Millisecond})
	f := finished(t, s, a, 200, db.ThrottleSignal{})
	if f.Woke == nil || f.Woke.DeliveryID != ds[1].ID || !f.Woke.InWorker {
		t.Fatalf("woke %+v, want the first waiter, in its worker", f.Woke)
	}
	b := queue(t, s, ds[1], "wf-1")
	if f = finished(t, s, b, 200, db.ThrottleSignal{}); f.Woke == nil || f.Woke.DeliveryID != ds[2].ID || f.Woke.InWorker {
		t.Fatalf("woke %+v, want the second waiter, whose wait in its worker is over", f.Woke)
	}
}
