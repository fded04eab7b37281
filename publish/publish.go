// Package publish starts the delivery workflow of an event. The REST API uses
// it, and upstream services can import it to publish straight through the
// Temporal SDK, with the same validation and the same workflow id rules.
package publish

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/esign-webhooks/esign-webhooks/events"
	"github.com/esign-webhooks/esign-webhooks/workflows"
)

// Publisher starts DeliverEvent workflows.
type Publisher struct {
	Client    client.Client
	TaskQueue string // workflows.DefaultTaskQueue when empty
	// MaxDataBytes bounds Event.Data (events.DefaultMaxDataBytes when 0).
	MaxDataBytes int
	// EagerStart: a worker of the task queue runs in this process on the
	// same client, so the first workflow task can skip the task queue.
	EagerStart bool
	Now        func() time.Time
}

// Result names what was started (or found already started).
type Result struct {
	EventID    string `json:"eventId"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	// Existed: the workflow had been started before (a duplicate publish).
	Existed bool `json:"-"`
}

// Prepare fills the defaults of e (id, occurredAt) and validates it; it
// returns events.FieldErrors when e is invalid.
func (p *Publisher) Prepare(e *events.Event) error {
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.OccurredAt.IsZero() {
		now := time.Now
		if p.Now != nil {
			now = p.Now
		}
		e.OccurredAt = now().UTC()
	}
	return e.Validate(p.MaxDataBytes)
}

// Publish validates e and starts its workflow. Publishing the same event id
// for the same account again starts nothing and returns the same ids.
func (p *Publisher) Publish(ctx context.Context, accountID string, e events.Event) (Result, error) {
	if err := p.Prepare(&e); err != nil {
		return Result{}, err
	}
	return p.Start(ctx, accountID, e)
}

// Start starts the workflow of an already prepared event.
func (p *Publisher) Start(ctx context.Context, accountID string, e events.Event) (Result, error) {
	return p.start(ctx, accountID, workflows.DeliverEventInput{AccountID: accountID, Event: e})
}

// StartStored starts the workflow of an event the API's outbox holds: its
// data stays in PostgreSQL instead of travelling through Temporal history.
func (p *Publisher) StartStored(ctx context.Context, accountID string, e events.Event) (Result, error) {
	e.Data = nil
	return p.start(ctx, accountID, workflows.DeliverEventInput{AccountID: accountID, Event: e, Stored: true})
}

func (p *Publisher) start(ctx context.Context, accountID string, in workflows.DeliverEventInput) (Result, error) {
	e := in.Event
	id := events.WorkflowID(accountID, e.ID)
	run, err := p.Client.ExecuteWorkflow(ctx, p.options(id, accountID, e.Type, e.TriggerSource), workflows.DeliverEvent, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started):
		// Already delivered (or delivering) under this id: the same answer.
		return Result{EventID: e.ID, WorkflowID: id, RunID: started.RunId, Existed: true}, nil
	case err != nil:
		return Result{}, fmt.Errorf("starting workflow %s: %w", id, err)
	}
	return Result{EventID: e.ID, WorkflowID: id, RunID: run.GetRunID()}, nil
}

// StartTest starts a one-shot WEBHOOK_TEST delivery to one webhook.
func (p *Publisher) StartTest(ctx context.Context, accountID, webhookID string, e events.Event) (client.WorkflowRun, error) {
	id := events.WorkflowID(accountID, e.ID)
	return p.Client.ExecuteWorkflow(ctx, p.options(id, accountID, e.Type, e.TriggerSource),
		workflows.DeliverEvent, workflows.DeliverEventInput{AccountID: accountID, Event: e, OnlyWebhookID: webhookID, Test: true})
}

// ResendWorkflowID is the id of the workflow making series n of a delivery.
func ResendWorkflowID(deliveryID string, series int) string {
	return fmt.Sprintf("resend/%s/%d", deliveryID, series)
}

// StartResend starts a new series of attempts of a delivery.
func (p *Publisher) StartResend(ctx context.Context, accountID, eventType, deliveryID string, series int) (Result, error) {
	id := ResendWorkflowID(deliveryID, series)
	run, err := p.Client.ExecuteWorkflow(ctx, p.options(id, accountID, eventType, ""),
		workflows.ResendDelivery, workflows.ResendInput{AccountID: accountID, DeliveryID: deliveryID, Series: series})
	if err != nil {
		return Result{}, fmt.Errorf("starting workflow %s: %w", id, err)
	}
	return Result{WorkflowID: id, RunID: run.GetRunID()}, nil
}

func (p *Publisher) options(id, accountID, eventType, source string) client.StartWorkflowOptions {
	queue := p.TaskQueue
	if queue == "" {
		queue = workflows.DefaultTaskQueue
	}
	attrs := []temporal.SearchAttributeUpdate{
		workflows.AttrAccountID.ValueSet(accountID),
		workflows.AttrEventType.ValueSet(eventType),
		workflows.AttrDeliveryStatus.ValueSet("pending"),
	}
	if source != "" {
		attrs = append(attrs, workflows.AttrTriggerSource.ValueSet(source))
	}
	return client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: queue,
		// The same id again (a duplicate publish) joins the existing run; an
		// id whose run completed is never reused: one event, one delivery. A
		// run that failed (e.g. a day-long database outage) may be started
		// again: RecordEvent is idempotent and only resumes unfinished
		// deliveries, so the event is delivered instead of lost.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		TypedSearchAttributes:    temporal.NewSearchAttributes(attrs...),
		EnableEagerStart:         p.EagerStart,
		// Tell a closed workflow (refused by the reuse policy) apart from a
		// running one: Start reports it as Existed, so the sweep reconciles
		// instead of "starting" it for ever.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}
}
