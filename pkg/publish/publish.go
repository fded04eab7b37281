// Package publish is the public client of the delivery workflows: upstream
// services import it to publish events straight through the Temporal SDK,
// with the API's validation and workflow id rules. It depends on the SDK,
// the standard library and the contract packages (flow, events, delivery,
// and the events' JSON Schema validator) only. The server's own client (stored events, tests, resends, signals,
// lookups) is internal/workflowclient, built on this one.
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

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// Publisher starts DeliverEvent workflows.
type Publisher struct {
	Client    client.Client
	TaskQueue string // flow.DefaultTaskQueue when empty
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

// Prepare fills the defaults of e (id, occurredAt) and validates it, its
// data against its type's JSON Schema; it returns an
// *events.ValidationError (errors.As finds events.FieldErrors in it too)
// when e is invalid.
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
	return p.start(ctx, accountID, flow.DeliverEventInput{AccountID: accountID, Event: e})
}

func (p *Publisher) start(ctx context.Context, accountID string, in flow.DeliverEventInput) (Result, error) {
	e := in.Event
	id := flow.EventWorkflowID(accountID, e.ID)
	// No search attributes at start: DeliverEvent sets them itself.
	opts := p.StartOptions(id, accountID, "", "")
	opts.StaticSummary, opts.StaticDetails = flow.StartSummary(in, flow.EnvelopeID(e.Data))
	run, err := p.Client.ExecuteWorkflow(ctx, opts, flow.DeliverEventWorkflow, in)
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

// StartOptions are the options every delivery workflow is started with:
// its id, task queue, id policies and the search attributes it is listed by
// from its start (eventType and source may be empty).
func (p *Publisher) StartOptions(id, accountID, eventType, source string) client.StartWorkflowOptions {
	queue := p.TaskQueue
	if queue == "" {
		queue = flow.DefaultTaskQueue
	}
	// A resend is listed from its start; DeliverEvent (eventType "") lists
	// itself with its first upsert, which is cheaper for the server.
	var attrs []temporal.SearchAttributeUpdate
	if eventType != "" {
		attrs = append(attrs, flow.AttrAccountID.ValueSet(accountID), flow.AttrEventType.ValueSet(eventType),
			flow.AttrDeliveryStatus.ValueSet(flow.SummaryPending))
	}
	if source != "" {
		attrs = append(attrs, flow.AttrTriggerSource.ValueSet(source))
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
