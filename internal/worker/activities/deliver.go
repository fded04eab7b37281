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

// Payload is the JSON body every receiver gets.
type Payload struct {
	Event         string          `json:"event"`
	EventID       string          `json:"eventId"`
	TriggerSource string          `json:"triggerSource"`
	AppID         string          `json:"appId,omitempty"`
	OccurredAt    time.Time       `json:"occurredAt"`
	EventPayload  json.RawMessage `json:"eventPayload"`
}

// Deliver makes one signed HTTP POST of a delivery and records it. A failed
// attempt returns a non-retryable ErrAttemptFailed error carrying its
// flow.AttemptResult, so each attempt shows in the Temporal UI as its own step; a
// database or decryption problem returns a plain error and Temporal retries.
func (a *Activities) Deliver(ctx context.Context, in DeliverInput) (flow.AttemptResult, error) {
	id, err := uuid.Parse(in.DeliveryID)
	if err != nil {
		return flow.AttemptResult{Outcome: delivery.OutcomeCancelled, Reason: "invalid delivery id"}, nil
	}
	started := a.now()
	// One round trip: the delivery, webhook and event, and the attempt row
	// opened before the request leaves.
	gate := db.GateInput{Reservation: in.Reservation, Lease: leaseTTL, Queue: queueAs(ctx), Worker: a.Worker}
	t, err := a.Store.StartAttempt(ctx, id, in.Series, in.Attempt, in.Test, started, gate)
	if isNotFound(err) {
		// The workflow recorded this delivery, so the database lost it
		// (commits lost, e.g. an asynchronous replica promoted): restore
		// the row and make the attempt, rather than call it cancelled.
		restored, rerr := a.restoreDelivery(ctx, id, in)
		switch {
		case rerr != nil:
			return flow.AttemptResult{}, rerr
		case !restored:
			return flow.AttemptResult{Outcome: delivery.OutcomeFailed,
				Reason: "the delivery and its event are missing from the database; publish the event again"}, nil
		}
		t, err = a.Store.StartAttempt(ctx, id, in.Series, in.Attempt, in.Test, started, gate)
	}
	if err != nil {
		return flow.AttemptResult{}, err
	}
	if !t.Sendable(in.Series, in.Test) {
		return a.notSent(ctx, t, in)
	}
	if t.Try == 0 {
		return throttled(t, in, gate.Queue != ""), nil
	}
	body, err := json.Marshal(Payload{
		Event: t.EventType, EventID: t.EventID, TriggerSource: t.TriggerSource, AppID: t.AppID,
		OccurredAt: t.OccurredAt.UTC(), EventPayload: t.Data,
	})
	if err != nil {
		return flow.AttemptResult{}, fmt.Errorf("encoding payload: %w", err)
	}
	secrets, err := a.secrets(t)
	if err != nil {
		return flow.AttemptResult{}, err
	}

	// The slot's lease is short (a lost worker's slots come free soon):
	// renewed while the request runs.
	stopRenewing := a.keepLease(ctx, t, in)
	status, respBody, retryAfter, sendErr := a.send(ctx, t, body, secrets, started)
	stopRenewing()
	duration := a.now().Sub(started)
	if err := ctx.Err(); err != nil && sendErr != nil {
		// The activity itself was cancelled (worker shutting down) or timed
		// out, not the receiver: recording a failed attempt would blame the
		// receiver and spend a step of its schedule. Return a plain error;
		// Temporal retries the same attempt number as the next try, and
		// this try's row stays unfinished: the receiver may have it.
		return flow.AttemptResult{}, fmt.Errorf("attempt interrupted: %w", err)
	}
	// The receiver answered: record it even if the activity's own deadline
	// passed meanwhile, or a retry would send the same attempt again.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()

	res := flow.AttemptResult{StatusCode: status, DurationMS: duration.Milliseconds(), Try: t.Try}
	attempt := db.Attempt{
		DeliveryID: id, Series: in.Series, Number: in.Attempt, Try: t.Try, URL: t.URL,
		StartedAt: started, DurationMS: int(duration.Milliseconds()), ResponseBody: respBody,
	}
	if status != 0 {
		attempt.ResponseStatus = &status
	}
	if sendErr != nil {
		res.Error = describe(sendErr)
		attempt.Error = res.Error
	}
	outcome := db.AttemptOutcome{}
	signal := db.HealthFailure
	switch {
	case sendErr == nil && status >= 200 && status < 300:
		res.Outcome, outcome.Status = delivery.OutcomeSucceeded, delivery.Succeeded
		signal = db.HealthSuccess
	case status == http.StatusGone:
		res.Outcome, outcome.Status = delivery.OutcomeFailed, delivery.Failed
		res.Reason = "receiver answered 410 Gone: no more attempts"
	case errors.Is(sendErr, egress.ErrBlockedAddress):
		res.Outcome, outcome.Status = delivery.OutcomeFailed, delivery.Failed
		res.Reason = "callback address is not allowed (non-public network)"
	case in.Test || in.Attempt > len(a.Settings.Retries):
		res.Outcome, outcome.Status = delivery.OutcomeFailed, delivery.Failed
		res.Reason = fmt.Sprintf("gave up after %d attempts", in.Attempt)
		signal = db.HealthExhausted
		if in.Test {
			res.Reason = "test event: one attempt only"
		}
	default:
		res.Outcome, outcome.Status = delivery.OutcomeRetry, delivery.Retrying
		res.Wait = nextWait(a.Settings.Retries[in.Attempt-1], retryAfter, a.Settings.RetryAfterMax)
		next := a.now().Add(res.Wait)
		outcome.NextAttemptAt = &next
	}
	th := db.ThrottleSignal{Throttle: throttles(status, retryAfter), Base: a.Settings.ThrottleBase, Max: a.Settings.ThrottleMax}
	if th.Base <= 0 {
		th.Base = DefaultThrottleBase
	}
	if th.Max <= 0 {
		th.Max = DefaultThrottleMax
	}
	th.RetryAfter = min(retryAfter, a.Settings.RetryAfterMax)
	if in.Test {
		signal = db.HealthNone // a test says nothing about the webhook's health, nor throttles it
		th.Throttle = false
	}
	outcome.Reason = res.Reason
	fin, err := a.Store.FinishAttempt(recordCtx, attempt, outcome, signal, th)
	if err != nil {
		return flow.AttemptResult{}, err
	}
	if fin.Woke != nil {
		a.wake(recordCtx, *fin.Woke)
	}
	change := fin.Change
	if change != nil && res.Outcome == delivery.OutcomeRetry && change.ThrottledUntil != nil {
		// A retry waits out the webhook's throttle (the log's next attempt
		// time says so too): one wait in the history rather than two.
		res.Wait = max(res.Wait, change.ThrottledUntil.Sub(a.now()).Round(time.Millisecond))
	}
	if change != nil {
		// The attempt is recorded: a failure to act on the webhook's health
		// must not make Temporal send it again. Logged, and acted on at the
		// webhook's next attempt.
		if err := a.health(recordCtx, *change, t, in, status == http.StatusGone, signal); err != nil {
			a.log().Warn("acting on webhook health", "webhookId", change.WebhookID, "err", err)
		}
	}
	a.Metrics.ObserveAttempt(res.Outcome, duration)
	if res.Outcome == delivery.OutcomeSucceeded {
		return res, nil
	}
	return res, temporal.NewNonRetryableApplicationError(attemptMessage(res), ErrAttemptFailed, nil, res)
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
	reason := cancelReason(t, in.Test)
	if err := a.Store.FinishDelivery(ctx, t.ID, in.Series, delivery.Cancelled, reason); err != nil {
		return flow.AttemptResult{}, err
	}
	a.Metrics.ObserveAttempt(delivery.OutcomeCancelled, 0)
	return flow.AttemptResult{Outcome: delivery.OutcomeCancelled, Reason: reason}, nil
}

// cancelReason says why no attempt should be made, or "".
func cancelReason(t db.DeliveryTarget, test bool) string {
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

// send makes the request. It returns the status (0 when there was no
// response), the truncated body, the Retry-After wait, and the error.
func (a *Activities) send(ctx context.Context, t db.DeliveryTarget, body []byte, secrets []string, now time.Time) (int, []byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, a.Settings.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, fmt.Errorf("building request: %w", err)
	}
	if err := signing.SetHeaders(req.Header, t.MessageID, now, body, secrets...); err != nil {
		return 0, nil, 0, fmt.Errorf("signing: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", a.Settings.UserAgent)
	resp, err := a.Client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	respBody, readErr := egress.ReadLimited(resp.Body, a.Settings.ResponseMaxBytes)
	// Drain a little more so the connection can be reused.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	if readErr != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		readErr = nil // the answer counts; a cut body does not matter
	}
	// Kept byte for byte (NUL and invalid UTF-8 included): the column is bytea.
	return resp.StatusCode, respBody, retryAfter(resp.Header.Get("Retry-After"), now), readErr
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

// describe turns a transport error into a short, stable message for the log.
func describe(err error) string {
	switch {
	case errors.Is(err, egress.ErrBlockedAddress):
		return "refused: callback resolves to a non-public address"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout: no answer within the attempt timeout"
	}
	return err.Error()
}

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
