package service

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/schedule"
)

// The inputs of the services are the API's request bodies: the API decodes
// JSON into them, the console fills them from its forms, and the services
// validate them (validate.go) — one type and one set of rules for both.

// WebhookInput is a new webhook: POST /v1/webhooks, the console's add form.
type WebhookInput struct {
	Name           string   `json:"name" validate:"notblank,max=100,nocontrol"`
	URL            string   `json:"url" validate:"required,max=2048,callbackurl"`
	EventTypes     []string `json:"eventTypes" validate:"required,min=1,unique,dive,eventtype"`
	TriggerSources []string `json:"triggerSources" validate:"required,min=1,unique,dive,triggersource"`
	AppIDs         []string `json:"appIds" validate:"omitempty,max=100,unique,dive,min=1,max=200,printascii"`
	// Filter: a CEL expression the event must pass (filter.go); "" none.
	Filter  string `json:"filter"`
	Enabled *bool  `json:"enabled"`
	// Receiver protection: requests in flight at most (default 10) and
	// requests per second (default none).
	MaxConcurrency     *int     `json:"maxConcurrency" validate:"omitnil,min=1,max=100"`
	RateLimitPerSecond *float64 `json:"rateLimitPerSecond" validate:"omitnil,min=0.1,max=1000"`
	// Ordered: each ordering key's events one after another, in order;
	// OrderedOnFailure is what a give-up does to the key: "continue"
	// (default) or "hold".
	Ordered          bool   `json:"ordered"`
	OrderedOnFailure string `json:"orderedOnFailure" validate:"omitempty,oneof=continue hold"`
	// Delivery options (delivery_options.go): the receiver's time to
	// answer, 1-30 s (nil: DELIVERY_TIMEOUT); the retry schedule, a preset
	// or a list of waits (nil: DELIVERY_RETRY_SCHEDULE); the payload form,
	// "full" (default) or "thin".
	TimeoutSeconds *int           `json:"timeoutSeconds"`
	RetrySchedule  *schedule.Spec `json:"retrySchedule"`
	Payload        string         `json:"payload"`
	// TraceContext sends each attempt's W3C traceparent to the receiver
	// (docs/tracing.md); off by default.
	TraceContext bool `json:"traceContext"`

	// Receiver options (receiver.go): custom headers (at most 20) and the
	// receiver's authentication (none when absent).
	Headers []HeaderInput `json:"headers"`
	Auth    *AuthInput    `json:"auth"`
	// TLS: mutual TLS and a private CA bundle (tls.go); none when absent.
	TLS *TLSInput `json:"tls"`
}

// receiverEdit is the new webhook's receiver options.
func (in WebhookInput) receiverEdit() receiverEdit {
	return receiverEdit{Headers: in.Headers, Auth: in.Auth, TLS: in.TLS}
}

func (in WebhookInput) fields() db.WebhookFields {
	f := db.WebhookFields{Name: in.Name, URL: in.URL, EventTypes: in.EventTypes, TriggerSources: in.TriggerSources,
		AppIDs: in.AppIDs, Filter: storedFilter(in.Filter), RateLimitPerSecond: in.RateLimitPerSecond,
		Ordering: db.Ordering{Ordered: in.Ordered, OnFailure: in.OrderedOnFailure}}
	if in.MaxConcurrency != nil {
		f.MaxConcurrency = *in.MaxConcurrency
	}
	f.DeliveryOptions = in.deliveryOptions()
	return f
}

// WebhookPatch is an edit of a webhook: PATCH /v1/webhooks/{id}, the
// console's edit form. Nil fields keep their value.
type WebhookPatch struct {
	Name           *string  `json:"name" validate:"omitnil,notblank,max=100,nocontrol"`
	URL            *string  `json:"url" validate:"omitnil,max=2048,callbackurl"`
	EventTypes     []string `json:"eventTypes" validate:"omitnil,min=1,unique,dive,eventtype"`
	TriggerSources []string `json:"triggerSources" validate:"omitnil,min=1,unique,dive,triggersource"`
	AppIDs         []string `json:"appIds" validate:"omitnil,max=100,unique,dive,min=1,max=200,printascii"`
	// Filter: null or "" removes it (filter.go).
	Filter Nullable[string] `json:"filter"`
	// The limits may change while the webhook is enabled (see limitsOnly).
	MaxConcurrency     *int         `json:"maxConcurrency" validate:"omitnil,min=1,max=100"`
	RateLimitPerSecond NullableRate `json:"rateLimitPerSecond"`
	Ordered            *bool        `json:"ordered"`
	OrderedOnFailure   *string      `json:"orderedOnFailure" validate:"omitnil,oneof=continue hold"`
	// Delivery options (delivery_options.go): null returns the timing to
	// the global one. The timing may change while enabled; the payload
	// form may not.
	TimeoutSeconds Nullable[int]           `json:"timeoutSeconds"`
	RetrySchedule  Nullable[schedule.Spec] `json:"retrySchedule"`
	Payload        *string                 `json:"payload"`
	// TraceContext may change while enabled: it adds or drops two headers
	// from the next attempt on.
	TraceContext *bool `json:"traceContext"`

	// Receiver options (receiver.go): headers replaces the whole list
	// ([] removes them all), auth the authentication ({"type": "none"}
	// removes it); a secret left out keeps the stored one.
	Headers []HeaderInput `json:"headers"`
	Auth    *AuthInput    `json:"auth"`
	// TLS: null or absent keeps; each field of it left out keeps, ""
	// removes (tls.go).
	TLS *TLSInput `json:"tls"`
}

// receiverEdit is the edit's receiver options; nil keeps.
func (p WebhookPatch) receiverEdit() receiverEdit {
	e := receiverEdit{Headers: p.Headers, Auth: p.Auth, TLS: p.TLS}
	if p.TLS != nil && *p.TLS == (TLSInput{}) {
		e.TLS = nil // {} keeps everything: no edit, so none that needs the webhook disabled
	}
	return e
}

// limitsOnly reports whether the edit touches the receiver's limits (and
// its delivery timing) only: those apply from the next attempt and may
// change while the webhook is enabled — an admin slowing a struggling
// receiver down must not have to disable the webhook, which cancels its
// waiting deliveries.
func (p WebhookPatch) limitsOnly() bool {
	return p.Name == nil && p.URL == nil && p.EventTypes == nil && p.TriggerSources == nil && p.AppIDs == nil && !p.Filter.Set &&
		p.Ordered == nil && p.OrderedOnFailure == nil && p.Payload == nil &&
		(p.MaxConcurrency != nil || p.RateLimitPerSecond.Set || p.timingSet() || p.TraceContext != nil)
}

func (p WebhookPatch) apply(f *db.WebhookFields) {
	if p.MaxConcurrency != nil {
		f.MaxConcurrency = *p.MaxConcurrency
	}
	if p.RateLimitPerSecond.Set {
		f.RateLimitPerSecond = p.RateLimitPerSecond.Value
	}
	if p.Name != nil {
		f.Name = *p.Name
	}
	if p.URL != nil {
		f.URL = *p.URL
	}
	if p.EventTypes != nil {
		f.EventTypes = p.EventTypes
	}
	if p.TriggerSources != nil {
		f.TriggerSources = p.TriggerSources
	}
	if p.AppIDs != nil {
		f.AppIDs = p.AppIDs
	}
	if p.Ordered != nil {
		f.Ordered = *p.Ordered
	}
	if p.OrderedOnFailure != nil {
		f.OnFailure = *p.OrderedOnFailure
	}
	p.applyFilter(f)
	p.applyOptions(&f.DeliveryOptions)
}

// NullableRate is rateLimitPerSecond in a PATCH: absent keeps the limit,
// null removes it, a number sets it.
type NullableRate struct {
	Set   bool
	Value *float64
}

// UnmarshalJSON tells null from absent (absent never calls it).
func (n *NullableRate) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Value = nil
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

// validRate checks a rate limit: none, or 0.1 to 1000 per second.
func validRate(v *float64) error {
	if v != nil && (*v < 0.1 || *v > 1000) {
		return invalid("rateLimitPerSecond", rateMessage)
	}
	return nil
}

const rateMessage = "must be null (no limit) or from 0.1 to 1000 requests per second"

// SecretResetInput is POST /v1/webhooks/{id}/secret/reset: how long the previous
// secret keeps signing (DefaultSecretGrace when nil).
type SecretResetInput struct {
	GracePeriodSeconds *int `json:"gracePeriodSeconds" validate:"omitnil,min=0,max=604800"`
}

// BulkResend is which deliveries of a webhook to resend: those of Status
// (failed by default; cancelled, skipped_disabled — missed while disabled —
// or pending: only those whose workflow is gone) created in [Since, Until).
type BulkResend struct {
	WebhookID string     `json:"webhookId" validate:"required,uuid"`
	Status    string     `json:"status" validate:"omitempty,oneof=failed cancelled skipped_disabled pending"`
	Since     *time.Time `json:"since" validate:"required"`
	Until     *time.Time `json:"until"`
}

// ReleaseInput names the ordering key of an ordered webhook to release:
// POST /v1/webhooks/{id}/release.
type ReleaseInput struct {
	OrderingKey string `json:"orderingKey" validate:"required,max=200"`
}

// trimName trims what people cannot see around a name before it is checked.
func trimName(name *string) {
	if name != nil {
		*name = strings.TrimSpace(*name)
	}
}
