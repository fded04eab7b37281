package service

import (
	"bytes"
	"encoding/json"
	"maps"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
)

// A webhook's delivery options (issue 19): its own attempt timeout
// (timeoutSeconds), retry schedule (retrySchedule) and payload form
// (payload). Timing may change while the webhook is enabled, like its
// limits (see WebhookPatch.limitsOnly): it applies from the next attempt
// and an admin easing a struggling receiver must not have to cancel its
// waiting deliveries. The payload form changes what the receiver parses,
// like its URL, so it needs the webhook disabled.

// Nullable is a member of a PATCH that tells null from absent: absent
// (Set false) keeps the value, null (Value nil) returns to the default, a
// value sets it.
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// UnmarshalJSON reads null or a T, strictly (absent never calls it).
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set, n.Value = true, nil
	if string(b) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v T
	if err := dec.Decode(&v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

const (
	timeoutMessage = "must be null (the global DELIVERY_TIMEOUT) or a whole number of seconds from 1 to 30"
	payloadMessage = "must be full (the event's data) or thin (its resource ids only; the receiver fetches the event)"
)

// deliveryOptionErrors are the field errors of a webhook's delivery
// options (nil ones are not set).
func deliveryOptionErrors(timeout *int, sched *schedule.Spec, payload *string) map[string]string {
	errs := map[string]string{}
	if timeout != nil && (*timeout < int(schedule.MinTimeout/time.Second) || *timeout > int(schedule.MaxTimeout/time.Second)) {
		errs["timeoutSeconds"] = timeoutMessage
	}
	if sched != nil {
		maps.Copy(errs, sched.Check())
	}
	if payload != nil && *payload != db.PayloadFull && *payload != db.PayloadThin {
		errs["payload"] = payloadMessage
	}
	return errs
}

// optionErrors are the field errors of a new webhook's delivery options.
func (in WebhookInput) optionErrors() map[string]string {
	var payload *string
	if in.Payload != "" {
		payload = &in.Payload
	}
	return deliveryOptionErrors(in.TimeoutSeconds, in.RetrySchedule, payload)
}

// deliveryOptions are a new webhook's delivery options, as stored (valid:
// see optionErrors).
func (in WebhookInput) deliveryOptions() db.DeliveryOptions {
	o := db.DeliveryOptions{TimeoutSeconds: in.TimeoutSeconds, Payload: in.Payload, TraceContext: in.TraceContext}
	setSchedule(&o, in.RetrySchedule)
	return o
}

// optionErrors are the field errors of an edit's delivery options.
func (p WebhookPatch) optionErrors() map[string]string {
	return deliveryOptionErrors(p.TimeoutSeconds.Value, p.RetrySchedule.Value, p.Payload)
}

// timingSet reports whether the edit sets the timing: allowed while the
// webhook is enabled (see limitsOnly).
func (p WebhookPatch) timingSet() bool { return p.TimeoutSeconds.Set || p.RetrySchedule.Set }

// applyOptions applies the edit's delivery options to o.
func (p WebhookPatch) applyOptions(o *db.DeliveryOptions) {
	if p.TimeoutSeconds.Set {
		o.TimeoutSeconds = p.TimeoutSeconds.Value
	}
	if p.RetrySchedule.Set {
		setSchedule(o, p.RetrySchedule.Value)
	}
	if p.Payload != nil {
		o.Payload = *p.Payload
	}
	if p.TraceContext != nil {
		o.TraceContext = *p.TraceContext
	}
}

// setSchedule stores spec (nil: the global schedule) in o.
func setSchedule(o *db.DeliveryOptions, spec *schedule.Spec) {
	o.RetryPreset, o.RetryWaits = nil, nil
	switch {
	case spec == nil:
	case spec.Preset != "":
		preset := spec.Preset
		o.RetryPreset = &preset
	default:
		waits, _ := schedule.ParseWaits(spec.Waits) // checked by optionErrors
		o.RetryWaits = schedule.Seconds(waits)
	}
}

// attemptTimeout is how long a test send to w waits for its receiver.
func (s *Service) attemptTimeout(w db.Webhook) time.Duration {
	if w.TimeoutSeconds != nil {
		return time.Duration(*w.TimeoutSeconds) * time.Second
	}
	return s.cfg.DeliveryTimeout
}

// invalidOrNil is fields as an Invalid error, or nil when there are none.
func invalidOrNil(fields map[string]string) error {
	if len(fields) == 0 {
		return nil
	}
	return invalidFields(fields)
}
