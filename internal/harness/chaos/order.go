package chaos

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// The order check of the ordered scenario (Config.Keys): what the receivers
// of ordered webhooks got, key by key, against the sequence numbers the API
// gave the events, and an unordered webhook as the control.

// StoredEvent is an event's ordering key and sequence as PostgreSQL has them.
type StoredEvent struct {
	Key      string
	Sequence int64
}

// LoadSequences reads the key and sequence of every keyed event of an
// account, by event id.
func LoadSequences(ctx context.Context, db *sql.DB, accountID string) (map[string]StoredEvent, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, ordering_key, sequence FROM events
		WHERE account_id = $1 AND ordering_key <> ''`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]StoredEvent{}
	for rows.Next() {
		var id string
		var e StoredEvent
		if err := rows.Scan(&id, &e.Key, &e.Sequence); err != nil {
			return nil, err
		}
		out[id] = e
	}
	return out, rows.Err()
}

// OrderHook is one webhook as the order check sees it: its receiver's POSTs
// in the order they arrived.
type OrderHook struct {
	Name, WebhookID string
	Ordered         bool
	Posts           []Post
}

// OrderInput is what CheckOrder compares.
type OrderInput struct {
	Stored map[string]StoredEvent // by event id
	// Published is the ids of the events the API accepted, in the order it
	// answered them: a key's events were published one after another.
	Published  []string
	Deliveries []Delivery
	Hooks      []OrderHook
}

// OrderResult is the order check.
type OrderResult struct {
	Keys   int `json:"keys"`
	Events int `json:"keyedEventsStored"`
	// Numbering: keys whose accepted events, in publication order, do not
	// have the stored sequences 1, 2, 3…
	Numbering int `json:"keysMisnumbered"`
	// WireMismatches: POSTs whose orderingKey or sequence is not the
	// stored event's.
	WireMismatches int `json:"wireMismatches"`
	// NotSucceeded: deliveries that did not end succeeded (no delivery of
	// this scenario may give up).
	NotSucceeded int               `json:"deliveriesNotSucceeded"`
	Webhooks     []OrderHookResult `json:"webhooks"`
	Problems     []string          `json:"problems,omitempty"`
	Examples     []string          `json:"examples,omitempty"`
}

// OrderHookResult is one webhook's keys, judged by the first 2xx answer to
// each webhook-id in the order the receiver got them.
type OrderHookResult struct {
	Name      string `json:"name"`
	WebhookID string `json:"webhookId"`
	Ordered   bool   `json:"ordered"`
	Keys      int    `json:"keys"`
	// InOrder: the first successes are exactly the sequences 1..n of
	// the key's stored events, in that order.
	InOrder int `json:"keysInOrder"`
	// OutOfOrder: some first success came after one of a later (or the
	// same) sequence.
	OutOfOrder int `json:"keysOutOfOrder"`
	// Incomplete: in order, but some sequence never got a 2xx.
	Incomplete int      `json:"keysIncomplete"`
	Posts      int      `json:"posts"`
	Refused    int      `json:"postsAnswered500"`
	Examples   []string `json:"examples,omitempty"`
	// HandOff (ordered webhooks): from the first 2xx to event n of a key
	// to the first POST of n+1, in ms: the cost of taking turns, and of a
	// wake-up a crash lost (n+1 published after n succeeded counts too).
	HandOff *Percentiles `json:"handOffMs,omitempty"`
	// FirstAttempt: from a delivery's row to its first attempt (the
	// delivery log's clock), in ms: the wait for earlier events of the key
	// on an ordered webhook; on the control, what the system alone costs
	// (a crash or an outage delays both).
	FirstAttempt *Percentiles `json:"createdToFirstAttemptMs,omitempty"`
}

// Percentiles of a distribution.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Failed says whether the run must fail: an ordered webhook with a key out
// of order or incomplete, an unordered one without any reordering (the
// check could not have failed), misnumbered keys, POSTs that carry another
// key or sequence than stored, or a delivery that did not succeed.
func (o *OrderResult) Failed() bool { return len(o.Problems) > 0 }

// CheckOrder runs the order check.
func CheckOrder(in OrderInput) *OrderResult {
	res := &OrderResult{Events: len(in.Stored)}
	want := map[string]int64{} // key → stored events
	for _, e := range in.Stored {
		want[e.Key]++
	}
	res.Keys = len(want)
	res.checkNumbering(in)
	for _, d := range in.Deliveries {
		if d.Status != StatusSucceeded {
			res.NotSucceeded++
			res.example(fmt.Sprintf("delivery %s (event %s) ended %s", d.ID, d.EventID, d.Status))
		}
	}
	for _, h := range in.Hooks {
		r := res.checkHook(h, in.Stored, want)
		r.FirstAttempt = firstAttempts(in.Deliveries, h.WebhookID)
		res.Webhooks = append(res.Webhooks, r)
	}
	res.judge()
	return res
}

// checkNumbering compares each key's accepted events, in publication
// order, with their stored sequences.
func (o *OrderResult) checkNumbering(in OrderInput) {
	seqs := map[string][]int64{}
	for _, id := range in.Published {
		if e, ok := in.Stored[id]; ok {
			seqs[e.Key] = append(seqs[e.Key], e.Sequence)
		}
	}
	for _, key := range sortedKeys(seqs) {
		if !isOneToN(seqs[key]) {
			o.Numbering++
			o.example(fmt.Sprintf("key %s: accepted events numbered %v", key, seqs[key]))
		}
	}
}

func (o *OrderResult) checkHook(h OrderHook, stored map[string]StoredEvent, want map[string]int64) OrderHookResult {
	r := OrderHookResult{Name: h.Name, WebhookID: h.WebhookID, Ordered: h.Ordered, Keys: len(want), Posts: len(h.Posts)}
	firsts := map[string][]int64{} // key → sequences of first successes, in arrival order
	seen := map[string]bool{}      // webhook-ids answered 2xx
	t := newTurnTimes()
	for _, p := range h.Posts {
		t.post(p)
		if e, ok := stored[p.EventID]; ok && (e.Key != p.OrderingKey || e.Sequence != p.Sequence) {
			o.WireMismatches++
			o.example(fmt.Sprintf("%s: event %s came with key %q sequence %d, stored %q %d", h.Name, p.EventID, p.OrderingKey, p.Sequence, e.Key, e.Sequence))
		}
		if !is2xx(p.Answer) {
			r.Refused++
			continue
		}
		if !seen[p.MessageID] {
			seen[p.MessageID] = true
			firsts[p.OrderingKey] = append(firsts[p.OrderingKey], p.Sequence)
			t.succeeded(p)
		}
	}
	if h.Ordered {
		r.HandOff = t.handOffs()
	}
	for _, key := range sortedKeys(want) {
		got := firsts[key]
		switch {
		case len(got) == int(want[key]) && isOneToN(got):
			r.InOrder++
		case !increasing(got):
			r.OutOfOrder++
			r.Examples = addExample(r.Examples, fmt.Sprintf("key %s: %v", key, got))
		default:
			r.Incomplete++
			r.Examples = addExample(r.Examples, fmt.Sprintf("key %s: %v of %d", key, got, want[key]))
		}
	}
	return r
}

// turnTimes records, per key and sequence, the first POST and the first
// 2xx a receiver got.
type turnTimes struct {
	firstPost, firstOK map[string]map[int64]time.Time
}

func newTurnTimes() *turnTimes {
	return &turnTimes{firstPost: map[string]map[int64]time.Time{}, firstOK: map[string]map[int64]time.Time{}}
}

func (t *turnTimes) post(p Post) { first(t.firstPost, p) }

func (t *turnTimes) succeeded(p Post) { first(t.firstOK, p) }

func first(m map[string]map[int64]time.Time, p Post) {
	if m[p.OrderingKey] == nil {
		m[p.OrderingKey] = map[int64]time.Time{}
	}
	if _, ok := m[p.OrderingKey][p.Sequence]; !ok {
		m[p.OrderingKey][p.Sequence] = p.At
	}
}

// handOffs is the distribution of first 2xx to n → first POST of n+1.
func (t *turnTimes) handOffs() *Percentiles {
	var ds []time.Duration
	for key, ok := range t.firstOK {
		for seq, at := range ok {
			if next, found := t.firstPost[key][seq+1]; found && !next.Before(at) {
				ds = append(ds, next.Sub(at))
			}
		}
	}
	return percentiles(ds)
}

// firstAttempts is the distribution of a webhook's deliveries' row → first
// attempt.
func firstAttempts(dels []Delivery, webhookID string) *Percentiles {
	var ds []time.Duration
	for _, d := range dels {
		if d.WebhookID != webhookID || len(d.Attempts) == 0 {
			continue
		}
		first := d.Attempts[0].StartedAt
		for _, a := range d.Attempts[1:] {
			if a.StartedAt.Before(first) {
				first = a.StartedAt
			}
		}
		ds = append(ds, max(0, first.Sub(d.CreatedAt)))
	}
	return percentiles(ds)
}

// percentiles in ms (nearest rank); nil for none.
func percentiles(ds []time.Duration) *Percentiles {
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		k := max(0, int(math.Ceil(q*float64(len(ds))))-1)
		return round1(float64(ds[k]) / float64(time.Millisecond))
	}
	return &Percentiles{N: len(ds), P50: at(0.5), P99: at(0.99), Max: at(1)}
}

func (o *OrderResult) judge() {
	for _, h := range o.Webhooks {
		switch {
		case h.Ordered && h.OutOfOrder+h.Incomplete > 0:
			o.Problems = append(o.Problems, fmt.Sprintf("ordered webhook %s: %d keys out of order, %d incomplete (e.g. %s)",
				h.Name, h.OutOfOrder, h.Incomplete, strings.Join(h.Examples, "; ")))
		case !h.Ordered && h.OutOfOrder == 0:
			o.Problems = append(o.Problems, fmt.Sprintf("unordered webhook %s got every key in order: the run cannot tell ordering from luck", h.Name))
		}
	}
	if o.Keys == 0 {
		o.Problems = append(o.Problems, "no keyed event was stored")
	}
	if o.Numbering > 0 {
		o.Problems = append(o.Problems, fmt.Sprintf("%d keys whose accepted events are not numbered 1, 2, 3… in publication order", o.Numbering))
	}
	if o.WireMismatches > 0 {
		o.Problems = append(o.Problems, fmt.Sprintf("%d POSTs carried another key or sequence than stored", o.WireMismatches))
	}
	if o.NotSucceeded > 0 {
		o.Problems = append(o.Problems, fmt.Sprintf("%d deliveries did not succeed", o.NotSucceeded))
	}
}

func (o *OrderResult) example(s string) { o.Examples = addExample(o.Examples, s) }

// orderHooks pairs the specs with their receivers.
func orderHooks(specs []ReceiverSpec, rs Receivers) []OrderHook {
	out := make([]OrderHook, len(rs))
	for i, r := range rs {
		out[i] = OrderHook{Name: r.Name, WebhookID: r.WebhookID(), Ordered: specs[i].Ordered, Posts: r.Posts()}
	}
	return out
}

// isOneToN says whether s is 1, 2, …, len(s).
func isOneToN(s []int64) bool {
	for i, q := range s {
		if q != int64(i+1) {
			return false
		}
	}
	return true
}

// increasing says whether s is strictly increasing.
func increasing(s []int64) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Rows is the order check's part of the report table.
func (o *OrderResult) Rows() [][2]string {
	rows := [][2]string{
		{"keys (keyed events stored)", fmt.Sprintf("%d (%d)", o.Keys, o.Events)},
		{"keys misnumbered / POSTs with another key or sequence", fmt.Sprintf("%d / %d", o.Numbering, o.WireMismatches)},
		{"deliveries not succeeded", fmt.Sprintf("%d", o.NotSucceeded)},
	}
	for _, h := range o.Webhooks {
		name := h.Name
		if !h.Ordered {
			name += " (control)"
		}
		rows = append(rows, [2]string{
			fmt.Sprintf("webhook %s: keys in order / out of order / incomplete", name),
			fmt.Sprintf("%d / %d / %d (%d POSTs, %d answered 500)", h.InOrder, h.OutOfOrder, h.Incomplete, h.Posts, h.Refused),
		})
		if p := h.FirstAttempt; p != nil {
			rows = append(rows, [2]string{
				fmt.Sprintf("webhook %s: delivery row → first attempt (p50 / p99 / max)", h.Name),
				fmt.Sprintf("%.0f / %.0f / %.0f ms (%d deliveries)", p.P50, p.P99, p.Max, p.N),
			})
		}
		if p := h.HandOff; p != nil {
			rows = append(rows, [2]string{
				fmt.Sprintf("webhook %s: hand-off, 2xx to event n → first POST of n+1 (p50 / p99 / max)", h.Name),
				fmt.Sprintf("%.0f / %.0f / %.0f ms (%d turns)", p.P50, p.P99, p.Max, p.N),
			})
		}
	}
	return rows
}

// print writes the examples and problems.
func (o *OrderResult) print(w io.Writer) {
	for _, h := range o.Webhooks {
		if len(h.Examples) > 0 {
			fmt.Fprintf(w, "%s, e.g.: %s\n", h.Name, strings.Join(h.Examples, "; "))
		}
	}
	if len(o.Examples) > 0 {
		fmt.Fprintf(w, "order check, e.g.: %s\n", strings.Join(o.Examples, "; "))
	}
	for _, p := range o.Problems {
		fmt.Fprintf(w, "order: %s\n", p)
	}
}
