// Package flow is the contract of the delivery workflows: their names, task
// queue, inputs and results, the signal that stops a webhook's deliveries,
// the rules for workflow ids, and the search attributes they set. It is the
// one place these live. It depends on the Temporal SDK, the standard library
// and the vocabulary packages (events, delivery) only, so an upstream service
// can import it, with publish, without pulling in the server's store.
package flow

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
)

// DefaultTaskQueue is the task queue of the delivery worker.
const DefaultTaskQueue = "webhooks"

// Workflow type names: what histories and starters refer to.
const (
	DeliverEventWorkflow   = "DeliverEvent"   // one per event
	ResendDeliveryWorkflow = "ResendDelivery" // one per manual resend
	DeliverBatchWorkflow   = "DeliverBatch"   // children of a large event
)

// SignalWebhookChanged tells a workflow that a webhook was disabled or
// deleted, so its deliveries waiting to retry stop now.
const SignalWebhookChanged = "webhook-changed"

// WebhookChange is the payload of SignalWebhookChanged.
type WebhookChange struct {
	WebhookID string
	Reason    string
}

// SignalSlotFree tells a workflow that a concurrency slot of a webhook
// was handed to its delivery waiting in that webhook's queue
// (AttemptResult.Queued): the delivery makes its attempt now. Sent to the
// workflow making the delivery (a DeliverBatch child's own id).
const SignalSlotFree = "slot-free"

// SlotFree is the payload of SignalSlotFree.
type SlotFree struct {
	WebhookID  string
	DeliveryID string
}

// SignalTurn tells a workflow that the delivery its delivery waits for (an
// earlier one of the same ordering key and webhook) has finished, or that
// the earlier event it waits for was recorded: the delivery checks its
// turn again now. Sent to the workflow making the delivery.
const SignalTurn = "turn"

// Turn is the payload of SignalTurn.
type Turn struct {
	DeliveryID string
}

// Custom search attributes: register them on every cluster (make run and
// make test do; docs/operations.md shows the command for a real cluster).
var (
	AttrAccountID      = temporal.NewSearchAttributeKeyKeyword("WebhookAccountId")
	AttrEventType      = temporal.NewSearchAttributeKeyKeyword("WebhookEventType")
	AttrTriggerSource  = temporal.NewSearchAttributeKeyKeyword("WebhookTriggerSource")
	AttrWebhookIDs     = temporal.NewSearchAttributeKeyKeywordList("WebhookIds")
	AttrDeliveryStatus = temporal.NewSearchAttributeKeyKeyword("WebhookDeliveryStatus")
	// AttrThrottled lists the webhooks whose throttle a delivery of the
	// workflow is waiting on now (unset when none): WebhookThrottled = '<id>'
	// lists every workflow held back by that webhook's throttle.
	AttrThrottled = temporal.NewSearchAttributeKeyKeywordList("WebhookThrottled")
)

// Values of AttrDeliveryStatus besides the delivery statuses.
const (
	SummaryPending = string(delivery.Pending) // some delivery is in progress
	SummaryNone    = "none"                   // nothing to deliver: no webhook matched
)

// DeliverEventInput starts DeliverEvent.
type DeliverEventInput struct {
	AccountID string
	Event     events.Event
	// OnlyWebhookID and Test: a one-shot test event to a single webhook.
	OnlyWebhookID string `json:",omitempty"`
	Test          bool   `json:",omitempty"`
	// Stored: the API's outbox holds the event, so Event.Data is left out
	// of the history; RecordEvent reads it there.
	Stored bool `json:",omitempty"`
	// StoredAt is when the outbox stored it (its created_at), so that
	// RecordEvent reads it in its week's partition of the log alone;
	// absent (a workflow started before it was added), it looks in all.
	StoredAt *time.Time `json:",omitempty"`
}

// Check returns why the worker must not deliver in, or nil; RecordEvent
// runs it first. The API and publish.Publisher validate an event before
// they start its workflow, but anyone who reaches Temporal can start
// DeliverEvent without them (Publisher.Start takes the event as given, the
// SDK takes anything), and one bad event could fail RecordEvent, and hold
// its workflow, for a day. The event is checked by the rules of its
// origin; one from the outbox (Stored) without its data, checked when it
// was stored.
func (in DeliverEventInput) Check() error {
	if in.Test != (in.OnlyWebhookID != "") {
		return errors.New("a test event names exactly one webhook, and only a test event does")
	}
	if in.Stored {
		return in.Event.ValidateHead(in.origin())
	}
	// No bound of our own on the data: Temporal's on payloads holds, and a
	// publisher may have raised its MaxDataBytes.
	return in.Event.ValidateFrom(in.origin(), math.MaxInt32)
}

// origin is who made in's event, as its input says: a test, the engine
// (an operational event, from the outbox only) or a publisher.
func (in DeliverEventInput) origin() events.Origin {
	switch {
	case in.Test:
		return events.FromTest
	case in.Stored && in.Event.TriggerSource == events.SourceSystem:
		return events.FromEngine
	}
	return events.FromPublisher
}

// ResendInput starts ResendDelivery.
type ResendInput struct {
	AccountID  string
	DeliveryID string
	Series     int
}

// BatchInput starts DeliverBatch: some of the deliveries of a large event,
// made by a child of its DeliverEvent.
type BatchInput struct {
	Deliveries      []DeliveryRef
	ActivityTimeout time.Duration
	Test            bool   `json:",omitempty"`
	AccountID       string `json:",omitempty"`
	EventID         string `json:",omitempty"`
}

// DeliveryRef names one delivery of an event. Done ones are only
// reported: finished already (by an earlier run, or a lost task whose
// attempts did happen), or in the hands of a resend.
type DeliveryRef struct {
	DeliveryID string
	WebhookID  string
	Series     int
	Done       bool            `json:",omitempty"`
	Status     delivery.Status `json:",omitempty"` // the stored status of a Done delivery
	Attempts   int             `json:",omitempty"`
	// Ordered: the delivery takes its turn among its ordering key's
	// deliveries to its webhook before its first attempt (TakeTurn), and
	// passes it on when it ends (PassTurn).
	Ordered bool `json:",omitempty"`
	// WebhookName names the webhook in the Temporal UI's summaries only
	// (empty in histories from before it, or for a deleted webhook).
	WebhookName string `json:",omitempty"`
}

// AttemptResult is what an attempt did, and what the workflow does next.
type AttemptResult struct {
	Outcome    delivery.Outcome
	StatusCode int    `json:",omitempty"`
	DurationMS int64  `json:",omitempty"`
	Error      string `json:",omitempty"`
	Reason     string `json:",omitempty"`
	// Try is the attempt row's try: above 1 when this attempt number had
	// been sent before by a worker that was lost.
	Try int `json:",omitempty"`
	// Wait before the next attempt (OutcomeRetry): the schedule's
	// interval, or the receiver's Retry-After when that is longer (bounded);
	// or before the same attempt again (OutcomeThrottled).
	Wait time.Duration `json:",omitempty"`
	// Reservation is the rate-limit slot held for the attempt
	// (OutcomeThrottled): the workflow passes it back with the attempt.
	Reservation *time.Time `json:",omitempty"`
	// Queued: the webhook was full and the attempt waits in its queue
	// (OutcomeThrottled); SignalSlotFree wakes the workflow when a slot is
	// handed to it, Wait is only a fallback poll.
	Queued bool `json:",omitempty"`
}

// DeliveryResult is the end state of one delivery.
type DeliveryResult struct {
	DeliveryID string
	WebhookID  string
	Status     delivery.Status
	Attempts   int
	Last       AttemptResult
}

// Result is what a delivery workflow returns: every delivery of the event
// (or of the resend) with its final state.
type Result struct {
	Deliveries []DeliveryResult
	Skipped    string `json:",omitempty"`
}

// EventWorkflowID is the deterministic id of the workflow delivering an
// event, so publishing the same event twice starts one workflow.
func EventWorkflowID(accountID, eventID string) string {
	return "event/" + accountID + "/" + eventID
}

// BatchWorkflowID is the id of the k-th (1-based) DeliverBatch child of an
// event's workflow.
func BatchWorkflowID(eventWorkflowID string, k int) string {
	return fmt.Sprintf("%s/batch-%d", eventWorkflowID, k)
}

const resendPrefix = "resend/"

// ResendWorkflowID is the id of the workflow making series n of a delivery.
func ResendWorkflowID(deliveryID string, series int) string {
	return fmt.Sprintf("%s%s/%d", resendPrefix, deliveryID, series)
}

// IsResendWorkflowID reports whether id names a resend's workflow.
func IsResendWorkflowID(id string) bool { return strings.HasPrefix(id, resendPrefix) }
