package service

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
	"github.com/esign-webhooks/esign-webhooks/pkg/publish"
)

// MaxBulkResend bounds the work of one bulk resend (and of one replay on
// enable): More says call again.
const MaxBulkResend = 500

// Resend starts a new series of attempts of a delivery, to its webhook as
// it is now (which must be enabled), with the same webhook-id.
func (s *Service) Resend(ctx context.Context, c Caller, deliveryID uuid.UUID) (db.Delivery, publish.Result, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return db.Delivery{}, publish.Result{}, err
	}
	acct := c.AccountID
	d, err := s.store.Delivery(ctx, acct, deliveryID)
	if err != nil {
		return db.Delivery{}, publish.Result{}, notFoundOr(err, "delivery")
	}
	w, err := s.store.Webhook(ctx, acct, d.WebhookID)
	if errors.Is(err, db.ErrNotFound) {
		return db.Delivery{}, publish.Result{}, fail(Conflict, "The delivery's webhook was deleted; there is nothing to resend to.")
	}
	if err != nil {
		return db.Delivery{}, publish.Result{}, err
	}
	if !w.Enabled {
		// It would only be cancelled at its first attempt: say so now.
		return db.Delivery{}, publish.Result{}, fail(WebhookDisabled, "The delivery's webhook is disabled; enable it, then resend.")
	}
	return s.resend(ctx, acct, d, NewAudit(c, ActionDeliveryResend, ResourceDelivery, d.ID.String()))
}

// resend starts a new series of attempts of d (a delivery of acct whose
// webhook is enabled), with a's record (nil: a bulk resend's, written
// before).
func (s *Service) resend(ctx context.Context, acct uuid.UUID, d db.Delivery, a *db.Audit) (db.Delivery, publish.Result, error) {
	dead := ""
	if d.Status == delivery.Pending || d.Status == delivery.Retrying {
		gone, err := s.workflowGone(ctx, d.WorkflowID)
		if err != nil {
			s.log.Warn("checking a pending delivery's workflow", "workflowId", d.WorkflowID, "err", err)
			return db.Delivery{}, publish.Result{}, fail(Unavailable, "The workflow service is unavailable; try again later.")
		}
		if gone {
			dead = d.WorkflowID
		}
	}
	d, err := s.store.StartResend(ctx, acct, d.ID, d.Series, flow.ResendWorkflowID(d.ID.String(), d.Series+1), dead, a)
	if errors.Is(err, db.ErrConflict) {
		return db.Delivery{}, publish.Result{}, fail(Conflict, "The delivery is still in progress; resend it once it has finished.")
	}
	if err != nil {
		return db.Delivery{}, publish.Result{}, notFoundOr(err, "delivery")
	}
	s.Logged(a)
	res, err := s.workflows.StartResend(ctx, acct.String(), d.EventType, d.ID.String(), d.Series)
	if err != nil {
		s.log.Warn("starting resend workflow", "deliveryId", d.ID, "series", d.Series, "err", err)
		if !startRefused(err) {
			// The start may have reached Temporal: failing the delivery now
			// could let a second resend run alongside this series.
			return db.Delivery{}, publish.Result{}, fail(Unavailable,
				"The workflow service did not answer in time; the resend may or may not have started. Check the delivery before resending again.")
		}
		// Put the delivery back so the admin can retry the resend.
		_ = s.store.FinishDelivery(context.WithoutCancel(ctx), d.ID, d.Series, delivery.Failed, "resend could not be scheduled")
		return db.Delivery{}, publish.Result{}, fail(Unavailable, "The workflow service is unavailable; the resend was not started. Try again later.")
	}
	return d, res, nil
}

// BulkResult is what a bulk resend did. A delivery that could not be
// resent is reported, not fatal.
type BulkResult struct {
	Resent []uuid.UUID
	Errors []BulkFailure
	More   bool // more matched than one call resends: call again
}

// BulkFailure is one delivery a bulk resend could not resend, and why.
type BulkFailure struct {
	DeliveryID uuid.UUID
	Err        *Error
}

// ResendMany recovers a webhook's deliveries of a time range (after the
// receiver was down, say), in event order, MaxBulkResend per call.
func (s *Service) ResendMany(ctx context.Context, c Caller, b BulkResend) (BulkResult, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return BulkResult{}, err
	}
	if err := s.check(b); err != nil {
		return BulkResult{}, err
	}
	if b.Until != nil && !b.Until.After(*b.Since) {
		return BulkResult{}, invalid("until", "must be after since")
	}
	status := delivery.Status(b.Status)
	if status == "" {
		status = delivery.Failed
	}
	id := uuid.MustParse(b.WebhookID) // checked
	w, err := s.Webhook(ctx, c, id)
	if err != nil {
		return BulkResult{}, err
	}
	if !w.Enabled {
		return BulkResult{}, fail(WebhookDisabled, "The webhook is disabled; enable it, then resend.")
	}
	ds, err := s.store.ListDeliveries(ctx, c.AccountID, db.DeliveryFilter{
		WebhookID: &id, Status: status, CreatedFrom: b.Since, CreatedTo: b.Until, Limit: MaxBulkResend + 1, Oldest: true,
	})
	if err != nil {
		return BulkResult{}, err
	}
	// One record for the whole resend, before it starts: its resends are
	// many transactions and workflow starts, none of which may go
	// unrecorded.
	a := NewAudit(c, ActionBulkResend, ResourceWebhook, id.String())
	a.Entry.Details = db.AuditDetails{"status": string(status), "since": b.Since.UTC(),
		"matched": min(len(ds), MaxBulkResend), "more": len(ds) > MaxBulkResend}
	if b.Until != nil {
		a.Entry.Details["until"] = b.Until.UTC()
	}
	if err := s.record(ctx, a); err != nil {
		return BulkResult{}, err
	}
	return s.resendMany(ctx, c.AccountID, ds), nil
}

// resendMany resends up to MaxBulkResend of ds, in order.
func (s *Service) resendMany(ctx context.Context, acct uuid.UUID, ds []db.Delivery) BulkResult {
	out := BulkResult{Resent: []uuid.UUID{}, Errors: []BulkFailure{}, More: len(ds) > MaxBulkResend}
	for _, d := range ds[:min(len(ds), MaxBulkResend)] {
		if _, _, err := s.resend(ctx, acct, d, nil); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				s.log.Warn("resending", "deliveryId", d.ID, "err", err)
				e = fail(0, "The resend could not be started.")
			}
			out.Errors = append(out.Errors, BulkFailure{DeliveryID: d.ID, Err: e})
			continue
		}
		out.Resent = append(out.Resent, d.ID)
	}
	return out
}

// workflowGone reports whether a pending delivery's workflow no longer runs:
// a resend that never started (its start's outcome was unknown) or a run
// closed without recording an outcome (e.g. terminated by an operator).
func (s *Service) workflowGone(ctx context.Context, workflowID string) (bool, error) {
	state, _, err := s.workflows.WorkflowState(ctx, workflowID)
	switch {
	case err != nil:
		return false, err
	case state == workflowclient.NotFound:
		// An event's own workflow may simply not be started yet (the
		// dispatcher does that); only a resend's start is ours to judge.
		return flow.IsResendWorkflowID(workflowID), nil
	}
	return state != workflowclient.Running, nil
}

// startRefused reports whether a failed workflow start certainly did not
// start anything: Temporal was unreachable or rejected the request. A
// deadline, a cancellation or an unknown error may come after the server
// accepted the start.
func startRefused(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var (
		unavailable   *serviceerror.Unavailable
		nsUnavailable *serviceerror.NamespaceUnavailable
		invalid       *serviceerror.InvalidArgument
		notFound      *serviceerror.NamespaceNotFound
		denied        *serviceerror.PermissionDenied
		exhausted     *serviceerror.ResourceExhausted
		precondition  *serviceerror.FailedPrecondition
	)
	return errors.As(err, &unavailable) || errors.As(err, &nsUnavailable) || errors.As(err, &invalid) ||
		errors.As(err, &notFound) || errors.As(err, &denied) || errors.As(err, &exhausted) || errors.As(err, &precondition)
}
