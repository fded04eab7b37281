// Package activities holds all I/O of the delivery workflows: recording
// events, resolving subscriptions, signing and delivering over HTTP.
package activities

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"

	"github.com/esign-webhooks/esign-webhooks/internal/db"
	"github.com/esign-webhooks/esign-webhooks/internal/edge/secretbox"
	"github.com/esign-webhooks/esign-webhooks/internal/metrics"
	"github.com/esign-webhooks/esign-webhooks/internal/workflowclient"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// Settings are the delivery rules from configuration.
type Settings struct {
	AttemptTimeout   time.Duration   // a receiver must answer 2xx within this
	Retries          []time.Duration // waits before retry 1, 2, ...
	RetryAfterMax    time.Duration   // bound on a receiver's Retry-After
	ResponseMaxBytes int64           // response body kept in the log
	UserAgent        string
	// Endpoint health (see health.go); zero turns a threshold off.
	HealthDisableAfter     time.Duration // failing continuously this long disables
	HealthDisableExhausted int           // this many exhausted deliveries in a row disable
	// A throttling answer (429, 502, 503, 504 or a Retry-After) holds back
	// every delivery to its webhook for ThrottleBase doubling with each
	// one in a row up to ThrottleMax (or the Retry-After, when longer).
	ThrottleBase, ThrottleMax time.Duration
	// TurnRecheckMax bounds how long a delivery waiting for its turn
	// (ordered webhooks) goes without checking it when no wake-up comes.
	TurnRecheckMax time.Duration
	// Proxy is the forward proxy Client goes through (host:port, never
	// its credentials), "" for direct: each attempt row records it.
	Proxy string
	// An attempt queued at a full webhook waits in the worker up to
	// SlotWait for a slot, while fewer than SlotWaiters do (slotwait.go);
	// zero: it goes back to its workflow at once.
	SlotWait    time.Duration
	SlotWaiters int
}

// Activities is registered whole on the worker; workflows call its methods
// through a nil *Activities.
type Activities struct {
	Store    *db.Store
	Box      *secretbox.Box
	Client   *http.Client // egress client: SSRF-safe, no redirects
	Settings Settings
	Now      func() time.Time
	Metrics  *metrics.Metrics // optional
	// Workflows starts the workflows of operational events at once and
	// signals a disabled webhook's workflows (optional: without it the
	// dispatcher's sweep starts them).
	Workflows *workflowclient.Client
	Log       *slog.Logger // optional
	// Worker names this worker process in the queues of full webhooks
	// (unique per process; SweepSlots keeps it seen). Empty: its waiters
	// are always presumed live.
	Worker string
	// Notices sends notices to notification channels (notices.go).
	Notices Noticer

	// OAuth 2.0 tokens of receivers (receiver.go).
	tokenCache
	// The clients of webhooks with TLS options (tls.go).
	tlsClients
	// Compiled payload filters (filters.go).
	filterCache
	// Attempts waiting in this worker for a slot (slotwait.go).
	slotWaiters
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// DeliveryPlan is what the workflow needs to deliver an event.
type DeliveryPlan struct {
	Deliveries []flow.DeliveryRef
	// ActivityTimeout bounds one Deliver call (attempt timeout plus I/O margin),
	// so a worker that dies mid-attempt is noticed quickly.
	ActivityTimeout time.Duration
	// Skipped says why nothing is delivered, when that is the case.
	Skipped string
	// AccountID and EventID name the event, so an attempt can restore a
	// delivery row the database lost (see Deliver).
	AccountID string `json:",omitempty"`
	EventID   string `json:",omitempty"`
	// FilteredOut counts the matching webhooks whose payload filter was
	// false for the event, FilterErrors those whose filter could not be
	// evaluated on it (see applyFilters): neither gets a delivery.
	FilteredOut  int `json:",omitempty"`
	FilterErrors int `json:",omitempty"`
}

// RecordEvent stores the event and creates one delivery per matching webhook.
// It is idempotent: a retry or a duplicate publish finds the same deliveries.
func (a *Activities) RecordEvent(ctx context.Context, in flow.DeliverEventInput) (DeliveryPlan, error) {
	plan := DeliveryPlan{ActivityTimeout: a.activityTimeout(), AccountID: in.AccountID, EventID: in.Event.ID}
	// The worker's one check of its input. Here rather than in the
	// workflow: the history records this activity's result, so a rule added
	// later never changes how a running workflow replays.
	if err := in.Check(); err != nil {
		plan.Skipped = "refused: " + err.Error()
		return plan, nil
	}
	accountID, err := uuid.Parse(in.AccountID)
	if err != nil {
		plan.Skipped = "invalid account id"
		return plan, nil
	}
	ev := db.Event{Event: in.Event, AccountID: accountID, WorkflowID: activity.GetInfo(ctx).WorkflowExecution.ID, Test: in.Test}
	if !in.Stored {
		// Check held the data to this version of its type's schema (a
		// stored event's was, when the API stored it).
		v := events.SchemaVersion(in.Event.Type)
		ev.SchemaVersion = &v
	}
	var deliveries []db.Delivery
	var names map[uuid.UUID]string
	if in.Test {
		deliveries, names, err = a.recordTest(ctx, ev, in.OnlyWebhookID, &plan)
	} else {
		if in.Stored {
			ev.Data = nil // ResolveEvent reads the outbox's
			if in.StoredAt != nil {
				ev.CreatedAt = *in.StoredAt // in that week's partition
			}
		}
		deliveries, names, err = a.resolve(ctx, ev, &plan)
	}
	if err != nil {
		return DeliveryPlan{}, err
	}
	for _, d := range deliveries {
		ref := flow.DeliveryRef{DeliveryID: d.ID.String(), WebhookID: d.WebhookID.String(), Series: d.Series, Ordered: d.Ordered,
			WebhookName: names[d.WebhookID]}
		if d.Finished() || d.WorkflowID != ev.WorkflowID {
			ref.Done, ref.Status, ref.Attempts = true, d.Status, d.AttemptCount
		}
		plan.Deliveries = append(plan.Deliveries, ref)
	}
	if len(plan.Deliveries) > 0 {
		plan.Skipped = "" // an earlier run's deliveries are resumed
	}
	if ev.OrderingKey != "" {
		// Later events of the key may wait for this one to be recorded.
		// A failure to wake them only delays them until their next check.
		_ = a.wakeWaiters(ctx, func() ([]db.TurnWaiter, error) { return a.Store.WaitersForEvent(ctx, accountID, ev.ID) })
	}
	return plan, nil
}

// resolve records a published event and its deliveries in one round trip;
// it returns them and their webhooks' names.
func (a *Activities) resolve(ctx context.Context, ev db.Event, dp *DeliveryPlan) ([]db.Delivery, map[uuid.UUID]string, error) {
	r, err := a.Store.ResolveEvent(ctx, ev)
	if err != nil {
		return nil, nil, err
	}
	if len(r.Filters) > 0 {
		// A second round trip, only for an event some filtered webhook
		// matches: PostgreSQL cannot evaluate CEL.
		if r, err = a.Store.ResolveFiltered(ctx, ev, a.applyFilters(ev, r, dp)); err != nil {
			return nil, nil, err
		}
	}
	switch {
	case r.Plan == "":
		dp.Skipped = "account not found"
	case !r.EventFound:
		dp.Skipped = "event not found in the outbox"
	case r.Plan != db.PlanProfessional:
		dp.Skipped = fmt.Sprintf("the %s plan does not include webhooks", r.Plan)
	case len(r.Deliveries) == 0 && dp.FilteredOut+dp.FilterErrors > 0:
		dp.Skipped = fmt.Sprintf("no matching webhook: the filters of %d left it out", dp.FilteredOut+dp.FilterErrors)
	case len(r.Deliveries) == 0:
		dp.Skipped = "no matching webhook"
	}
	return r.Deliveries, r.WebhookNames, nil
}

// recordTest records a test event for one webhook of the account,
// whatever its subscriptions; it returns the delivery and the webhook's
// name.
func (a *Activities) recordTest(ctx context.Context, ev db.Event, webhookID string, dp *DeliveryPlan) ([]db.Delivery, map[uuid.UUID]string, error) {
	acct, err := a.Store.Account(ctx, ev.AccountID)
	switch {
	case isNotFound(err):
		dp.Skipped = "account not found"
		return nil, nil, nil
	case err != nil:
		return nil, nil, err
	case !acct.WebhooksAllowed():
		dp.Skipped = fmt.Sprintf("the %s plan does not include webhooks", acct.Plan)
		ds, err := a.Store.RecordEvent(ctx, ev, nil)
		return ds, nil, err
	}
	id, err := uuid.Parse(webhookID)
	if err != nil {
		dp.Skipped = "invalid webhook id"
		return nil, nil, nil
	}
	// Scoped to the account: a test for another account's webhook finds none.
	w, err := a.Store.Webhook(ctx, ev.AccountID, id)
	if err != nil {
		if !isNotFound(err) {
			return nil, nil, err
		}
		dp.Skipped = "webhook not found"
		return nil, nil, nil
	}
	ds, err := a.Store.RecordEvent(ctx, ev, []uuid.UUID{id})
	return ds, map[uuid.UUID]string{id: w.Name}, err
}

// activityTimeout bounds one Deliver call: the longest time a receiver
// may have to answer (a webhook's own timeout may be longer than the
// global one, and may change while its delivery retries) plus I/O margin.
func (a *Activities) activityTimeout() time.Duration {
	return a.maxAttemptTimeout() + 10*time.Second
}

// PrepareResend returns the plan for one new series of attempts: only for a
// delivery of that account whose current series is this one and not started
// (the API moved it there), so a stale or foreign resend sends nothing.
func (a *Activities) PrepareResend(ctx context.Context, in flow.ResendInput) (DeliveryPlan, error) {
	accountID, err1 := uuid.Parse(in.AccountID)
	id, err2 := uuid.Parse(in.DeliveryID)
	if err1 != nil || err2 != nil {
		return DeliveryPlan{Skipped: "invalid account or delivery id"}, nil
	}
	d, err := a.Store.Delivery(ctx, accountID, id)
	if err != nil {
		if isNotFound(err) {
			return DeliveryPlan{Skipped: "delivery not found"}, nil
		}
		return DeliveryPlan{}, err
	}
	if d.Series != in.Series || d.Status != delivery.Pending {
		return DeliveryPlan{Skipped: fmt.Sprintf("delivery is at series %d (%s), not a new series %d", d.Series, d.Status, in.Series)}, nil
	}
	// The name is for the Temporal UI only: a webhook deleted meanwhile
	// leaves it empty (its attempt then cancels the delivery).
	var name string
	switch w, err := a.Store.Webhook(ctx, accountID, d.WebhookID); {
	case err == nil:
		name = w.Name
	case !isNotFound(err):
		return DeliveryPlan{}, err
	}
	return DeliveryPlan{
		ActivityTimeout: a.activityTimeout(), AccountID: in.AccountID, EventID: d.EventID,
		Deliveries: []flow.DeliveryRef{{DeliveryID: in.DeliveryID, WebhookID: d.WebhookID.String(), Series: in.Series,
			Ordered: d.Ordered, WebhookName: name}},
	}, nil
}

// CancelInput names a delivery to stop.
type CancelInput struct {
	DeliveryID string
	Series     int
	Reason     string
	// Status is the final status: cancelled (default) or failed.
	Status delivery.Status `json:",omitempty"`
}

// CancelDelivery records that the remaining attempts will not be made.
func (a *Activities) CancelDelivery(ctx context.Context, in CancelInput) error {
	id, err := uuid.Parse(in.DeliveryID)
	if err != nil {
		return nil
	}
	status := delivery.Cancelled
	if in.Status == delivery.Failed {
		status = delivery.Failed
	}
	return a.Store.FinishDelivery(ctx, id, in.Series, status, in.Reason)
}
