package activities

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
)

// A webhook's own delivery options (db.DeliveryOptions): its attempt
// timeout, its retry schedule and its payload form. Every attempt reads
// them afresh with its delivery (db.StartAttempt), so a change applies
// from the next attempt. They are decided here, in the activity, never in
// the workflow: what the workflow does next (wait, or stop) comes from
// the attempt's result, recorded in its history.

// retries is the delivery's retry schedule: the webhook's own when it has
// one, the global one otherwise.
func (a *Activities) retries(t db.DeliveryTarget) []time.Duration {
	if waits, ok := schedule.Resolve(t.RetryPreset, t.RetryWaits); ok {
		return waits
	}
	return a.Settings.Retries
}

// deadlineMargin is the part of an attempt's activity time kept for
// recording the answer when the receiver's timeout is cut short to fit
// (see attemptTimeout).
const deadlineMargin = 2 * time.Second

// attemptTimeout is how long the receiver has to answer: the webhook's
// own timeout, or the global one. A plan recorded by an older worker
// bounds each attempt by the global timeout only (DeliveryPlan.ActivityTimeout):
// the receiver's time is then cut to end before the activity's deadline,
// so a long timeout fails the attempt as a timeout (its schedule goes on)
// rather than interrupting it again and again.
func (a *Activities) attemptTimeout(ctx context.Context, t db.DeliveryTarget) time.Duration {
	d := a.Settings.AttemptTimeout
	if t.TimeoutSeconds != nil {
		d = time.Duration(*t.TimeoutSeconds) * time.Second
	}
	if deadline, ok := ctx.Deadline(); ok {
		d = min(d, max(deadline.Sub(a.now())-deadlineMargin, time.Second))
	}
	return d
}

// maxAttemptTimeout is the longest an attempt may wait for its receiver,
// whatever its webhook says: DeliveryPlan.ActivityTimeout covers it, so
// a timeout changed while a delivery retries is covered too.
func (a *Activities) maxAttemptTimeout() time.Duration {
	return max(a.Settings.AttemptTimeout, schedule.MaxTimeout)
}

// bodyOf is what the receiver of t is sent: the full payload, or the
// thin one, marked when it is a test send.
func bodyOf(t db.DeliveryTarget, test bool) Payload {
	p := payloadOf(t.Event, t.Sequence)
	p.Test = test
	if t.Payload == db.PayloadThin {
		p.EventPayload, p.Form = resourceIDs(p.EventPayload), db.PayloadThin
	}
	return p
}

// resourceIDs is the thin form of an event's data: its top-level members
// whose names end in "Id" or "Ids" (envelopeId, signerIds) and whose
// values are a string, a number or an array of those — nothing else, so
// the names, e-mail addresses and documents of a signing stay out of the
// receiver's logs; it fetches the event with GET /v1/events/{id}.
func resourceIDs(data json.RawMessage) json.RawMessage {
	var members map[string]json.RawMessage
	if json.Unmarshal(data, &members) != nil {
		return json.RawMessage(`{}`)
	}
	ids := map[string]json.RawMessage{}
	for name, v := range members {
		if (strings.HasSuffix(name, "Id") || strings.HasSuffix(name, "Ids")) && isIDValue(v) {
			ids[name] = v
		}
	}
	out, err := json.Marshal(ids)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return out
}

// isIDValue reports whether v is a string, a number, or an array of
// those: what an id looks like (an object could hold anything).
func isIDValue(v json.RawMessage) bool {
	var x any
	if json.Unmarshal(v, &x) != nil {
		return false
	}
	switch x := x.(type) {
	case string, float64:
		return true
	case []any:
		for _, e := range x {
			switch e.(type) {
			case string, float64:
			default:
				return false
			}
		}
		return true
	}
	return false
}
