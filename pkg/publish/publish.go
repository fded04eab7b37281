// Package publish is the client of the delivery workflows: it starts the
// workflow of an event (or a resend, or a test), signals and looks up
// workflows. The REST API talks to Temporal only through it, and upstream
// services can import it to publish straight through the Temporal SDK, with
// the same validation and the same workflow id rules: it depends on the SDK,
// the standard library and our contract packages (flow, events, delivery)
// only — never on the store or the activities.
package publish

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	return p.start(ctx, accountID, flow.DeliverEventInput{AccountID: accountID, Event: e})
}

// StartStored starts the workflow of an event the API's outbox holds: its
// data stays in PostgreSQL instead of travelling through Temporal history.
func (p *Publisher) StartStored(ctx context.Context, accountID string, e events.Event) (Result, error) {
	e.Data = nil
	return p.start(ctx, accountID, flow.DeliverEventInput{AccountID: accountID, Event: e, Stored: true})
}

func (p *Publisher) start(ctx context.Context, accountID string, in flow.DeliverEventInput) (Result, error) {
	e := in.Event
	id := flow.EventWorkflowID(accountID, e.ID)
	// No search attributes at start: DeliverEvent sets them itself.
	run, err := p.Client.ExecuteWorkflow(ctx, p.options(id, accountID, "", ""), flow.DeliverEventWorkflow, in)
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
	id := flow.EventWorkflowID(accountID, e.ID)
	return p.Client.ExecuteWorkflow(ctx, p.options(id, accountID, "", ""),
		flow.DeliverEventWorkflow, flow.DeliverEventInput{AccountID: accountID, Event: e, OnlyWebhookID: webhookID, Test: true})
}

// StartResend starts a new series of attempts of a delivery.
func (p *Publisher) StartResend(ctx context.Context, accountID, eventType, deliveryID string, series int) (Result, error) {
	id := flow.ResendWorkflowID(deliveryID, series)
	run, err := p.Client.ExecuteWorkflow(ctx, p.options(id, accountID, eventType, ""),
		flow.ResendDeliveryWorkflow, flow.ResendInput{AccountID: accountID, DeliveryID: deliveryID, Series: series})
	if err != nil {
		return Result{}, fmt.Errorf("starting workflow %s: %w", id, err)
	}
	return Result{WorkflowID: id, RunID: run.GetRunID()}, nil
}

func (p *Publisher) options(id, accountID, eventType, source string) client.StartWorkflowOptions {
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

// SignalWebhookChanged tells the workflow workflowID that a webhook was
// disabled or deleted, so its deliveries to it stop waiting.
func (p *Publisher) SignalWebhookChanged(ctx context.Context, workflowID string, ch flow.WebhookChange) error {
	return p.Client.SignalWorkflow(ctx, workflowID, "", flow.SignalWebhookChanged, ch)
}

// SignalSlotFree tells the workflow workflowID that a slot of its
// webhook was handed to its waiting delivery.
func (p *Publisher) SignalSlotFree(ctx context.Context, workflowID string, s flow.SlotFree) error {
	return p.Client.SignalWorkflow(ctx, workflowID, "", flow.SignalSlotFree, s)
}

// SignalAll sends ch to the workflows workflowIDs, a few at a time, until
// done or ctx ends; it returns how many were signalled. Best effort: a
// workflow that has ended meanwhile is skipped.
func (p *Publisher) SignalAll(ctx context.Context, workflowIDs []string, ch flow.WebhookChange) int {
	var (
		mu sync.Mutex
		n  int
		wg sync.WaitGroup
	)
	sem := make(chan struct{}, 8)
	for _, id := range workflowIDs {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if p.SignalWebhookChanged(ctx, id, ch) == nil {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return n
}

// State is where a workflow is.
type State int

// Workflow states.
const (
	Running   State = iota
	Completed       // closed with a result
	Ended           // failed, terminated, timed out or cancelled: no result
	NotFound        // never started, or its history is gone
)

// WorkflowState looks up a workflow's latest run: its state, and the run id
// (Completed) or the closing status (Ended).
func (p *Publisher) WorkflowState(ctx context.Context, workflowID string) (State, string, error) {
	desc, err := p.Client.DescribeWorkflow(ctx, workflowID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return NotFound, "", nil
	case err != nil:
		return Running, "", fmt.Errorf("describing %s: %w", workflowID, err)
	}
	info := desc.RawResponse.GetWorkflowExecutionInfo()
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return Running, "", nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return Completed, info.GetExecution().GetRunId(), nil
	}
	return Ended, info.GetStatus().String(), nil
}

// WorkflowResult waits for a run's result.
func (p *Publisher) WorkflowResult(ctx context.Context, workflowID, runID string) (flow.Result, error) {
	var res flow.Result
	if err := p.Client.GetWorkflow(ctx, workflowID, runID).Get(ctx, &res); err != nil {
		return flow.Result{}, err
	}
	return res, nil
}

// CheckHealth reports whether the Temporal frontend answers.
func (p *Publisher) CheckHealth(ctx context.Context) error {
	_, err := p.Client.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}
