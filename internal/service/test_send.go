package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// TestResult is what a test send did: the receiver's answer to one POST
// of a WEBHOOK_TEST event, or of an example. Err is set (DeliveryFailed)
// when it was not a 2xx.
type TestResult struct {
	EventID    string
	EventType  string
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
	return s.sendTest(ctx, c, id, events.WebhookTest)
}

// SendExample is TestWebhook with the sample of eventType (its schema's
// sample data, events.Sample), a type the webhook subscribes to: the
// receiver sees what that event looks like. Like every test send it is
// marked test, in the log and in the payload, and made once.
func (s *Service) SendExample(ctx context.Context, c Caller, id uuid.UUID, eventType string) (TestResult, error) {
	return s.sendTest(ctx, c, id, eventType)
}

// sendTest sends one test event of type t to the webhook id and waits for
// the receiver's answer.
func (s *Service) sendTest(ctx context.Context, c Caller, id uuid.UUID, t string) (TestResult, error) {
	if err := Authorize(c, ManageWebhooks); err != nil {
		return TestResult{}, err
	}
	w, err := s.Webhook(ctx, c, id)
	if err != nil {
		return TestResult{}, err
	}
	e, err := s.testEvent(w, t)
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
	a := NewAudit(c, ActionWebhookTest, ResourceWebhook, id.String())
	a.Entry.Details = db.AuditDetails{"eventType": e.Type, "eventId": e.ID}
	if err := s.record(ctx, a); err != nil {
		return TestResult{}, err
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
	out := TestResult{EventID: e.ID, EventType: e.Type, DeliveryID: r.DeliveryID, Success: r.Status == delivery.Succeeded,
		StatusCode: r.Last.StatusCode, DurationMS: r.Last.DurationMS, Error: r.Last.Error}
	if !out.Success {
		// Not taken (non-2xx, redirect, refused, blocked).
		out.Err = fail(DeliveryFailed, "The test delivery failed: "+testFailure(r))
	}
	return out, nil
}

// testEvent is the event a test send of type t to w carries: WEBHOOK_TEST,
// or the sample of a type w subscribes to, from a trigger source w
// subscribes to. No ordering key: a test takes no turn among an
// envelope's real events.
func (s *Service) testEvent(w db.Webhook, t string) (events.Event, error) {
	if t == events.WebhookTest {
		return events.Event{
			ID: "test-" + uuid.NewString(), Type: events.WebhookTest, TriggerSource: events.SourceSaaSPage,
			OccurredAt: s.now().UTC(), Data: []byte(`{"message":"This is a test event from esign-webhooks."}`),
		}, nil
	}
	e, ok := events.Sample(t)
	switch {
	case !ok:
		return e, invalid("eventType", fmt.Sprintf("unknown event type %q", t))
	case !slices.Contains(w.EventTypes, t):
		return e, invalid("eventType", fmt.Sprintf("the webhook does not subscribe to %s; it subscribes to %s",
			t, strings.Join(w.EventTypes, ", ")))
	}
	e.ID, e.OccurredAt, e.OrderingKey = "example-"+uuid.NewString(), s.now().UTC(), ""
	if !events.IsSystemType(t) && len(w.TriggerSources) > 0 {
		e.TriggerSource = w.TriggerSources[0]
		if e.TriggerSource == events.SourceThirdPartyApp {
			e.AppID = "app_sample"
			if len(w.AppIDs) > 0 {
				e.AppID = w.AppIDs[0]
			}
		}
	}
	return e, nil
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
