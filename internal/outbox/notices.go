package outbox

import (
	"context"
)

// Notices to people: the trigger of migration 00018 owes each channel the
// operational events of its kinds, in the events' own transactions; the
// outbox hands each owed notice to its channel's digest workflow
// (flow.NoticeDigestWorkflow) and marks it dispatched once Temporal has
// it. Until then it stays owed: a PostgreSQL or Temporal outage delays a
// notice, never loses it.

// noticeBatch bounds one pass.
const noticeBatch = 200

// DispatchNotices hands the notices owed to channels to Temporal, oldest
// first, and reports how many it handed.
func (o *Outbox) DispatchNotices(ctx context.Context) (int, error) {
	owed, err := o.store.UndispatchedNotices(ctx, noticeBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, nt := range owed {
		sctx, cancel := context.WithTimeout(ctx, startTimeout)
		err := o.pub.SignalNotice(sctx, nt.ChannelID.String(), nt.WebhookID, o.opts.NoticeWindow, nt.ID.String())
		cancel()
		if err != nil {
			return n, err // Temporal is away: the rest waits for the next pass
		}
		if err := o.store.MarkNoticeDispatched(ctx, nt.ID); err != nil {
			return n, err // signalled again next pass: the workflow ignores a repeat
		}
		n++
	}
	return n, nil
}

// dispatchNotices runs DispatchNotices every NoticeEvery until ctx ends.
func (o *Outbox) dispatchNotices(ctx context.Context) {
	every(ctx, o.opts.NoticeEvery, func() {
		if n, err := o.DispatchNotices(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("handing notices to their channels' workflows; the next pass retries", "err", err)
		} else if n > 0 {
			o.log.Debug("handed notices to their channels' workflows", "count", n)
		}
	})
}
