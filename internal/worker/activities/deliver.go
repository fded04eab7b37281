package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/egress"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/signing"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// ErrAttemptFailed is the application error type of a failed attempt. It is
// non-retryable for Temporal: the workflow's own schedule decides what next.
const ErrAttemptFailed = "DeliveryAttemptFailed"

// DeliverInput names one attempt.
type DeliverInput struct {
	DeliveryID string
	Series     int
	Attempt    int // 1-based within the series
	// Test is a one-shot test event: sent even while disabled, never retried.
	Test bool
	// What the delivery row says, so a row the database lost (commits lost
	// in a failover) can be restored and the attempt made.
	AccountID string `json:",omitempty"`
	EventID   string `json:",omitempty"`
	WebhookID string `json:",omitempty"`
	// Reservation is the rate-limit slot an earlier call of this attempt
	// was given (flow.AttemptResult.Reservation): sent at it, no new slot.
	Reservation *time.Time `json:",omitempty"`
	// Waits counts this attempt's throttled waits so far: a webhook at its
	// maximum concurrency is polled less often the longer it stays full.
	Waits int `json:",omitempty"`
}

// Payload is the JSON body every receiver gets: the event under the
// member names of the product's webhook contract, which are not the
// publisher's (event, eventId, eventPayload).
type Payload struct {
	Event         string          `json:"event"`
	EventID       string          `json:"eventId"`
	TriggerSource string          `json:"triggerSource"`
	AppID         string          `json:"appId,omitempty"`
	OccurredAt    time.Time       `json:"occurredAt"`
	EventPayload  json.RawMessage `json:"eventPayload"`
	// OrderingKey and Sequence: the event's place among its key's events
	// (1, 2, …, increasing in the order they were published; absent
	// without a key), so a receiver can check order and spot a gap.
	OrderingKey string `json:"orderingKey,omitempty"`
	Sequence    int64  `json:"sequence,omitempty"`
	// Form is "thin" for a thin webhook (EventPayload holds the event's
	// resource ids only, see resourceIDs); absent in a full payload.
	Form string `json:"payload,omitempty"` // Test: a test send or a "send example" (the type's sample data), not
	// something that happened; absent otherwise.
	Test bool `json:"test,omitempty"`
}

// payloadOf is what a receiver is sent of e, the seq-th event of its key.
func payloadOf(e events.Event, seq int64) Payload {
	return Payload{Event: e.Type, EventID: e.ID, TriggerSource: e.TriggerSource, AppID: e.AppID,
		OccurredAt: e.OccurredAt.UTC(), EventPayload: e.Data, OrderingKey: e.OrderingKey, Sequence: seq}
}

// attempt is one call of Deliver as it goes through gate → send →
// classify → record.
type attempt struct {
	in    DeliverInput
	start db.AttemptStart
	t     db.DeliveryTarget // the delivery, webhook and event (gate)
	ans   answer            // what the receiver answered (send)
	// What the answer means (classify).
	res     flow.AttemptResult
	outcome db.AttemptOutcome
	signal  db.HealthSignal
	th      db.ThrottleSignal
}

// answer is the receiver's answer to one request.
type answer struct {
	status     int // 0: no response
	body       []byte
	retryAfter time.Duration
	err        error
	duration   time.Duration
	note       string // for the log, e.g. an OAuth 2.0 token refetched after a 401
}

// Deliver makes one signed HTTP POST of a delivery and records it. A failed
// attempt returns a non-retryable ErrAttemptFailed error carrying its
// flow.AttemptResult, so each attempt shows in the Temporal UI as its own step; a
// database or decryption problem returns a plain error and Temporal retries.
func (a *Activities) Deliver(ctx context.Context, in DeliverInput) (flow.AttemptResult, error) {
	at, res, err := a.gate(ctx, in)
	if at == nil {
		return res, err // nothing to send, or not now
	}
	if err := a.send(ctx, at); err != nil {
		return flow.AttemptResult{}, err
	}
	a.classify(at)
	return a.record(ctx, at)
}

// errLost is a delivery the database lost and cannot restore.
var errLost = errors.New("the delivery and its event are missing from the database; publish the event again")

// gate opens the attempt (db.StartAttempt: one round trip loads the
// delivery, webhook and event, asks the throttle, and opens the attempt
// row before the request leaves). It returns the attempt to send, or nil
// and the answer when nothing is to be sent now.
func (a *Activities) gate(ctx context.Context, in DeliverInput) (*attempt, flow.AttemptResult, error) {
	id, err := uuid.Parse(in.DeliveryID)
	if err != nil {
		return nil, flow.AttemptResult{Outcome: delivery.OutcomeCancelled, Reason: "invalid delivery id"}, nil
	}
	at := &attempt{in: in, start: db.AttemptStart{DeliveryID: id, Series: in.Series, Number: in.Attempt, Test: in.Test,
		StartedAt: a.now(), Gate: db.GateInput{Reservation: in.Reservation, Lease: leaseTTL, Queue: queueAs(ctx), Worker: a.Worker},
		Proxy: a.Settings.Proxy}}
	sw := a.slotWait(id, at.start.Gate.Queue)
	at.start.Gate.InWorker = sw.d
	for {
		at.t, err = a.startAttempt(ctx, at)
		full := err == nil && at.t.Sendable(in.Series, in.Test) && at.t.Try == 0 && at.t.Gate == db.GateFull
		at.start.Gate.InWorker = 0 // once per call
		if sw.handed(ctx, full) {
			at.start.StartedAt = a.now()
			continue
		}
		switch {
		case errors.Is(err, errLost):
			return nil, flow.AttemptResult{Outcome: delivery.OutcomeFailed, Reason: err.Error()}, nil
		case err != nil:
			return nil, flow.AttemptResult{}, err
		case !at.t.Sendable(in.Series, in.Test):
			res, err := a.notSent(ctx, at.t, in)
			return nil, res, err
		case at.t.Try == 0:
			return nil, throttled(at.t, in, at.start.Gate.Queue != ""), nil
		}
		return at, flow.AttemptResult{}, nil
	}
}

// startAttempt is db.StartAttempt, restoring the delivery row first if
// the database lost it.
func (a *Activities) startAttempt(ctx context.Context, at *attempt) (db.DeliveryTarget, error) {
	t, err := a.Store.StartAttempt(ctx, at.start)
	if !isNotFound(err) {
		return t, err
	}
	// The workflow recorded this delivery, so the database lost it
	// (commits lost, e.g. an asynchronous replica promoted): restore
	// the row and make the attempt, rather than call it cancelled.
	restored, err := a.restoreDelivery(ctx, at.start.DeliveryID, at.in)
	switch {
	case err != nil:
		return db.DeliveryTarget{}, err
	case !restored:
		return db.DeliveryTarget{}, errLost
	}
	return a.Store.StartAttempt(ctx, at.start)
}

// send signs and posts the payload, renewing the concurrency slot's lease
// while the request runs. An error means no answer is to be recorded.
func (a *Activities) send(ctx context.Context, at *attempt) error {
	t := at.t
	body, err := json.Marshal(bodyOf(t, at.in.Test))
	if err != nil {
		return fmt.Errorf("encoding payload: %w", err)
	}
	secrets, err := a.secrets(t)
	if err != nil {
		return err
	}
	ro, err := a.receiverOpts(t) // custom headers and auth (receiver.go)
	if err != nil {
		return err
	}
	// The slot's lease is short (a lost worker's slots come free soon):
	// renewed while the request runs.
	stopRenewing := a.keepLease(ctx, t, at.in)
	at.ans = a.post(ctx, t, body, secrets, at.start.StartedAt, ro)
	stopRenewing()
	a.certificateNotice(ctx, t) // mutual TLS: expiry within 14 days (tls.go)
	at.ans.duration = a.now().Sub(at.start.StartedAt)
	if err := ctx.Err(); err != nil && at.ans.err != nil {
		// The activity itself was cancelled (worker shutting down) or timed
		// out, not the receiver: recording a failed attempt would blame the
		// receiver and spend a step of its schedule. Return a plain error;
		// Temporal retries the same attempt number as the next try, and
		// this try's row stays unfinished: the receiver may have it.
		return fmt.Errorf("attempt interrupted: %w", err)
	}
	return nil
}

// classify decides what the answer means: the attempt's result, the
// delivery's next state, and what it says of the webhook's health and
// capacity.
func (a *Activities) classify(at *attempt) {
	ans, in := at.ans, at.in
	at.res = flow.AttemptResult{StatusCode: ans.status, DurationMS: ans.duration.Milliseconds(), Try: at.t.Try}
	if ans.err != nil {
		at.res.Error = describe(ans.err)
	}
	res, o := &at.res, &at.outcome
	at.signal = db.HealthFailure
	retries := a.retries(at.t) // the webhook's own schedule, or the global one
	switch {
	case ans.err == nil && ans.status >= 200 && ans.status < 300:
		res.Outcome, o.Status = delivery.OutcomeSucceeded, delivery.Succeeded
		at.signal = db.HealthSuccess
	case ans.status == http.StatusGone:
		res.Outcome, o.Status = delivery.OutcomeFailed, delivery.Failed
		res.Reason = "receiver answered 410 Gone: no more attempts"
	case errors.Is(ans.err, egress.ErrBlockedAddress):
		res.Outcome, o.Status = delivery.OutcomeFailed, delivery.Failed
		res.Reason = "callback address is not allowed (non-public network)"
	case in.Test || in.Attempt > len(retries):
		res.Outcome, o.Status = delivery.OutcomeFailed, delivery.Failed
		res.Reason = fmt.Sprintf("gave up after %d attempts", in.Attempt)
		at.signal = db.HealthExhausted
		if in.Test {
			res.Reason = "test event: one attempt only"
		}
	default:
		res.Outcome, o.Status = delivery.OutcomeRetry, delivery.Retrying
		res.Wait = nextWait(retries[in.Attempt-1], ans.retryAfter, a.Settings.RetryAfterMax)
		next := a.now().Add(res.Wait)
		o.NextAttemptAt = &next
	}
	o.Reason = res.Reason
	at.th = a.throttleSignal(ans)
	if in.Test {
		at.signal = db.HealthNone // a test says nothing about the webhook's health, nor throttles it
		at.th.Throttle = false
	}
}

// throttleSignal is what the answer says of the receiver's capacity.
func (a *Activities) throttleSignal(ans answer) db.ThrottleSignal {
	th := db.ThrottleSignal{Throttle: throttles(ans.status, ans.retryAfter), Base: a.Settings.ThrottleBase, Max: a.Settings.ThrottleMax}
	if th.Base <= 0 {
		th.Base = DefaultThrottleBase
	}
	if th.Max <= 0 {
		th.Max = DefaultThrottleMax
	}
	th.RetryAfter = min(ans.retryAfter, a.Settings.RetryAfterMax)
	return th
}

// record stores the attempt (db.FinishAttempt), wakes the waiter its
// slot went to, acts on the webhook's change and answers the workflow.
func (a *Activities) record(ctx context.Context, at *attempt) (flow.AttemptResult, error) {
	// The receiver answered: record it even if the activity's own deadline
	// passed meanwhile, or a retry would send the same attempt again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	fin, err := a.Store.FinishAttempt(ctx, at.row(), at.outcome, at.signal, at.th)
	if err != nil {
		return flow.AttemptResult{}, err
	}
	if fin.Woke != nil {
		a.wake(ctx, *fin.Woke)
	}
	if fin.Change != nil {
		a.changed(ctx, at, *fin.Change)
	}
	a.Metrics.ObserveAttempt(at.res.Outcome, at.ans.duration)
	if at.res.Outcome == delivery.OutcomeSucceeded {
		return at.res, nil
	}
	return at.res, temporal.NewNonRetryableApplicationError(attemptMessage(at.res), ErrAttemptFailed, nil, at.res)
}

// row is the attempt's row in the delivery log.
func (at *attempt) row() db.Attempt {
	r := db.Attempt{
		DeliveryID: at.start.DeliveryID, Series: at.in.Series, Number: at.in.Attempt, Try: at.t.Try, URL: at.t.URL,
		StartedAt: at.start.StartedAt, DurationMS: int(at.ans.duration.Milliseconds()), ResponseBody: at.ans.body,
		Error: at.res.Error,
	}
	if r.Error == "" {
		r.Error = at.ans.note // the answer counts, but the log says how it came
	}
	if at.ans.status != 0 {
		status := at.ans.status
		r.ResponseStatus = &status
	}
	return r
}

// changed acts on the webhook's change after the attempt is recorded.
func (a *Activities) changed(ctx context.Context, at *attempt, c db.HealthChange) {
	if at.res.Outcome == delivery.OutcomeRetry && c.ThrottledUntil != nil {
		// A retry waits out the webhook's throttle (the log's next attempt
		// time says so too): one wait in the history rather than two.
		at.res.Wait = max(at.res.Wait, c.ThrottledUntil.Sub(a.now()).Round(time.Millisecond))
	}
	// The attempt is recorded: a failure to act on the webhook's health
	// must not make Temporal send it again. Logged, and acted on at the
	// webhook's next attempt.
	if err := a.health(ctx, c, at); err != nil {
		a.log().Warn("acting on webhook health", "webhookId", c.WebhookID, "err", err)
	}
}

// Defaults of Settings.ThrottleBase and ThrottleMax.
const (
	DefaultThrottleBase = time.Second
	DefaultThrottleMax  = 5 * time.Minute
)

// throttles reports whether an answer throttles its webhook: a 429, 502,
// 503 or 504, or any other failed answer with a Retry-After.
func throttles(status int, retryAfter time.Duration) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return status != 0 && (status < 200 || status > 299) && retryAfter > 0
}

// Waits of a throttled attempt. Each is a timer and a marker in the
// workflow's history (about six events), so they are never many: a
// throttle is waited out at once (at least minThrottledWait), a
// rate-limit reservation is one wait, to its slot, and an attempt waiting
// in a full webhook's queue is woken by a signal when a slot is handed to
// it, polling only rarely in case the signal is lost (queuedWait); one
// that could not queue polls less and less often (fullWait).
const minThrottledWait = time.Second

// fullWait is the wait before polling a webhook at its maximum concurrency
// again, after waits polls: from 200 ms growing by half each time, up to
// 3 s for the first 20 polls (about a minute: a short backlog keeps its
// slots busy), 10 s until the 100th, 30 s after that, so an hour's backlog
// adds about 200 polls to a history.
func fullWait(waits int) time.Duration {
	limit := 3 * time.Second
	switch {
	case waits >= 100:
		limit = 30 * time.Second
	case waits >= 20:
		limit = 10 * time.Second
	}
	return min(limit, time.Duration(float64(200*time.Millisecond)*math.Pow(1.5, float64(min(waits, 30)))))
}

// throttled is the answer for an attempt the webhook's throttle held back.
// queued says whether a full webhook queued the attempt (GateInput.Queue).
func throttled(t db.DeliveryTarget, in DeliverInput, queued bool) flow.AttemptResult {
	now := time.Now()
	if t.GateNow != nil {
		now = *t.GateNow
	}
	r := flow.AttemptResult{Outcome: delivery.OutcomeThrottled}
	switch t.Gate {
	case db.GateReserved:
		r.Reservation = t.ReservedFor
		r.Wait = max(t.ReservedFor.Sub(now), time.Millisecond)
		r.Reason = fmt.Sprintf("rate limit %g/s: sent at its slot %s", deref64(t.RateLimitPerSecond),
			t.ReservedFor.UTC().Format(time.RFC3339Nano))
	case db.GateFull:
		// The reservation, if any, is kept: its slot is spent already.
		r.Reservation = in.Reservation
		d := fullWait(in.Waits)
		if r.Queued = queued; queued {
			d = queuedWait(in.Waits)
		}
		r.Wait = d + rand.N(d/2+time.Millisecond)
		r.Reason = fmt.Sprintf("%d requests in flight, the webhook's maximum", t.MaxConcurrency)
	default: // GateThrottled
		until := now
		if t.ThrottledUntil != nil {
			until = *t.ThrottledUntil
		}
		// Jitter, so the deliveries held back do not all come back at once.
		r.Wait = max(until.Sub(now), minThrottledWait) + rand.N(250*time.Millisecond)
		r.Reason = "the receiver asked to slow down: throttled until " + until.UTC().Format(time.RFC3339Nano)
	}
	return r
}

func deref64(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// restoreDelivery puts back a delivery row the database lost, when its
// event is still there; restored is false when it cannot be.
func (a *Activities) restoreDelivery(ctx context.Context, id uuid.UUID, in DeliverInput) (bool, error) {
	account, err1 := uuid.Parse(in.AccountID)
	webhook, err2 := uuid.Parse(in.WebhookID)
	if err1 != nil || err2 != nil || in.EventID == "" || !activity.IsActivity(ctx) {
		return false, nil
	}
	wf := activity.GetInfo(ctx).WorkflowExecution.ID
	return a.Store.RestoreDelivery(ctx, db.Delivery{ID: id, AccountID: account, EventID: in.EventID, WebhookID: webhook,
		Series: in.Series, WorkflowID: wf})
}

// notSent answers an attempt StartAttempt did not open: the delivery moved
// on (a resend, or it already finished: e.g. this is a lost workflow task's
// attempt made again after its answer was recorded) or its webhook was
// disabled or deleted. Nothing is sent; the workflow learns the state.
func (a *Activities) notSent(ctx context.Context, t db.DeliveryTarget, in DeliverInput) (flow.AttemptResult, error) {
	switch {
	case t.Series != in.Series:
		return flow.AttemptResult{Outcome: delivery.OutcomeCancelled, Reason: fmt.Sprintf("superseded by series %d (a resend)", t.Series)}, nil
	case t.Status == delivery.Succeeded:
		return flow.AttemptResult{Outcome: delivery.OutcomeSucceeded, StatusCode: deref(t.LastStatusCode), Reason: "already delivered"}, nil
	case t.Finished():
		// Failed or cancelled by someone else (e.g. reconciliation).
		return flow.AttemptResult{Outcome: delivery.OutcomeCancelled, Reason: "delivery already " + string(t.Status) + ": " + t.StatusReason}, nil
	}
	reason := webhookUnavailable(t, in.Test)
	if err := a.Store.FinishDelivery(ctx, t.ID, in.Series, delivery.Cancelled, reason); err != nil {
		return flow.AttemptResult{}, err
	}
	a.Metrics.ObserveAttempt(delivery.OutcomeCancelled, 0)
	return flow.AttemptResult{Outcome: delivery.OutcomeCancelled, Reason: reason}, nil
}

// webhookUnavailable says why the webhook takes no attempt (deleted, or
// disabled and the attempt no test), or "".
func webhookUnavailable(t db.DeliveryTarget, test bool) string {
	switch {
	case !t.WebhookExists:
		return "webhook was deleted"
	case !t.WebhookEnabled && !test:
		return "webhook was disabled"
	}
	return ""
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// secrets returns the secrets to sign with: the current one, and the previous
// one while its grace period lasts.
func (a *Activities) secrets(t db.DeliveryTarget) ([]string, error) {
	aad := db.SecretAAD(t.WebhookID)
	current, err := a.Box.Open(t.SecretEnc, aad)
	if err != nil {
		return nil, fmt.Errorf("decrypting webhook secret: %w", err)
	}
	out := []string{string(current)}
	if t.PreviousSecretEnc != nil && t.PreviousSecretExpiresAt != nil && t.PreviousSecretExpiresAt.After(a.now()) {
		prev, err := a.Box.Open(t.PreviousSecretEnc, aad)
		if err != nil {
			return nil, fmt.Errorf("decrypting previous webhook secret: %w", err)
		}
		out = append(out, string(prev))
	}
	return out, nil
}

// post makes the request (its duration is left to the caller) in an HTTP
// client span (trace.go).
func (a *Activities) post(ctx context.Context, t db.DeliveryTarget, body []byte, secrets []string, now time.Time, ro receiverOpts) answer {
	ctx, span := startRequestSpan(ctx, t)
	ans := a.request(ctx, t, body, secrets, now, ro)
	endRequestSpan(span, ans)
	return ans
}

func (a *Activities) request(ctx context.Context, t db.DeliveryTarget, body []byte, secrets []string, now time.Time, ro receiverOpts) answer {
	ctx, cancel := context.WithTimeout(ctx, a.attemptTimeout(ctx, t))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return answer{err: fmt.Errorf("building request: %w", err)}
	}
	if err := signing.SetHeaders(req.Header, t.MessageID, now, body, secrets...); err != nil {
		return answer{err: fmt.Errorf("signing: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", a.Settings.UserAgent)
	if t.TraceContext {
		injectTraceContext(ctx, req.Header)
	}
	resp, note, err := a.do(ctx, req, ro)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	respBody, readErr := egress.ReadLimited(resp.Body, a.Settings.ResponseMaxBytes)
	// Drain a little more so the connection can be reused.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	if readErr != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		readErr = nil // the answer counts; a cut body does not matter
	}
	// Kept byte for byte (NUL and invalid UTF-8 included): the column is bytea.
	return answer{status: resp.StatusCode, body: respBody, retryAfter: retryAfter(resp.Header.Get("Retry-After"), now), err: readErr,
		note: note}
}

// nextWait is the scheduled interval, or the receiver's Retry-After when that
// asks for longer, bounded by max.
func nextWait(scheduled, retryAfter, max time.Duration) time.Duration {
	if retryAfter > max {
		retryAfter = max
	}
	if retryAfter > scheduled {
		return retryAfter
	}
	return scheduled
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// describe turns a transport error into a short, stable message for the
// log. A timeout, and any failure after the request was sent whole, say
// (or imply) that the receiver may have the request.
func describe(err error) string {
	var sent *sentError
	switch {
	case errors.Is(err, egress.ErrBlockedAddress):
		return "refused: callback resolves to a non-public address"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout: no answer within the attempt timeout"
	case errors.As(err, &sent):
		return SentNoAnswer + ": " + sent.err.Error()
	}
	return err.Error()
}

// SentNoAnswer begins the log's error of a request whose connection broke
// after the request was sent whole: like a timeout, the receiver may have
// it (the fault suite's check counts it as maybe reached).
const SentNoAnswer = "no answer after the request was sent (the receiver may have it)"

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func attemptMessage(r flow.AttemptResult) string {
	var b strings.Builder
	if r.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d %s", r.StatusCode, http.StatusText(r.StatusCode))
	} else {
		b.WriteString("no response")
	}
	fmt.Fprintf(&b, " after %d ms", r.DurationMS)
	if r.Error != "" {
		b.WriteString(": " + r.Error)
	}
	if r.Reason != "" {
		b.WriteString(" (" + r.Reason + ")")
	} else if r.Wait > 0 {
		fmt.Fprintf(&b, "; next attempt in %s", r.Wait)
	}
	return b.String()
}

func isNotFound(err error) bool { return errors.Is(err, db.ErrNotFound) }
