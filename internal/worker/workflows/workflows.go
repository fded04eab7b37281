// Package workflows holds the deterministic delivery workflows: one per event
// (DeliverEvent), its DeliverBatch children when it has many webhooks, and
// one per manual resend (ResendDelivery). Their contract (names, inputs,
// results, ids, signals) is package flow; all I/O is in package activities.
package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/pkg/delivery"
	"github.com/esign-webhooks/esign-webhooks/pkg/events"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// maxListedWebhooks bounds the WebhookIds search attribute: 45 quoted
// UUIDs stay under Temporal's 2 KiB limit on one attribute value.
const maxListedWebhooks = 45

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

// batchSize bounds how many deliveries one workflow makes. An event with
// more matching webhooks hands them, in batches of this size, to child
// workflows (DeliverBatch): every delivery's attempts are local activities
// and a shared schedule wakes them together, so one workflow task must never
// run hundreds of them (it outlives its timeout and is retried, sending
// them all again), and one history must stay far below Temporal's limits
// (25 deliveries × 17 attempts ≈ 2,500 events at worst).
const batchSize = 25

// versionBatches marks the change that introduced DeliverBatch children, so
// histories of large events started before it replay as they ran.
const versionBatches = "batch-children"

// versionWake marks the change that made a delivery queued at a full
// webhook wait for SignalSlotFree (or its fallback poll) rather than
// sleep until its next poll. Asked only when a delivery first waits in a
// queue: GetVersion records a marker and a search attribute update, which
// the common case (a webhook far below its limit) never pays.
const versionWake = "slot-wake"

// DeliverEvent records the event, resolves its subscriptions and delivers it
// to each matching webhook concurrently, each on its own retry schedule.
func DeliverEvent(ctx workflow.Context, in flow.DeliverEventInput) (flow.Result, error) {
	if reason := refusal(in); reason != "" {
		_ = workflow.UpsertTypedSearchAttributes(ctx, flow.AttrDeliveryStatus.ValueSet(flow.SummaryNone))
		return flow.Result{Skipped: "refused: " + reason}, nil
	}
	// The event's own search attributes are set by the workflow's first
	// upsert (when a delivery first waits, or at the end, where Temporal
	// folds it into the closing visibility record) rather than at start:
	// a start without them costs the server less (docs/profile-notes.md),
	// and only a workflow not yet waiting, for an instant, goes unlisted.
	identity := []temporal.SearchAttributeUpdate{
		flow.AttrAccountID.ValueSet(in.AccountID), flow.AttrEventType.ValueSet(in.Event.Type),
	}
	if in.Event.TriggerSource != "" {
		identity = append(identity, flow.AttrTriggerSource.ValueSet(in.Event.TriggerSource))
	}
	var a *activities.Activities
	// A local activity: no extra round trip through the server for a short
	// database transaction.
	lctx := workflow.WithLocalActivityOptions(ctx, localActivityOptions)
	var plan activities.DeliveryPlan
	err := workflow.ExecuteLocalActivity(lctx, a.RecordEvent, activities.RecordEventInput{
		AccountID: in.AccountID, Event: in.Event, OnlyWebhookID: in.OnlyWebhookID, Stored: in.Stored,
	}).Get(ctx, &plan)
	if err != nil {
		return flow.Result{}, err
	}
	return deliverPlan(ctx, plan, in.Test, identity)
}

// refusal says why DeliverEvent must not run in, or "". Anyone who can
// reach the Temporal frontend can start the workflow: a test event (sent
// even to a disabled webhook) must name its one webhook and be a test.
func refusal(in flow.DeliverEventInput) string {
	isTestType := in.Event.Type == events.WebhookTest
	switch {
	case in.Test != (in.OnlyWebhookID != ""):
		return "a test event names exactly one webhook, and only a test event does"
	case in.Test != isTestType:
		return "only a test event has the type " + events.WebhookTest
	}
	return ""
}

// ResendDelivery makes a new series of attempts of one delivery.
func ResendDelivery(ctx workflow.Context, in flow.ResendInput) (flow.Result, error) {
	var a *activities.Activities
	lctx := workflow.WithLocalActivityOptions(ctx, localActivityOptions)
	var plan activities.DeliveryPlan
	err := workflow.ExecuteLocalActivity(lctx, a.PrepareResend, activities.ResendInput{
		AccountID: in.AccountID, DeliveryID: in.DeliveryID, Series: in.Series,
	}).Get(ctx, &plan)
	if err != nil {
		return flow.Result{}, err
	}
	return deliverPlan(ctx, plan, false, nil) // set at start (see publish)
}

// BatchInput starts DeliverBatch.
type BatchInput struct {
	Deliveries      []activities.DeliveryRef
	ActivityTimeout time.Duration
	Test            bool   `json:",omitempty"`
	AccountID       string `json:",omitempty"`
	EventID         string `json:",omitempty"`
}

// scope is what every attempt of a plan shares.
type scope struct {
	timeout            time.Duration
	accountID, eventID string
}

// DeliverBatch makes some of the deliveries of a large event, as a child of
// the event's DeliverEvent (see batchSize).
func DeliverBatch(ctx workflow.Context, in BatchInput) (flow.Result, error) {
	sc := scope{timeout: in.ActivityTimeout, accountID: in.AccountID, eventID: in.EventID}
	th := newThrottledSet()
	res := flow.Result{Deliveries: deliverAll(ctx, in.Deliveries, sc, in.Test, th, func(ctx workflow.Context) {
		if ups := th.flush(); len(ups) > 0 {
			_ = workflow.UpsertTypedSearchAttributes(ctx, ups...)
		}
	})}
	_ = workflow.UpsertTypedSearchAttributes(ctx, append(th.flush(), flow.AttrDeliveryStatus.ValueSet(summary(res.Deliveries)))...)
	return res, nil
}

// deliverPlan makes the plan's unfinished deliveries and reports every
// delivery of the plan, finished ones (e.g. by a lost workflow task whose
// attempts did happen) included, so the result and search attributes always
// list the event's deliveries with their final state. identity are the
// workflow's own search attributes, set with its first upsert.
func deliverPlan(ctx workflow.Context, plan activities.DeliveryPlan, test bool, identity []temporal.SearchAttributeUpdate) (flow.Result, error) {
	res := flow.Result{Skipped: plan.Skipped, Deliveries: make([]flow.DeliveryResult, len(plan.Deliveries))}
	if len(plan.Deliveries) == 0 {
		_ = workflow.UpsertTypedSearchAttributes(ctx, slices.Concat(identity,
			[]temporal.SearchAttributeUpdate{flow.AttrDeliveryStatus.ValueSet(flow.SummaryNone)})...)
		return res, nil
	}
	var todo []int
	for i, d := range plan.Deliveries {
		if d.Done {
			res.Deliveries[i] = flow.DeliveryResult{DeliveryID: d.DeliveryID, WebhookID: d.WebhookID, Status: d.Status, Attempts: d.Attempts}
			continue
		}
		todo = append(todo, i)
	}
	// Temporal caps a search attribute value at 2 KiB: list at most
	// maxListedWebhooks ids (the delivery log in PostgreSQL has them all).
	ids := make([]string, 0, min(len(plan.Deliveries), maxListedWebhooks))
	for _, d := range plan.Deliveries[:min(len(plan.Deliveries), maxListedWebhooks)] {
		ids = append(ids, d.WebhookID)
	}
	// The ids are listed when a delivery first has to wait, or at the end:
	// an event delivered at the first try then costs one visibility update.
	// A change of the throttled webhooks goes with the next wait's update.
	listed := false
	th := newThrottledSet()
	listWebhooks := func(ctx workflow.Context) {
		ups := th.flush()
		if !listed {
			listed = true
			ups = slices.Concat(ups, identity, []temporal.SearchAttributeUpdate{
				flow.AttrWebhookIDs.ValueSet(ids), flow.AttrDeliveryStatus.ValueSet(flow.SummaryPending)})
		}
		if len(ups) > 0 {
			_ = workflow.UpsertTypedSearchAttributes(ctx, ups...)
		}
	}
	switch {
	case len(todo) > batchSize && workflow.GetVersion(ctx, versionBatches, workflow.DefaultVersion, 1) == 1:
		listWebhooks(ctx)
		deliverBatches(ctx, plan, todo, test, identity, res.Deliveries)
	case len(todo) > 0:
		refs := make([]activities.DeliveryRef, len(todo))
		for j, i := range todo {
			refs[j] = plan.Deliveries[i]
		}
		sc := scope{timeout: plan.ActivityTimeout, accountID: plan.AccountID, eventID: plan.EventID}
		for j, r := range deliverAll(ctx, refs, sc, test, th, listWebhooks) {
			res.Deliveries[todo[j]] = r
		}
	}
	final := append(th.flush(), flow.AttrDeliveryStatus.ValueSet(summary(res.Deliveries)))
	if !listed {
		final = append(final, flow.AttrWebhookIDs.ValueSet(ids))
		final = append(final, identity...)
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, final...)
	return res, nil
}

// deliverBatches hands the deliveries at indexes todo of plan to DeliverBatch
// children, batchSize each, forwards webhook changes to the child making that
// webhook's delivery, and writes their results into out.
func deliverBatches(ctx workflow.Context, plan activities.DeliveryPlan, todo []int, test bool,
	identity []temporal.SearchAttributeUpdate, out []flow.DeliveryResult) {
	type batch struct {
		idx []int
		fut workflow.ChildWorkflowFuture
	}
	parentID := workflow.GetInfo(ctx).WorkflowExecution.ID
	var batches []batch
	byWebhook := map[string][]workflow.ChildWorkflowFuture{}
	for start := 0; start < len(todo); start += batchSize {
		idx := todo[start:min(len(todo), start+batchSize)]
		in := BatchInput{ActivityTimeout: plan.ActivityTimeout, Test: test, AccountID: plan.AccountID, EventID: plan.EventID}
		ids := make([]string, len(idx))
		for j, i := range idx {
			in.Deliveries = append(in.Deliveries, plan.Deliveries[i])
			ids[j] = plan.Deliveries[i].WebhookID
		}
		attrs := slices.Concat([]temporal.SearchAttributeUpdate{flow.AttrWebhookIDs.ValueSet(ids),
			flow.AttrDeliveryStatus.ValueSet(flow.SummaryPending)}, identity)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: fmt.Sprintf("%s/batch-%d", parentID, len(batches)+1),
			// A rerun of the event (its last run failed) makes only what is
			// still unfinished, under the same batch ids.
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
		})
		b := batch{idx: idx, fut: workflow.ExecuteChildWorkflow(cctx, DeliverBatch, in)}
		batches = append(batches, b)
		for _, id := range ids {
			byWebhook[id] = append(byWebhook[id], b.fut)
		}
	}
	signals := workflow.GetSignalChannel(ctx, flow.SignalWebhookChanged)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var ch flow.WebhookChange
			if !signals.Receive(ctx, &ch) {
				return
			}
			for _, fut := range byWebhook[ch.WebhookID] {
				fut.SignalChildWorkflow(ctx, flow.SignalWebhookChanged, ch)
			}
		}
	})
	var a *activities.Activities
	lctx := workflow.WithLocalActivityOptions(ctx, localActivityOptions)
	for _, b := range batches {
		var r flow.Result
		err := b.fut.Get(ctx, &r)
		if err == nil && len(r.Deliveries) == len(b.idx) {
			for j, i := range b.idx {
				out[i] = r.Deliveries[j]
			}
			continue
		}
		// The child ended without a result (terminated, say): its
		// deliveries end failed, visibly, and can be resent.
		reason := "batch workflow ended without a result"
		if err != nil {
			reason += ": " + err.Error()
		}
		for _, i := range b.idx {
			d := plan.Deliveries[i]
			_ = workflow.ExecuteLocalActivity(lctx, a.CancelDelivery, activities.CancelInput{
				DeliveryID: d.DeliveryID, Series: d.Series, Reason: reason, Status: delivery.Failed,
			}).Get(ctx, nil)
			out[i] = flow.DeliveryResult{DeliveryID: d.DeliveryID, WebhookID: d.WebhookID, Status: delivery.Failed,
				Last: flow.AttemptResult{Outcome: delivery.OutcomeFailed, Reason: reason}}
		}
	}
}

// run is what the delivery loops of one workflow share.
type run struct {
	sc   scope
	test bool
	// reasons are the webhooks disabled or deleted meanwhile, and why.
	reasons map[string]string
	th      *throttledSet
	// beforeWait is called before every wait (it upserts search attributes).
	beforeWait func(workflow.Context)
}

// deliverAll runs one delivery loop per delivery, listens for webhooks
// being disabled or deleted meanwhile, and wakes a delivery waiting in a
// full webhook's queue when a slot is handed to it.
func deliverAll(ctx workflow.Context, refs []activities.DeliveryRef, sc scope, test bool, th *throttledSet,
	listWebhooks func(workflow.Context)) []flow.DeliveryResult {
	out := make([]flow.DeliveryResult, len(refs))
	r := &run{sc: sc, test: test, reasons: map[string]string{}, th: th, beforeWait: listWebhooks}
	// Each delivery waits between attempts under its own cancellable context;
	// the signal handler cancels the waits of a disabled or deleted webhook.
	cancels := map[string][]workflow.CancelFunc{}
	wakes := map[string]workflow.Channel{}
	wg := workflow.NewWaitGroup(ctx)
	for i, d := range refs {
		waitCtx, cancel := workflow.WithCancel(ctx)
		cancels[d.WebhookID] = append(cancels[d.WebhookID], cancel)
		// One pending wake-up is enough: it makes the next attempt.
		wake := workflow.NewBufferedChannel(ctx, 1)
		wakes[d.DeliveryID] = wake
		wg.Add(1)
		workflow.Go(waitCtx, func(waitCtx workflow.Context) {
			defer wg.Done()
			// Activities run on a context the cancellation does not reach.
			actCtx, _ := workflow.NewDisconnectedContext(waitCtx)
			out[i] = deliverOne(actCtx, waitCtx, r, d, wake)
		})
	}
	slotFree := workflow.GetSignalChannel(ctx, flow.SignalSlotFree)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var s flow.SlotFree
			if !slotFree.Receive(ctx, &s) {
				return
			}
			if wake, ok := wakes[s.DeliveryID]; ok {
				wake.SendAsync(struct{}{}) // full: a wake-up is pending already
			}
		}
	})
	signals := workflow.GetSignalChannel(ctx, flow.SignalWebhookChanged)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var ch flow.WebhookChange
			if !signals.Receive(ctx, &ch) {
				return
			}
			if _, seen := r.reasons[ch.WebhookID]; !seen {
				r.reasons[ch.WebhookID] = ch.Reason
			}
			for _, cancel := range cancels[ch.WebhookID] {
				cancel()
			}
		}
	})
	wg.Wait(ctx)
	return out
}

// deliverOne attempts one delivery until it succeeds, fails for good or is
// cancelled. Activities run under ctx; only the waits under waitCtx, so a
// cancellation never abandons an attempt in flight. wake receives the
// delivery's SignalSlotFree.
func deliverOne(ctx, waitCtx workflow.Context, rn *run, d activities.DeliveryRef, wake workflow.ReceiveChannel) flow.DeliveryResult {
	sc, test, reasons, th, beforeWait := rn.sc, rn.test, rn.reasons, rn.th, rn.beforeWait
	var a *activities.Activities
	out := flow.DeliveryResult{DeliveryID: d.DeliveryID, WebhookID: d.WebhookID}
	// Attempts are local activities: the worker runs them as part of the
	// workflow task, so a delivery that succeeds first time costs one
	// workflow task instead of three round trips through the server. Each
	// attempt is still its own step (a marker with its result) in the history.
	actx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: sc.timeout,
		// Only infrastructure errors are retried here (database down, worker
		// lost); failed HTTP attempts are non-retryable and follow the
		// delivery schedule below. Two hours of retries at most (each one
		// a few history events per delivery); then the delivery is failed
		// visibly, and can be resent.
		ScheduleToCloseTimeout: 2 * time.Hour,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 5 * time.Minute},
	})
	// A throttled attempt (the webhook's throttle held it back) is not an
	// attempt: wait, then make the same attempt number, with the
	// rate-limit slot it was given.
	var reservation *time.Time
	waits := 0
	for attempt := 1; ; {
		if reason, ok := reasons[d.WebhookID]; ok {
			th.mark(d.WebhookID, false)
			return finish(actx, out, d, delivery.Cancelled, reason)
		}
		// A wake-up that came before this attempt is spent by it.
		for wake.ReceiveAsync(nil) {
		}
		var r flow.AttemptResult
		err := workflow.ExecuteLocalActivity(actx, a.Deliver, activities.DeliverInput{
			DeliveryID: d.DeliveryID, Series: d.Series, Attempt: attempt, Test: test,
			AccountID: sc.accountID, EventID: sc.eventID, WebhookID: d.WebhookID,
			Reservation: reservation, Waits: waits,
		}).Get(ctx, &r)
		if err != nil {
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != activities.ErrAttemptFailed || appErr.Details(&r) != nil {
				// Not an attempt result: the activity itself could not run
				// (its retries are spent). Say so in the delivery log too,
				// or the delivery would stay pending forever.
				th.mark(d.WebhookID, false)
				out.Attempts = attempt - 1
				out.Last = flow.AttemptResult{Outcome: delivery.OutcomeFailed, Error: err.Error()}
				return finish(actx, out, d, delivery.Failed, "delivery could not be attempted: "+err.Error())
			}
		}
		if r.Outcome == delivery.OutcomeThrottled {
			reservation, waits = r.Reservation, waits+1
			th.mark(d.WebhookID, true)
			beforeWait(ctx)
			if err := throttledWait(ctx, waitCtx, r, wake); err != nil {
				th.mark(d.WebhookID, false)
				out.Attempts = attempt - 1
				return finish(actx, out, d, delivery.Cancelled, cancelReason(reasons, d.WebhookID))
			}
			continue
		}
		th.mark(d.WebhookID, false)
		reservation, waits = nil, 0
		if r.Outcome != delivery.OutcomeCancelled {
			out.Attempts = attempt
		}
		out.Last = r
		switch r.Outcome {
		case delivery.OutcomeSucceeded:
			out.Status = delivery.Succeeded
			return out
		case delivery.OutcomeCancelled:
			out.Status = delivery.Cancelled
			return out
		case delivery.OutcomeRetry:
			beforeWait(ctx)
			if err := workflow.Sleep(waitCtx, r.Wait); err != nil {
				return finish(actx, out, d, delivery.Cancelled, cancelReason(reasons, d.WebhookID))
			}
		default:
			out.Status = delivery.Failed
			return out
		}
		attempt++
	}
}

// throttledWait waits out a throttled attempt's Wait; one queued at a full
// webhook also wakes when a slot is handed to it (wake), Wait being only
// its fallback poll.
func throttledWait(ctx, waitCtx workflow.Context, r flow.AttemptResult, wake workflow.ReceiveChannel) error {
	if !r.Queued || workflow.GetVersion(ctx, versionWake, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return workflow.Sleep(waitCtx, r.Wait)
	}
	timerCtx, cancelTimer := workflow.WithCancel(waitCtx)
	defer cancelTimer()
	var err error
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(workflow.NewTimer(timerCtx, r.Wait), func(f workflow.Future) { err = f.Get(ctx, nil) })
	sel.AddReceive(wake, func(c workflow.ReceiveChannel, _ bool) { c.ReceiveAsync(nil) })
	sel.Select(ctx)
	return err
}

// cancelReason is why a webhook's deliveries were cancelled in a wait.
func cancelReason(reasons map[string]string, webhookID string) string {
	if reason := reasons[webhookID]; reason != "" {
		return reason
	}
	return "cancelled"
}

// throttledSet is the workflow's AttrThrottled: the webhooks whose
// throttle one of its deliveries waits on. A change is not upserted on its
// own but with the workflow's next upsert (before a wait, or at the end),
// so a throttled wait costs no visibility update of its own.
type throttledSet struct {
	ids   []string // sorted
	dirty bool
}

func newThrottledSet() *throttledSet { return &throttledSet{} }

// mark records that a delivery to webhookID waits on its throttle, or no
// longer does.
func (s *throttledSet) mark(webhookID string, waiting bool) {
	i, found := slices.BinarySearch(s.ids, webhookID)
	switch {
	case waiting && !found:
		s.ids = slices.Insert(s.ids, i, webhookID)
	case !waiting && found:
		s.ids = slices.Delete(s.ids, i, i+1)
	default:
		return
	}
	s.dirty = true
}

// flush returns the update of AttrThrottled since the last flush, if any:
// the ids, or unset when none.
func (s *throttledSet) flush() []temporal.SearchAttributeUpdate {
	if !s.dirty {
		return nil
	}
	s.dirty = false
	if len(s.ids) == 0 {
		return []temporal.SearchAttributeUpdate{flow.AttrThrottled.ValueUnset()}
	}
	return []temporal.SearchAttributeUpdate{flow.AttrThrottled.ValueSet(slices.Clone(s.ids))}
}

// finish records that the delivery's remaining attempts will not be made.
func finish(actx workflow.Context, out flow.DeliveryResult, d activities.DeliveryRef, status delivery.Status, reason string) flow.DeliveryResult {
	var a *activities.Activities
	_ = workflow.ExecuteLocalActivity(actx, a.CancelDelivery, activities.CancelInput{
		DeliveryID: d.DeliveryID, Series: d.Series, Reason: reason, Status: status,
	}).Get(actx, nil)
	out.Status = status
	out.Last.Reason = reason
	return out
}

// summary is the workflow's DeliveryStatus search attribute: the worst state.
func summary(ds []flow.DeliveryResult) string {
	status := delivery.Succeeded
	for _, d := range ds {
		switch d.Status {
		case delivery.Failed:
			return string(delivery.Failed)
		case delivery.Cancelled:
			status = delivery.Cancelled
		}
	}
	return string(status)
}

// Registry is where workflows are registered: a worker, or a replayer.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers every workflow of this package under its stable name
// (the name is what histories and starters refer to).
func Register(r Registry) {
	r.RegisterWorkflowWithOptions(DeliverEvent, workflow.RegisterOptions{Name: "DeliverEvent"})
	r.RegisterWorkflowWithOptions(ResendDelivery, workflow.RegisterOptions{Name: "ResendDelivery"})
	r.RegisterWorkflowWithOptions(DeliverBatch, workflow.RegisterOptions{Name: "DeliverBatch"})
}
