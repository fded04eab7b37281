package outbox

// The reconciler makes the delivery log in PostgreSQL converge on what
// Temporal knows. The two can drift when PostgreSQL loses commits Temporal
// had already acted on (an asynchronous replica promoted, a crash without
// synchronous commit), or when a workflow is terminated by an operator: an
// event left undispatched although its workflow completed, deliveries left
// pending whose workflow is closed. The sweep calls reconcileEvent for
// events whose workflow exists already; reconcile checks deliveries left
// unfinished for longer than any wait of their schedule.

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// reconcileEvent handles an undispatched event whose workflow already
// exists. When the workflow completed, the log is restored from its result
// (the event is marked dispatched, so the sweep stops starting it); done
// reports that.
func (o *Outbox) reconcileEvent(ctx context.Context, e db.Event) (done bool, err error) {
	st, runID, err := o.pub.WorkflowState(ctx, e.WorkflowID)
	if err != nil || st != workflowclient.Completed {
		return false, err
	}
	return true, o.restore(ctx, e.AccountID, e.ID, e.WorkflowID, runID)
}

func (o *Outbox) restore(ctx context.Context, accountID uuid.UUID, eventID, workflowID, runID string) error {
	res, err := o.pub.WorkflowResult(ctx, workflowID, runID)
	if err != nil {
		return fmt.Errorf("reading the result of %s: %w", workflowID, err)
	}
	outs := make([]db.DeliveryOutcome, 0, len(res.Deliveries))
	for _, d := range res.Deliveries {
		id, err1 := uuid.Parse(d.DeliveryID)
		wh, err2 := uuid.Parse(d.WebhookID)
		if err1 != nil || err2 != nil {
			continue
		}
		reason := d.Last.Reason
		if reason == "" {
			reason = d.Last.Error
		}
		outs = append(outs, db.DeliveryOutcome{ID: id, WebhookID: wh, Status: d.Status, Attempts: d.Attempts,
			Reason: "restored from the workflow's result" + suffix(reason)})
	}
	n, err := o.store.RestoreOutcomes(ctx, accountID, eventID, workflowID, outs)
	if err != nil {
		return err
	}
	if n > 0 {
		o.log.Warn("delivery log repaired from a completed workflow", "workflowId", workflowID, "rows", n)
	}
	return nil
}

func suffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// reconcile checks stale deliveries every ReconcileEvery until ctx ends.
func (o *Outbox) reconcile(ctx context.Context) {
	every(ctx, o.opts.ReconcileEvery, func() {
		if n, err := o.ReconcileDeliveries(ctx, 200); err != nil && ctx.Err() == nil {
			o.log.Warn("reconciling stale deliveries", "err", err)
		} else if n > 0 {
			o.log.Info("checked stale deliveries", "count", n)
		}
	})
}

// ReconcileDeliveries checks up to limit deliveries whose next step is
// overdue by DeliveryStaleAfter against their workflow: a completed one
// restores the log from its result; an event's workflow that failed or was
// terminated is started again (as the queue starts it); a resend's workflow
// that ended, or any workflow that no longer exists, leaves the delivery
// failed, visibly, so it can be resent. A running workflow is left alone
// (it may be waiting out an outage).
func (o *Outbox) ReconcileDeliveries(ctx context.Context, limit int) (int, error) {
	stale, err := o.store.StaleDeliveries(ctx, o.opts.DeliveryStaleAfter, o.opts.WaitingStaleAfter, limit)
	if err != nil {
		return 0, err
	}
	var errs []error
	checked := map[string]bool{}
	for _, d := range stale {
		if checked[d.WorkflowID] {
			continue
		}
		checked[d.WorkflowID] = true
		if err := o.delivery(ctx, d); err != nil {
			errs = append(errs, err)
		}
	}
	return len(checked), errors.Join(errs...)
}

func (o *Outbox) delivery(ctx context.Context, d db.Delivery) error {
	st, detail, err := o.pub.WorkflowState(ctx, d.WorkflowID)
	if err != nil {
		return err
	}
	isEvent := d.WorkflowID == flow.EventWorkflowID(d.AccountID.String(), d.EventID)
	switch {
	case st == workflowclient.Running:
		return o.store.TouchDelivery(ctx, d.ID)
	case st == workflowclient.Completed:
		if err := o.restore(ctx, d.AccountID, d.EventID, d.WorkflowID, detail); err != nil {
			return err
		}
		// The result did not list it: it would stay pending forever.
		return o.fail(ctx, d, "its workflow completed without delivering it; resend to deliver")
	case st == workflowclient.Ended && isEvent:
		e, err := o.store.Event(ctx, d.AccountID, d.EventID)
		if err != nil {
			return err
		}
		o.log.Warn("restarting the workflow of an event left unfinished", "workflowId", d.WorkflowID, "was", detail)
		// RecordEvent then resumes only unfinished deliveries.
		if _, err := o.start(ctx, e); err != nil {
			return err
		}
		return o.store.TouchDelivery(ctx, d.ID)
	case st == workflowclient.Ended:
		return o.fail(ctx, d, "its workflow ended ("+detail+") before the delivery did; resend to deliver")
	}
	return o.fail(ctx, d, "its workflow no longer exists; resend to deliver")
}

func (o *Outbox) fail(ctx context.Context, d db.Delivery, reason string) error {
	if err := o.store.FinishDelivery(ctx, d.ID, d.Series, delivery.Failed, reason); err != nil {
		return err
	}
	o.log.Warn("stale delivery marked failed", "deliveryId", d.ID, "workflowId", d.WorkflowID, "reason", reason)
	return nil
}
