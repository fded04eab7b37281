// Package workflows holds the deterministic delivery workflows: one per event
// (DeliverEvent) and one per manual resend (ResendDelivery). All I/O is in
// the activities package.
package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/esign-webhooks/esign-webhooks/activities"
	"github.com/esign-webhooks/esign-webhooks/events"
)

// DefaultTaskQueue is the task queue of the delivery worker.
const DefaultTaskQueue = "webhooks"

// SignalWebhookChanged tells a workflow that a webhook was disabled or
// deleted, so its deliveries waiting to retry stop now.
const SignalWebhookChanged = "webhook-changed"

// Custom search attributes: register them on every cluster (make run and
// make test do; the README shows the command for a real cluster).
var (
	AttrAccountID      = temporal.NewSearchAttributeKeyKeyword("WebhookAccountId")
	AttrEventType      = temporal.NewSearchAttributeKeyKeyword("WebhookEventType")
	AttrTriggerSource  = temporal.NewSearchAttributeKeyKeyword("WebhookTriggerSource")
	AttrWebhookIDs     = temporal.NewSearchAttributeKeyKeywordList("WebhookIds")
	AttrDeliveryStatus = temporal.NewSearchAttributeKeyKeyword("WebhookDeliveryStatus")
)

// DeliverEventInput starts DeliverEvent.
type DeliverEventInput struct {
	AccountID string
	Event     events.Event
	// OnlyWebhookID and Test: a one-shot test event to a single webhook.
	OnlyWebhookID string `json:",omitempty"`
	Test          bool   `json:",omitempty"`
}

// maxListedWebhooks bounds the WebhookIds search attribute: 45 quoted
// UUIDs stay under Temporal's 2 KiB limit on one attribute value.
const maxListedWebhooks = 45

// WebhookChange is the payload of SignalWebhookChanged.
type WebhookChange struct {
	WebhookID string
	Reason    string
}

// DeliveryResult is the end state of one delivery.
type DeliveryResult struct {
	DeliveryID string
	WebhookID  string
	Status     string // succeeded, failed or cancelled
	Attempts   int
	Last       activities.AttemptResult
}

// Result is what a delivery workflow returns.
type Result struct {
	Deliveries []DeliveryResult
	Skipped    string `json:",omitempty"`
}

// localActivityOptions run RecordEvent and PrepareResend. The SDK defaults a
// local activity's ScheduleToCloseTimeout to its StartToCloseTimeout, which
// capped all retries at 30 s: a database outage longer than that failed the
// workflow and the event was never delivered. Retry for a day instead (the
// retry policy's MaximumInterval already assumed long outages).
var localActivityOptions = workflow.LocalActivityOptions{
	ScheduleToCloseTimeout: 24 * time.Hour,
	StartToCloseTimeout:    30 * time.Second,
	// Backoffs longer than the workflow task timeout become timers in the
	// history (about six events a retry): a 10-minute cap keeps a day-long
	// outage to some hundreds of events.
	RetryPolicy: &temporal.RetryPolicy{MaximumInterval: 10 * time.Minute},
}

// DeliverEvent records the event, resolves its subscriptions and delivers it
// to each matching webhook concurrently, each on its own retry schedule.
func DeliverEvent(ctx workflow.Context, in DeliverEventInput) (Result, error) {
	var a *activities.Activities
	// A local activity: no extra round trip through the server for a short
	// database transaction.
	lctx := workflow.WithLocalActivityOptions(ctx, localActivityOptions)
	var plan activities.Plan
	err := workflow.ExecuteLocalActivity(lctx, a.RecordEvent, activities.RecordEventInput{
		AccountID: in.AccountID, Event: in.Event, OnlyWebhookID: in.OnlyWebhookID,
	}).Get(ctx, &plan)
	if err != nil {
		return Result{}, err
	}
	return deliverAll(ctx, plan, in.Test)
}

// ResendInput starts ResendDelivery.
type ResendInput struct {
	AccountID  string
	DeliveryID string
	Series     int
}

// ResendDelivery makes a new series of attempts of one delivery.
func ResendDelivery(ctx workflow.Context, in ResendInput) (Result, error) {
	var a *activities.Activities
	lctx := workflow.WithLocalActivityOptions(ctx, localActivityOptions)
	var plan activities.Plan
	err := workflow.ExecuteLocalActivity(lctx, a.PrepareResend, activities.ResendInput{
		AccountID: in.AccountID, DeliveryID: in.DeliveryID, Series: in.Series,
	}).Get(ctx, &plan)
	if err != nil {
		return Result{}, err
	}
	return deliverAll(ctx, plan, false)
}

// deliverAll runs one delivery loop per webhook and listens for webhooks
// being disabled or deleted meanwhile.
func deliverAll(ctx workflow.Context, plan activities.Plan, test bool) (Result, error) {
	res := Result{Skipped: plan.Skipped, Deliveries: make([]DeliveryResult, len(plan.Deliveries))}
	if len(plan.Deliveries) == 0 {
		_ = workflow.UpsertTypedSearchAttributes(ctx, AttrDeliveryStatus.ValueSet("none"))
		return res, nil
	}
	// Temporal caps a search attribute value at 2 KiB: list at most
	// maxListedWebhooks ids (the delivery log in PostgreSQL has them all).
	ids := make([]string, 0, min(len(plan.Deliveries), maxListedWebhooks))
	for _, d := range plan.Deliveries[:min(len(plan.Deliveries), maxListedWebhooks)] {
		ids = append(ids, d.WebhookID)
	}
	// The ids are listed when a delivery first has to wait, or at the end:
	// an event delivered at the first try then costs one visibility update.
	listed := false
	listWebhooks := func(ctx workflow.Context) {
		if !listed {
			listed = true
			_ = workflow.UpsertTypedSearchAttributes(ctx, AttrWebhookIDs.ValueSet(ids))
		}
	}

	// Each delivery waits between attempts under its own cancellable context;
	// the signal handler cancels the waits of a disabled or deleted webhook.
	cancels := map[string][]workflow.CancelFunc{}
	reasons := map[string]string{}
	wg := workflow.NewWaitGroup(ctx)
	for i, d := range plan.Deliveries {
		waitCtx, cancel := workflow.WithCancel(ctx)
		cancels[d.WebhookID] = append(cancels[d.WebhookID], cancel)
		wg.Add(1)
		workflow.Go(waitCtx, func(waitCtx workflow.Context) {
			defer wg.Done()
			// Activities run on a context the cancellation does not reach.
			actCtx, _ := workflow.NewDisconnectedContext(waitCtx)
			res.Deliveries[i] = deliverOne(actCtx, waitCtx, plan.ActivityTimeout, d, test, reasons, listWebhooks)
		})
	}
	signals := workflow.GetSignalChannel(ctx, SignalWebhookChanged)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var ch WebhookChange
			if !signals.Receive(ctx, &ch) {
				return
			}
			if _, seen := reasons[ch.WebhookID]; !seen {
				reasons[ch.WebhookID] = ch.Reason
			}
			for _, cancel := range cancels[ch.WebhookID] {
				cancel()
			}
		}
	})
	wg.Wait(ctx)
	final := []temporal.SearchAttributeUpdate{AttrDeliveryStatus.ValueSet(summary(res.Deliveries))}
	if !listed {
		final = append(final, AttrWebhookIDs.ValueSet(ids))
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, final...)
	return res, nil
}

// deliverOne attempts one delivery until it succeeds, fails for good or is
// cancelled. Activities run under ctx; only the waits under waitCtx, so a
// cancellation never abandons an attempt in flight.
func deliverOne(ctx, waitCtx workflow.Context, timeout time.Duration, d activities.DeliveryRef, test bool,
	reasons map[string]string, beforeWait func(workflow.Context)) DeliveryResult {
	var a *activities.Activities
	out := DeliveryResult{DeliveryID: d.DeliveryID, WebhookID: d.WebhookID}
	// Attempts are local activities: the worker runs them as part of the
	// workflow task, so a delivery that succeeds first time costs one
	// workflow task instead of three round trips through the server. Each
	// attempt is still its own step (a marker with its result) in the history.
	actx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: timeout,
		// Only infrastructure errors are retried here (database down, worker
		// lost); failed HTTP attempts are non-retryable and follow the
		// delivery schedule below. Two hours of retries at most (each one
		// a few history events per delivery); then the delivery is failed
		// visibly, and can be resent.
		ScheduleToCloseTimeout: 2 * time.Hour,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 5 * time.Minute},
	})
	for attempt := 1; ; attempt++ {
		if reason, ok := reasons[d.WebhookID]; ok {
			return finish(actx, out, d, "cancelled", reason)
		}
		var r activities.AttemptResult
		err := workflow.ExecuteLocalActivity(actx, a.Deliver, activities.DeliverInput{
			DeliveryID: d.DeliveryID, Series: d.Series, Attempt: attempt, Test: test,
		}).Get(ctx, &r)
		if err != nil {
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != activities.ErrAttemptFailed || appErr.Details(&r) != nil {
				// Not an attempt result: the activity itself could not run
				// (its retries are spent). Say so in the delivery log too,
				// or the delivery would stay pending forever.
				out.Attempts = attempt - 1
				out.Last = activities.AttemptResult{Outcome: activities.OutcomeFailed, Error: err.Error()}
				return finish(actx, out, d, "failed", "delivery could not be attempted: "+err.Error())
			}
		}
		if r.Outcome != activities.OutcomeCancelled {
			out.Attempts = attempt
		}
		out.Last = r
		switch r.Outcome {
		case activities.OutcomeSucceeded:
			out.Status = "succeeded"
			return out
		case activities.OutcomeCancelled:
			out.Status = "cancelled"
			return out
		case activities.OutcomeRetry:
			beforeWait(ctx)
			if err := workflow.Sleep(waitCtx, r.Wait); err != nil {
				reason := reasons[d.WebhookID]
				if reason == "" {
					reason = "cancelled"
				}
				return finish(actx, out, d, "cancelled", reason)
			}
		default:
			out.Status = "failed"
			return out
		}
	}
}

// finish records that the delivery's remaining attempts will not be made.
func finish(actx workflow.Context, out DeliveryResult, d activities.DeliveryRef, status, reason string) DeliveryResult {
	var a *activities.Activities
	_ = workflow.ExecuteLocalActivity(actx, a.CancelDelivery, activities.CancelInput{
		DeliveryID: d.DeliveryID, Series: d.Series, Reason: reason, Status: status,
	}).Get(actx, nil)
	out.Status = status
	out.Last.Reason = reason
	return out
}

// summary is the workflow's DeliveryStatus search attribute: the worst state.
func summary(ds []DeliveryResult) string {
	status := "succeeded"
	for _, d := range ds {
		switch d.Status {
		case "failed":
			return "failed"
		case "cancelled":
			status = "cancelled"
		}
	}
	return status
}
