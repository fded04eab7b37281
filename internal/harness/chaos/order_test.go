package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// orderFixture: keys a and b of three events each, stored as sequences
// 1..3, published in that order.
func orderFixture() OrderInput {
	in := OrderInput{Stored: map[string]StoredEvent{}}
	for _, k := range []string{"a", "b"} {
		for n := 1; n <= 3; n++ {
			id := fmt.Sprintf("%s-%d", k, n)
			in.Stored[id] = StoredEvent{Key: k, Sequence: int64(n)}
			in.Published = append(in.Published, id)
		}
	}
	return in
}

// arrivals turns "a1 a2! b1" into POSTs: key and sequence, "!" for a 500,
// "'" for a second webhook-id of the event; the webhook-id is otherwise
// one per event.
func arrivals(s string) []Post {
	var out []Post
	for _, f := range strings.Fields(s) {
		answer, msg := 200, "msg-"
		if strings.HasSuffix(f, "!") {
			answer, f = 500, strings.TrimSuffix(f, "!")
		}
		if strings.HasSuffix(f, "'") {
			msg, f = "other-", strings.TrimSuffix(f, "'")
		}
		key, seq := f[:1], int64(f[1]-'0')
		ev := fmt.Sprintf("%s-%d", key, seq)
		out = append(out, Post{EventID: ev, MessageID: msg + ev, Answer: answer, OrderingKey: key, Sequence: seq})
	}
	return out
}

func TestCheckOrder(t *testing.T) {
	inOrder := "a1! a1 b1 a2 b2! b2 a1 a3 b3"
	shuffled := "a2 a1 a3 b1 b2 b3"
	cases := []struct {
		name                     string
		ordered, control         string
		change                   func(*OrderInput)
		inOrd, out, incomplete   int
		controlOut               int
		wantProblem              string // "" : none
		misnumbered, wire, unsuc int
	}{
		{name: "in order (a 500, then the retry; a late duplicate of a1)", ordered: inOrder, control: shuffled,
			inOrd: 2, controlOut: 1},
		{name: "a retry that succeeds after a later event", ordered: "a1! a2 a1 a3 b1 b2 b3", control: shuffled,
			inOrd: 1, out: 1, controlOut: 1, wantProblem: "1 keys out of order"},
		{name: "one event never got a 2xx", ordered: "a1 a2 a3! b1 b2 b3", control: shuffled,
			inOrd: 1, incomplete: 1, controlOut: 1, wantProblem: "0 keys out of order, 1 incomplete"},
		{name: "an event under two webhook-ids", ordered: "a1 a2 a3 a3' b1 b2 b3", control: shuffled,
			inOrd: 1, out: 1, controlOut: 1, wantProblem: "1 keys out of order"},
		{name: "the control in order too", ordered: inOrder, control: inOrder,
			inOrd: 2, wantProblem: "cannot tell ordering from luck"},
		{name: "accepted a-2 before a-1", ordered: inOrder, control: shuffled, inOrd: 2, controlOut: 1,
			change:      func(in *OrderInput) { in.Published[0], in.Published[1] = in.Published[1], in.Published[0] },
			misnumbered: 1, wantProblem: "not numbered 1, 2, 3"},
		{name: "a POST with another sequence than stored", ordered: inOrder, control: shuffled, inOrd: 2, controlOut: 1,
			change: func(in *OrderInput) { in.Hooks[0].Posts[0].Sequence = 2 },
			wire:   1, wantProblem: "another key or sequence"},
		{name: "a delivery that failed", ordered: inOrder, control: shuffled, inOrd: 2, controlOut: 1,
			change: func(in *OrderInput) {
				in.Deliveries = []Delivery{{ID: "d1", EventID: "a-1", Status: StatusSucceeded}, {ID: "d2", EventID: "a-2", Status: StatusFailed}}
			},
			unsuc: 1, wantProblem: "1 deliveries did not succeed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := orderFixture()
			in.Hooks = []OrderHook{{Name: "ordered", Ordered: true, Posts: arrivals(c.ordered)}, {Name: "control", Posts: arrivals(c.control)}}
			if c.change != nil {
				c.change(&in)
			}
			r := CheckOrder(in)
			o, ctl := r.Webhooks[0], r.Webhooks[1]
			got := [7]int{o.InOrder, o.OutOfOrder, o.Incomplete, ctl.OutOfOrder, r.Numbering, r.WireMismatches, r.NotSucceeded}
			want := [7]int{c.inOrd, c.out, c.incomplete, c.controlOut, c.misnumbered, c.wire, c.unsuc}
			if got != want {
				t.Errorf("in order/out/incomplete/control out/misnumbered/wire/not succeeded = %v, want %v (%+v)", got, want, r)
			}
			if c.wantProblem == "" && r.Failed() {
				t.Errorf("failed: %v", r.Problems)
			}
			if c.wantProblem != "" && !strings.Contains(strings.Join(r.Problems, "\n"), c.wantProblem) {
				t.Errorf("problems %q, want one with %q", r.Problems, c.wantProblem)
			}
			if r.Keys != 2 || o.Keys != 2 {
				t.Errorf("keys %d / %d, want 2", r.Keys, o.Keys)
			}
		})
	}
}

func TestTurnTimes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// a1 refused at 0, succeeds at 100; a2 first POSTed at 130 (30 ms
	// after), succeeds; a3 first POSTed at 2,200 (a lost wake-up).
	posts := []Post{
		{EventID: "a-1", MessageID: "m1", Answer: 500, OrderingKey: "a", Sequence: 1, At: at(0)},
		{EventID: "a-1", MessageID: "m1", Answer: 200, OrderingKey: "a", Sequence: 1, At: at(100)},
		{EventID: "a-2", MessageID: "m2", Answer: 200, OrderingKey: "a", Sequence: 2, At: at(130)},
		{EventID: "a-1", MessageID: "m1", Answer: 200, OrderingKey: "a", Sequence: 1, At: at(150)},
		{EventID: "a-3", MessageID: "m3", Answer: 200, OrderingKey: "a", Sequence: 3, At: at(2200)},
	}
	in := OrderInput{Stored: map[string]StoredEvent{"a-1": {"a", 1}, "a-2": {"a", 2}, "a-3": {"a", 3}},
		Hooks: []OrderHook{{Name: "o", WebhookID: "w", Ordered: true, Posts: posts}},
		// Row → first attempt: 10 ms (the attempts in any order), 2,000 ms;
		// another webhook's delivery does not count.
		Deliveries: []Delivery{
			{WebhookID: "w", Status: StatusSucceeded, CreatedAt: at(0), Attempts: []Attempt{{StartedAt: at(50)}, {StartedAt: at(10)}}},
			{WebhookID: "w", Status: StatusSucceeded, CreatedAt: at(100), Attempts: []Attempt{{StartedAt: at(2100)}}},
			{WebhookID: "x", Status: StatusSucceeded, CreatedAt: at(0), Attempts: []Attempt{{StartedAt: at(9000)}}},
		}}
	h := CheckOrder(in).Webhooks[0]
	if h.InOrder != 1 || h.HandOff == nil || *h.HandOff != (Percentiles{N: 2, P50: 30, P99: 2070, Max: 2070}) {
		t.Fatalf("%+v, hand-off %+v", h, h.HandOff)
	}
	if h.FirstAttempt == nil || *h.FirstAttempt != (Percentiles{N: 2, P50: 10, P99: 2000, Max: 2000}) {
		t.Fatalf("row to first attempt %+v", h.FirstAttempt)
	}
}
