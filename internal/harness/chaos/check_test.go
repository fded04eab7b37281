package chaos

import (
	"testing"

	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
)

// Shorthands for the table.
func ok(status int) Attempt {
	return Attempt{Series: 1, Try: 1, ResponseStatus: status, Finished: true}
}
func refused() Attempt {
	return Attempt{Series: 1, Try: 1, Error: "dial tcp 127.0.0.1:1: connect: connection refused", Finished: true}
}
func timedOut() Attempt {
	return Attempt{Series: 1, Try: 1, Error: "timeout: no answer within the attempt timeout", Finished: true}
}
func unfinished() Attempt { return Attempt{Series: 1, Try: 2} }
func cutAfterSent() Attempt {
	return Attempt{Series: 1, Try: 1, Error: activities.SentNoAnswer + ": EOF", Finished: true}
}

func posts(n int, answers ...int) []Post {
	var out []Post
	for i := 0; i < n; i++ {
		a := 200
		if i < len(answers) {
			a = answers[i]
		}
		out = append(out, Post{WebhookID: "w1", EventID: "e1", MessageID: "msg_1", Answer: a})
	}
	return out
}

func TestCheckRule(t *testing.T) {
	pair := []Pair{{"e1", "w1"}}
	del := func(status string, at ...Attempt) []Delivery {
		return []Delivery{{ID: "d1", EventID: "e1", WebhookID: "w1", MessageID: "msg_1", Status: status, Attempts: at}}
	}
	cases := []struct {
		name     string
		in       Input
		once     int
		dup      int
		dupOther int
		lost     int
		visible  int
		notConv  int
		disagree int
		kind     string
	}{
		{name: "one attempt, one POST", in: Input{pair, del("succeeded", ok(200)), posts(1)}, once: 1},
		{name: "two 500s then 200", in: Input{pair, del("succeeded", ok(500), ok(500), ok(200)), posts(3, 500, 500, 200)}, once: 1},
		{name: "refused while down, then 200", in: Input{pair, del("succeeded", refused(), refused(), ok(200)), posts(1)}, once: 1},
		{name: "timeout that reached the receiver", in: Input{pair, del("succeeded", timedOut(), ok(200)), posts(2, 200, 200)}, dup: 1},
		{name: "timeout that did not reach it", in: Input{pair, del("succeeded", timedOut(), ok(200)), posts(1)}, once: 1},
		{name: "connection cut after the request was sent, which reached it", in: Input{pair, del("succeeded", cutAfterSent(), ok(200)), posts(2, 200, 200)}, dup: 1},
		{name: "connection cut after the request was sent, which did not reach it", in: Input{pair, del("succeeded", cutAfterSent(), ok(200)), posts(1)}, once: 1},
		{name: "refused (never sent), yet the receiver got it", in: Input{pair, del("succeeded", refused(), ok(200)), posts(2, 200, 200)},
			dup: 1, disagree: 1, kind: KindUnloggedPosts},
		{name: "unfinished try that reached it, then re-sent", in: Input{pair, del("succeeded", unfinished(), ok(200)), posts(2)}, dup: 1},
		{name: "unfinished try that did not reach it", in: Input{pair, del("succeeded", unfinished(), ok(200)), posts(1)}, once: 1},
		{name: "re-sent attempt overwrote its row (old schema)", in: Input{pair, del("succeeded", ok(200)), posts(2)},
			dup: 1, disagree: 1, kind: KindUnloggedPosts},
		{name: "log records an answer the receiver never saw", in: Input{pair, del("succeeded", ok(500), ok(200)), posts(1)},
			once: 1, disagree: 1, kind: KindFewerPostsThanLog},
		{name: "succeeded without a 2xx", in: Input{pair, del("succeeded", ok(200)), posts(1, 500)},
			lost: 1, disagree: 1, kind: KindSucceededWithout2xx},
		{name: "failed after a 2xx", in: Input{pair, del("failed", ok(200)), posts(1)},
			once: 1, disagree: 1, kind: KindFailedAfter2xx},
		{name: "failed visibly: receiver down throughout", in: Input{pair, del("failed", refused(), refused()), nil}, visible: 1},
		{name: "failed visibly: 500 every time", in: Input{pair, del("failed", ok(500), ok(500)), posts(2, 500, 500)}, visible: 1},
		{name: "cancelled before any attempt", in: Input{pair, del("cancelled"), nil}, visible: 1},
		{name: "still retrying", in: Input{pair, del("retrying", refused()), nil}, notConv: 1},
		{name: "no delivery row, nothing received", in: Input{pair, nil, nil}, lost: 1},
		{name: "no delivery row, but received", in: Input{pair, nil, posts(1)},
			once: 1, disagree: 2, kind: KindNoDeliveryRow},
		{name: "two webhook-ids for one event and webhook", in: Input{pair, del("succeeded", ok(200)),
			append(posts(1), Post{WebhookID: "w1", EventID: "e1", MessageID: "msg_2", Answer: 200})},
			dupOther: 1, disagree: 1, kind: KindUnknownMessage},
		{name: "POST reached another webhook's receiver", in: Input{pair, del("succeeded", ok(200)),
			append(posts(1), Post{WebhookID: "w2", EventID: "e1", MessageID: "msg_1", Answer: 200})},
			once: 1, disagree: 1, kind: KindWrongReceiver},
		{name: "new schema: crash after the POST, re-sent as try 2", in: Input{pair, del("succeeded",
			Attempt{Series: 1, Number: 1, Try: 1}, Attempt{Series: 1, Number: 1, Try: 2, ResponseStatus: 200, Finished: true}), posts(2)}, dup: 1},
		{name: "new schema: crash before the POST", in: Input{pair, del("succeeded",
			Attempt{Series: 1, Number: 1, Try: 1}, Attempt{Series: 1, Number: 1, Try: 2, ResponseStatus: 200, Finished: true}), posts(1)}, once: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Check(c.in)
			got := [7]int{r.DeliveredOnce, r.Duplicated, r.DuplicatedOtherID, r.Lost, r.VisibleFailures, r.NotConverged, r.Disagreeing}
			want := [7]int{c.once, c.dup, c.dupOther, c.lost, c.visible, c.notConv, c.disagree}
			if got != want {
				t.Errorf("once/dup/dupOther/lost/visible/notConverged/disagree = %v, want %v (kinds %v)", got, want, kinds(r))
			}
			if c.kind != "" && r.Kinds[c.kind] == nil {
				t.Errorf("kinds %v, want %q", kinds(r), c.kind)
			}
			if r.Expected != 1 {
				t.Errorf("expected %d, want 1", r.Expected)
			}
			if wantFail := c.lost+c.notConv+c.disagree+c.dupOther > 0; r.Failed() != wantFail {
				t.Errorf("Failed() = %v, want %v", r.Failed(), wantFail)
			}
		})
	}
}

func kinds(r Result) map[string]int {
	m := map[string]int{}
	for k, v := range r.Kinds {
		m[k] = v.Count
	}
	return m
}

func TestCheckCountsOnlyExpectedPairs(t *testing.T) {
	// A delivery of an event that was never accepted (publish gave up) is
	// still judged for agreement, but is not expected.
	in := Input{
		Expected:   []Pair{{"e1", "w1"}, {"e1", "w1"}},
		Deliveries: []Delivery{{ID: "d1", EventID: "e1", WebhookID: "w1", MessageID: "msg_1", Status: "succeeded", Attempts: []Attempt{ok(200)}}, {ID: "d2", EventID: "e2", WebhookID: "w1", MessageID: "msg_2", Status: "succeeded", Attempts: []Attempt{ok(200)}}},
		Posts:      append(posts(1), Post{WebhookID: "w1", EventID: "e2", MessageID: "msg_2", Answer: 200}, Post{WebhookID: "w1", EventID: "e2", MessageID: "msg_2", Answer: 200}),
	}
	r := Check(in)
	if r.Expected != 1 || r.DeliveredOnce != 1 || r.Disagreeing != 1 || r.Kinds[KindUnloggedPosts] == nil || r.Kinds[KindUnloggedPosts].Examples[0] != "d2 (event e2, webhook w1, status succeeded, r=2 a=1 m=0)" {
		t.Fatalf("%+v", r)
	}
}
