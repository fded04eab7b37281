// Package workflowclient is the server's client of the delivery workflows:
// the outbox's starts of stored events, test sends and resends, the signals
// to running workflows and the lookups of their state. It starts through
// the public publish.Publisher's options, so a workflow has the same id
// rules and policies however it was started.
package workflowclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

// Client is the public publisher plus what only the server does.
type Client struct {
	*publish.Publisher
}

// New is the server's client over p.
func New(p *publish.Publisher) *Client { return &Client{Publisher: p} }

// StartStored starts the workflow of an event the API's outbox holds (it
// stored it at storedAt): its data stays in PostgreSQL instead of
// travelling through Temporal history.
func (c *Client) StartStored(ctx context.Context, accountID string, e events.Event, storedAt time.Time) (publish.Result, error) {
	envelope := flow.EnvelopeID(e.Data)
	e.Data = nil
	storedAt = storedAt.UTC()
	in := flow.DeliverEventInput{AccountID: accountID, Event: e, Stored: true, StoredAt: &storedAt}
	id := flow.EventWorkflowID(accountID, e.ID)
	// No search attributes at start: DeliverEvent sets them itself.
	opts := c.StartOptions(id, accountID, "", "")
	opts.StaticSummary, opts.StaticDetails = flow.StartSummary(in, envelope)
	run, err := c.Client.ExecuteWorkflow(ctx, opts, flow.DeliverEventWorkflow, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started):
		// Already delivered (or delivering) under this id: the same answer.
		return publish.Result{EventID: e.ID, WorkflowID: id, RunID: started.RunId, Existed: true}, nil
	case err != nil:
		return publish.Result{}, fmt.Errorf("starting workflow %s: %w", id, err)
	}
	return publish.Result{EventID: e.ID, WorkflowID: id, RunID: run.GetRunID()}, nil
}

// StartTest starts a one-shot test delivery to one webhook: WEBHOOK_TEST,
// or the sample of a type it subscribes to ("send example").
func (c *Client) StartTest(ctx context.Context, accountID, webhookID string, e events.Event) (client.WorkflowRun, error) {
	id := flow.EventWorkflowID(accountID, e.ID)
	in := flow.DeliverEventInput{AccountID: accountID, Event: e, OnlyWebhookID: webhookID, Test: true}
	opts := c.StartOptions(id, accountID, "", "")
	opts.StaticSummary, opts.StaticDetails = flow.StartSummary(in, flow.EnvelopeID(e.Data))
	return c.Client.ExecuteWorkflow(ctx, opts, flow.DeliverEventWorkflow, in)
}

// StartResend starts a new series of attempts of a delivery.
func (c *Client) StartResend(ctx context.Context, accountID, eventType, deliveryID string, series int) (publish.Result, error) {
	id := flow.ResendWorkflowID(deliveryID, series)
	opts := c.StartOptions(id, accountID, eventType, "")
	opts.StaticSummary = fmt.Sprintf("resend of a %s delivery · series %d", flow.SummaryText(eventType, 60), series)
	run, err := c.Client.ExecuteWorkflow(ctx, opts,
		flow.ResendDeliveryWorkflow, flow.ResendInput{AccountID: accountID, DeliveryID: deliveryID, Series: series})
	if err != nil {
		return publish.Result{}, fmt.Errorf("starting workflow %s: %w", id, err)
	}
	return publish.Result{WorkflowID: id, RunID: run.GetRunID()}, nil
}

// SignalWebhookChanged tells the workflow workflowID that a webhook was
// disabled or deleted, so its deliveries to it stop waiting.
func (c *Client) SignalWebhookChanged(ctx context.Context, workflowID string, ch flow.WebhookChange) error {
	return c.Client.SignalWorkflow(ctx, workflowID, "", flow.SignalWebhookChanged, ch)
}

// SignalSlotFree tells the workflow workflowID that a slot of its
// webhook was handed to its waiting delivery.
func (c *Client) SignalSlotFree(ctx context.Context, workflowID string, s flow.SlotFree) error {
	return c.Client.SignalWorkflow(ctx, workflowID, "", flow.SignalSlotFree, s)
}

// SignalTurn tells the workflow workflowID that its delivery t.DeliveryID
// may have its turn now.
func (c *Client) SignalTurn(ctx context.Context, workflowID string, t flow.Turn) error {
	return c.Client.SignalWorkflow(ctx, workflowID, "", flow.SignalTurn, t)
}

// SignalAll sends ch to the workflows workflowIDs, a few at a time, until
// done or ctx ends; it returns how many were signalled. Best effort: a
// workflow that has ended meanwhile is skipped.
func (c *Client) SignalAll(ctx context.Context, workflowIDs []string, ch flow.WebhookChange) int {
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
			if c.SignalWebhookChanged(ctx, id, ch) == nil {
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
func (c *Client) WorkflowState(ctx context.Context, workflowID string) (State, string, error) {
	desc, err := c.Client.DescribeWorkflow(ctx, workflowID, "")
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
func (c *Client) WorkflowResult(ctx context.Context, workflowID, runID string) (flow.Result, error) {
	var res flow.Result
	if err := c.Client.GetWorkflow(ctx, workflowID, runID).Get(ctx, &res); err != nil {
		return flow.Result{}, err
	}
	return res, nil
}

// CheckHealth reports whether the Temporal frontend answers.
func (c *Client) CheckHealth(ctx context.Context) error {
	_, err := c.Client.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// SignalNotice hands a notice to its channel's digest workflow for the
// webhook, starting it if none runs (Temporal dedups nothing here: the
// workflow ignores a notice it has seen, and the activity one already
// sent).
func (c *Client) SignalNotice(ctx context.Context, channelID, webhookKey string, window time.Duration, noticeID string) error {
	id := flow.NoticeWorkflowID(channelID, webhookKey)
	queue := c.TaskQueue
	if queue == "" {
		queue = flow.DefaultTaskQueue
	}
	_, err := c.Client.SignalWithStartWorkflow(ctx, id, flow.NoticeSignal, flow.Notice{ID: noticeID},
		client.StartWorkflowOptions{ID: id, TaskQueue: queue}, flow.NoticeDigestWorkflow,
		flow.NoticeDigestInput{ChannelID: channelID, WebhookKey: webhookKey, Window: window})
	if err != nil {
		return fmt.Errorf("signalling %s: %w", id, err)
	}
	return nil
}
