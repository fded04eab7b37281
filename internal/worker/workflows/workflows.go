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
// RecordEvent refuses an input the API never sends (see
// flow.DeliverEventInput.Check): nothing is then recorded or sent.
func DeliverEvent(ctx workflow.Context, in flow.DeliverEventInput) (flow.Result, error) {
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
	lctx := workflow.WithLocalActivityOptions(ctx, withSummaryOpts(localActivityOptions, "record the event, match its webhooks"))
	var plan activities.DeliveryPlan
	err := workflow.ExecuteLocalActivity(lctx, a.RecordEvent, in).Get(ctx, &plan)
	if err != nil {
		return flow.Result{}, err
	}
	what := in.Event.Type
	if in.Test {
		what += " (test)"
	}
	return deliverPlan(ctx, planned{plan: plan, test: in.Test, identity: identity, what: what})
}

// ResendDelivery makes a new series of attempts of one delivery.
func ResendDelivery(ctx workflow.Context, in flow.ResendInput) (flow.Result, error) {
	var a *activities.Activities
	lctx := workflow.WithLocalActivityOptions(ctx, withSummaryOpts(localActivityOptions, fmt.Sprintf("prepare series %d of the delivery", in.Series)))
	var plan activities.DeliveryPlan
	err := workflow.ExecuteLocalActivity(lctx, a.PrepareResend, in).Get(ctx, &plan)
	if err != nil {
		return flow.Result{}, err
	}
	// Its search attributes are set at start (see publish).
	return deliverPlan(ctx, planned{plan: plan, what: fmt.Sprintf("resend (series %d)", in.Series)})
}

// planned is a plan to deliver: the plan, whether it is a test event, and
// the workflow's own search attributes, set with its first upsert.
type planned struct {
	plan     activities.DeliveryPlan
	test     bool
	identity []temporal.SearchAttributeUpdate
	what     string // the story's head: the event type, or what the workflow does
}

// scope is what every attempt of a plan shares.
type scope struct {
	timeout            time.Duration
	accountID, eventID string
}

// DeliverBatch makes some of the deliveries of a large event, as a child of
// the event's DeliverEvent (see batchSize).
func DeliverBatch(ctx workflow.Context, in flow.BatchInput) (flow.Result, error) {
	th := newThrottledSet()
	what := "Batch of event " + oneLine(in.EventID, 200)
	if in.EventID == "" { // histories from before BatchInput named the event
		what = "Batch of an event"
	}
	r := &run{sc: scope{timeout: in.ActivityTimeout, accountID: in.AccountID, eventID: in.EventID}, test: in.Test, th: th,
		st: newStory(ctx, what, in.Deliveries),
		beforeWait: func(ctx workflow.Context) {
			if ups := th.flush(); len(ups) > 0 {
				_ = workflow.UpsertTypedSearchAttributes(ctx, ups...)
			}
		}}
	res := flow.Result{Deliveries: deliverAll(ctx, in.Deliveries, r)}
	_ = workflow.UpsertTypedSearchAttributes(ctx, append(th.flush(), flow.AttrDeliveryStatus.ValueSet(summary(res.Deliveries)))...)
	return res, nil
}

// deliverPlan makes the plan's unfinished deliveries and reports every
// delivery of the plan, finished ones (e.g. by a lost workflow task whose
// attempts did happen) included, so the result and search attributes always
// list the event's deliveries with their final state.
func deliverPlan(ctx workflow.Context, p planned) (flow.Result, error) {
	res := flow.Result{Skipped: p.plan.Skipped, Deliveries: make([]flow.DeliveryResult, len(p.plan.Deliveries))}
	if len(p.plan.Deliveries) == 0 {
		workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s**: nothing to deliver (%s)", p.what, oneLine(p.plan.Skipped, 200)))
		_ = workflow.UpsertTypedSearchAttributes(ctx, slices.Concat(p.identity,
			[]temporal.SearchAttributeUpdate{flow.AttrDeliveryStatus.ValueSet(flow.SummaryNone)})...)
		return res, nil
	}
	var todo []int
	for i, d := range p.plan.Deliveries {
		if d.Done {
			res.Deliveries[i] = flow.DeliveryResult{DeliveryID: d.DeliveryID, WebhookID: d.WebhookID, Status: d.Status, Attempts: d.Attempts}
			continue
		}
		todo = append(todo, i)
	}
	// Temporal caps a search attribute value at 2 KiB: list at most
	// maxListedWebhooks ids (the delivery log in PostgreSQL has them all).
	ids := make([]string, 0, min(len(p.plan.Deliveries), maxListedWebhooks))
	for _, d := range p.plan.Deliveries[:min(len(p.plan.Deliveries), maxListedWebhooks)] {
		ids = append(ids, d.WebhookID)
	}
	// The ids are listed when a delivery first has to wait, or at the end:
	// an event delivered at the first try then costs one visibility update.
	// A change of the throttled webhooks goes with the next wait's update.
	listed := false
	th := newThrottledSet()
	st := newStory(ctx, p.what, p.plan.Deliveries)
	listWebhooks := func(ctx workflow.Context) {
		ups := th.flush()
		if !listed {
			listed = true
			ups = slices.Concat(ups, p.identity, []temporal.SearchAttributeUpdate{
				flow.AttrWebhookIDs.ValueSet(ids), flow.AttrDeliveryStatus.ValueSet(flow.SummaryPending)})
		}
		if len(ups) > 0 {
			_ = workflow.UpsertTypedSearchAttributes(ctx, ups...)
		}
	}
	switch {
	case len(todo) > batchSize && workflow.GetVersion(ctx, versionBatches, workflow.DefaultVersion, 1) == 1:
		listWebhooks(ctx)
		deliverBatches(ctx, p, todo, res.Deliveries, st)
	case len(todo) > 0:
		refs := make([]flow.DeliveryRef, len(todo))
		for j, i := range todo {
			refs[j] = p.plan.Deliveries[i]
		}
		rn := &run{sc: scope{timeout: p.plan.ActivityTimeout, accountID: p.plan.AccountID, eventID: p.plan.EventID},
			test: p.test, th: th, beforeWait: listWebhooks, st: st}
		for j, r := range deliverAll(ctx, refs, rn) {
			res.Deliveries[todo[j]] = r
		}
	}
	final := append(th.flush(), flow.AttrDeliveryStatus.ValueSet(summary(res.Deliveries)))
	if !listed {
		final = append(final, flow.AttrWebhookIDs.ValueSet(ids))
		final = append(final, p.identity...)
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, final...)
	return res, nil
}

// deliverBatches hands the deliveries at indexes todo of p's plan to
// DeliverBatch children, batchSize each, forwards webhook changes to the
// child making that webhook's delivery, and writes their results into out.
func deliverBatches(ctx workflow.Context, p planned, todo []int, out []flow.DeliveryResult, st *story) {
	batches := startBatches(ctx, p, todo)
	byWebhook := map[string][]workflow.ChildWorkflowFuture{}
	for k, b := range batches {
		for _, i := range b.idx {
			id := p.plan.Deliveries[i].WebhookID
			byWebhook[id] = append(byWebhook[id], b.fut)
			st.update(p.plan.Deliveries[i].DeliveryID, func(r *storyRow) { r.state = fmt.Sprintf("in batch %d", k+1) })
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
	for _, b := range batches {
		collectBatch(ctx, p, b, out)
		for _, i := range b.idx {
			st.ended(out[i].DeliveryID, out[i].Status, out[i].Attempts, out[i].Last.Reason)
		}
	}
}

// batch is a DeliverBatch child making the deliveries at indexes idx of
// its parent's plan.
type batch struct {
	idx []int
	fut workflow.ChildWorkflowFuture
}

// startBatches starts the DeliverBatch children of the deliveries at
// indexes todo of p's plan, batchSize each.
func startBatches(ctx workflow.Context, p planned, todo []int) []batch {
	parentID := workflow.GetInfo(ctx).WorkflowExecution.ID
	var batches []batch
	for start := 0; start < len(todo); start += batchSize {
		idx := todo[start:min(len(todo), start+batchSize)]
		in := flow.BatchInput{ActivityTimeout: p.plan.ActivityTimeout, Test: p.test, AccountID: p.plan.AccountID, EventID: p.plan.EventID}
		ids := make([]string, len(idx))
		for j, i := range idx {
			in.Deliveries = append(in.Deliveries, p.plan.Deliveries[i])
			ids[j] = p.plan.Deliveries[i].WebhookID
		}
		attrs := slices.Concat([]temporal.SearchAttributeUpdate{flow.AttrWebhookIDs.ValueSet(ids),
			flow.AttrDeliveryStatus.ValueSet(flow.SummaryPending)}, p.identity)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: flow.BatchWorkflowID(parentID, len(batches)+1),
			// A rerun of the event (its last run failed) makes only what is
			// still unfinished, under the same batch ids.
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
			StaticSummary: fmt.Sprintf("%s · batch %d of %d: %d webhooks", p.what, len(batches)+1,
				(len(todo)+batchSize-1)/batchSize, len(idx)),
		})
		batches = append(batches, batch{idx: idx, fut: workflow.ExecuteChildWorkflow(cctx, flow.DeliverBatchWorkflow, in)})
	}
	return batches
}

// collectBatch writes b's results into out. A child that ended without
// them (terminated, say) has its deliveries end failed, visibly: they can
// be resent.
func collectBatch(ctx workflow.Context, p planned, b batch, out []flow.DeliveryResult) {
	var r flow.Result
	err := b.fut.Get(ctx, &r)
	if err == nil && len(r.Deliveries) == len(b.idx) {
		for j, i := range b.idx {
			out[i] = r.Deliveries[j]
		}
		return
	}
	reason := "batch workflow ended without a result"
	if err != nil {
		reason += ": " + err.Error()
	}
	var a *activities.Activities
	lctx := workflow.WithLocalActivityOptions(ctx, localActivityOptions)
	for _, i := range b.idx {
		d := p.plan.Deliveries[i]
		_ = workflow.ExecuteLocalActivity(withSummary(lctx, "end the delivery to "+webhookLabel(d)+": failed"), a.CancelDelivery, activities.CancelInput{
			DeliveryID: d.DeliveryID, Series: d.Series, Reason: reason, Status: delivery.Failed,
		}).Get(ctx, nil)
		out[i] = flow.DeliveryResult{DeliveryID: d.DeliveryID, WebhookID: d.WebhookID, Status: delivery.Failed,
			Last: flow.AttemptResult{Outcome: delivery.OutcomeFailed, Reason: reason}}
	}
}

// run is what the delivery loops of one workflow share.
type run struct {
	sc   scope
	test bool
	// reasons are the webhooks disabled or deleted meanwhile, and why
	// (set by deliverAll).
	reasons map[string]string
	th      *throttledSet
	// beforeWait is called before every wait (it upserts search attributes).
	beforeWait func(workflow.Context)
	st         *story // the current details
}

// deliverAll runs one delivery loop per delivery, listens for webhooks
// being disabled or deleted meanwhile, and wakes a delivery waiting in a
// full webhook's queue when a slot is handed to it.
func deliverAll(ctx workflow.Context, refs []flow.DeliveryRef, r *run) []flow.DeliveryResult {
	out := make([]flow.DeliveryResult, len(refs))
	r.reasons = map[string]string{}
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
			r.st.ended(d.DeliveryID, out[i].Status, out[i].Attempts, out[i].Last.Reason)
			if d.Ordered {
				passTurn(actCtx, d)
			}
		})
	}
	// A slot handed over (SignalSlotFree) and a turn come (SignalTurn) both
	// wake the delivery they name; one pending wake-up is enough.
	forwardWakes(ctx, flow.SignalSlotFree, wakes, func(s flow.SlotFree) string { return s.DeliveryID })
	forwardWakes(ctx, flow.SignalTurn, wakes, func(t flow.Turn) string { return t.DeliveryID })
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

// forwardWakes passes each signal named name to the wake channel of the
// delivery it names, for as long as the workflow runs.
func forwardWakes[T any](ctx workflow.Context, name string, wakes map[string]workflow.Channel, delivery func(T) string) {
	ch := workflow.GetSignalChannel(ctx, name)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var v T
			if !ch.Receive(ctx, &v) {
				return
			}
			if wake, ok := wakes[delivery(v)]; ok {
				wake.SendAsync(struct{}{}) // full: a wake-up is pending already
			}
		}
	})
}

// deliverOne attempts one delivery until it succeeds, fails for good or is
// cancelled. Activities run under ctx; only the waits under waitCtx, so a
// cancellation never abandons an attempt in flight. wake receives the
// delivery's SignalSlotFree.
func deliverOne(ctx, waitCtx workflow.Context, r *run, d flow.DeliveryRef, wake workflow.ReceiveChannel) flow.DeliveryResult {
	out := flow.DeliveryResult{DeliveryID: d.DeliveryID, WebhookID: d.WebhookID}
	actx := attemptContext(ctx, r.sc.timeout)
	if d.Ordered {
		if status, reason := awaitTurn(ctx, waitCtx, r, d, wake); status != "" {
			return finish(actx, out, d, status, reason)
		}
	}
	// A throttled attempt (the webhook's throttle held it back) is not an
	// attempt: wait, then make the same attempt number, with the
	// rate-limit slot it was given.
	in := activities.DeliverInput{DeliveryID: d.DeliveryID, Series: d.Series, Attempt: 1, Test: r.test,
		AccountID: r.sc.accountID, EventID: r.sc.eventID, WebhookID: d.WebhookID}
	for {
		if reason, ok := r.reasons[d.WebhookID]; ok {
			r.th.mark(d.WebhookID, false)
			return finish(actx, out, d, delivery.Cancelled, reason)
		}
		// A wake-up that came before this attempt is spent by it.
		for wake.ReceiveAsync(nil) {
		}
		r.st.sending(d, in.Attempt)
		res, err := attempt(withSummary(actx, attemptSummary(d, in.Attempt, r.test)), in)
		if err != nil {
			// Not an attempt result: the activity itself could not run
			// (its retries are spent). Say so in the delivery log too,
			// or the delivery would stay pending forever.
			r.th.mark(d.WebhookID, false)
			out.Attempts = in.Attempt - 1
			out.Last = flow.AttemptResult{Outcome: delivery.OutcomeFailed, Error: err.Error()}
			return finish(actx, out, d, delivery.Failed, "delivery could not be attempted: "+err.Error())
		}
		r.st.answered(d, in.Attempt, res, res.Wait)
		if res.Outcome == delivery.OutcomeThrottled {
			in.Reservation, in.Waits = res.Reservation, in.Waits+1
			r.th.mark(d.WebhookID, true)
			r.beforeWait(ctx)
			summary := fmt.Sprintf("throttled: %s, %s; #%d again in %s", webhookLabel(d), oneLine(res.Reason, 80), in.Attempt, wait(res.Wait))
			if err := throttledWait(ctx, waitCtx, res, wake, summary); err != nil {
				r.th.mark(d.WebhookID, false)
				out.Attempts = in.Attempt - 1
				return finish(actx, out, d, delivery.Cancelled, cancelReason(r.reasons, d.WebhookID))
			}
			continue
		}
		r.th.mark(d.WebhookID, false)
		in.Reservation, in.Waits = nil, 0
		if res.Outcome != delivery.OutcomeCancelled {
			out.Attempts = in.Attempt
		}
		out.Last = res
		switch res.Outcome {
		case delivery.OutcomeSucceeded:
			out.Status = delivery.Succeeded
			return out
		case delivery.OutcomeCancelled:
			out.Status = delivery.Cancelled
			return out
		case delivery.OutcomeRetry:
			r.beforeWait(ctx)
			summary := fmt.Sprintf("retry #%d of %s in %s after %s", in.Attempt+1, webhookLabel(d), wait(res.Wait), answer(res))
			if err := sleep(waitCtx, res.Wait, summary); err != nil {
				return finish(actx, out, d, delivery.Cancelled, cancelReason(r.reasons, d.WebhookID))
			}
		default:
			out.Status = delivery.Failed
			return out
		}
		in.Attempt++
	}
}

// awaitTurn waits until an ordered delivery may make its first attempt:
// until no earlier event of its ordering key is unrecorded and no earlier
// delivery of the key to its webhook is unfinished (or holding the key).
// It checks the store, then waits for a wake-up (SignalTurn, on wake) or
// its recheck time, whichever comes first, so a lost wake-up only delays
// it. It returns "" to go, or the status and reason to end the delivery
// with: cancelled (the webhook was disabled or deleted meanwhile), failed
// (its turn could not be checked).
func awaitTurn(ctx, waitCtx workflow.Context, r *run, d flow.DeliveryRef, wake workflow.ReceiveChannel) (delivery.Status, string) {
	var a *activities.Activities
	lctx := workflow.WithLocalActivityOptions(ctx, withSummaryOpts(localActivityOptions, "is it the turn of "+webhookLabel(d)+"?"))
	in := activities.TurnInput{DeliveryID: d.DeliveryID, Series: d.Series}
	for {
		if reason, ok := r.reasons[d.WebhookID]; ok {
			return delivery.Cancelled, reason
		}
		for wake.ReceiveAsync(nil) { // spent by this check
		}
		var t activities.TurnResult
		if err := workflow.ExecuteLocalActivity(lctx, a.TakeTurn, in).Get(ctx, &t); err != nil {
			return delivery.Failed, "its turn could not be checked: " + err.Error()
		}
		if t.Go {
			return "", ""
		}
		r.beforeWait(ctx)
		r.st.waitingTurn(d, t.Recheck)
		summary := fmt.Sprintf("%s waits for an earlier event of its ordering key; recheck in %s", webhookLabel(d), wait(t.Recheck))
		if err := wakeOrTimer(ctx, waitCtx, t.Recheck, wake, summary); err != nil {
			return delivery.Cancelled, cancelReason(r.reasons, d.WebhookID)
		}
		in.Waits++
	}
}

// passTurn wakes the deliveries waiting for d, which has ended. Best
// effort: a waiter not woken checks again by itself.
func passTurn(ctx workflow.Context, d flow.DeliveryRef) {
	var a *activities.Activities
	lctx := workflow.WithLocalActivityOptions(ctx, withSummaryOpts(localActivityOptions, "pass the turn on after "+webhookLabel(d)))
	_ = workflow.ExecuteLocalActivity(lctx, a.PassTurn, activities.TurnInput{DeliveryID: d.DeliveryID, Series: d.Series}).Get(ctx, nil)
}

// attemptContext runs a delivery's attempts as local activities: the
// worker runs them as part of the workflow task, so a delivery that
// succeeds first time costs one workflow task instead of three round trips
// through the server. Each attempt is still its own step (a marker with
// its result) in the history.
func attemptContext(ctx workflow.Context, timeout time.Duration) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: timeout,
		// Only infrastructure errors are retried here (database down, worker
		// lost); failed HTTP attempts are non-retryable and follow the
		// delivery schedule (deliverOne). Two hours of retries at most (each
		// one a few history events per delivery); then the delivery is
		// failed visibly, and can be resent.
		ScheduleToCloseTimeout: 2 * time.Hour,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 5 * time.Minute},
	})
}

// attempt makes one attempt (activities.Deliver). A failed attempt is a
// result, not an error; the error is that of an activity that could not
// run.
func attempt(actx workflow.Context, in activities.DeliverInput) (flow.AttemptResult, error) {
	var a *activities.Activities
	var r flow.AttemptResult
	err := workflow.ExecuteLocalActivity(actx, a.Deliver, in).Get(actx, &r)
	var appErr *temporal.ApplicationError
	if err != nil && (!errors.As(err, &appErr) || appErr.Type() != activities.ErrAttemptFailed || appErr.Details(&r) != nil) {
		return flow.AttemptResult{}, err
	}
	return r, nil
}

// throttledWait waits out a throttled attempt's Wait; one queued at a full
// webhook also wakes when a slot is handed to it (wake), Wait being only
// its fallback poll.
func throttledWait(ctx, waitCtx workflow.Context, r flow.AttemptResult, wake workflow.ReceiveChannel, summary string) error {
	if !r.Queued || workflow.GetVersion(ctx, versionWake, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return sleep(waitCtx, r.Wait, summary)
	}
	return wakeOrTimer(ctx, waitCtx, r.Wait, wake, summary)
}

// wakeOrTimer waits for d or a wake-up, whichever comes first; it fails
// when waitCtx is cancelled. summary names the timer in the Temporal UI.
func wakeOrTimer(ctx, waitCtx workflow.Context, d time.Duration, wake workflow.ReceiveChannel, summary string) error {
	timerCtx, cancelTimer := workflow.WithCancel(waitCtx)
	defer cancelTimer()
	var err error
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(workflow.NewTimerWithOptions(timerCtx, d, workflow.TimerOptions{Summary: summary}), func(f workflow.Future) { err = f.Get(ctx, nil) })
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
func finish(actx workflow.Context, out flow.DeliveryResult, d flow.DeliveryRef, status delivery.Status, reason string) flow.DeliveryResult {
	var a *activities.Activities
	sctx := withSummary(actx, fmt.Sprintf("end the delivery to %s: %s", webhookLabel(d), status))
	_ = workflow.ExecuteLocalActivity(sctx, a.CancelDelivery, activities.CancelInput{
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
	r.RegisterWorkflowWithOptions(DeliverEvent, workflow.RegisterOptions{Name: flow.DeliverEventWorkflow})
	r.RegisterWorkflowWithOptions(ResendDelivery, workflow.RegisterOptions{Name: flow.ResendDeliveryWorkflow})
	r.RegisterWorkflowWithOptions(DeliverBatch, workflow.RegisterOptions{Name: flow.DeliverBatchWorkflow})
	r.RegisterWorkflowWithOptions(NoticeDigest, workflow.RegisterOptions{Name: flow.NoticeDigestWorkflow})
}
