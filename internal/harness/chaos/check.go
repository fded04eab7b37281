// Package chaos is the fault suite's engine: receivers that record every POST,
// a publisher that keeps publishing through outages, control of the webhookd
// processes, a scenario runner and, above all, the checker that compares what
// the receivers got with what the delivery log says. cmd/chaos (make chaos)
// runs the full scenario on a stack of its own; TestShortChaos runs a reduced
// one inside make test.
package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
)

// Attempt is one row of the attempts table: one HTTP POST that left the
// worker (schema with try/finished_at), or one attempt number (older schema,
// where a re-sent attempt overwrote its row; Finished is then always true).
type Attempt struct {
	Series, Number, Try int
	// ResponseStatus is the receiver's answer; 0 when none was recorded.
	ResponseStatus int
	Error          string
	// Finished is false when the worker died before recording the outcome:
	// the POST may or may not have reached the receiver.
	Finished  bool
	StartedAt time.Time
}

// Reached says the receiver definitely got this POST.
func (a Attempt) Reached() bool { return a.ResponseStatus != 0 }

// MaybeReached says the POST may have reached the receiver without the
// worker learning so: it died first, gave up waiting (timeout), or the
// connection broke after the request was sent (a proxy killed under it).
func (a Attempt) MaybeReached() bool {
	return !a.Reached() && (!a.Finished || strings.Contains(strings.ToLower(a.Error), "timeout") ||
		strings.HasPrefix(a.Error, activities.SentNoAnswer))
}

// Delivery is one row of the deliveries table with its attempts.
type Delivery struct {
	ID, EventID, WebhookID, MessageID, Status string
	AttemptCount                              int
	Attempts                                  []Attempt
	CreatedAt                                 time.Time
}

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusRetrying  = "retrying"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
	// StatusSkippedDisabled: the event came while its webhook was
	// disabled; never sent (a visible failure, replayable on enabling).
	StatusSkippedDisabled = "skipped_disabled"
)

// Post is one POST a receiver got.
type Post struct {
	WebhookID string // the webhook whose receiver got it
	EventID   string // from the body
	MessageID string // the webhook-id header
	Answer    int    // the status the receiver answered
	// OrderingKey and Sequence are the body's, when the event has a key.
	OrderingKey string
	Sequence    int64
	At          time.Time // when it arrived
}

// Pair is one expected delivery: an accepted event and a webhook it matches.
type Pair struct{ EventID, WebhookID string }

// Input is everything the checker compares.
type Input struct {
	Expected   []Pair
	Deliveries []Delivery
	Posts      []Post
}

// Kinds of disagreement between the delivery log and the receivers.
const (
	// The log records more answers than the receiver saw POSTs (r < a).
	KindFewerPostsThanLog = "receiver got fewer POSTs than the log's answered attempts (r < a)"
	// The receiver saw POSTs that no attempt row accounts for (r > a+m).
	KindUnloggedPosts = "receiver got POSTs the log does not account for (r > a+m)"
	// status=succeeded but the receiver never answered 2xx.
	KindSucceededWithout2xx = "log says succeeded, receiver never answered 2xx"
	// The receiver answered 2xx but the log says failed or cancelled.
	KindFailedAfter2xx = "receiver answered 2xx, log says failed/cancelled"
	// POSTs whose webhook-id is no delivery's message_id.
	KindUnknownMessage = "receiver got a webhook-id that is no delivery's message_id"
	// POSTs for an accepted event and webhook with no delivery row.
	KindNoDeliveryRow = "receiver got POSTs for a pair without a delivery row"
	// POSTs that reached a webhook other than the delivery's.
	KindWrongReceiver = "POSTs of a delivery reached another webhook's receiver"
)

// Result is what the checker found.
type Result struct {
	Expected int `json:"deliveriesExpected"`
	// DeliveredOnce: the receiver answered 2xx exactly once, to one webhook-id.
	DeliveredOnce int `json:"deliveredOnce"`
	// Duplicated: the receiver answered 2xx more than once to one webhook-id
	// (a retry after a 5xx or a timeout is not a duplicate, a second 2xx is).
	Duplicated int `json:"duplicated"`
	// DuplicatedOtherID: the receiver got more than one webhook-id for one
	// event and webhook (must be 0).
	DuplicatedOtherID int `json:"duplicatedOtherId"`
	// VisibleFailures: never answered 2xx, and the log says failed/cancelled.
	VisibleFailures int `json:"visibleFailures"`
	// Lost: accepted, never answered 2xx by the receiver, and the log shows
	// no failure (no delivery row, or a row that says succeeded).
	Lost int `json:"lost"`
	// NotConverged: expected pairs whose delivery is still pending/retrying.
	NotConverged int `json:"notConverged"`
	// Disagreeing: deliveries (or stray POSTs) where the log and the
	// receivers disagree; by kind below.
	Disagreeing int                   `json:"disagreeing"`
	Kinds       map[string]*KindCount `json:"disagreementKinds,omitempty"`
	// Examples of lost and not converged pairs (delivery ids when a row exists).
	LostExamples         []string `json:"lostExamples,omitempty"`
	NotConvergedExamples []string `json:"notConvergedExamples,omitempty"`
	DuplicatedExamples   []string `json:"duplicatedExamples,omitempty"`
	// Attempt rows: total, definitely reached, maybe reached, unfinished.
	AttemptRows       int `json:"attemptRows"`
	AttemptsReached   int `json:"attemptsReached"`
	AttemptsMaybe     int `json:"attemptsMaybeReached"`
	AttemptsResent    int `json:"attemptsResent"` // try > 1
	AttemptsUnfinshed int `json:"attemptsUnfinished"`
	Posts             int `json:"receiverPosts"`
}

// KindCount counts one kind of disagreement with a few examples.
type KindCount struct {
	Count    int      `json:"count"`
	Examples []string `json:"examples"`
}

const maxExamples = 5

func addExample(list []string, s string) []string {
	if len(list) < maxExamples && !slices.Contains(list, s) {
		return append(list, s)
	}
	return list
}

func (r *Result) disagree(kind, example string) {
	if r.Kinds == nil {
		r.Kinds = map[string]*KindCount{}
	}
	k := r.Kinds[kind]
	if k == nil {
		k = &KindCount{}
		r.Kinds[kind] = k
	}
	k.Count++
	k.Examples = addExample(k.Examples, example)
}

// Failed says whether the run must fail: anything lost, disagreeing, not
// converged, or delivered under two webhook-ids.
func (r *Result) Failed() bool {
	return r.Lost > 0 || r.Disagreeing > 0 || r.NotConverged > 0 || r.DuplicatedOtherID > 0
}

// Check compares the delivery log with the receivers.
//
// Per delivery, with r = POSTs the receivers recorded with its message_id,
// a = its attempt rows with a response status (definitely reached) and
// m = rows without one that were left unfinished or timed out (maybe
// reached), the log agrees iff a ≤ r ≤ a+m, status=succeeded implies a 2xx
// answer among those POSTs, and a 2xx answer implies status=succeeded.
// A delivery still pending/retrying is not converged (not judged).
func Check(in Input) Result {
	var res Result
	res.Posts = len(in.Posts)
	byMsg := map[string][]Post{}
	byPair := map[Pair][]Post{}
	for _, p := range in.Posts {
		byMsg[p.MessageID] = append(byMsg[p.MessageID], p)
		byPair[Pair{p.EventID, p.WebhookID}] = append(byPair[Pair{p.EventID, p.WebhookID}], p)
	}
	dels := map[Pair]*Delivery{}
	knownMsg := map[string]bool{}
	for i := range in.Deliveries {
		d := &in.Deliveries[i]
		dels[Pair{d.EventID, d.WebhookID}] = d
		knownMsg[d.MessageID] = true
	}

	// Every delivery in the log, expected or not.
	badDelivery := map[string]bool{}
	for i := range in.Deliveries {
		d := &in.Deliveries[i]
		var a, m int
		for _, at := range d.Attempts {
			res.AttemptRows++
			switch {
			case at.Reached():
				a++
				res.AttemptsReached++
			case at.MaybeReached():
				m++
				res.AttemptsMaybe++
			}
			if at.Try > 1 {
				res.AttemptsResent++
			}
			if !at.Finished {
				res.AttemptsUnfinshed++
			}
		}
		if d.Status == StatusPending || d.Status == StatusRetrying {
			continue // judged as not converged below
		}
		posts := byMsg[d.MessageID]
		r, got2xx := 0, false
		for _, p := range posts {
			if p.WebhookID != d.WebhookID {
				res.disagree(KindWrongReceiver, d.ID)
				badDelivery[d.ID] = true
				continue
			}
			r++
			if is2xx(p.Answer) {
				got2xx = true
			}
		}
		ex := fmt.Sprintf("%s (event %s, webhook %s, status %s, r=%d a=%d m=%d)", d.ID, d.EventID, d.WebhookID, d.Status, r, a, m)
		if r < a {
			res.disagree(KindFewerPostsThanLog, ex)
			badDelivery[d.ID] = true
		}
		if r > a+m {
			res.disagree(KindUnloggedPosts, ex)
			badDelivery[d.ID] = true
		}
		if d.Status == StatusSucceeded && !got2xx {
			res.disagree(KindSucceededWithout2xx, ex)
			badDelivery[d.ID] = true
		}
		if (d.Status == StatusFailed || d.Status == StatusCancelled || d.Status == StatusSkippedDisabled) && got2xx {
			res.disagree(KindFailedAfter2xx, ex)
			badDelivery[d.ID] = true
		}
	}
	res.Disagreeing = len(badDelivery)

	// POSTs that no delivery explains.
	strayMsgs := map[string]bool{}
	for _, p := range in.Posts {
		if !knownMsg[p.MessageID] && !strayMsgs[p.MessageID] {
			strayMsgs[p.MessageID] = true
			res.disagree(KindUnknownMessage, fmt.Sprintf("webhook-id %s (event %s, webhook %s)", p.MessageID, p.EventID, p.WebhookID))
			res.Disagreeing++
		}
	}

	// Every expected pair: once, duplicated, failed visibly, lost.
	seen := map[Pair]bool{}
	for _, pair := range in.Expected {
		if seen[pair] {
			continue
		}
		seen[pair] = true
		res.Expected++
		posts := byPair[pair]
		ids := map[string]int{} // webhook-id → 2xx answers
		total2xx := 0
		for _, p := range posts {
			if _, ok := ids[p.MessageID]; !ok {
				ids[p.MessageID] = 0
			}
			if is2xx(p.Answer) {
				ids[p.MessageID]++
				total2xx++
			}
		}
		d := dels[pair]
		name := fmt.Sprintf("event %s webhook %s", pair.EventID, pair.WebhookID)
		if d != nil {
			name = d.ID
		}
		if len(ids) > 1 {
			res.DuplicatedOtherID++
			res.DuplicatedExamples = addExample(res.DuplicatedExamples, name+" (several webhook-ids)")
		}
		dup := false
		for _, n := range ids {
			if n > 1 {
				dup = true
			}
		}
		switch {
		case dup:
			res.Duplicated++
			res.DuplicatedExamples = addExample(res.DuplicatedExamples, name)
		case total2xx == 1:
			res.DeliveredOnce++
		}
		if d == nil {
			if len(posts) > 0 {
				res.disagree(KindNoDeliveryRow, name)
				res.Disagreeing++
			}
			if total2xx == 0 {
				res.Lost++
				res.LostExamples = addExample(res.LostExamples, name+" (no delivery row)")
			}
			continue
		}
		switch d.Status {
		case StatusPending, StatusRetrying:
			res.NotConverged++
			res.NotConvergedExamples = addExample(res.NotConvergedExamples, fmt.Sprintf("%s (%s, %d attempts)", d.ID, d.Status, d.AttemptCount))
		case StatusFailed, StatusCancelled, StatusSkippedDisabled:
			if total2xx == 0 {
				res.VisibleFailures++
			}
		default:
			if total2xx == 0 {
				res.Lost++
				res.LostExamples = addExample(res.LostExamples, fmt.Sprintf("%s (log: %s)", d.ID, d.Status))
			}
		}
	}
	for _, k := range res.Kinds {
		sort.Strings(k.Examples)
	}
	return res
}

func is2xx(s int) bool { return s >= 200 && s < 300 }
