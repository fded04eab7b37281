package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/harness/e2etest"
	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
)

// orderedSettings: a short schedule long enough that a receiver failing
// 30 % of attempts at random never makes a delivery give up (0.3^13).
func orderedSettings() *activities.Settings {
	s := e2etest.FastSettings()
	s.Retries = nil
	for range 12 {
		s.Retries = append(s.Retries, 20*time.Millisecond)
	}
	s.TurnRecheckMax = 2 * time.Second
	return &s
}

// sink is a receiver that records, in arrival order, the first successful
// request of each message (webhook-id) per ordering key, and every
// webhook-id each event came with.
type sink struct {
	mu       sync.Mutex
	firsts   map[string][]int64             // ordering key → sequences, first successes in arrival order
	seen     map[string]bool                // webhook-ids answered 2xx
	ids      map[string]map[string]struct{} // event id → webhook-ids
	fail     func(p orderedPayload) bool    // answer 500
	received int
}

type orderedPayload struct {
	EventID     string `json:"eventId"`
	OrderingKey string `json:"orderingKey"`
	Sequence    int64  `json:"sequence"`
}

func newSink(t *testing.T, fail func(orderedPayload) bool) (*sink, *e2etest.Receiver) {
	s := &sink{firsts: map[string][]int64{}, seen: map[string]bool{}, ids: map[string]map[string]struct{}{}, fail: fail}
	rcv := e2etest.NewReceiver(t, s.reply)
	return s, rcv
}

func (s *sink) reply(r e2etest.Request) e2etest.Reply {
	var p orderedPayload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		return e2etest.Status(http.StatusBadRequest)
	}
	msg := r.Header.Get("webhook-id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[p.EventID] == nil {
		s.ids[p.EventID] = map[string]struct{}{}
	}
	s.ids[p.EventID][msg] = struct{}{}
	if s.fail != nil && s.fail(p) {
		return e2etest.Status(http.StatusInternalServerError)
	}
	if !s.seen[msg] {
		s.seen[msg] = true
		s.firsts[p.OrderingKey] = append(s.firsts[p.OrderingKey], p.Sequence)
		s.received++
	}
	return e2etest.Status(http.StatusOK)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// check reports the keys whose first successes are not exactly 1..n in
// order, and the events that came with more than one webhook-id.
func (s *sink) check(n int) (outOfOrder []string, duplicated []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, seqs := range s.firsts {
		ok := len(seqs) == n
		for i, q := range seqs {
			ok = ok && q == int64(i+1)
		}
		if !ok {
			outOfOrder = append(outOfOrder, fmt.Sprintf("%s: %v", key, seqs))
		}
	}
	for ev, ids := range s.ids {
		if len(ids) > 1 {
			duplicated = append(duplicated, ev)
		}
	}
	sort.Strings(outOfOrder)
	return outOfOrder, duplicated
}

// failingAtRandom refuses a share of requests, at random but the same on
// every run (a seeded generator shared by every receiver it is given to).
func failingAtRandom(share float64, seed1, seed2 uint64) func(orderedPayload) bool {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed1, seed2))
	return func(orderedPayload) bool {
		mu.Lock()
		defer mu.Unlock()
		return rng.Float64() < share
	}
}

// 100 envelopes × 5 events to 3 webhooks (2 ordered, 1 not), every
// receiver failing 30 % of attempts at random: each ordered receiver gets
// every envelope's events, each first success in sequence order, with one
// webhook-id per event; the unordered one shows they would otherwise have
// come out of order.
func TestOrderedDeliveryUnderRandomFailures(t *testing.T) {
	t.Parallel()
	const envelopes, perEnvelope = 100, 5
	e := e2etest.New(t, e2etest.Options{Settings: orderedSettings()})
	_, key := e.Account("professional")
	flaky := failingAtRandom(0.3, 1, 2)
	sinks := make([]*sink, 3)
	for i := range sinks {
		s, rcv := newSink(t, flaky)
		sinks[i] = s
		e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At(fmt.Sprintf("/hook-%d", i)),
			EventTypes: []string{"ENVELOPE_START", "ENVELOPE_FINISH"}, Ordered: i < 2})
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for env := range next {
				for n := 1; n <= perEnvelope; n++ {
					typ, status := "ENVELOPE_START", 1
					if n == perEnvelope {
						typ, status = "ENVELOPE_FINISH", 2
					}
					e.Publish(key, e2etest.Event{ID: fmt.Sprintf("env-%d-%d", env, n), Type: typ,
						OrderingKey: fmt.Sprintf("env-%d", env),
						Data:        json.RawMessage(fmt.Sprintf(`{"envelopeId":"env-%d","envelopeStatus":%d,"n":%d}`, env, status, n))})
				}
			}
		}()
	}
	for env := range envelopes {
		next <- env
	}
	close(next)
	wg.Wait()
	want := envelopes * perEnvelope
	// A bound on liveness, not a speed test: -race on a loaded machine is slow.
	deadline := time.Now().Add(10 * time.Minute)
	for _, s := range sinks {
		for s.count() < want && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if s.count() < want {
			t.Fatalf("a receiver got %d of %d events", s.count(), want)
		}
	}
	for i, s := range sinks[:2] {
		out, dup := s.check(perEnvelope)
		if len(out) > 0 {
			t.Errorf("ordered webhook %d: %d envelopes out of order, e.g. %v", i, len(out), out[:min(3, len(out))])
		}
		if len(dup) > 0 {
			t.Errorf("ordered webhook %d: %d events came with more than one webhook-id, e.g. %v", i, len(dup), dup[0])
		}
	}
	out, _ := sinks[2].check(perEnvelope)
	if len(out) == 0 {
		t.Errorf("the unordered webhook got every envelope in order: the test cannot tell ordering from luck")
	}
	t.Logf("unordered webhook: %d of %d envelopes out of order", len(out), envelopes)
}

// With "hold", a key whose event gave up waits (its next deliveries show
// waiting, and what for) until an admin releases the key, or the failed
// delivery is resent and succeeds; with "continue" the key goes on.
func TestOrderedHoldReleaseAndResend(t *testing.T) {
	t.Parallel()
	s := e2etest.FastSettings()
	s.TurnRecheckMax = 2 * time.Second
	e := e2etest.New(t, e2etest.Options{Settings: &s})
	_, key := e.Account("professional")
	var mu sync.Mutex
	refuse := map[string]bool{"release-2": true, "resend-2": true}
	fail := func(p orderedPayload) bool {
		mu.Lock()
		defer mu.Unlock()
		return refuse[p.EventID]
	}
	held, heldRcv := newSink(t, fail)
	goesOn, goesOnRcv := newSink(t, fail)
	heldID, _ := e.CreateWebhook(key, e2etest.Webhook{URL: heldRcv.At("/held"), Ordered: true, OrderedOnFailure: "hold"})
	e.CreateWebhook(key, e2etest.Webhook{URL: goesOnRcv.At("/continue"), Ordered: true})
	for _, k := range []string{"release", "resend"} {
		for n := 1; n <= 4; n++ {
			e.Publish(key, e2etest.Event{ID: fmt.Sprintf("%s-%d", k, n), OrderingKey: k})
		}
	}
	// "continue": the give-up of event 2 lets 3 and 4 go, in order.
	e2etest.Eventually(t, "the continue webhook gets 1, 3, 4 of each key", func() bool { return goesOn.count() == 6 })
	goesOn.mu.Lock()
	for _, k := range []string{"release", "resend"} {
		if got := goesOn.firsts[k]; fmt.Sprint(got) != "[1 3 4]" {
			t.Errorf("continue webhook, key %s: got %v, want [1 3 4]", k, got)
		}
	}
	goesOn.mu.Unlock()
	// "hold": 3 waits for the failed 2, 4 for 3.
	failed := map[string]e2etest.Delivery{}
	for _, k := range []string{"release", "resend"} {
		failed[k] = e.WaitStatus(key, e.EventDeliveries(key, k+"-2")[heldID].ID, "failed")
		third := e.WaitDelivery(key, e.EventDeliveries(key, k+"-3")[heldID].ID, "event 3 waiting for event 2",
			func(d e2etest.Delivery) bool { return d.Status == "waiting" })
		if third.WaitingFor == nil || third.WaitingFor.DeliveryID != failed[k].ID {
			t.Fatalf("key %s: event 3 waits for %+v, want delivery %s", k, third.WaitingFor, failed[k].ID)
		}
		fourth := e.WaitDelivery(key, e.EventDeliveries(key, k+"-4")[heldID].ID, "event 4 waiting",
			func(d e2etest.Delivery) bool { return d.Status == "waiting" })
		if fourth.WaitingFor == nil || fourth.WaitingFor.DeliveryID != third.ID {
			t.Fatalf("key %s: event 4 waits for %+v, want delivery %s", k, fourth.WaitingFor, third.ID)
		}
	}
	if got := held.count(); got != 2 {
		t.Fatalf("held webhook got %d events while held, want 2 (event 1 of each key)", got)
	}
	// Release one key: 3 and 4 go, 2 stays failed.
	var rel struct {
		Released []string `json:"released"`
	}
	e.Do("POST", "/v1/webhooks/"+heldID+"/release", key, map[string]string{"orderingKey": "release"}).
		Want(t, http.StatusOK).Decode(t, &rel)
	if len(rel.Released) != 1 || rel.Released[0] != failed["release"].ID {
		t.Fatalf("released %v, want [%s]", rel.Released, failed["release"].ID)
	}
	// Resend the other's failed event once its receiver takes it: 2, 3, 4.
	mu.Lock()
	refuse["resend-2"] = false
	mu.Unlock()
	e.Do("POST", "/v1/deliveries/"+failed["resend"].ID+"/resend", key, nil).Want(t, http.StatusAccepted)
	e2etest.Eventually(t, "the held webhook gets the rest", func() bool { return held.count() == 7 })
	held.mu.Lock()
	defer held.mu.Unlock()
	if got := fmt.Sprint(held.firsts["release"]); got != "[1 3 4]" {
		t.Errorf("released key: got %s, want [1 3 4]", got)
	}
	if got := fmt.Sprint(held.firsts["resend"]); got != "[1 2 3 4]" {
		t.Errorf("resent key: got %s, want [1 2 3 4]", got)
	}
}

// An event for more webhooks than one workflow delivers to hands them to
// DeliverBatch children: the turns work there too (the child waits and is
// woken), each of 30 ordered receivers getting each key's events in order.
func TestOrderedLargeFanOut(t *testing.T) {
	t.Parallel()
	const hooks, keys, perKey = 30, 2, 4
	e := e2etest.New(t, e2etest.Options{Settings: orderedSettings()})
	_, key := e.Account("professional")
	flaky := failingAtRandom(0.3, 3, 4)
	sinks := make([]*sink, hooks)
	for i := range sinks {
		s, rcv := newSink(t, flaky)
		sinks[i] = s
		e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At(fmt.Sprintf("/fan-%d", i)), Ordered: true})
	}
	for n := 1; n <= perKey; n++ {
		for k := range keys {
			e.Publish(key, e2etest.Event{ID: fmt.Sprintf("fan-%d-%d", k, n), OrderingKey: fmt.Sprintf("fan-%d", k)})
		}
	}
	for i, s := range sinks {
		e2etest.Eventually(t, fmt.Sprintf("receiver %d gets every event", i), func() bool { return s.count() == keys*perKey })
		if out, dup := s.check(perKey); len(out) > 0 || len(dup) > 0 {
			t.Errorf("receiver %d: out of order %v, more than one webhook-id %v", i, out, dup)
		}
	}
}

// Disabling an ordered webhook mid-sequence cancels the key's retrying and
// waiting deliveries alike (no wait outlives it); after enabling, a bulk
// resend of the cancelled ones delivers them in order.
func TestOrderedDisableMidSequence(t *testing.T) {
	t.Parallel()
	s := e2etest.FastSettings()
	s.Retries = []time.Duration{time.Hour}
	s.TurnRecheckMax = 2 * time.Second
	e := e2etest.New(t, e2etest.Options{Settings: &s})
	_, key := e.Account("professional")
	var mu sync.Mutex
	down := true
	snk, rcv := newSink(t, func(orderedPayload) bool {
		mu.Lock()
		defer mu.Unlock()
		return down
	})
	hook, _ := e.CreateWebhook(key, e2etest.Webhook{URL: rcv.At("/ordered"), Ordered: true})
	since := time.Now().Add(-time.Minute).UTC()
	for n := 1; n <= 3; n++ {
		e.Publish(key, e2etest.Event{ID: fmt.Sprintf("mid-%d", n), OrderingKey: "mid"})
	}
	ids := make([]string, 3)
	e2etest.Eventually(t, "the deliveries recorded", func() bool {
		for n := range ids {
			ids[n] = e.EventDeliveries(key, fmt.Sprintf("mid-%d", n+1))[hook].ID
		}
		return ids[0] != "" && ids[1] != "" && ids[2] != ""
	})
	e.WaitStatus(key, ids[0], "retrying")
	e.WaitStatus(key, ids[2], "waiting")
	e.Do("POST", "/v1/webhooks/"+hook+"/disable", key, nil).Want(t, http.StatusOK)
	for _, id := range ids {
		e.WaitStatus(key, id, "cancelled")
	}
	mu.Lock()
	down = false
	mu.Unlock()
	e.Do("POST", "/v1/webhooks/"+hook+"/enable", key, nil).Want(t, http.StatusOK)
	e.Do("POST", "/v1/deliveries/resend", key, map[string]any{"webhookId": hook, "status": "cancelled", "since": since}).
		Want(t, http.StatusAccepted)
	e2etest.Eventually(t, "the three events delivered", func() bool { return snk.count() == 3 })
	if out, _ := snk.check(3); len(out) > 0 {
		t.Errorf("out of order after the resend: %v", out)
	}
}
