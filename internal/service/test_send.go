package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// TestResult is what a test send did: the receiver's answer to one POST
// of a WEBHOOK_TEST event. Err is set (DeliveryFailed) when it was not a
// 2xx.
type TestResult struct {
	EventID    string
	DeliveryID string
	Success    bool
	StatusCode int
	DurationMS int64
	Error      string
	Err        *Error
}

// TestWebhook sends a WEBHOOK_TEST event to a webhook of acct now, once,
// and waits for the receiver's answer: one at a time per webhook and a few
// a minute, so it cannot be used to flood a receiver.
func (s *Service) TestWebhook(ctx context.Context, c Caller, id uuid.UUID) (TestResult, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return TestResult{}, err
	}
	w, err := s.Webhook(ctx, c, id)
	if err != nil {
		return TestResult{}, err
	}
	acct := c.AccountID
	if _, running := s.testsInFlight.LoadOrStore(id, struct{}{}); running {
		return TestResult{}, &Error{Kind: RateLimited, RetryAfter: time.Second,
			Message: "A test of this webhook is already running; wait for its answer."}
	}
	defer s.testsInFlight.Delete(id)
	if ok, wait := s.tests.Take(id.String()); !ok {
		return TestResult{}, &Error{Kind: RateLimited, RetryAfter: wait, Message: "Too many tests of this webhook; try again later."}
	}
	e := events.Event{
		ID: "test-" + uuid.NewString(), Type: events.WebhookTest, TriggerSource: events.SourceSaaSPage,
		OccurredAt: s.now().UTC(), Data: []byte(`{"message":"This is a test event from esign-webhooks."}`),
	}
	ctx, cancel := context.WithTimeout(ctx, s.attemptTimeout(w)+15*time.Second)
	defer cancel()
	res, err := s.runTest(ctx, acct, id, e)
	if err != nil {
		return TestResult{}, err
	}
	if len(res.Deliveries) == 0 {
		return TestResult{}, fail(Conflict, "Nothing was sent: "+res.Skipped)
	}
	r := res.Deliveries[0]
	out := TestResult{EventID: e.ID, DeliveryID: r.DeliveryID, Success: r.Status == delivery.Succeeded,
		StatusCode: r.Last.StatusCode, DurationMS: r.Last.DurationMS, Error: r.Last.Error}
	if !out.Success {
		// Not taken (non-2xx, redirect, refused, blocked).
		out.Err = fail(DeliveryFailed, "The test delivery failed: "+testFailure(r))
	}
	return out, nil
}

// runTest starts the test workflow and waits for its result.
func (s *Service) runTest(ctx context.Context, acct, id uuid.UUID, e events.Event) (flow.Result, error) {
	var res flow.Result
	run, err := s.workflows.StartTest(ctx, acct.String(), id.String(), e)
	if err != nil {
		s.log.Warn("starting test workflow", "webhookId", id, "err", err)
		return res, fail(Unavailable, "The workflow service is unavailable; the test event was not sent. Try again later.")
	}
	err = run.Get(ctx, &res)
	var wfErr *temporal.WorkflowExecutionError
	var deadline *serviceerror.DeadlineExceeded
	switch {
	case err == nil:
		return res, nil
	// The server may answer DeadlineExceeded just before our ctx ends: it
	// is given the same deadline.
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &deadline):
		return res, fail(Timeout, "The test delivery did not finish in time; see the delivery log.")
	case errors.As(err, &wfErr):
		msg := wfErr.Error()
		if appErr := (*temporal.ApplicationError)(nil); errors.As(err, &appErr) {
			msg = appErr.Message() // without the workflow type and ids
		}
		return res, fail(DeliveryFailed, "The test delivery failed: "+msg)
	}
	s.log.Warn("waiting for test workflow", "webhookId", id, "err", err)
	return res, fail(Unavailable, "The workflow service became unavailable; see the delivery log.")
}

// testFailure says in words why a test delivery failed.
func testFailure(r flow.DeliveryResult) string {
	switch {
	case r.Last.Error != "":
		return r.Last.Error
	case r.Last.StatusCode != 0:
		return fmt.Sprintf("the receiver answered HTTP %d %s.", r.Last.StatusCode, http.StatusText(r.Last.StatusCode))
	case r.Last.Reason != "":
		return r.Last.Reason
	}
	return "the delivery ended " + string(r.Status) + "."
}
