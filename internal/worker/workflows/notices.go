package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/esign-webhooks/esign-webhooks/internal/worker/activities"
	"github.com/esign-webhooks/esign-webhooks/pkg/flow"
)

// noticeActivityOptions retry a send for a day: an SMTP server or a chat
// platform that is down delays a notice, each failure an attempt on
// record (activities.SendNotices).
var noticeActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    time.Minute,
	ScheduleToCloseTimeout: 24 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2,
		MaximumInterval: 10 * time.Minute},
}

// noticeWindowsPerRun bounds one run's history: a storm that lasts goes on
// in a new run (continue-as-new) after this many windows.
const noticeWindowsPerRun = 24

// NoticeDigest sends a channel the notices it is owed about one webhook:
// the first at once, then those that come within a window of a send
// together, when the window ends; a window without any ends the workflow.
// So a storm of failures makes one message per webhook per window (an
// hour by default), not one per event.
func NoticeDigest(ctx workflow.Context, in flow.NoticeDigestInput) error {
	ctx = workflow.WithActivityOptions(ctx, noticeActivityOptions)
	d := &digest{ch: workflow.GetSignalChannel(ctx, flow.NoticeSignal), seen: map[string]bool{}}
	for _, id := range in.Pending {
		d.add(id)
	}
	if len(d.pending) == 0 {
		var n flow.Notice
		d.ch.Receive(ctx, &n)
		d.add(n.ID)
	}
	for range noticeWindowsPerRun {
		d.drain()
		if len(d.pending) == 0 {
			return nil
		}
		d.send(ctx, in.ChannelID)
		d.gather(ctx, in.Window)
	}
	d.drain()
	in.Pending = d.pending
	return workflow.NewContinueAsNewError(ctx, NoticeDigest, in)
}

// digest is one run's state: the notices seen and those not sent yet.
type digest struct {
	ch      workflow.ReceiveChannel
	seen    map[string]bool
	pending []string
}

// add takes a notice once (the dispatcher may hand one over twice).
func (d *digest) add(id string) {
	if id != "" && !d.seen[id] {
		d.seen[id] = true
		d.pending = append(d.pending, id)
	}
}

// drain takes the notices already signalled.
func (d *digest) drain() {
	var n flow.Notice
	for d.ch.ReceiveAsync(&n) {
		d.add(n.ID)
	}
}

// send sends the pending notices as one message; a send that failed for a
// day is given up (its attempts are on record).
func (d *digest) send(ctx workflow.Context, channelID string) {
	in := activities.SendNoticesInput{ChannelID: channelID, NoticeIDs: d.pending}
	d.pending = nil
	var a *activities.Activities
	if err := workflow.ExecuteActivity(ctx, a.SendNotices, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("notices not sent", "channelId", channelID, "notices", len(in.NoticeIDs), "err", err)
	}
}

// gather takes the notices signalled until the window ends.
func (d *digest) gather(ctx workflow.Context, window time.Duration) {
	timer := workflow.NewTimer(ctx, window)
	for done := false; !done; {
		s := workflow.NewSelector(ctx)
		s.AddFuture(timer, func(workflow.Future) { done = true })
		s.AddReceive(d.ch, func(c workflow.ReceiveChannel, _ bool) {
			var n flow.Notice
			c.Receive(ctx, &n)
			d.add(n.ID)
		})
		s.Select(ctx)
	}
}
